"""Channels-first vs channels-last training step, side by side in one process.

Builds two workloads of ``workloads.py`` that differ only in ``dim_ordering`` (by
default ``w4_vgg_small`` ('th') and ``w4_vgg_small_tf`` ('tf')), compiles their train
Programs with one ``fit`` epoch, then times the native train Program alone over
pre-sliced batches, round-robin (``--reps`` rounds of about ``--min-s`` seconds each) so
that drift and other processes hit both alike. Prints one JSON line per workload (median,
fastest and slowest µs per step) and one with the ratios to 'th' (of the medians and of
the fastest rounds: on a loaded host the fastest round is the steadier figure); with
``--ops`` also the engine's per-op times per step (``FERROKERAS_PROFILE=1``) and the op
names of each compiled train Program.

``--permuted`` adds a third variant (only for ``w4_vgg_small_tf``): the same 'tf' model
with each Convolution2D built the way 'tf' convolutions ran before the engine had a
channels-last conv2d (permute to channels-first, conv2d, permute back, bias_add along the
last axis, relu), so the old and new 'tf' paths are timed side by side in one run.

    .venv/bin/python benches/python/layout_compare.py --reps 9 --ops --permuted
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def permuted_w4():
    """``w4_vgg_small_tf`` with its convolutions on the pre-NHWC path (see the doc)."""
    import workloads as W

    from keras import backend as K
    from keras.engine.topology import Layer
    from keras.layers import Dropout, MaxPooling2D
    from keras.models import Sequential

    class PermutedConv(Layer):
        def __init__(self, nb_filter, **kw):
            self.nb_filter = nb_filter
            super().__init__(**kw)

        def build(self, input_shape):
            shape = (3, 3, input_shape[3], self.nb_filter)
            self.W = self.add_weight(shape, initializer="glorot_uniform", name=self.name + "_W")
            self.b = self.add_weight((self.nb_filter,), initializer="zero", name=self.name + "_b")
            self.built = True

        def get_output_shape_for(self, s):
            return (s[0], s[1] - 2, s[2] - 2, self.nb_filter)

        def call(self, x, mask=None):
            y = K.permute_dimensions(x, (0, 3, 1, 2))
            y = K.ferrokeras_backend._op("conv2d", [y, self.W], kernel_layout="hwio", flip=False)
            y = K.permute_dimensions(y, (0, 2, 3, 1))
            return K.relu(K.bias_add(y, self.b, axis=-1))

    m = Sequential()
    m.add(PermutedConv(32, input_shape=(32, 32, 3)))
    m.add(PermutedConv(32))
    m.add(MaxPooling2D(pool_size=(2, 2), dim_ordering="tf"))
    m.add(Dropout(0.25))
    m.add(PermutedConv(64))
    m.add(PermutedConv(64))
    m.add(MaxPooling2D(pool_size=(2, 2), dim_ordering="tf"))
    m.add(Dropout(0.25))
    W.add_vgg_small_head(m)
    return m


def prepare(name):
    import numpy as np
    import workloads as W

    base = name.split(":")[0]
    spec = W.WORKLOADS[base]
    np.random.seed(0)
    x, y = W.make_data(base)
    model = permuted_w4() if name.endswith(":permuted") else W.build_model(spec["model"])
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
    ap.add_argument("--permuted", action="store_true", help="also time the pre-NHWC 'tf' path")
    args = ap.parse_args()
    os.environ["RAYON_NUM_THREADS"] = str(args.threads)
    if args.ops:
        os.environ["FERROKERAS_PROFILE"] = "1"
    names = [args.th, args.tf] + ([args.tf + ":permuted"] if args.permuted else [])
    runs = {name: prepare(name) for name in names}
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
    best = {name: min(v) for name, v in got.items()}
    ratios = {}
    for name in names[1:]:
        ratios[name + "_over_th"] = round(med[name] / med[args.th], 3)
        ratios[name + "_over_th_fastest"] = round(best[name] / best[args.th], 3)
    print(json.dumps(ratios), flush=True)
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
