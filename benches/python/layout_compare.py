"""Channels-first vs channels-last training step, side by side in one process.

Builds two workloads of ``workloads.py`` that differ only in ``dim_ordering`` (by
default ``w4_vgg_small`` ('th') and ``w4_vgg_small_tf`` ('tf')), compiles their train
Programs with one ``fit`` epoch, then times the native train Program alone over
pre-sliced batches, round-robin (``--reps`` rounds of about ``--min-s`` seconds each) so
that drift and other processes hit both alike. Prints one JSON line per workload (median
µs per step) and one with the ratio tf/th; with ``--ops`` also the engine's per-op times
per step (``FERROKERAS_PROFILE=1``) and the op names of each compiled train Program.

    .venv/bin/python benches/python/layout_compare.py --reps 9 --ops
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def prepare(name):
    import numpy as np
    import workloads as W

    spec = W.WORKLOADS[name]
    np.random.seed(0)
    x, y = W.make_data(name)
    model = W.build_model(spec["model"])
    inner = getattr(model, "model", None) or model
    bs, n = spec["batch"], spec["n"]
    model.fit(x, y, batch_size=bs, nb_epoch=1, verbose=0)  # compiles the train Program
    f = inner.train_function
    xs, ys, ws = inner._standardize_user_data(x, y, check_batch_dim=False, batch_size=bs)
    ins = xs + ys + ws
    lp = [np.asarray(1.0, dtype=np.float32)] if len(ins) < len(f.inputs) else []
    batches = [[a[s : s + bs] for a in ins] + lp for s in range(0, n, bs)]
    prog = f._program

    def epoch():
        for b in batches:
            prog(b)

    return prog, epoch, len(batches)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--th", default="w4_vgg_small")
    ap.add_argument("--tf", default="w4_vgg_small_tf")
    ap.add_argument("--threads", type=int, default=2, help="RAYON_NUM_THREADS")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--min-s", type=float, default=0.5)
    ap.add_argument("--ops", action="store_true")
    args = ap.parse_args()
    os.environ["RAYON_NUM_THREADS"] = str(args.threads)
    if args.ops:
        os.environ["FERROKERAS_PROFILE"] = "1"
    runs = {name: prepare(name) for name in (args.th, args.tf)}
    ks = {}
    for name, (_, epoch, _) in runs.items():
        epoch()
        t0 = time.perf_counter()
        epoch()
        ks[name] = max(1, int(args.min_s / (time.perf_counter() - t0)))
    got = {name: [] for name in runs}
    for _ in range(args.reps):
        for name, (_, epoch, steps) in runs.items():
            t0 = time.perf_counter()
            for _ in range(ks[name]):
                epoch()
            got[name].append((time.perf_counter() - t0) / (ks[name] * steps))
    med = {name: statistics.median(v) for name, v in got.items()}
    for name, v in got.items():
        print(
            json.dumps(
                {
                    "workload": name,
                    "native_us": round(1e6 * med[name], 1),
                    "min_us": round(1e6 * min(v), 1),
                    "max_us": round(1e6 * max(v), 1),
                }
            ),
            flush=True,
        )
    print(json.dumps({"tf_over_th": round(med[args.tf] / med[args.th], 3)}), flush=True)
    if args.ops:
        from keras import _native

        for name, (prog, epoch, steps) in runs.items():
            _native.profile_report()
            rounds = 3
            for _ in range(rounds):
                epoch()
            rows = sorted(
                (
                    [op, phase, round(1e6 * sec / (rounds * steps), 1), round(calls / (rounds * steps), 2)]
                    for op, phase, calls, sec in _native.profile_report()
                ),
                key=lambda r: -r[2],
            )
            rec = {"workload": name, "ops_us_per_step": rows}
            if hasattr(prog, "op_names"):
                rec["program_ops"] = prog.op_names()
            print(json.dumps(rec), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
