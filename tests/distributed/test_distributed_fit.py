"""keras.distributed.fit on a local Ray cluster (`ray.init(num_cpus=2)`): equality with
single-process training, the RNG rule (Dropout and noise layers), masked losses,
stateful RNNs, BatchNormalization's moving statistics, faults, real data.

Tolerances: with `workers=1` everything is compared bitwise. With `workers=2` the only
difference from `model.fit` is the float32 rounding of the weighted gradient sum, so
after 3 epochs the weights must agree within an absolute 1e-5 (`WTOL`) and the logged
losses and metrics within a relative 1e-5 (`LTOL`). BatchNormalization's moving
statistics must agree within a relative 1e-5; its training is an approximation.

Ray is optional: without it these tests skip, except in CI (`CI` or
`FERROKERAS_REQUIRE_DATA` set), where a missing Ray is a failure (CI installs
'.[test]', which brings it).
"""

import subprocess
import sys
import time

import numpy as np
import pytest
from multinode import need_ray

from conftest import keras1_mnist_mlp, mnist_test_set

WTOL = 1e-5
LTOL = 1e-5


@pytest.fixture(scope="module")
def cluster():
    need_ray(state_api=True)
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=True, log_to_driver=False)
    yield ray
    ray.shutdown()


def _address():
    """This test's cluster (another Ray instance on the host would make the state API's
    own lookup ambiguous)."""
    import ray

    return ray.get_runtime_context().gcs_address


def _alive_workers():
    from ray.util.state import list_actors

    actors = list_actors(address=_address(), filters=[("state", "=", "ALIVE")], raise_on_missing_output=False)
    return [a for a in actors if (a.get("name") or "").startswith("ferrokeras-worker-")]


def _no_leftovers():
    """No worker actor alive and no object of the run left in the object store."""
    import gc

    from ray.util.state import list_objects

    gc.collect()
    deadline = time.time() + 20
    while True:
        alive = _alive_workers()
        objs = list_objects(address=_address(), raise_on_missing_output=False)
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


def _fit_both(make, seed, x, y, workers, **kw):
    """`make()` trained by model.fit and by keras.distributed.fit, each from np.random
    seed `seed`: (model, history, distributed model, distributed history)."""
    import keras.distributed

    a = make()
    np.random.seed(seed)
    ha = a.fit(x, y, **kw)
    b = make()
    np.random.seed(seed)
    hb = keras.distributed.fit(b, x, y, workers=workers, **kw)
    return a, ha, b, hb


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


def test_combine_state_gives_the_whole_batch_moving_statistics():
    """`combine_state` (no Ray): from two shards' moving mean and variance after one
    step, the moving statistics of the whole batch (biased variance); the plain
    average of the variances misses the spread of the shard means."""
    from keras.distributed import _spec

    rng = np.random.RandomState(0)
    batch = rng.randn(11, 4) * 3.0 + 1.0
    batch[:6] += 2.0  # shard means far apart
    m, mean0, var0 = 0.9, rng.rand(4), rng.rand(4) + 0.5
    step = lambda rows: (m * mean0 + (1 - m) * rows.mean(0), m * var0 + (1 - m) * rows.var(0))
    shards = {0: step(batch[:6]), 1: step(batch[6:])}
    rules = [("bn", None, None, m)]
    got = _spec.combine_state(rules, {k: list(v) for k, v in shards.items()}, {0: 6, 1: 5})
    want = step(batch)
    assert np.allclose(got[0], want[0], rtol=1e-12) and np.allclose(got[1], want[1], rtol=1e-12)
    plain = (6 * shards[0][1] + 5 * shards[1][1]) / 11
    assert np.abs(plain - want[1]).max() > 0.1
    # other state: the row-weighted average
    got = _spec.combine_state([("avg", None)], {0: [np.ones(2)], 1: [np.zeros(2)]}, {0: 3, 1: 1})
    assert np.allclose(got[0], 0.75)


