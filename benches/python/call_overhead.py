"""Cost of calling a compiled Keras function from Python (the per-step floor).

Measures, in one process:

* ``empty``: ``f = K.function([], [])``; ``f([])``  (target: <= 5 us per call)
* ``one_input``: ``x = K.placeholder(shape=(None, 1))``, ``f = K.function([x], [x * 2.0])``
  called with one (1, 1) float32 array
* ``python_baseline``: a Python function doing nothing, called the same way, for scale

Prints one JSON line per case with the median (and best) microseconds per call over
several repeats.

    .venv/bin/python benches/python/call_overhead.py [--calls 200000] [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

EMPTY_TARGET_US = 5.0


def per_call_us(fn, arg, calls: int, repeats: int) -> list[float]:
    for _ in range(min(calls, 1000)):  # warm up
        fn(arg)
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn(arg)
        out.append((time.perf_counter() - t0) / calls * 1e6)
    return out


def report(case: str, times: list[float], calls: int, **extra) -> None:
    rec = {
        "bench": "call_overhead",
        "case": case,
        "calls": calls,
        "repeats": len(times),
        "median_us": round(statistics.median(times), 3),
        "best_us": round(min(times), 3),
        "worst_us": round(max(times), 3),
    }
    rec.update(extra)
    print(json.dumps(rec), flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=200_000, help="calls per timing")
    ap.add_argument("--repeats", type=int, default=7, help="timings per case")
    args = ap.parse_args()

    import numpy as np

    from keras import backend as K

    def noop(inputs):
        return []

    report(
        "python_baseline",
        per_call_us(noop, [], args.calls, args.repeats),
        args.calls,
    )

    f = K.function([], [])
    assert len(f([])) == 0
    t = per_call_us(f, [], args.calls, args.repeats)
    med = statistics.median(t)
    report(
        "empty",
        t,
        args.calls,
        target_us=EMPTY_TARGET_US,
        result="PASS" if med <= EMPTY_TARGET_US else "MISS",
    )

    x = K.placeholder(shape=(None, 1))
    g = K.function([x], [x * 2.0])
    a = np.ones((1, 1), dtype=np.float32)
    (y,) = g([a])
    assert np.asarray(y).shape == (1, 1) and float(np.asarray(y)[0, 0]) == 2.0, y
    report(
        "one_input",
        per_call_us(g, [a], args.calls, args.repeats),
        args.calls,
        input="(1, 1) float32",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
