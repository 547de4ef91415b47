"""Does the stable ABI (pyo3 `abi3-py39`) cost anything per call? Runs the workload
harness's ferrokeras peer for W0 (empty step: pure per-call overhead) and W1 (small MLP)
under two interpreters, one with the abi3 build and one with a version-specific build,
alternating A B A B so drift hits both alike, and prints the median epoch times.

  python benches/python/abi3_cost.py --abi3-python .venv/bin/python \
      --specific-python /path/to/venv-with-non-abi3-wheel/bin/python [--rounds 7]

The version-specific wheel is built from the same commit with the `abi3-py39` feature
removed from rust/ferrokeras-python/Cargo.toml (`maturin build --release`)."""

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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--abi3-python", required=True)
    ap.add_argument("--specific-python", required=True)
    ap.add_argument("--workloads", default="w0_empty,w1_mlp_small")
    ap.add_argument("--rounds", type=int, default=7)
    a = ap.parse_args()
    for python in (a.abi3_python, a.specific_python):
        native = subprocess.run(
            [python, "-c", "import keras; print(keras._native.__file__)"], capture_output=True, text=True
        ).stdout.strip()
        print("#", python, "->", os.path.basename(native))
    print(f"{'workload':16s} {'abi3 s':>10s} {'specific s':>10s} {'abi3/specific':>14s}")
    for w in a.workloads.split(","):
        times = {"abi3": [], "specific": []}
        for _ in range(a.rounds):
            times["abi3"].append(epoch_seconds(a.abi3_python, w))
            times["specific"].append(epoch_seconds(a.specific_python, w))
        m = {k: statistics.median(v) for k, v in times.items()}
        print(
            f"{w:16s} {m['abi3']:10.4f} {m['specific']:10.4f} {m['abi3'] / m['specific']:14.3f}", flush=True
        )


if __name__ == "__main__":
    main()
