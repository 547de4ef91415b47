"""Cost of `keras.distributed.fit` on one machine, in one run.

1. Per-step overhead against parameter count (1e4 .. 4e6): a two-layer MLP trained with
   `model.fit` and with `keras.distributed.fit(workers=1)` and `(workers=2)` on the same
   data; the step time is the median interval between `on_batch_end` calls after the
   first epoch (so actor start-up is left out). Overhead = distributed - single.
2. Ray's floor for the same traffic (one gradient-sized array out, two back).
3. Time to 96% test accuracy on the MNIST MLP (8000 training / 2000 test images of the
   shared MNIST test set, batch 128, RMSprop, evaluated after every epoch), single
   process vs workers=2; actor start-up included.
4. Scaling (`--scaling`, alone): 1, 2, 4, 8 workers on the driver path and on the
   collective path (`reduce='driver'` / `'workers'`) for a tiny MLP and for W3: the
   per-step time (median of epoch 2), the bytes through the driver per step (epoch 1,
   metered on the driver: arguments of actor calls, what it `ray.get`s, and objects it
   `ray.put`s counted once per worker that fetches them) and per worker per step
   (gradient bytes each worker received and sent, counted by the workers); then a
   cost model fitted to those numbers, projected to 8..64 workers on a 10 Gb/s network
   for W3 and W4 (see `cost_model` for its assumptions).

    .venv/bin/python benches/python/distributed_overhead.py [--quick]
    .venv/bin/python benches/python/distributed_overhead.py --scaling

On a 2-core machine the workers and the driver share the cores, so distribution cannot
win there; the point is to know its cost.
"""

import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.normpath(os.path.join(HERE, "..", "..", "..", "shared", "data", "mnist"))
EXAMPLES = os.path.normpath(os.path.join(HERE, "..", "..", "examples"))


def _timer_callback():
    from keras.callbacks import Callback

    class Timer(Callback):
        def __init__(self):
            super().__init__()
            self.epoch = 0
            self.stamps = []

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch
            self.last = time.perf_counter()

        def on_batch_end(self, batch, logs=None):
            now = time.perf_counter()
            if self.epoch >= 1:
                self.stamps.append(now - self.last)
            self.last = now

    return Timer()


def _mlp(width):
    from keras.layers import Dense
    from keras.models import Sequential

    model = Sequential()
    model.add(Dense(width, input_dim=width, activation="relu"))
    model.add(Dense(10, activation="softmax"))
    model.compile(loss="categorical_crossentropy", optimizer="sgd")
    return model


def step_overhead(quick):
    import keras.distributed

    batch, steps = 64, (6 if quick else 12)
    print("\n# per-step time (ms, median after epoch 0), batch %d" % batch)
    print(
        "%10s %8s %10s %10s %10s %12s %12s"
        % ("params", "width", "single", "w=1", "w=2", "ovh w=1", "ovh w=2")
    )
    for target in (1e4, 1e5, 1e6, 4e6):
        width = int(round((-11 + np.sqrt(121 + 4 * target)) / 2))  # w*w + w + 10*w + 10 ~ target
        n = batch * steps
        x = np.random.rand(n, width).astype("float32")
        y = np.eye(10, dtype="float32")[np.random.randint(0, 10, n)]
        res = {}
        for mode in ("single", 1, 2):
            np.random.seed(0)
            model = _mlp(width)
            t = _timer_callback()
            kw = dict(batch_size=batch, nb_epoch=3, verbose=0, callbacks=[t])
            if mode == "single":
                model.fit(x, y, **kw)
            else:
                keras.distributed.fit(model, x, y, workers=mode, **kw)
            res[mode] = 1000 * float(np.median(t.stamps))
        params = model.count_params()
        print(
            "%10d %8d %10.2f %10.2f %10.2f %12.2f %12.2f"
            % (params, width, res["single"], res[1], res[2], res[1] - res["single"], res[2] - res["single"])
        )
        sys.stdout.flush()


