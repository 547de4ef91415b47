"""Where a training step's time goes: native call vs Python loop vs callbacks.

For each workload of ``workloads.py`` (same model and data), in one process:

* ``fit``: ``model.fit(x, y, nb_epoch=1, shuffle=True, verbose=0)`` per epoch, divided by
  the number of steps (the user-visible cost of a step, per-epoch work included);
* ``native``: the compiled train (or predict) Program alone, ``f.run(batch + lp)``,
  over pre-sliced batches (the floor the loop can reach);
* ``loop``: the fit loop itself, as ``model.fit`` calls it after preparing the data:
  ``keras.engine.loop.fit_arrays`` with a ``ProgramStep`` on the prepared arrays (the
  epoch's shuffle, the Program gathering each batch's rows, batch logs, ``float()`` of the
  outputs, and the BaseLogger and History callbacks of ``fit(verbose=0)``);
* ``callbacks``: ``CallbackList([BaseLogger(), History()])`` ``on_batch_begin`` +
  ``on_batch_end`` with the same logs (the callbacks' share of ``loop``);
* ``python_loop``: loop minus native minus callbacks: the loop's own Python per step;
* ``per_epoch``: ``fit``'s epoch time minus steps x loop: the fixed cost ``fit`` adds
  around the loop (checking and standardizing the data, ...).

Prints one JSON line per workload with microseconds per step (median of ``--reps``
timings of about ``--min-s`` seconds each). ``--cprofile N`` also prints the top N
functions of a cProfile of a few ``fit`` epochs, by own time; ``--ops`` the engine's
per-op times (``FERROKERAS_PROFILE=1``, ``keras._native.profile_report()``) per step. The variants run
round-robin (``--reps`` rounds) so that drift and other processes hit them alike.

    .venv/bin/python benches/python/step_profile.py --workloads w0_empty,w1_mlp_small,w3_mnist_mlp
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def timed_interleaved(variants, reps, min_s):
    """variants: {name: (fn, units per call)}. Calibrates k per variant (a timing lasts
    about min_s), then runs the variants round-robin `reps` times so drift and other
    processes hit all of them alike. Returns {name: median seconds per unit}."""
    ks = {}
    for name, (fn, _units) in variants.items():
        fn()
        t0 = time.perf_counter()
        fn()
        ks[name] = max(1, int(min_s / max(time.perf_counter() - t0, 1e-7)))
    got = {name: [] for name in variants}
    for _ in range(reps):
        for name, (fn, units) in variants.items():
            k = ks[name]
            t0 = time.perf_counter()
            for _ in range(k):
                fn()
            got[name].append((time.perf_counter() - t0) / (k * units))
    return {name: statistics.median(v) for name, v in got.items()}


def profile_workload(name, reps, min_s, cprofile_top, ops):
    import numpy as np
    import workloads as W

    from keras import backend as K
    from keras import callbacks as cbks
    from keras.engine import loop
    from keras.engine.training import dedupe_labels

    spec = W.WORKLOADS[name]
    K.clear_session()
    np.random.seed(0)
    x, y = W.make_data(name)
    model = W.build_model(spec["model"])
    inner = getattr(model, "model", None) or model
    bs = spec["batch"]
    n = spec["n"]
    batches = [(i, min(i + bs, n)) for i in range(0, n, bs)]
    steps = len(batches)
    rec = {"workload": name, "kind": spec["kind"], "batch": bs, "steps": steps}

    if spec["kind"] == "train":
        model.fit(x, y, batch_size=bs, nb_epoch=1, verbose=0)  # compiles the train Program
        f = inner.train_function
        xs, ys, ws = inner._standardize_user_data(x, y, check_batch_dim=False, batch_size=bs)
        ins = xs + ys + ws
        lp = [np.asarray(1.0, dtype=np.float32)] if len(ins) < len(f.inputs) else []
        perm = np.random.permutation(n)
        epoch_ins = [a[perm] for a in ins]
        pre = [[a[s:e] for a in epoch_ins] + lp for s, e in batches]
        labels = dedupe_labels(inner.metrics_names)

        def fit_epoch():
            model.fit(x, y, batch_size=bs, nb_epoch=1, shuffle=True, verbose=0)

        def native_epoch():
            run = f.run
            for b in pre:
                run(b)

        def loop_epoch():
            step = loop.ProgramStep(f, ins)
            loop.fit_arrays(inner, step, ins, None, labels, bs, 1, 0, None, True, 0)

        cl = cbks.CallbackList([cbks.BaseLogger(), cbks.History()])
        cl.set_model(inner)
        cl.set_params(
            {
                "batch_size": bs,
                "nb_epoch": 1,
                "nb_sample": n,
                "verbose": 0,
                "do_validation": False,
                "metrics": labels,
            }
        )
        cl.on_train_begin()
        logs0 = {lab: 0.5 for lab in labels}

        def callbacks_epoch():
            cl.on_epoch_begin(0)
            for bi, (s, e) in enumerate(batches):
                logs = {"batch": bi, "size": e - s}
                cl.on_batch_begin(bi, logs)
                logs.update(logs0)
                cl.on_batch_end(bi, logs)
            cl.on_epoch_end(0, {})

        def standardize():
            inner._standardize_user_data(x, y, check_batch_dim=False, batch_size=bs)

        def shuffle():
            np.random.shuffle(np.arange(n))

        t = timed_interleaved(
            {
                "fit": (fit_epoch, steps),
                "native": (native_epoch, steps),
                "loop": (loop_epoch, steps),
                "callbacks": (callbacks_epoch, steps),
                "standardize": (standardize, 1),
                "shuffle": (shuffle, 1),
            },
            reps,
            min_s,
        )
        for key in ("fit", "native", "loop", "callbacks"):
            rec[key + "_us"] = round(1e6 * t[key], 2)
        rec["standardize_us"] = round(1e6 * t["standardize"], 1)
        rec["shuffle_us"] = round(1e6 * t["shuffle"], 1)
        rec["python_loop_us"] = round(rec["loop_us"] - rec["native_us"] - rec["callbacks_us"], 2)
        rec["per_epoch_us"] = round(steps * (rec["fit_us"] - rec["loop_us"]), 1)
        rec["native_share_pct"] = round(100.0 * rec["native_us"] / rec["fit_us"], 1)
        profiled = fit_epoch
    else:
        model.predict(x[:bs], batch_size=bs)
        f = inner.predict_function
        xs = [K.as_engine_array(x, inner.inputs[0].dtype)]
        lp = [np.asarray(0.0, dtype=np.float32)] if len(xs) < len(f.inputs) else []
        pre = [[a[s:e] for a in xs] + lp for s, e in batches]

        def predict_all():
            model.predict(x, batch_size=bs, verbose=0)

        def native_all():
            run = f.run
            for b in pre:
                run(b)

        t = timed_interleaved({"predict": (predict_all, steps), "native": (native_all, steps)}, reps, min_s)
        rec["predict_us"] = round(1e6 * t["predict"], 2)
        rec["native_us"] = round(1e6 * t["native"], 2)
        rec["python_loop_us"] = round(rec["predict_us"] - rec["native_us"], 2)
        rec["native_share_pct"] = round(100.0 * rec["native_us"] / rec["predict_us"], 1)
        profiled = predict_all
    rec["loadavg1"] = round(os.getloadavg()[0], 2)
    print(json.dumps(rec), flush=True)

    if ops:
        from keras import _native

        native = native_epoch if spec["kind"] == "train" else native_all
        _native.profile_report()  # clears what the timings above accumulated
        rounds = max(3, int(2000 / steps))
        t0 = time.perf_counter()
        for _ in range(rounds):
            native()
        wall = (time.perf_counter() - t0) / (rounds * steps)
        rows = [
            [op, phase, round(1e6 * sec / (rounds * steps), 2), round(calls / (rounds * steps), 2)]
            for op, phase, calls, sec in _native.profile_report()
        ]
        print(
            json.dumps(
                {"workload": name, "native_profiled_us": round(1e6 * wall, 2), "ops_us_per_step": rows}
            ),
            flush=True,
        )

    if cprofile_top:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.enable()
        for _ in range(max(3, int(2000 / steps))):
            profiled()
        prof.disable()
        print(f"# cProfile of {name}: top {cprofile_top} by own time", flush=True)
        pstats.Stats(prof, stream=sys.stdout).sort_stats("tottime").print_stats(cprofile_top)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--workloads", default="w0_empty,w1_mlp_small,w2_mlp_dropout,w3_mnist_mlp,w8_infer_mnist_mlp"
    )
    ap.add_argument("--threads", type=int, default=2, help="RAYON_NUM_THREADS (set before keras is imported)")
    ap.add_argument("--reps", type=int, default=7, help="round-robin rounds")
    ap.add_argument("--min-s", type=float, default=0.2, help="seconds per timing")
    ap.add_argument(
        "--cprofile", type=int, default=0, metavar="N", help="print the top N functions of a cProfile"
    )
    ap.add_argument(
        "--ops",
        action="store_true",
        help="also run the native loop with FERROKERAS_PROFILE=1 and print µs per step of each (op, phase)",
    )
    args = ap.parse_args()
    os.environ["RAYON_NUM_THREADS"] = str(args.threads)
    if args.ops:
        os.environ["FERROKERAS_PROFILE"] = "1"  # read by the engine at its first run
    import workloads as W

    for name in args.workloads.split(","):
        if name not in W.WORKLOADS:
            ap.error(f"unknown workload {name}")
        profile_workload(name, args.reps, args.min_s, args.cprofile, args.ops)
    return 0


if __name__ == "__main__":
    sys.exit(main())