def test_workers_1_is_bitwise_model_fit(cluster):
    """Dropout, a Lambda, a regulariser, a constraint, sample weights with zeros, an
    uneven last batch and a validation split: workers=1 equals model.fit bit for bit."""

    x, y, _ = _data()
    sw = np.ones(len(x), dtype="float32")
    sw[::5] = 0.0
    sw[1::7] = 2.5
    kw = dict(batch_size=32, nb_epoch=3, verbose=0, validation_split=0.2, sample_weight=sw)

    a, ha, b, hb = _fit_both(lambda: _mlp(11, dropout=0.3), 99, x, y, workers=1, **kw)

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

    x, y, _ = _data()
    xv, yv, _ = _data(60, seed=3)
    sw = np.ones(len(x), dtype="float32")
    sw[::4] = 0.0
    sw[2::9] = 3.0
    kw = dict(batch_size=32, nb_epoch=3, verbose=0, validation_data=(xv, yv), sample_weight=sw)

    a, ha, b, hb = _fit_both(lambda: _mlp(21), 7, x, y, workers=2, **kw)

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
        a, ha, b, hb = _fit_both(lambda: _two_tower(3), 1, ins, outs, workers=2, **kw)
        diff = _max_diff(a.get_weights(), b.get_weights())
        print(sorted(extra), "max abs weight difference: %.3g" % diff, "samples:", hb.worker_samples)
        assert diff <= WTOL
        for key in ha.history:
            assert _close(ha.history[key], hb.history[key]), (key, ha.history[key], hb.history[key])
    _no_leftovers()


def _noisy(seed):
    """Dropout, GaussianNoise and GaussianDropout (no explicit seeds)."""
    from keras.layers import Dense, Dropout, GaussianDropout, GaussianNoise
    from keras.models import Sequential
    from keras.optimizers import SGD

    np.random.seed(seed)
    model = Sequential()
    model.add(Dense(16, input_shape=(12,), activation="relu"))
    model.add(Dropout(0.4))
    model.add(GaussianNoise(0.3))
    model.add(Dense(16, activation="tanh"))
    model.add(GaussianDropout(0.3))
    model.add(Dense(3, activation="softmax"))
    model.compile(loss="categorical_crossentropy", optimizer=SGD(lr=0.05, momentum=0.9), metrics=["accuracy"])
    return model


