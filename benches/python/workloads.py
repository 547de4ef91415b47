"""End-to-end benchmark workloads, written against our public Keras 1 API.

The workloads of ``../shared/bench/workloads.md`` (same models, data and timing rules as the
shared peer harness, re-created here rather than imported), run the way a Keras 1 user
would: ``model.fit(x, y, batch_size=..., nb_epoch=1, shuffle=True, verbose=0)`` called
repeatedly, or ``model.predict(x, batch_size=...)`` for the inference workloads.

Timing per workload: 1 warm-up epoch (call), 1 calibration epoch, then 3 timed reps of
k epochs each, k chosen so a rep lasts >= 0.3 s; ``epoch_s`` = median rep time / k.
Prints one JSON line per workload::

    {"workload": ..., "epoch_s": ..., "samples_per_s": ..., "ms_per_step": ...,
     "final_loss": ..., "threads": ..., ...}

A workload whose layers are not implemented prints ``{"workload": ..., "error": ...}``
instead, and the run goes on.

    .venv/bin/python benches/python/workloads.py                       # the dense workloads
    .venv/bin/python benches/python/workloads.py --workloads all        # + conv and recurrent
    .venv/bin/python benches/python/workloads.py --workloads w1_mlp_small,w3_mnist_mlp --threads 2
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time

# name -> kind ('train' | 'predict'), samples, batch size, model (for predict: whose model).
WORKLOADS = {
    "w0_empty": dict(kind="train", n=1000, batch=32, model="w0_empty"),
    "w1_mlp_small": dict(kind="train", n=1000, batch=32, model="w1_mlp_small"),
    "w1_mlp_small_b128": dict(kind="train", n=1000, batch=128, model="w1_mlp_small"),
    "w2_mlp_dropout": dict(kind="train", n=10000, batch=16, model="w2_mlp_dropout"),
    "w3_mnist_mlp": dict(kind="train", n=6000, batch=128, model="w3_mnist_mlp"),
    "w4_vgg_small": dict(kind="train", n=512, batch=32, model="w4_vgg_small"),
    "w4_vgg_100": dict(kind="train", n=128, batch=32, model="w4_vgg_100"),
    "w4_vgg_small_tf": dict(kind="train", n=512, batch=32, model="w4_vgg_small_tf"),
    "w5_imdb_lstm": dict(kind="train", n=1024, batch=32, model="w5_imdb_lstm"),
    "w6_stacked_lstm": dict(kind="train", n=1000, batch=64, model="w6_stacked_lstm"),
    "w7_gru_seq": dict(kind="train", n=256, batch=16, model="w7_gru_seq"),
    "w8_infer_mnist_mlp": dict(kind="predict", n=10000, batch=256, model="w3_mnist_mlp"),
    "w8_infer_vgg_small": dict(kind="predict", n=1000, batch=256, model="w4_vgg_small"),
}

# The default set: the dense workloads (quick). `--workloads all` adds conv and recurrent.
DEFAULT_WORKLOADS = [
    "w0_empty",
    "w1_mlp_small",
    "w1_mlp_small_b128",
    "w2_mlp_dropout",
    "w3_mnist_mlp",
    "w8_infer_mnist_mlp",
]

# Inputs per model: ('float', feature shape) or ('tokens', vocabulary, timesteps); then
# the target: ('classes', k) one-hot, ('binary',) 0/1 column, ('affine',) y = 2x + 1.
DATA = {
    "w0_empty": (("float", (1,)), ("affine",)),
    "w1_mlp_small": (("float", (784,)), ("classes", 10)),
    "w2_mlp_dropout": (("float", (20,)), ("classes", 10)),
    "w3_mnist_mlp": (("float", (784,)), ("classes", 10)),
    "w4_vgg_small": (("float", (3, 32, 32)), ("classes", 10)),
    "w4_vgg_100": (("float", (3, 100, 100)), ("classes", 10)),
    "w4_vgg_small_tf": (("float", (32, 32, 3)), ("classes", 10)),
    "w5_imdb_lstm": (("tokens", 20000, 80), ("binary",)),
    "w6_stacked_lstm": (("float", (8, 16)), ("classes", 10)),
    "w7_gru_seq": (("tokens", 10000, 16), ("classes", 10000)),
}


def make_data(name):
    """(x, y) for a workload: RandomState(0), features first, labels drawn after them."""
    import numpy as np

    spec = WORKLOADS[name]
    n = spec["n"]
    inp, target = DATA[spec["model"]]
    rs = np.random.RandomState(0)
    if inp[0] == "float":
        x = rs.random_sample((n,) + inp[1]).astype(np.float32)
    else:
        x = rs.randint(inp[1], size=(n, inp[2])).astype(np.int32)
    if target[0] == "affine":
        y = (2.0 * x + 1.0).astype(np.float32)
    elif target[0] == "binary":
        y = rs.randint(2, size=(n,)).astype(np.float32).reshape(n, 1)
    else:
        k = target[1]
        labels = rs.randint(k, size=(n,))
        y = np.zeros((n, k), dtype=np.float32)
        y[np.arange(n), labels] = 1.0
    return x, y


def add_vgg_small_head(m):
    """The classifier that ends w4's VGG-like model (Flatten, Dense 256 relu, Dropout,
    Dense 10 softmax), and its compile (nesterov SGD)."""
    from keras.layers import Activation, Dense, Dropout, Flatten
    from keras.optimizers import SGD

    m.add(Flatten())
    m.add(Dense(256))
    m.add(Activation("relu"))
    m.add(Dropout(0.5))
    m.add(Dense(10))
    m.add(Activation("softmax"))
    m.compile(optimizer=SGD(lr=0.01, momentum=0.9, nesterov=True), loss="categorical_crossentropy")


def build_model(model):
    """The workload's model in the Keras 1 API, compiled."""
    from keras.layers import Activation, Dense, Dropout
    from keras.models import Sequential
    from keras.optimizers import SGD

    m = Sequential()
    if model == "w0_empty":
        m.add(Dense(1, input_dim=1))
        m.compile(optimizer=SGD(lr=0.01), loss="mse")
    elif model == "w1_mlp_small":
        m.add(Dense(32, input_dim=784))
        m.add(Activation("relu"))
        m.add(Dense(10))
        m.add(Activation("softmax"))
        m.compile(optimizer="rmsprop", loss="categorical_crossentropy")
    elif model == "w2_mlp_dropout":
        m.add(Dense(64, input_dim=20, activation="tanh"))
        m.add(Dropout(0.5))
        m.add(Dense(64, activation="tanh"))
        m.add(Dropout(0.5))
        m.add(Dense(10, activation="softmax"))
        sgd = SGD(lr=0.1, decay=1e-6, momentum=0.9, nesterov=True)
        m.compile(optimizer=sgd, loss="categorical_crossentropy")
    elif model == "w3_mnist_mlp":
        m.add(Dense(512, input_shape=(784,), activation="relu"))
        m.add(Dropout(0.2))
        m.add(Dense(512, activation="relu"))
        m.add(Dropout(0.2))
        m.add(Dense(10, activation="softmax"))
        m.compile(optimizer="rmsprop", loss="categorical_crossentropy")
    elif model in ("w4_vgg_small", "w4_vgg_100", "w4_vgg_small_tf"):
        from keras.layers import Convolution2D, MaxPooling2D

        hw = 100 if model == "w4_vgg_100" else 32
        do = "tf" if model.endswith("_tf") else "th"
        shape = (hw, hw, 3) if do == "tf" else (3, hw, hw)
        m.add(Convolution2D(32, 3, 3, border_mode="valid", input_shape=shape, dim_ordering=do))
        m.add(Activation("relu"))
        m.add(Convolution2D(32, 3, 3, dim_ordering=do))
        m.add(Activation("relu"))
        m.add(MaxPooling2D(pool_size=(2, 2), dim_ordering=do))
        m.add(Dropout(0.25))
        m.add(Convolution2D(64, 3, 3, border_mode="valid", dim_ordering=do))
        m.add(Activation("relu"))
        m.add(Convolution2D(64, 3, 3, dim_ordering=do))
        m.add(Activation("relu"))
        m.add(MaxPooling2D(pool_size=(2, 2), dim_ordering=do))
        m.add(Dropout(0.25))
        add_vgg_small_head(m)
    elif model == "w5_imdb_lstm":
        from keras.layers import LSTM, Embedding

        m.add(Embedding(20000, 128, input_length=80))
        m.add(LSTM(128))
        m.add(Dense(1, activation="sigmoid"))
        m.compile(optimizer="adam", loss="binary_crossentropy")
    elif model == "w6_stacked_lstm":
        from keras.layers import LSTM

        m.add(LSTM(32, return_sequences=True, input_shape=(8, 16)))
        m.add(LSTM(32, return_sequences=True))
        m.add(LSTM(32))
        m.add(Dense(10, activation="softmax"))
        m.compile(optimizer="rmsprop", loss="categorical_crossentropy")
    elif model == "w7_gru_seq":
        from keras.layers import GRU, Embedding, TimeDistributed

        m.add(Embedding(10000, 256, input_length=16))
        m.add(GRU(128, return_sequences=True))
        m.add(TimeDistributed(Dense(128)))
        m.add(GRU(256))
        m.add(Dense(10000))
        m.add(Activation("softmax"))
        m.compile(optimizer="rmsprop", loss="categorical_crossentropy")
    else:
        raise KeyError(model)
    return m