def ray_floor():
    """Ray's own cost of one step's traffic: put one gradient-sized float32 array, two
    actors each return an array of that size, the driver sums them."""
    import ray

    @ray.remote(num_cpus=0)
    class Echo:
        def f(self, g):
            return g + 0

        def ready(self):
            return True

    actors = [Echo.remote() for _ in range(2)]
    ray.get([a.ready.remote() for a in actors])
    print("\n# Ray floor: put + 2 actor round trips of a gradient-sized array + sum (ms, median)")
    for n in (10_000, 100_000, 1_000_000, 4_000_000):
        g = np.ones(n, np.float32)
        ts = []
        for _ in range(25):
            t = time.perf_counter()
            r = ray.put(g)
            out = ray.get([a.f.remote(r) for a in actors])
            _ = out[0] + out[1]
            ts.append(time.perf_counter() - t)
        print("%10d %10.2f" % (n, 1000 * float(np.median(ts[5:]))))
    for a in actors:
        ray.kill(a)


def _mnist_mlp():
    """examples/mnist_mlp.py's model (uncompiled), and the shared MNIST test set read by
    the examples' reader: images as (10000, 784) floats in [0, 1], labels."""
    sys.path.insert(0, EXAMPLES)
    from mnist_data import load_mnist_test_set
    from mnist_mlp import build_model

    images, labels = load_mnist_test_set(DATA)
    return build_model, (images.reshape(-1, 784).astype("float32") / 255.0, labels)


def time_to_96(quick):
    import keras.distributed
    from keras.callbacks import Callback
    from keras.utils.np_utils import to_categorical

    build_model, (x, labels) = _mnist_mlp()
    y = to_categorical(labels, 10)
    xt, yt = x[8000:], y[8000:]
    max_epochs = 6 if quick else 15

    class Until(Callback):
        def __init__(self, t0):
            super().__init__()
            self.t0 = t0
            self.reached = None

        def on_epoch_end(self, epoch, logs=None):
            _, acc = self.model.evaluate(xt, yt, verbose=0)
            if acc >= 0.96 and self.reached is None:
                self.reached = (epoch + 1, time.perf_counter() - self.t0, acc)
                self.model.stop_training = True

    print("\n# MNIST MLP: time to 96%% test accuracy (at most %d epochs, start-up included)" % max_epochs)
    for mode in ("single", 2):
        np.random.seed(3)
        model = build_model()
        model.compile(loss="categorical_crossentropy", optimizer="rmsprop", metrics=["accuracy"])
        t0 = time.perf_counter()
        cb = Until(t0)
        kw = dict(batch_size=128, nb_epoch=max_epochs, verbose=0, callbacks=[cb])
        if mode == "single":
            model.fit(x[:8000], y[:8000], **kw)
        else:
            keras.distributed.fit(model, x[:8000], y[:8000], workers=2, **kw)
        total = time.perf_counter() - t0
        name = "single process" if mode == "single" else "workers=2"
        if cb.reached:
            ep, secs, acc = cb.reached
            print("%-15s reached %.4f after %d epochs, %.1f s" % (name, acc, ep, secs))
        else:
            print("%-15s did not reach 96%% in %d epochs (%.1f s)" % (name, max_epochs, total))
        sys.stdout.flush()


