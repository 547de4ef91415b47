"""keras.distributed.fit on a local Ray cluster (`ray.init(num_cpus=2)`): equality with
single-process training, the Dropout rule, faults, real data.

Tolerances: with `workers=1` everything is compared bitwise. With `workers=2` the only
difference from `model.fit` is the float32 rounding of the weighted gradient sum, so
after 3 epochs the weights must agree within an absolute 1e-5 (`WTOL`) and the logged
losses and metrics within a relative 1e-5 (`LTOL`).

Ray is optional: without it these tests skip, except in CI (`CI` or
`FERROKERAS_REQUIRE_DATA` set), where a missing Ray is a failure (CI installs
'.[test]', which brings it).
"""

import gzip
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import shared_data

WTOL = 1e-5
LTOL = 1e-5


def _need_ray():
    try:
        import ray  # noqa: F401
        from ray.util.state import list_actors  # noqa: F401
    except ImportError as e:
        msg = "ray[default] is not installed (%s): pip install '.[distributed]'" % e
        if os.environ.get("CI") or os.environ.get("FERROKERAS_REQUIRE_DATA"):
            pytest.fail(msg + "; in CI this is a failure")
        pytest.skip(msg)


@pytest.fixture(scope="module")
def cluster():
    _need_ray()
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=True, log_to_driver=False)
    yield ray
    ray.shutdown()


def _alive_workers():
    from ray.util.state import list_actors

    actors = list_actors(filters=[("state", "=", "ALIVE")], raise_on_missing_output=False)
    return [a for a in actors if (a.get("name") or "").startswith("ferrokeras-worker-")]


def _no_leftovers():
    """No worker actor alive and no object of the run left in the object store."""
    import gc

    from ray.util.state import list_objects

    gc.collect()
    deadline = time.time() + 20
    while True:
        alive = _alive_workers()
        objs = list_objects(raise_on_missing_output=False)
        if not alive and not objs:
            return
        if time.time() > deadline:
            raise AssertionError("left behind: actors %s, objects %s" % (alive, objs))
        time.sleep(0.5)


def _data(n=203, dim=12, classes=3, seed=0):
    rng = np.random.RandomState(seed)
    x = rng.randn(n, dim).astype("float32")
    w = rng.randn(dim, classes)
    labels = np.argmax(x.dot(w) + 0.3 * rng.randn(n, classes), axis=1)
    y = np.eye(classes, dtype="float32")[labels]
    return x, y, labels


def _mlp(seed, dropout=0.0, lr=0.05):
    from keras import backend as K
    from keras.constraints import maxnorm
    from keras.layers import Activation, Dense, Dropout, Lambda
    from keras.models import Sequential
    from keras.optimizers import SGD
    from keras.regularizers import l2

    np.random.seed(seed)
    model = Sequential()
    model.add(Dense(16, input_shape=(12,), W_regularizer=l2(0.01), W_constraint=maxnorm(1.5)))
    model.add(Activation("tanh"))
    model.add(Lambda(lambda t: t * 0.5 + 0.25))
    if dropout:
        model.add(Dropout(dropout))
    model.add(Dense(3))
    model.add(Activation("softmax"))
    model.compile(loss="categorical_crossentropy", optimizer=SGD(lr=lr, momentum=0.9), metrics=["accuracy"])
    assert K.floatx() == "float32"
    return model


def _max_diff(wa, wb):
    return max(float(np.max(np.abs(a - b))) for a, b in zip(wa, wb))


def _same_optimizer_state(a, b):
    """Bitwise equal optimizer states. Keras 1 orders the slots by weight name, and two
    models built one after the other get different auto names (`dense_9` sorts after
    `dense_10`), so the states are compared as multisets."""
    sa, sb = a.optimizer.get_weights(), b.optimizer.get_weights()
    key = lambda w: (w.shape, w.tobytes())
    return len(sa) == len(sb) and sorted(map(key, sa)) == sorted(map(key, sb))


def _close(a, b, rtol=LTOL):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.allclose(a, b, rtol=rtol, atol=rtol)


# ---------------------------------------------------------------------------------------


def test_import_keras_does_not_import_ray():
    code = "import sys, keras, keras.distributed; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_missing_ray_is_a_clear_import_error(monkeypatch):
    import keras.distributed

    monkeypatch.setitem(sys.modules, "ray", None)
    x, y, _ = _data(20)
    model = _mlp(1)
    with pytest.raises(ImportError, match=r"pip install '.*\[distributed\]'"):
        keras.distributed.fit(model, x, y, nb_epoch=1, verbose=0)