def run_timed(fn, reps, min_rep_s):
    """1 warm-up call, 1 calibration call, then `reps` timed reps of k calls each
    (k so that a rep lasts >= min_rep_s). Returns (seconds per call for each rep,
    warm-up seconds, k, last result)."""
    t0 = time.perf_counter()
    res = fn()
    warmup = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = fn()
    cal = time.perf_counter() - t0
    k = max(1, math.ceil(min_rep_s / max(cal, 1e-6)))
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(k):
            res = fn()
        times.append((time.perf_counter() - t0) / k)
    return times, warmup, k, res


def run_workload(name, threads, reps, min_rep_s):
    import numpy as np

    from keras import backend as K

    spec = WORKLOADS[name]
    K.clear_session()
    np.random.seed(0)
    x, y = make_data(name)
    model = build_model(spec["model"])
    batch = spec["batch"]
    if spec["kind"] == "train":

        def fn():
            h = model.fit(x, y, batch_size=batch, nb_epoch=1, shuffle=True, verbose=0)
            return h.history["loss"][-1]

    else:

        def fn():
            return model.predict(x, batch_size=batch, verbose=0)

    times, warmup, k, res = run_timed(fn, reps, min_rep_s)
    if spec["kind"] == "predict" and res.shape[0] != x.shape[0]:
        raise AssertionError(f"predict returned {res.shape[0]} rows for {x.shape[0]} samples")
    med = statistics.median(times)
    steps = -(-spec["n"] // batch)
    return {
        "workload": name,
        "epoch_s": round(med, 6),
        "samples_per_s": round(spec["n"] / med, 2),
        "ms_per_step": round(1000.0 * med / steps, 4),
        "final_loss": float(res) if spec["kind"] == "train" else None,
        "threads": threads,
        "kind": spec["kind"],
        "n": spec["n"],
        "batch": batch,
        "steps": steps,
        "times_s": [round(t, 6) for t in times],
        "spread_pct": round(100.0 * (max(times) - min(times)) / med, 1),
        "epochs_per_rep": k,
        "warmup_s": round(warmup, 4),
        "loadavg1": round(os.getloadavg()[0], 2),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--workloads",
        default=",".join(DEFAULT_WORKLOADS),
        help="comma-separated names, or all (default: %(default)s); known: " + ",".join(WORKLOADS),
    )
    ap.add_argument("--threads", type=int, default=2, help="RAYON_NUM_THREADS (set before keras is imported)")
    ap.add_argument("--reps", type=int, default=3, help="timed reps after warm-up and calibration")
    ap.add_argument(
        "--min-rep-s", type=float, default=0.3, help="a rep runs k epochs so that it lasts >= this"
    )
    ap.add_argument("--json", help="also append every record to this file")
    args = ap.parse_args()
    names = list(WORKLOADS) if args.workloads == "all" else [w for w in args.workloads.split(",") if w]
    unknown = [w for w in names if w not in WORKLOADS]
    if unknown:
        ap.error(f"unknown workload(s): {', '.join(unknown)} (known: {', '.join(WORKLOADS)})")

    os.environ["RAYON_NUM_THREADS"] = str(args.threads)
    import keras  # noqa: F401  (after RAYON_NUM_THREADS: the pool reads it once)

    failed = 0
    for name in names:
        try:
            rec = run_workload(name, args.threads, args.reps, args.min_rep_s)
        except NotImplementedError as e:
            rec = {"workload": name, "error": f"NotImplementedError: {e}", "threads": args.threads}
            failed += 1
        line = json.dumps(rec)
        print(line, flush=True)
        if args.json:
            with open(args.json, "a") as f:
                f.write(line + "\n")
    return 1 if failed == len(names) else 0


if __name__ == "__main__":
    sys.exit(main())