class _Meter:
    """Bytes through the driver while `on`: what it sends with actor calls (objects it
    put counted once per call that passes them: the callee fetches them from the
    driver's node) and what it `ray.get`s. Installed by patching the driver's `ray`."""

    def __init__(self, ray):
        from ray.actor import ActorMethod

        from keras.distributed._collective import ref_bytes

        # `on`: None, or the label ('step', 'epoch end') the bytes are counted under
        self.on, self.sent, self.received, put_sizes = None, {}, {}, {}
        orig_put, orig_get, orig_remote = ray.put, ray.get, ActorMethod.remote
        meter = self

        def refs_in(o):
            if isinstance(o, ray.ObjectRef):
                yield o
            elif isinstance(o, (list, tuple)):
                for v in o:
                    yield from refs_in(v)
            elif isinstance(o, dict):
                for v in o.values():
                    yield from refs_in(v)

        def put(value, **kw):
            ref = orig_put(value, **kw)
            if meter.on:
                put_sizes[ref.hex()] = ref_bytes(value)
            return ref

        def get(refs, **kw):
            out = orig_get(refs, **kw)
            if meter.on:
                meter.received[meter.on] = meter.received.get(meter.on, 0) + ref_bytes(out)
            return out

        def remote(method, *args, **kwargs):
            if meter.on:
                n = ref_bytes([list(args), kwargs]) + sum(
                    put_sizes.get(r.hex(), 0) for r in refs_in(list(args))
                )
                meter.sent[meter.on] = meter.sent.get(meter.on, 0) + n
            return orig_remote(method, *args, **kwargs)

        ray.put, ray.get, ActorMethod.remote = put, get, remote


def _phases(meter):
    """Epoch 0: start-up; epoch 1: bytes metered, the steps' apart from the epoch end's
    (the collective path's state sync); epoch 2: steps timed, wall and driver CPU."""
    from keras.callbacks import Callback

    class Phases(Callback):
        def __init__(self):
            super().__init__()
            self.stamps, self.cpu, self.steps = [], [], 0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch
            meter.on = "step" if epoch == 1 else None
            self.last, self.last_cpu = time.perf_counter(), time.process_time()

        def on_batch_end(self, batch, logs=None):
            now, cpu = time.perf_counter(), time.process_time()
            if self.epoch == 1:
                self.steps += 1
                if (batch + 1) * self.params["batch_size"] >= self.params["nb_sample"]:
                    meter.on = "epoch end"
            if self.epoch == 2:
                self.stamps.append(now - self.last)
                self.cpu.append(cpu - self.last_cpu)
            self.last, self.last_cpu = now, cpu

        def on_epoch_end(self, epoch, logs=None):
            meter.on = None

    return Phases()


def _tiny():
    from keras.layers import Dense
    from keras.models import Sequential

    m = Sequential([Dense(16, input_dim=12, activation="tanh"), Dense(3, activation="softmax")])
    m.compile(loss="categorical_crossentropy", optimizer="sgd")
    return m


def _models():
    sys.path.insert(0, HERE)
    import workloads

    def w(name):
        return (
            lambda: workloads.build_model(name),
            workloads.make_data(name),
            workloads.WORKLOADS[name]["batch"],
        )

    rs = np.random.RandomState(0)
    tiny_x = rs.randn(8 * 64, 12).astype("float32")
    tiny_y = np.eye(3, dtype="float32")[rs.randint(0, 3, len(tiny_x))]
    return {"tiny": (_tiny, (tiny_x, tiny_y), 64), "w3": w("w3_mnist_mlp"), "w4": w("w4_vgg_small")}


def _single_step(build, data, batch, steps=4):
    """model.fit's median step time (s) and the apply (optimizer) program's (s)."""
    x, y = data
    n = batch * steps
    np.random.seed(0)
    m = build()
    t = _timer_callback()
    m.fit(x[:n], y[:n], batch_size=batch, nb_epoch=2, verbose=0, callbacks=[t])
    inner = m.model if hasattr(m, "model") and m.model is not None else m
    inner._make_apply_function()
    from keras import backend as K

    zeros = [np.zeros(sum(int(np.size(K.get_value(w))) for w in inner.trainable_weights), np.float32)]
    ts = []
    for _ in range(5):
        t0 = time.perf_counter()
        inner.apply_function.run(zeros)
        ts.append(time.perf_counter() - t0)
    return float(np.median(t.stamps)), float(np.median(ts)), m.count_params()