def test_dropout_and_noise_with_two_workers_match_single_process(cluster):
    """The RNG rule: every replica takes the driver's seeds, and a shard holding rows
    r0..r1 of a global batch draws the noise single-process training draws for those
    rows (row offset), at the same call counter. So Dropout, GaussianNoise and
    GaussianDropout give the single-process result with workers=2: shuffled, with a
    validation split (the workers replay the validation calls), an uneven last batch
    (split 1/1 there), and with shards whose weights are all zero (an idle worker
    still advances its streams)."""
    import keras.distributed

    x, y, _ = _data()
    sw = np.tile(np.array([0.0, 0.0, 1.0, 2.0], dtype="float32"), len(x) // 4 + 1)[: len(x)]
    for kw in (
        dict(batch_size=32, nb_epoch=3, verbose=0, validation_split=0.2, shuffle=True),
        # batches of 4 split 2/2: worker 0's shard has only zero weights at every step
        dict(batch_size=4, nb_epoch=2, verbose=0, shuffle=False, sample_weight=sw),
    ):
        a, ha, b, hb = _fit_both(lambda: _noisy(31), 5, x, y, workers=2, **kw)
        diff = _max_diff(a.get_weights(), b.get_weights())
        print(
            "noise layers, batch %d: max abs weight difference %.3g, samples per worker %s"
            % (kw["batch_size"], diff, hb.worker_samples)
        )
        assert diff <= WTOL
        for key in ha.history:
            assert _close(ha.history[key], hb.history[key]), (key, ha.history[key], hb.history[key])
        if kw["batch_size"] == 32:
            # a second fit call continues the random streams, as a second model.fit does
            np.random.seed(6)
            a.fit(x, y, **kw)
            np.random.seed(6)
            keras.distributed.fit(b, x, y, workers=2, **kw)
            diff = _max_diff(a.get_weights(), b.get_weights())
            print("noise layers, second fit: max abs weight difference %.3g" % diff)
            assert diff <= WTOL
    # The row offset is what makes it work: three identical models (same seeds), the
    # first fed the whole batch, the second rows 4.. at row offset 4, the third the same
    # rows without the offset (each at its streams' first call).
    from keras import backend as K

    outs = []
    for rows, offset in ((slice(0, 10), 0), (slice(4, 10), 4), (slice(4, 10), 0)):
        m = _noisy(31)
        f = K.function(m.model.inputs + [K.learning_phase()], m.model.outputs)
        outs.append(f._program([x[rows], np.asarray(1.0, dtype=np.float32)], row_offset=offset)[0])
    assert np.allclose(outs[1], outs[0][4:], rtol=1e-6, atol=1e-7)
    assert np.abs(outs[2] - outs[0][4:]).max() > 1e-2
    _no_leftovers()


def _masked_tagger(seed):
    """Embedding(mask_zero) + LSTM(return_sequences, dropout_W/U) + TimeDistributed(Dense):
    a masked, per-timestep loss with recurrent dropout."""
    from keras.layers import LSTM, Dense, Embedding, TimeDistributed
    from keras.models import Sequential
    from keras.optimizers import RMSprop

    np.random.seed(seed)
    model = Sequential()
    model.add(Embedding(20, 8, input_length=10, mask_zero=True))
    model.add(LSTM(12, return_sequences=True, dropout_W=0.2, dropout_U=0.2))
    model.add(TimeDistributed(Dense(3, activation="softmax")))
    model.compile(loss="categorical_crossentropy", optimizer=RMSprop(lr=0.01), metrics=["accuracy"])
    return model


def _tagging_data(n=90, seed=2):
    rng = np.random.RandomState(seed)
    x = rng.randint(1, 20, size=(n, 10)).astype("int32")
    lengths = rng.randint(2, 11, size=n)
    lengths[:8] = 10  # some full rows, the others padded: shards' mask sums differ
    for i, length in enumerate(lengths):
        x[i, length:] = 0
    y = np.eye(3, dtype="float32")[x % 3]
    return x, y


def test_masked_loss_is_normalised_over_the_whole_batch(cluster):
    """Keras 1 divides a masked loss by the mask's mean over the whole batch; the
    shards' gradients are weighted so that workers=2 reproduces it (and the recurrent
    dropout masks follow the RNG rule): 90 padded sequences in batches of 16 (uneven
    last batch), sample weights with zeros, 3 epochs."""

    x, y = _tagging_data()
    sw = np.ones(len(x), dtype="float32")
    sw[3::7] = 0.0
    sw[5::11] = 2.0
    kw = dict(batch_size=16, nb_epoch=3, verbose=0, shuffle=True, sample_weight=sw)
    a, ha, b, hb = _fit_both(lambda: _masked_tagger(8), 3, x, y, workers=2, **kw)
    diff = _max_diff(a.get_weights(), b.get_weights())
    print("masked loss: max abs weight difference %.3g, samples per worker %s" % (diff, hb.worker_samples))
    assert diff <= WTOL
    for key in ha.history:
        assert _close(ha.history[key], hb.history[key]), (key, ha.history[key], hb.history[key])
    # Normalising each shard by its own mask (and weighting by sample counts) is not
    # single-process training: the shares must come from the mask sums.
    from keras.distributed import _shares, _split

    shards = _split(0, 16, 2)
    mask = (x[:16] != 0).sum(axis=1).astype("float32")
    ins = [None, None, sw[:16]]
    a_k, scales = _shares(ins, 2, 1, shards, {0: mask})
    m0, m1 = float(mask[:8].sum()), float(mask[8:].sum())
    nz0, nz1 = np.count_nonzero(sw[:8]), np.count_nonzero(sw[8:16])
    assert a_k == [0.5, 0.5]
    want0 = 2 * (m0 / (m0 + m1)) * (nz0 / (nz0 + nz1))
    assert abs(scales[0][0] * a_k[0] - want0) < 1e-12 and abs(scales[0][0] - 1.0) > 1e-3
    _no_leftovers()


def _stateful_lstm(seed, batch, dropout_W=0.2):
    from keras.layers import LSTM, Dense
    from keras.models import Sequential
    from keras.optimizers import Adam

    np.random.seed(seed)
    model = Sequential()
    model.add(LSTM(8, batch_input_shape=(batch, 5, 3), stateful=True, dropout_W=dropout_W))
    model.add(Dense(2, activation="softmax"))
    model.compile(loss="categorical_crossentropy", optimizer=Adam(lr=0.01), metrics=["accuracy"])
    return model


def test_stateful_lstm_with_two_workers_matches_single_process(cluster):
    """Stateful rule: the global batch of 7 rows is split in fixed row ranges (4 and 3
    rows); each replica is built for its share and carries its rows' states from batch
    to batch. A callback's reset_states() reaches the workers before the next step,
    validation (run by the driver, which carries the states on as model.fit does)
    hands its states back to the workers, and the driver ends with the final states."""
    import keras.distributed
    from keras import backend as K
    from keras.callbacks import LambdaCallback

    rng = np.random.RandomState(6)
    x = rng.randn(42, 5, 3).astype("float32")
    y = np.eye(2, dtype="float32")[(x[:, :, 0].sum(axis=1) > 0).astype(int)]
    xv = rng.randn(14, 5, 3).astype("float32")
    yv = np.eye(2, dtype="float32")[(xv[:, :, 0].sum(axis=1) > 0).astype(int)]

    def resets(model):
        # reset in the middle of every epoch and at its end (Keras 1's usual pattern)
        return [
            LambdaCallback(
                on_batch_end=lambda batch, logs: model.reset_states() if batch == 2 else None,
                on_epoch_end=lambda epoch, logs: model.reset_states(),
            )
        ]

    kw = dict(batch_size=7, nb_epoch=3, verbose=0, shuffle=False, validation_data=(xv, yv))
    a = _stateful_lstm(12, 7)
    ha = a.fit(x, y, callbacks=resets(a), **kw)
    a_end = [K.get_value(v) for v in a.layers[0].states]
    b = _stateful_lstm(12, 7)
    hb = keras.distributed.fit(b, x, y, workers=2, callbacks=resets(b), **kw)
    b_end = [K.get_value(v) for v in b.layers[0].states]
    diff = _max_diff(a.get_weights(), b.get_weights())
    print("stateful LSTM: max abs weight difference %.3g, samples per worker %s" % (diff, hb.worker_samples))
    assert diff <= WTOL
    assert hb.worker_samples == [[24, 18]] * 3
    for key in ha.history:
        assert _close(ha.history[key], hb.history[key]), (key, ha.history[key], hb.history[key])
    # the last epoch ended with a reset: zeros on both sides
    assert all(not np.any(s) for s in a_end + b_end)
    # without the final reset, the driver holds the states of the last batch
    a = _stateful_lstm(13, 7)
    a.fit(x, y, batch_size=7, nb_epoch=1, verbose=0, shuffle=False)
    b = _stateful_lstm(13, 7)
    keras.distributed.fit(b, x, y, batch_size=7, nb_epoch=1, verbose=0, shuffle=False, workers=2)
    sa = [K.get_value(v) for v in a.layers[0].states]
    sb = [K.get_value(v) for v in b.layers[0].states]
    assert np.abs(sa[0]).max() > 0.01 and _max_diff(sa, sb) <= WTOL
    # and it goes on from there, as a second model.fit call would
    a.fit(x, y, batch_size=7, nb_epoch=1, verbose=0, shuffle=False)
    keras.distributed.fit(b, x, y, batch_size=7, nb_epoch=1, verbose=0, shuffle=False, workers=2)
    assert _max_diff(a.get_weights(), b.get_weights()) <= WTOL
    # a functional model (Input(batch_shape=...)), shuffled, with recurrent dropout:
    # the rows' positions in the batch carry the states, whatever the order of samples
    from keras.layers import LSTM, Dense, Input
    from keras.models import Model

    def functional(seed):
        np.random.seed(seed)
        i = Input(batch_shape=(7, 5, 3))
        o = Dense(2, activation="softmax")(LSTM(8, stateful=True, dropout_U=0.3)(i))
        m = Model(i, o)
        m.compile(loss="categorical_crossentropy", optimizer="adam")
        return m

    fa, fb = functional(3), functional(3)
    np.random.seed(4)
    fa.fit(x, y, batch_size=7, nb_epoch=2, verbose=0, shuffle=True)
    np.random.seed(4)
    keras.distributed.fit(fb, x, y, batch_size=7, nb_epoch=2, verbose=0, shuffle=True, workers=2)
    assert _max_diff(fa.get_weights(), fb.get_weights()) <= WTOL
    with pytest.raises(ValueError, match="batch_size=7"):
        keras.distributed.fit(b, x, y, batch_size=14, nb_epoch=1, verbose=0, workers=2)
    with pytest.raises(ValueError, match="max_failures must be 0"):
        keras.distributed.fit(b, x, y, batch_size=7, nb_epoch=1, verbose=0, workers=2, max_failures=1)
    with pytest.raises(ValueError, match="cannot be split across 8 workers"):
        keras.distributed.fit(b, x, y, batch_size=7, nb_epoch=1, verbose=0, workers=8)
    with pytest.raises(ValueError, match="divided by the batch size"):
        keras.distributed.fit(b, x[:40], y[:40], batch_size=7, nb_epoch=1, verbose=0, workers=2)
    _no_leftovers()


def test_batchnorm_moving_statistics_are_those_of_the_whole_batch(cluster):
    """BatchNormalization rule: in the training phase each shard is normalised with
    its own statistics (so the weights only approximate single-process training), but
    after every step the driver combines the workers' moving mean and variance into
    those of the whole batch (mean of the shard means, variance plus the spread of the
    shard means) and sends them back. A BatchNormalization on the inputs sees data that
    no weight changes, so its moving statistics equal single-process training's."""
    from keras.layers import BatchNormalization, Dense
    from keras.models import Sequential

    def net(seed):
        np.random.seed(seed)
        m = Sequential()
        m.add(BatchNormalization(input_shape=(12,), momentum=0.9))
        m.add(Dense(16, activation="relu"))
        m.add(BatchNormalization(momentum=0.9))
        m.add(Dense(3, activation="softmax"))
        m.compile(loss="categorical_crossentropy", optimizer="sgd", metrics=["accuracy"])
        return m

    x, y, _ = _data()
    x = x * np.linspace(0.5, 3.0, 12, dtype="float32") + 2.0
    kw = dict(batch_size=32, nb_epoch=3, verbose=0, shuffle=True)
    a, ha, b, hb = _fit_both(lambda: net(17), 2, x, y, workers=2, **kw)
    bn_a, bn_b = a.layers[0].get_weights(), b.layers[0].get_weights()
    stats = _max_diff(bn_a[2:], bn_b[2:])
    rel = max(float(np.max(np.abs(p - q) / np.maximum(1.0, np.abs(p)))) for p, q in zip(bn_a[2:], bn_b[2:]))
    print("batchnorm on inputs: moving statistics max abs difference %.3g (relative %.3g)" % (stats, rel))
    assert rel <= 1e-5
    # training itself: not bitwise, but the same learning
    print("batchnorm: losses %s vs %s" % (ha.history["loss"], hb.history["loss"]))
    assert hb.history["loss"][-1] < hb.history["loss"][0]
    assert abs(ha.history["loss"][-1] - hb.history["loss"][-1]) < 0.1 * ha.history["loss"][-1]
    # workers=1: bitwise model.fit, moving statistics included (the driver takes the
    # worker's state variables at each epoch end, not its weights, which still lack the
    # last update)
    a, ha, b, hb = _fit_both(lambda: net(18), 2, x, y, workers=1, **kw)
    assert ha.history["loss"] == hb.history["loss"]
    assert all(np.array_equal(p, q) for p, q in zip(a.get_weights(), b.get_weights()))
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
    from keras.utils.np_utils import to_categorical

    images, labels = mnist_test_set()
    x = images.reshape(-1, 784).astype("float32") / 255.0
    np.random.seed(3)
    model = keras1_mnist_mlp()
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


def test_workers_1_runs_model_fits_own_loop(cluster, fit_loop_calls, capsys, monkeypatch):
    """keras.distributed.fit supplies only its step to model.fit's loop
    (`keras.engine.loop.fit_loop`): with workers=1 the callback calls and logs, the
    params, the progress output, the History, the weights and the `np.random` state
    after training are those of model.fit (shuffle='batch', class weights, validation
    data, initial_epoch and a callback stopping training included)."""
    import re

    import keras.distributed
    from keras.callbacks import Callback
    from keras.utils.generic_utils import Progbar

    # The bar redraws at most once per `interval` seconds, so which intermediate lines
    # appear depends on the host's speed: with no throttle every batch draws a line in
    # both runs, and the whole output can be compared.
    monkeypatch.setattr(Progbar.__init__, "__defaults__", (30, 1, 0.0))

    class Recorder(Callback):
        def __init__(self):
            super().__init__()
            self.calls = []

        def on_train_begin(self, logs=None):
            self.calls.append(("train_begin", dict(self.params), dict(logs or {})))

        def on_epoch_begin(self, epoch, logs=None):
            self.calls.append(("epoch_begin", epoch, dict(logs or {})))

        def on_batch_begin(self, batch, logs=None):
            self.calls.append(("batch_begin", batch, dict(logs or {})))

        def on_batch_end(self, batch, logs=None):
            self.calls.append(("batch_end", batch, dict(logs or {})))

        def on_epoch_end(self, epoch, logs=None):
            self.calls.append(("epoch_end", epoch, dict(logs or {})))
            if epoch == 3:
                self.model.stop_training = True

        def on_train_end(self, logs=None):
            self.calls.append(("train_end", None, dict(logs or {})))

    x, y, _ = _data()
    vx, vy, _ = _data(n=40, seed=1)
    kw = dict(
        batch_size=24,
        nb_epoch=6,
        initial_epoch=1,
        shuffle="batch",
        verbose=1,
        validation_data=(vx, vy),
        class_weight={0: 1.0, 1: 2.0, 2: 0.5},
    )
    runs = []
    for fit in (None, keras.distributed.fit):
        model, rec = _mlp(5), Recorder()
        np.random.seed(42)
        if fit is None:
            hist = model.fit(x, y, callbacks=[rec], **kw)
        else:
            hist = fit(model, x, y, callbacks=[rec], workers=1, **kw)
        progress = re.sub(r"\d+s|ETA: \S+", "T", capsys.readouterr().out)
        runs.append((model, rec.calls, hist, progress, np.random.get_state()[1].tobytes()))
    (a, calls_a, ha, out_a, rng_a), (b, calls_b, hb, out_b, rng_b) = runs
    assert fit_loop_calls == [("ArrayBatches", "ProgramStep"), ("ArrayBatches", "_DistributedStep")]
    assert calls_a == calls_b
    assert ha.epoch == hb.epoch == [1, 2, 3]
    assert ha.history == hb.history
    assert out_a == out_b and "Train on 203 samples, validate on 40 samples" in out_a
    assert rng_a == rng_b
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        assert wa.tobytes() == wb.tobytes()
    assert _same_optimizer_state(a, b)
    _no_leftovers()
