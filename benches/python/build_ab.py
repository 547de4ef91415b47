"""Two ferrokeras builds side by side: runs the workload harness's ferrokeras peer under
two interpreters (each importing a different build of `keras`), alternating A B B A A B so
drift and other processes hit both alike, and prints the median epoch seconds and B/A.

  python benches/python/build_ab.py --a before=/path/python-before --b after=.venv/bin/python \
      [--workloads w0_empty,w1_mlp_small] [--rounds 7]

Uses: a refactor's before/after (a worktree of the old commit with its own
`python/keras/_native*.so`, run through a two-line shell script that sets PYTHONPATH), or
the stable-ABI cost (the same commit built with and without pyo3's `abi3-py39` feature,
the latter removed from rust/ferrokeras-python/Cargo.toml before `maturin build --release`)."""

import argparse
import json
import os
import statistics
import subprocess

PEERS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "bench", "peers")


def epoch_seconds(python, workload):
    out = subprocess.run(
        [python, os.path.join(PEERS, "ferrokeras_peer.py"), "--workload", workload],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads([line for line in out.splitlines() if line.startswith("{")][-1])["epoch_s"]


def labelled(spec):
    label, sep, python = spec.partition("=")
    if not sep or not label or not python:
        raise argparse.ArgumentTypeError(f"expected LABEL=PYTHON, got {spec!r}")
    return label, python


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", type=labelled, required=True, help="LABEL=PYTHON of the baseline build")
    ap.add_argument("--b", type=labelled, required=True, help="LABEL=PYTHON of the build compared")
    ap.add_argument("--workloads", default="w0_empty,w1_mlp_small")
    ap.add_argument("--rounds", type=int, default=7)
    a = ap.parse_args()
    sides = [a.a, a.b]
    for label, python in sides:
        where = subprocess.run(
            [python, "-c", "import keras; print(keras._native.__file__)"], capture_output=True, text=True
        ).stdout.strip()
        print(f"# {label}: {python} -> {where}")
    (la, _), (lb, _) = sides
    print(f"{'workload':22s} {la + ' s':>12s} {lb + ' s':>12s} {lb + '/' + la:>14s}")
    for w in a.workloads.split(","):
        times = {label: [] for label, _ in sides}
        for r in range(a.rounds):
            # A B, then B A: whichever build runs first in a round pays for a cold page
            # cache and CPU clock, so the order alternates (A B B A A B ...).
            for label, python in sides if r % 2 == 0 else sides[::-1]:
                times[label].append(epoch_seconds(python, w))
        m = {k: statistics.median(v) for k, v in times.items()}
        print(f"{w:22s} {m[la]:12.4f} {m[lb]:12.4f} {m[lb] / m[la]:14.3f}", flush=True)


if __name__ == "__main__":
    main()
