"""numpy (OpenBLAS) float32 matmul throughput at the gemm bench shapes.

Prints one JSON line per shape (ids match `benches/benches/gemm.rs`), then one line
describing the BLAS that ran. All shapes are timed in one process.

    python benches/python/gemm_numpy.py --threads 2

`--threads` sets OPENBLAS_NUM_THREADS before numpy is imported. The script does not
touch OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE: whoever starts it decides (the driver,
`gemm_compare.py`, runs it with both unset) and the values seen are reported.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

# (id, M, K, N, transpose A, transpose B); keep in sync with SHAPES in
# benches/benches/gemm.rs.
SHAPES = [
    ("32x784x32", 32, 784, 32, False, False),
    ("784x32x32_at", 784, 32, 32, True, False),
    ("32x32x784_bt", 32, 32, 784, False, True),
    ("128x784x512", 128, 784, 512, False, False),
    ("128x784x512_bt", 128, 784, 512, False, True),
    ("128x512x512", 128, 512, 512, False, False),
    ("32x128x512", 32, 128, 512, False, False),
    ("1024x1024x1024", 1024, 1024, 1024, False, False),
]


def blas_info(np) -> dict:
    """Which OpenBLAS (and which kernel/core type) numpy is using at run time."""
    info: dict = {}
    try:
        import threadpoolctl

        for lib in threadpoolctl.threadpool_info():
            if lib.get("user_api") == "blas":
                info.update(
                    source="threadpoolctl",
                    internal_api=lib.get("internal_api"),
                    version=lib.get("version"),
                    architecture=lib.get("architecture"),
                    num_threads=lib.get("num_threads"),
                    filepath=lib.get("filepath"),
                )
                return info
    except ImportError:
        pass
    # Fallback: ask the OpenBLAS that numpy loaded for its core name via ctypes.
    try:
        import ctypes

        path = None
        with open("/proc/self/maps") as maps:
            for line in maps:
                name = line.rsplit(" ", 1)[-1].strip()
                if "openblas" in os.path.basename(name).lower() and name.endswith(".so"):
                    path = name
                    break
        if path:
            lib = ctypes.CDLL(path)
            for prefix, suffix in (("scipy_", "64_"), ("scipy_", ""), ("", "")):
                try:
                    core = getattr(lib, f"{prefix}openblas_get_corename{suffix}")
                    conf = getattr(lib, f"{prefix}openblas_get_config{suffix}")
                    nthr = getattr(lib, f"{prefix}openblas_get_num_threads{suffix}")
                except AttributeError:
                    continue
                core.restype = ctypes.c_char_p
                conf.restype = ctypes.c_char_p
                info.update(
                    source="ctypes",
                    architecture=core().decode(),
                    config=conf().decode().strip(),
                    num_threads=int(nthr()),
                    filepath=path,
                )
                return info
    except OSError:
        pass
    # Last resort: the build configuration (not the run-time kernel).
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info.update(
            source="numpy.show_config",
            name=blas.get("name"),
            version=blas.get("version"),
            config=blas.get("openblas configuration"),
        )
    except Exception as exc:  # noqa: BLE001 - informational only
        info.update(source="unknown", error=repr(exc))
    return info


def time_shape(np, m, k, n, at, bt, min_time, repeats):
    rng = np.random.default_rng(0)
    a_stored = rng.uniform(-1, 1, (k, m) if at else (m, k)).astype(np.float32)
    a = a_stored.T if at else a_stored
    b_stored = rng.uniform(-1, 1, (n, k) if bt else (k, n)).astype(np.float32)
    b = b_stored.T if bt else b_stored
    out = np.empty((m, n), dtype=np.float32)
    # Calibrate: enough calls per timing to last ~min_time / repeats.
    np.matmul(a, b, out=out)
    calls = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(calls):
            np.matmul(a, b, out=out)
        dt = time.perf_counter() - t0
        if dt >= 0.02 or calls >= 1 << 20:
            break
        calls *= 2
    target = max(min_time / repeats, 0.01)
    calls = max(1, int(calls * target / max(dt, 1e-9)))
    per_call = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            np.matmul(a, b, out=out)
        per_call.append((time.perf_counter() - t0) / calls)
    return per_call, calls


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2, help="OPENBLAS_NUM_THREADS")
    ap.add_argument("--repeats", type=int, default=15, help="timings per shape")
    ap.add_argument("--min-time", type=float, default=1.5, help="seconds of timing per shape")
    args = ap.parse_args()

    os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
    import numpy as np

    env = {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS")}
    for sid, m, k, n, at, bt in SHAPES:
        per_call, calls = time_shape(np, m, k, n, at, bt, args.min_time, args.repeats)
        flop = 2.0 * m * n * k
        best = min(per_call)
        med = statistics.median(per_call)
        print(
            json.dumps(
                {
                    "bench": "gemm_numpy",
                    "id": sid,
                    "m": m,
                    "k": k,
                    "n": n,
                    "trans_a": at,
                    "trans_b": bt,
                    "threads": args.threads,
                    "calls_per_timing": calls,
                    "best_us": round(best * 1e6, 3),
                    "median_us": round(med * 1e6, 3),
                    "gflops_best": round(flop / best / 1e9, 2),
                    "gflops_median": round(flop / med / 1e9, 2),
                }
            ),
            flush=True,
        )
    print(
        json.dumps(
            {
                "bench": "gemm_numpy_blas",
                "numpy": np.__version__,
                "env": env,
                "blas": blas_info(np),
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