def test_split_step_is_bitwise_the_fused_step():
    """`_make_gradient_function` + `_make_apply_function` (no Ray): the same weights,
    optimizer state and losses as `fit`, bit for bit, with Dropout, a Lambda, a
    regulariser, a constraint, Adam with clipnorm and a two-output model."""
    from keras.optimizers import Adam

    x, y, _ = _data(96)
    yb = x[:, :1] * 0.5
    for build in ("mlp", "two_out"):
        nets = []
        for _ in range(2):
            if build == "mlp":
                m = _mlp(71, dropout=0.3)
                m.compile(loss="categorical_crossentropy", optimizer=Adam(lr=0.01, clipnorm=0.5))
                ins_y = y
            else:
                m = _two_tower(72)
                ins_y = [y, yb]
            nets.append(m)
        a, b = nets
        xin = x if build == "mlp" else [x, np.tanh(x[:, :5])]
        ha = a.fit(xin, ins_y, batch_size=32, nb_epoch=2, verbose=0, shuffle=False)
        net = b.model if build == "mlp" else b
        grad, apply = net._make_gradient_function(), net._make_apply_function()
        xs, ys, ws = net._standardize_user_data(xin, ins_y)
        ins = xs + ys + ws
        lp = [np.asarray(1.0, dtype=np.float32)] if net._learning_phase_inputs() else []
        losses = []
        for _ in range(2):
            batch_losses = []
            for s in range(0, 96, 32):
                outs = grad._program([v[s : s + 32] for v in ins] + lp)
                assert outs[-1].dtype == np.float32 and outs[-1].shape == (net._gradient_size(),)
                apply._program([outs[-1]])
                batch_losses.append(float(outs[0]))
            losses.append(float(np.mean(batch_losses)))
        assert np.allclose(losses, ha.history["loss"], rtol=1e-6)
        assert all(np.array_equal(p, q) for p, q in zip(a.get_weights(), b.get_weights())), build
        assert _same_optimizer_state(a, b)


def test_workers_1_is_bitwise_model_fit(cluster):
    """Dropout, a Lambda, a regulariser, a constraint, sample weights with zeros, an
    uneven last batch and a validation split: workers=1 equals model.fit bit for bit."""
    import keras.distributed

    x, y, _ = _data()
    sw = np.ones(len(x), dtype="float32")
    sw[::5] = 0.0
    sw[1::7] = 2.5
    kw = dict(batch_size=32, nb_epoch=3, verbose=0, validation_split=0.2, sample_weight=sw)

    a = _mlp(11, dropout=0.3)
    np.random.seed(99)
    ha = a.fit(x, y, **kw)
    b = _mlp(11, dropout=0.3)
    np.random.seed(99)
    hb = keras.distributed.fit(b, x, y, workers=1, **kw)

    for key in ("loss", "acc", "val_loss", "val_acc"):
        assert ha.history[key] == hb.history[key], key
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        assert np.array_equal(wa, wb)
    assert _same_optimizer_state(a, b)
    n_train = int(len(x) * 0.8)
    assert hb.worker_samples == [[n_train]] * 3
    assert hb.worker_threads == [1]
    _no_leftovers()


def test_workers_2_matches_single_process(cluster):
    """No Dropout (see the Dropout test): a Lambda, an l2 regulariser, a max-norm
    constraint, sample weights with zeros, 203 samples in batches of 32 (uneven last
    batch, split 6/5 across workers there), validation data."""
    import keras.distributed

    x, y, _ = _data()
    xv, yv, _ = _data(60, seed=3)
    sw = np.ones(len(x), dtype="float32")
    sw[::4] = 0.0
    sw[2::9] = 3.0
    kw = dict(batch_size=32, nb_epoch=3, verbose=0, validation_data=(xv, yv), sample_weight=sw)

    a = _mlp(21)
    np.random.seed(7)
    ha = a.fit(x, y, **kw)
    b = _mlp(21)
    np.random.seed(7)
    hb = keras.distributed.fit(b, x, y, workers=2, **kw)

    diff = _max_diff(a.get_weights(), b.get_weights())
    print("workers=2 max abs weight difference after 3 epochs: %.3g" % diff)
    print("samples per worker per epoch:", hb.worker_samples)
    assert diff <= WTOL
    assert hb.worker_samples == [[102, 101]] * 3
    assert hb.worker_threads == [1, 1], "RAYON_NUM_THREADS follows cpus_per_worker"
    for key in ("loss", "acc", "val_loss", "val_acc"):
        assert _close(ha.history[key], hb.history[key]), (key, ha.history[key], hb.history[key])
    # validation runs once on the driver: its metrics are those of the driver's weights
    assert _close(b.evaluate(xv, yv, verbose=0)[0], hb.history["val_loss"][-1])
    _no_leftovers()


