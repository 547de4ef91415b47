"""Cost of `keras.distributed.fit` on one machine, in one run.

1. Per-step overhead against parameter count (1e4 .. 4e6): a two-layer MLP trained with
   `model.fit` and with `keras.distributed.fit(workers=1)` and `(workers=2)` on the same
   data; the step time is the median interval between `on_batch_end` calls after the
   first epoch (so actor start-up is left out). Overhead = distributed - single.
2. Ray's floor for the same traffic (one gradient-sized array out, two back).
3. Time to 96% test accuracy on the MNIST MLP (8000 training / 2000 test images of the
   shared MNIST test set, batch 128, RMSprop, evaluated after every epoch), single
   process vs workers=2; actor start-up included.

    .venv/bin/python benches/python/distributed_overhead.py [--quick]

On a 2-core machine the workers and the driver share the cores, so distribution cannot
win there; the point is to know its cost.
"""

import argparse
import gzip
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.normpath(os.path.join(HERE, "..", "..", "..", "shared", "data", "mnist"))


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
            if mode == "single":
                model.fit(x, y, batch_size=batch, nb_epoch=3, verbose=0, callbacks=[t])
            else:
                keras.distributed.fit(
                    x=x,
                    y=y,
                    model=model,
                    batch_size=batch,
                    nb_epoch=3,
                    verbose=0,
                    callbacks=[t],
                    workers=mode,
                )
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


def _mnist():
    with gzip.open(os.path.join(DATA, "t10k-images-idx3-ubyte.gz")) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784).astype("float32") / 255.0
    with gzip.open(os.path.join(DATA, "t10k-labels-idx1-ubyte.gz")) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    return x, y


def time_to_96(quick):
    import keras.distributed
    from keras.callbacks import Callback
    from keras.layers import Activation, Dense, Dropout
    from keras.models import Sequential
    from keras.utils.np_utils import to_categorical

    x, labels = _mnist()
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
        model = Sequential()
        model.add(Dense(512, input_shape=(784,)))
        model.add(Activation("relu"))
        model.add(Dropout(0.2))
        model.add(Dense(512))
        model.add(Activation("relu"))
        model.add(Dropout(0.2))
        model.add(Dense(10))
        model.add(Activation("softmax"))
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


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer steps and epochs")
    args = p.parse_args()
    import ray

    t0 = time.perf_counter()
    ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    print("ray.init: %.1f s, %d CPUs" % (time.perf_counter() - t0, os.cpu_count()))
    step_overhead(args.quick)
    ray_floor()
    time_to_96(args.quick)
    ray.shutdown()


if __name__ == "__main__":
    main()