def scaling(quick):
    """Measures both paths for 1, 2, 4, 8 workers; returns the rows."""
    import ray

    import keras.distributed

    meter = _Meter(ray)
    rows = []
    print("\n# scaling: per-step time and the driver's CPU time in it (ms, median of epoch 2);")
    print("# bytes per step (epoch 1, the epoch end left out; it is shown apart, once per epoch)")
    head = (
        "model",
        "params",
        "path",
        "W",
        "step ms",
        "drv cpu",
        "drv sent",
        "drv recv",
        "worker in/out",
        "epoch end",
    )
    print("%-5s %8s %-8s %3s %8s %8s %10s %10s %19s %10s" % head)
    for name in ("tiny", "w3"):
        build, (x, y), batch = _models()[name]
        n = batch * (4 if quick or name == "w3" else 8)
        for workers in (1, 2, 4, 8):
            for path in ("driver", "workers"):
                np.random.seed(0)
                model = build()
                ph = _phases(meter)
                meter.sent, meter.received = {}, {}
                h = keras.distributed.fit(
                    model, x[:n], y[:n], batch_size=batch, nb_epoch=3, verbose=0, callbacks=[ph],
                    workers=workers, reduce=path,
                )  # fmt: skip
                steps_total = 3 * len(range(0, n, batch))
                row = dict(
                    model=name,
                    params=model.count_params(),
                    path=path,
                    workers=workers,
                    step_s=float(np.median(ph.stamps)),
                    cpu_s=float(np.median(ph.cpu)),
                    sent=meter.sent.get("step", 0) / ph.steps,
                    received=meter.received.get("step", 0) / ph.steps,
                    end=meter.sent.get("epoch end", 0) + meter.received.get("epoch end", 0),
                    w_in=float(np.mean([b["in"] for b in h.worker_bytes])) / steps_total,
                    w_out=float(np.mean([b["out"] for b in h.worker_bytes])) / steps_total,
                )
                rows.append(row)
                print(
                    "%-5s %8d %-8s %3d %8.2f %8.2f %10.0f %10.0f %9.0f/%-9.0f %10.0f"
                    % (name, row["params"], path, workers, 1000 * row["step_s"], 1000 * row["cpu_s"],
                       row["sent"], row["received"], row["w_in"], row["w_out"], row["end"])
                )  # fmt: skip
                sys.stdout.flush()
    return rows


def _fit_line(ws, ts):
    a = np.vstack([np.ones(len(ws)), ws]).T
    (c0, c1), *_ = np.linalg.lstsq(a, np.asarray(ts, dtype=float), rcond=None)
    return float(c0), float(c1)