def _two_tower(seed):
    from keras.layers import Dense, Input, merge
    from keras.models import Model

    np.random.seed(seed)
    a = Input(shape=(12,), name="in_a")
    b = Input(shape=(5,), name="in_b")
    h = merge([Dense(8, activation="relu")(a), Dense(8, activation="relu")(b)], mode="concat")
    out_a = Dense(3, activation="softmax", name="out_a")(h)
    out_b = Dense(1, name="out_b")(h)
    model = Model(input=[a, b], output=[out_a, out_b])
    model.compile(
        optimizer="adam",
        loss={"out_a": "categorical_crossentropy", "out_b": "mse"},
        loss_weights={"out_a": 1.0, "out_b": 0.5},
        metrics=["accuracy"],
    )
    return model


def test_functional_multi_io_class_and_sample_weights(cluster):
    """Two inputs, two outputs; class weights on one output, then per-output sample
    weights with zeros (the shards' weights are rescaled per output)."""
    import keras.distributed

    x, y, labels = _data(150)
    rng = np.random.RandomState(4)
    xb = rng.randn(150, 5).astype("float32")
    yb = (xb.sum(axis=1, keepdims=True) * 0.3).astype("float32")
    ins, outs = [x, xb], {"out_a": y, "out_b": yb}
    for extra in (
        dict(class_weight={"out_a": {0: 1.0, 1: 3.0, 2: 0.5}}),
        dict(sample_weight={"out_a": (np.arange(150) % 3 != 0).astype("float32"), "out_b": np.ones(150)}),
    ):
        kw = dict(batch_size=25, nb_epoch=3, verbose=0, shuffle=True, **extra)
        a = _two_tower(3)
        np.random.seed(1)
        ha = a.fit(ins, outs, **kw)
        b = _two_tower(3)
        np.random.seed(1)
        hb = keras.distributed.fit(b, ins, outs, workers=2, **kw)
        diff = _max_diff(a.get_weights(), b.get_weights())
        print(sorted(extra), "max abs weight difference: %.3g" % diff, "samples:", hb.worker_samples)
        assert diff <= WTOL
        for key in ha.history:
            assert _close(ha.history[key], hb.history[key]), (key, ha.history[key], hb.history[key])
    _no_leftovers()


def test_dropout_rule_with_two_workers(cluster):
    """Replica 0 keeps the driver's Dropout seeds, replica 1 draws from its own stream:
    the run is repeatable, differs from single-process masks, and still learns as it
    does."""
    import keras.distributed
    from keras.distributed import _spec

    x, y, _ = _data(256)
    kw = dict(batch_size=32, nb_epoch=3, verbose=0, shuffle=False)
    ref = _mlp(31, dropout=0.4)
    href = ref.fit(x, y, **kw)
    runs = []
    for _ in range(2):
        m = _mlp(31, dropout=0.4)
        seeds = _spec.dropout_seeds(m)
        assert len(seeds) == 1
        (s,) = seeds.values()
        assert _spec.replica_seed(s, 0) == s and _spec.replica_seed(s, 1) != s
        h = keras.distributed.fit(m, x, y, workers=2, **kw)
        runs.append((h.history["loss"], m.get_weights()))
    assert runs[0][0] == runs[1][0]
    assert all(np.array_equal(a, b) for a, b in zip(runs[0][1], runs[1][1]))
    assert _max_diff(runs[0][1], ref.get_weights()) > 1e-4, "replica 1 must not reuse replica 0's masks"
    assert runs[0][0][-1] < runs[0][0][0]
    assert abs(runs[0][0][-1] - href.history["loss"][-1]) < 0.15 * href.history["loss"][-1]
    _no_leftovers()


def test_sync_every_is_an_approximation(cluster):
    """sync_every=4 (local steps, weights and slots averaged every 4 steps) still
    learns; workers=1 with sync_every=4 is plain training, bitwise."""
    import keras.distributed

    x, y, _ = _data(256)
    kw = dict(batch_size=32, nb_epoch=3, verbose=0)
    a = _mlp(41)
    np.random.seed(2)
    a.fit(x, y, **kw)
    b = _mlp(41)
    np.random.seed(2)
    keras.distributed.fit(b, x, y, workers=1, sync_every=4, **kw)
    assert all(np.array_equal(p, q) for p, q in zip(a.get_weights(), b.get_weights()))
    # the driver's model goes on with model.fit from the optimizer state reached
    a.fit(x, y, batch_size=32, nb_epoch=1, verbose=0, shuffle=False)
    b.fit(x, y, batch_size=32, nb_epoch=1, verbose=0, shuffle=False)
    assert all(np.array_equal(p, q) for p, q in zip(a.get_weights(), b.get_weights()))
    c = _mlp(41)
    np.random.seed(2)
    h = keras.distributed.fit(c, x, y, workers=2, sync_every=4, **kw)
    assert h.history["loss"][-1] < h.history["loss"][0]
    assert 0 < _max_diff(a.get_weights(), c.get_weights()) < 0.5
    _no_leftovers()