def cost_model(rows, quick):
    """Fits per-step coordination costs to the tiny model's measurements and projects
    step times for W3 and W4 on a 10 Gb/s cluster.

    Assumptions (printed with the figures):
    - A step = compute + coordination + transfer + summation + optimizer apply.
    - Compute: this host's `model.fit` step time (apply left out) for the workload's
      batch, on every worker (weak scaling: each worker takes the workload's batch, so
      the global batch is W times it), each worker as fast as this single process.
    - Coordination, fitted to the tiny model (compute ~0) at W = 1, 2, 4, 8 on this
      host: the driver's CPU time per step, d(W) = a + b W (serial: it stays so on a
      cluster), and the rest of the step, which here the workers' processes spend
      sharing this host's cores: scaled by min(cores, W) / W to the time one worker
      of a cluster node would spend, r(W) = c + e W.
    - Network: 10 Gb/s = 1.25e9 B/s per node, full duplex, nothing else on it, and one
      0.1 ms round trip per dependent exchange (driver path: 2 (gradients in, the
      average out); collective: 4 (slices in, reduced slices out, two driver rounds)).
    - Driver path: the driver's link carries W gradients in and the average out to W
      workers (4 P bytes each); it sums W vectors (W P multiply-adds) and applies, then
      every worker applies (two applies on the critical path).
    - Collective: each worker sends and receives 2 x 4P (W-1)/W bytes on its own link;
      it reduces P/W elements of W vectors (P multiply-adds); one apply.
    - The collective's epoch end (the driver takes worker 0's weights and optimizer
      state once per epoch) is left out of the per-step figure."""
    cores = os.cpu_count() or 1
    bw, rtt = 1.25e9, 1e-4
    coord = {}
    for path in ("driver", "workers"):
        pts = [r for r in rows if r["model"] == "tiny" and r["path"] == path]
        ws = [r["workers"] for r in pts]
        d = _fit_line(ws, [r["cpu_s"] for r in pts])
        rest = [max(r["step_s"] - r["cpu_s"], 0.0) * min(cores, w) / w for r, w in zip(pts, ws)]
        coord[path] = d, _fit_line(ws, rest)
    g = np.ones(1_000_000, np.float32)
    acc, ts = np.zeros_like(g), []
    for _ in range(7):
        t0 = time.perf_counter()
        np.multiply(g, np.float32(0.5), out=acc)
        acc += g
        ts.append(time.perf_counter() - t0)
    s_madd = float(np.median(ts)) / g.size
    print("\n# cost model (coordination fitted on this host, %d cores; network assumed)" % cores)
    for path, ((a, b), (c, e)) in coord.items():
        print(
            "%-8s driver CPU d(W) = %.2f + %.3f W ms; the rest, per worker, r(W) = %.2f + %.3f W ms"
            % (path, 1000 * a, 1000 * b, 1000 * c, 1000 * e)
        )
    print("multiply-add %.2f ns/float; network 1.25 GB/s per node, 0.1 ms round trip" % (1e9 * s_madd))

    def coordination(path, w):
        (a, b), (c, e) = coord[path]
        return max(a + b * w, 0.0) + max(c + e * w, 0.0)

    models = _models()
    for name in ("w3", "w4"):
        build, data, batch = models[name]
        t_step, t_apply, p = _single_step(build, data, batch, steps=2 if quick else 4)
        t_comp = max(t_step - t_apply, 0.0)
        print(
            "\n%s: P = %d, batch %d per worker; here model.fit takes %.1f ms/step, the apply %.1f ms"
            % (name.upper(), p, batch, 1000 * t_step, 1000 * t_apply)
        )
        print(
            "%4s %10s %10s %12s %12s %12s"
            % ("W", "driver ms", "collect ms", "driver MB", "worker MB", "samples/s")
        )
        for w in (8, 16, 32, 64):
            drv_bytes = 2 * w * 4 * p
            t_d = t_comp + coordination("driver", w) + drv_bytes / bw + 2 * rtt + w * p * s_madd + 2 * t_apply
            wkr_bytes = 2 * 2 * 4 * p * (w - 1) / w
            t_c = t_comp + coordination("workers", w) + wkr_bytes / 2 / bw + 4 * rtt + p * s_madd + t_apply
            print(
                "%4d %10.1f %10.1f %12.1f %12.1f %12.0f"
                % (w, 1000 * t_d, 1000 * t_c, drv_bytes / 1e6, wkr_bytes / 1e6, w * batch / min(t_d, t_c))
            )


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer steps and epochs")
    p.add_argument("--scaling", action="store_true", help="only the scaling table and the cost model")
    args = p.parse_args()
    import ray

    if args.scaling:
        ray.init(address="local", num_cpus=8, include_dashboard=False, log_to_driver=False)
        cost_model(scaling(args.quick), args.quick)
        ray.shutdown()
        return
    t0 = time.perf_counter()
    ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    print("ray.init: %.1f s, %d CPUs" % (time.perf_counter() - t0, os.cpu_count()))
    step_overhead(args.quick)
    ray_floor()
    time_to_96(args.quick)
    ray.shutdown()


if __name__ == "__main__":
    main()