class _KillWorker:
    """A callback that kills worker actor 1 at the end of batch `at` of epoch 1."""

    def __new__(cls, at):
        from keras.callbacks import Callback

        class Kill(Callback):
            def __init__(self):
                super().__init__()
                self.epoch = 0
                self.killed_at = None

            def on_epoch_begin(self, epoch, logs=None):
                self.epoch = epoch

            def on_batch_end(self, batch, logs=None):
                import ray

                if self.epoch == 1 and batch == at and self.killed_at is None:
                    (victim,) = [a for a in _alive_workers() if a["name"].split("-")[-2] == "1"]
                    ray.kill(ray.get_actor(victim["name"]))
                    self.killed_at = time.time()

        return Kill()


def test_dead_worker_is_a_clear_error_and_is_recovered(cluster):
    import keras.distributed

    x, y, _ = _data(256)
    kw = dict(batch_size=32, nb_epoch=3, verbose=0)

    undisturbed = _mlp(51)
    np.random.seed(3)
    keras.distributed.fit(undisturbed, x, y, workers=2, **kw)

    m = _mlp(51)
    np.random.seed(3)
    kill = _KillWorker(at=2)
    with pytest.raises(
        keras.distributed.WorkerError, match=r"worker 1 failed at step 11 \(epoch 1, batch 3\)"
    ):
        keras.distributed.fit(m, x, y, workers=2, callbacks=[kill], max_failures=0, **kw)
    print("error raised %.2f s after the kill" % (time.time() - kill.killed_at))
    assert time.time() - kill.killed_at < 10.0
    _no_leftovers()

    m = _mlp(51)
    np.random.seed(3)
    kill = _KillWorker(at=2)
    h = keras.distributed.fit(m, x, y, workers=2, callbacks=[kill], max_failures=1, **kw)
    assert kill.killed_at is not None
    assert len(h.history["loss"]) == 3
    for wa, wb in zip(undisturbed.get_weights(), m.get_weights()):
        assert np.array_equal(wa, wb)
    _no_leftovers()


def test_more_cpus_than_the_cluster_has_is_a_clear_error(cluster):
    import keras.distributed

    x, y, _ = _data(40)
    with pytest.raises(ValueError, match="needs 3 CPUs, the Ray cluster has 2"):
        keras.distributed.fit(_mlp(81), x, y, nb_epoch=1, verbose=0, workers=3)
    _no_leftovers()


def test_raising_worker_is_a_clear_error(cluster):
    """A worker whose call raises: WorkerError naming the worker, the step and the
    cause, all actors stopped (the step protocol's error path, driven directly)."""
    import keras.distributed
    from keras.distributed import _Run, _spec

    x, y, _ = _data(64)
    m = _mlp(61)
    net = _spec.inner(m)
    net._make_apply_function()
    data = net._standardize_user_data(x, y)
    ref = cluster.put(data[0] + data[1] + data[2])
    run = _Run(cluster, net, _spec.make_spec(m, net), ref, 2, 1, 0)
    t0 = time.time()
    with pytest.raises(keras.distributed.WorkerError, match=r"worker 1 failed at step 3 .*boom") as err:
        run.call(lambda k, a, retry: a.fail.remote("boom") if k == 1 else a.info.remote(), "step 3")
    assert err.value.worker == 1 and err.value.step == "step 3"
    assert time.time() - t0 < 10.0
    del ref, run, err
    _no_leftovers()


def test_mnist_mlp_two_workers_reaches_95_percent(cluster):
    import keras.distributed
    from keras.layers import Activation, Dense, Dropout
    from keras.models import Sequential
    from keras.utils.np_utils import to_categorical

    with gzip.open(shared_data("mnist/t10k-images-idx3-ubyte.gz")) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784).astype("float32") / 255.0
    with gzip.open(shared_data("mnist/t10k-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
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
    t0 = time.time()
    h = keras.distributed.fit(
        model, x[:8000], to_categorical(labels[:8000], 10), batch_size=128, nb_epoch=10, verbose=0, workers=2
    )
    loss, acc = model.evaluate(x[8000:], to_categorical(labels[8000:], 10), verbose=0)
    print("MNIST MLP workers=2: test accuracy %.4f in %.1f s" % (acc, time.time() - t0))
    assert h.worker_samples[0] == [4000, 4000]
    assert h.history["loss"][-1] < h.history["loss"][0]
    assert acc >= 0.95, "test accuracy %.4f" % acc
    _no_leftovers()
