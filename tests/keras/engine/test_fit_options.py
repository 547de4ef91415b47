"""fit() options against numpy re-implementations: validation split/data, shuffling,
batching, sample/class weights, temporal weights, regularisation, dropout, epochs and
the progress output (keras1-formats.md §6, §9, §10)."""

import re

import numpy as np
import pytest
from numpy.testing import assert_allclose

from keras import backend as K
from keras.callbacks import LambdaCallback
from keras.layers import Dense, Dropout, TimeDistributedDense
from keras.models import Sequential
from keras.optimizers import SGD
from keras.regularizers import l2

pytestmark = pytest.mark.usefixtures("fresh_session")


# ---------------------------------------------------------------------------------------
# helpers


def _linear(input_dim, output_dim, lr, W=None, b=None, loss="mse", metrics=None, **dense_kwargs):
    """Sequential([Dense(output_dim)]) with fixed weights, compiled with SGD(lr)."""
    model = Sequential([Dense(output_dim, input_dim=input_dim, **dense_kwargs)])
    model.compile(SGD(lr=lr), loss, metrics=metrics)
    if W is None:
        W = np.random.RandomState(1).uniform(-1, 1, (input_dim, output_dim))
    if b is None:
        b = np.random.RandomState(2).uniform(-1, 1, (output_dim,))
    model.set_weights([np.asarray(W, "float32"), np.asarray(b, "float32")])
    return model


def _data(n, input_dim, output_dim, seed=0):
    rng = np.random.RandomState(seed)
    x = rng.uniform(-1, 1, (n, input_dim)).astype("float32")
    y = rng.uniform(-1, 1, (n, output_dim)).astype("float32")
    return x, y


def _np_mse_per_sample(W, b, x, y):
    return np.mean((x.astype(np.float64) @ W + b - y) ** 2, axis=-1)


def _np_sgd_step(W, b, x, y, lr, w=None):
    """One SGD step on Keras' weighted mse: sum(w*l)/count(w != 0). Returns the loss
    at the pre-update weights and the new (W, b)."""
    x = x.astype(np.float64)
    y = y.astype(np.float64)
    n, out = y.shape
    if w is None:
        w = np.ones(n)
    w = np.asarray(w, np.float64)
    count = np.count_nonzero(w)
    pred = x @ W + b
    per_sample = np.mean((pred - y) ** 2, axis=-1)
    loss = np.sum(w * per_sample) / count
    g = 2.0 * (pred - y) * w[:, None] / (out * count)
    return loss, W - lr * x.T @ g, b - lr * g.sum(axis=0)


def _np_fit(W, b, x, y, lr, batch_size, orders):
    """SGD over the given per-epoch sample orders; returns (W, b, epoch mean losses)."""
    W = np.asarray(W, np.float64)
    b = np.asarray(b, np.float64)
    epoch_losses = []
    for order in orders:
        total = 0.0
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            loss, W, b = _np_sgd_step(W, b, x[idx], y[idx], lr)
            total += loss * len(idx)
        epoch_losses.append(total / len(order))
    return W, b, epoch_losses


def _batch_shuffle(index_array, batch_size):
    nb = len(index_array) // batch_size
    tail = index_array[nb * batch_size :]
    blocks = index_array[: nb * batch_size].reshape((nb, batch_size))
    np.random.shuffle(blocks)
    return np.append(blocks.flatten(), tail)


def _linear_on_data(n, lr):
    """n samples (3 -> 2) and a linear model on them: (x, y, model, W0, b0)."""
    x, y = _data(n, 3, 2)
    model = _linear(3, 2, lr=lr)
    W0, b0 = model.get_weights()
    return x, y, model, W0, b0


def _shuffled(index_array):
    np.random.shuffle(index_array)
    return index_array


def _epoch_orders(seed, n, nb_epoch, reorder):
    """The sample order of each epoch when ``reorder`` (``_shuffled`` or a
    ``_batch_shuffle``) reorders the indices in place of fit, after np.random.seed(seed)."""
    np.random.seed(seed)
    index_array = np.arange(n)
    orders = []
    for _ in range(nb_epoch):
        index_array = reorder(index_array)
        orders.append(index_array.copy())
    return orders


def _assert_weights(model, W, b=None):
    """The model's (W, b) equal numpy's (b only when given)."""
    assert_allclose(model.get_weights()[0], W, rtol=1e-5, atol=1e-6)
    if b is not None:
        assert_allclose(model.get_weights()[1], b, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------------------
# validation


def test_validation_split_takes_the_last_fraction_before_shuffling():
    # Dense(1) with W=1, b=0 and lr=0: the per-sample mse against y=0 is x**2
    x = np.arange(10, dtype="float32").reshape(10, 1)
    y = np.zeros((10, 1), "float32")
    model = _linear(1, 1, lr=0.0, W=[[1.0]], b=[0.0])
    np.random.seed(3)
    hist = model.fit(x, y, batch_size=3, nb_epoch=3, validation_split=0.3, shuffle=True, verbose=0)
    # split_at = int(10 * 0.7) = 7: train on 0..6, validate on 7, 8, 9
    assert_allclose(hist.history["val_loss"], [(49 + 64 + 81) / 3.0] * 3, rtol=1e-6)
    assert_allclose(hist.history["loss"], [np.mean(np.arange(7) ** 2)] * 3, rtol=1e-6)


def test_validation_split_sample_counts_and_weights_are_sliced(capsys):
    x = np.arange(10, dtype="float32").reshape(10, 1)
    y = np.zeros((10, 1), "float32")
    model = _linear(1, 1, lr=0.0, W=[[1.0]], b=[0.0])
    w = np.array([1, 1, 1, 1, 1, 1, 1, 1, 0, 3], "float32")
    hist = model.fit(x, y, batch_size=4, nb_epoch=1, validation_split=0.2, sample_weight=w, verbose=1)
    assert "Train on 8 samples, validate on 2 samples" in capsys.readouterr().out
    # validation samples 8 (weight 0) and 9 (weight 3): sum(w*l)/count(w != 0) = 3*81/1
    assert_allclose(hist.history["val_loss"], [3 * 81.0], rtol=1e-6)


def test_validation_data_two_and_three_tuples():
    model = _linear(3, 2, lr=0.0)
    W, b = model.get_weights()
    x, y = _data(12, 3, 2)
    vx, vy = _data(7, 3, 2, seed=5)
    per_sample = _np_mse_per_sample(W, b, vx, vy)

    hist = model.fit(x, y, batch_size=4, nb_epoch=2, validation_data=(vx, vy), verbose=0)
    assert_allclose(hist.history["val_loss"], [per_sample.mean()] * 2, rtol=1e-5)

    vw = np.array([0.0, 2.0, 0.0, 1.0, 0.5, 0.0, 4.0], "float32")
    hist = model.fit(x, y, batch_size=3, nb_epoch=1, validation_data=(vx, vy, vw), verbose=0)
    # validation runs in batches of batch_size (3, 3, 1); each batch's loss is
    # sum(w*l)/count(w != 0) and the batches are averaged weighted by their size
    batch_losses = [
        np.sum(vw[s] * per_sample[s]) / np.count_nonzero(vw[s])
        for s in (slice(0, 3), slice(3, 6), slice(6, 7))
    ]
    expected = (3 * batch_losses[0] + 3 * batch_losses[1] + 1 * batch_losses[2]) / 7.0
    assert_allclose(hist.history["val_loss"], [expected], rtol=1e-5)
    # the validation data overrides validation_split
    hist = model.fit(
        x, y, batch_size=3, nb_epoch=1, validation_data=(vx, vy), validation_split=0.5, verbose=0
    )
    assert_allclose(hist.history["val_loss"], [per_sample.mean()], rtol=1e-5)
    train_per_sample = _np_mse_per_sample(W, b, x, y)
    assert_allclose(hist.history["loss"], [train_per_sample.mean()], rtol=1e-5)


# ---------------------------------------------------------------------------------------
# shuffling and batches


def test_shuffle_false_equals_numpy_sgd():
    x, y, model, W0, b0 = _linear_on_data(10, lr=0.1)
    hist = model.fit(x, y, batch_size=4, nb_epoch=3, shuffle=False, verbose=0)
    W, b, losses = _np_fit(W0, b0, x, y, 0.1, 4, [np.arange(10)] * 3)
    W1, b1 = model.get_weights()
    assert_allclose(W1, W, rtol=1e-5, atol=1e-6)
    assert_allclose(b1, b, rtol=1e-5, atol=1e-6)
    assert_allclose(hist.history["loss"], losses, rtol=1e-5)


def test_shuffle_true_uses_the_global_numpy_rng_once_per_epoch():
    x, y, model, W0, b0 = _linear_on_data(10, lr=0.1)
    np.random.seed(1234)
    hist = model.fit(x, y, batch_size=4, nb_epoch=3, shuffle=True, verbose=0)

    orders = _epoch_orders(1234, 10, 3, _shuffled)
    W, b, losses = _np_fit(W0, b0, x, y, 0.1, 4, orders)
    _assert_weights(model, W, b)
    assert_allclose(hist.history["loss"], losses, rtol=1e-5)
    # and the order mattered: in-order SGD ends elsewhere
    W_in_order, _, _ = _np_fit(W0, b0, x, y, 0.1, 4, [np.arange(10)] * 3)
    assert np.abs(W - W_in_order).max() > 1e-4


@pytest.mark.parametrize("shuffle", [True, "batch"])
def test_a_shuffled_fit_is_bitwise_the_fit_on_each_epochs_reordered_copy(shuffle):
    # the Program gathers a shuffled batch's rows itself (`f.run(ins, rows=...)`): the
    # same bits as training in order on the data copied into the epoch's order
    x, y, model, W0, b0 = _linear_on_data(11, lr=0.1)
    weights = np.linspace(0.5, 2.0, 11).astype("float32")
    np.random.seed(5)
    model.fit(x, y, batch_size=4, nb_epoch=3, shuffle=shuffle, sample_weight=weights, verbose=0)
    reorder = _shuffled if shuffle is True else (lambda index_array: _batch_shuffle(index_array, 4))
    _, _, copy_model, _, _ = _linear_on_data(11, lr=0.1)
    copy_model.set_weights([W0, b0])
    for order in _epoch_orders(5, 11, 3, reorder):
        copy_model.fit(
            x[order],
            y[order],
            batch_size=4,
            nb_epoch=1,
            shuffle=False,
            sample_weight=weights[order],
            verbose=0,
        )
    for got, want in zip(model.get_weights(), copy_model.get_weights()):
        np.testing.assert_array_equal(got, want)
    assert np.abs(model.get_weights()[0] - W0).max() > 1e-3


def test_shuffle_batch_shuffles_whole_blocks_and_keeps_the_tail():
    x, y, model, W0, b0 = _linear_on_data(10, lr=0.1)
    sizes = []
    record = LambdaCallback(on_batch_end=lambda batch, logs: sizes.append(logs["size"]))
    np.random.seed(77)
    model.fit(x, y, batch_size=4, nb_epoch=4, shuffle="batch", verbose=0, callbacks=[record])
    assert sizes == [4, 4, 2] * 4

    orders = _epoch_orders(77, 10, 4, lambda index_array: _batch_shuffle(index_array, 4))
    assert all(list(o[8:]) == [8, 9] for o in orders)
    W, b, _ = _np_fit(W0, b0, x, y, 0.1, 4, orders)
    _assert_weights(model, W, b)


def test_last_partial_batch_is_used():
    x, y, model, W0, b0 = _linear_on_data(10, lr=0.05)
    batches = []
    record = LambdaCallback(
        on_batch_end=lambda batch, logs: batches.append((batch, logs["size"], logs["loss"]))
    )
    hist = model.fit(x, y, batch_size=4, nb_epoch=2, shuffle=False, verbose=0, callbacks=[record])
    assert [(i, s) for i, s, _ in batches] == [(0, 4), (1, 4), (2, 2)] * 2
    # epoch loss = batch-size weighted mean of the batch losses
    for e in range(2):
        ep = batches[3 * e : 3 * e + 3]
        assert_allclose(hist.history["loss"][e], sum(size * loss for _, size, loss in ep) / 10.0, rtol=1e-6)
    # the 2-sample batch moved the weights: equal to 3 numpy steps per epoch, not 2
    W, b, _ = _np_fit(W0, b0, x, y, 0.05, 4, [np.arange(10)] * 2)
    _assert_weights(model, W)
    W_dropped, _, _ = _np_fit(W0, b0, x[:8], y[:8], 0.05, 4, [np.arange(8)] * 2)
    assert np.abs(W - W_dropped).max() > 1e-4


def test_batch_size_larger_than_data_is_one_batch():
    x, y, model, W0, b0 = _linear_on_data(5, lr=0.1)
    sizes = []
    model.fit(
        x,
        y,
        batch_size=32,
        nb_epoch=1,
        verbose=0,
        callbacks=[LambdaCallback(on_batch_end=lambda batch, logs: sizes.append(logs["size"]))],
    )
    assert sizes == [5]
    _, W, _ = _np_sgd_step(W0.astype(np.float64), b0, x, y, 0.1)
    _assert_weights(model, W)


# ---------------------------------------------------------------------------------------
# sample and class weights


def test_sample_weight_with_zeros_train_and_test_on_batch():
    x, y = _data(6, 3, 2)
    w = np.array([0.0, 2.0, 0.0, 1.0, 3.0, 0.5], "float32")
    model = _linear(3, 2, lr=0.1)
    W0, b0 = model.get_weights()
    loss, W1, b1 = _np_sgd_step(W0, b0, x, y, 0.1, w)
    # count(w != 0) = 4, not sum(w) = 6.5 and not N = 6
    assert_allclose(model.test_on_batch(x, y, sample_weight=w), loss, rtol=1e-5)
    assert_allclose(model.train_on_batch(x, y, sample_weight=w), loss, rtol=1e-5)
    _assert_weights(model, W1, b1)


def test_zero_weight_samples_do_not_move_the_weights():
    x, y = _data(6, 3, 2)
    y_wild = y.copy()
    y_wild[[0, 2]] = 1e3  # ignored because their weight is 0
    w = np.array([0.0, 1.0, 0.0, 1.0, 1.0, 1.0], "float32")
    a = _linear(3, 2, lr=0.1)
    a.train_on_batch(x, y_wild, sample_weight=w)
    K.clear_session()
    b = _linear(3, 2, lr=0.1)
    # same update as the 4 non-zero samples alone
    b.train_on_batch(x[[1, 3, 4, 5]], y[[1, 3, 4, 5]])
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        assert_allclose(wa, wb, rtol=1e-5, atol=1e-6)


def test_sample_weight_in_fit_matches_numpy():
    x, y = _data(8, 3, 2)
    w = np.array([1.0, 0.0, 2.0, 1.0, 0.0, 0.0, 3.0, 1.0], "float32")
    model = _linear(3, 2, lr=0.1)
    W, b = (v.astype(np.float64) for v in model.get_weights())
    model.fit(x, y, batch_size=4, nb_epoch=1, shuffle=False, sample_weight=w, verbose=0)
    for start in (0, 4):
        s = slice(start, start + 4)
        _, W, b = _np_sgd_step(W, b, x[s], y[s], 0.1, w[s])
    _assert_weights(model, W, b)


def test_class_weight_one_hot_targets():
    x, _ = _data(6, 3, 2)
    labels = np.array([0, 1, 1, 0, 1, 1])
    y = np.eye(2, dtype="float32")[labels]
    cw = {0: 1.0, 1: 5.0}
    model = _linear(3, 2, lr=0.1)
    W0, b0 = model.get_weights()
    loss, W1, _ = _np_sgd_step(W0, b0, x, y, 0.1, np.array([cw[c] for c in labels]))
    assert_allclose(model.train_on_batch(x, y, class_weight=cw), loss, rtol=1e-5)
    _assert_weights(model, W1)


def test_class_weight_column_targets_and_fit():
    x, _ = _data(8, 3, 1)
    y = np.array([[0], [1], [1], [0], [1], [0], [0], [1]], "float32")
    cw = {0: 0.5, 1: 2.0}
    weights = np.array([cw[int(c)] for c in y[:, 0]])
    model = _linear(3, 1, lr=0.1)
    W, b = (v.astype(np.float64) for v in model.get_weights())
    hist = model.fit(x, y, batch_size=4, nb_epoch=1, shuffle=False, class_weight=cw, verbose=0)
    losses = []
    for start in (0, 4):
        s = slice(start, start + 4)
        loss, W, b = _np_sgd_step(W, b, x[s], y[s], 0.1, weights[s])
        losses.append(loss)
    _assert_weights(model, W)
    assert_allclose(hist.history["loss"], [np.mean(losses)], rtol=1e-5)


def test_sample_weight_wins_over_class_weight():
    x, _ = _data(6, 3, 2)
    labels = np.array([0, 1, 1, 0, 1, 1])
    y = np.eye(2, dtype="float32")[labels]
    sw = np.array([1.0, 0.0, 2.0, 1.0, 1.0, 0.0], "float32")
    model = _linear(3, 2, lr=0.1)
    W0, b0 = model.get_weights()
    loss, W1, _ = _np_sgd_step(W0, b0, x, y, 0.1, sw)
    out = model.train_on_batch(x, y, sample_weight=sw, class_weight={0: 100.0, 1: 7.0})
    assert_allclose(out, loss, rtol=1e-5)
    _assert_weights(model, W1)


@pytest.mark.filterwarnings("ignore:`TimeDistributedDense` is deprecated")
def test_temporal_sample_weights():
    rng = np.random.RandomState(0)
    x = rng.uniform(-1, 1, (4, 3, 2)).astype("float32")
    y = rng.uniform(-1, 1, (4, 3, 2)).astype("float32")
    model = Sequential([TimeDistributedDense(2, input_shape=(3, 2))])
    model.compile(SGD(lr=0.0), "mse", sample_weight_mode="temporal")
    W, b = model.get_weights()
    sw = rng.uniform(0, 2, (4, 3)).astype("float32")
    sw[0, 1] = sw[2, :] = 0.0
    per_step = np.mean((x.astype(np.float64) @ W + b - y) ** 2, axis=-1)
    expected = np.sum(sw * per_step) / np.count_nonzero(sw)
    assert_allclose(model.test_on_batch(x, y, sample_weight=sw), expected, rtol=1e-5)
    assert_allclose(model.evaluate(x, y, sample_weight=sw, batch_size=4, verbose=0), expected, rtol=1e-5)

    with pytest.raises(ValueError, match="2D sample_weight"):
        model.train_on_batch(x, y, sample_weight=np.ones((4,), "float32"))
    with pytest.raises(ValueError, match="2D sample_weight"):
        model.fit(x, y, sample_weight=np.ones((4,), "float32"), verbose=0)
    # still usable
    assert_allclose(model.test_on_batch(x, y, sample_weight=sw), expected, rtol=1e-5)


def test_two_dimensional_sample_weight_without_temporal_mode_is_rejected():
    x, y = _data(4, 3, 2)
    model = _linear(3, 2, lr=0.1)
    with pytest.raises(ValueError, match="temporal"):
        model.train_on_batch(x, y, sample_weight=np.ones((4, 2), "float32"))


def test_temporal_mode_on_a_2d_output_is_rejected():
    model = Sequential([Dense(2, input_dim=3)])
    model.compile("sgd", "mse", sample_weight_mode="temporal")
    x, y = _data(4, 3, 2)
    with pytest.raises(ValueError, match="3D"):
        model.train_on_batch(x, y, sample_weight=np.ones((4, 2), "float32"))


# ---------------------------------------------------------------------------------------
# regularisation and dropout


def test_l2_regularisation_is_added_at_train_and_test_time():
    x, y = _data(8, 3, 2)
    model = _linear(3, 2, lr=0.1, W_regularizer=l2(0.3))
    W, b = model.get_weights()
    expected = _np_mse_per_sample(W, b, x, y).mean() + 0.3 * np.sum(W.astype(np.float64) ** 2)
    assert_allclose(model.evaluate(x, y, batch_size=3, verbose=0), expected, rtol=1e-5)
    assert_allclose(model.test_on_batch(x, y), expected, rtol=1e-5)
    # the train step reports the pre-update loss, penalty included
    assert_allclose(model.train_on_batch(x, y), expected, rtol=1e-5)
    # and its gradient includes 2 * l2 * W
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    g = 2.0 * (x64 @ W + b - y64) / (8 * 2)
    W1 = W - 0.1 * (x64.T @ g + 2 * 0.3 * W)
    _assert_weights(model, W1)


def test_regularisation_in_validation_loss():
    x, y = _data(8, 3, 2)
    vx, vy = _data(5, 3, 2, seed=9)
    model = _linear(3, 2, lr=0.0, W_regularizer=l2(0.3), b_regularizer=l2(0.1))
    W, b = model.get_weights()
    penalty = 0.3 * np.sum(W.astype(np.float64) ** 2) + 0.1 * np.sum(b.astype(np.float64) ** 2)
    hist = model.fit(x, y, batch_size=3, nb_epoch=1, validation_data=(vx, vy), verbose=0)
    assert_allclose(hist.history["val_loss"], [_np_mse_per_sample(W, b, vx, vy).mean() + penalty], rtol=1e-5)
    assert_allclose(hist.history["loss"], [_np_mse_per_sample(W, b, x, y).mean() + penalty], rtol=1e-5)


def _dropout_model(lr=0.0):
    np.random.seed(11)
    model = Sequential([Dense(16, input_dim=4, activation="relu"), Dropout(0.5), Dense(1)])
    model.compile(SGD(lr=lr), "mse")
    return model


def _np_forward(weights, x):
    W1, b1, W2, b2 = (w.astype(np.float64) for w in weights)
    return np.maximum(x @ W1 + b1, 0) @ W2 + b2


def test_dropout_only_in_training():
    model = _dropout_model()
    x, y = _data(32, 4, 1)
    weights = model.get_weights()
    expected = np.mean((_np_forward(weights, x) - y) ** 2)
    e1 = model.evaluate(x, y, batch_size=8, verbose=0)
    e2 = model.evaluate(x, y, batch_size=8, verbose=0)
    assert e1 == e2
    assert_allclose(e1, expected, rtol=1e-5)
    assert_allclose(model.predict(x), _np_forward(weights, x), rtol=1e-5, atol=1e-6)
    assert_allclose(model.test_on_batch(x, y), expected, rtol=1e-5)
    # with lr=0 the weights never move: any change in the train loss comes from dropout
    train_losses = [model.train_on_batch(x, y) for _ in range(3)]
    assert all(abs(t - expected) > 1e-6 for t in train_losses)
    assert len(set(train_losses)) > 1
    hist = model.fit(x, y, batch_size=8, nb_epoch=2, validation_data=(x, y), verbose=0)
    assert_allclose(hist.history["val_loss"], [expected] * 2, rtol=1e-5)
    assert abs(hist.history["loss"][0] - expected) > 1e-6
    for a, b in zip(model.get_weights(), weights):
        assert_allclose(a, b)


# ---------------------------------------------------------------------------------------
# epochs


def test_nb_epoch_and_initial_epoch(capsys):
    x, y, model, W0, b0 = _linear_on_data(10, lr=0.1)
    epochs = []
    record = LambdaCallback(on_epoch_begin=lambda e, logs: epochs.append(e))
    hist = model.fit(
        x, y, batch_size=5, nb_epoch=5, initial_epoch=3, shuffle=False, verbose=1, callbacks=[record]
    )
    out = capsys.readouterr().out
    # nb_epoch is the index to stop at: epochs 3 and 4 run
    assert epochs == [3, 4]
    assert hist.epoch == [3, 4]
    assert len(hist.history["loss"]) == 2
    assert "Epoch 4/5" in out and "Epoch 5/5" in out and "Epoch 3/5" not in out
    W, b, losses = _np_fit(W0, b0, x, y, 0.1, 5, [np.arange(10)] * 2)
    _assert_weights(model, W)
    assert_allclose(hist.history["loss"], losses, rtol=1e-5)


def test_zero_epochs_train_nothing():
    x, y = _data(10, 3, 2)
    model = _linear(3, 2, lr=0.1)
    W0, _ = model.get_weights()
    hist = model.fit(x, y, nb_epoch=0, verbose=0)
    assert hist.epoch == []
    assert hist.history == {}
    assert_allclose(model.get_weights()[0], W0)
    hist = model.fit(x, y, nb_epoch=4, initial_epoch=4, verbose=0)
    assert hist.epoch == []
    assert_allclose(model.get_weights()[0], W0)


def test_history_is_set_on_the_model():
    x, y = _data(10, 3, 2)
    model = _linear(3, 2, lr=0.1)
    hist = model.fit(x, y, nb_epoch=3, batch_size=4, verbose=0)
    assert model.history is hist
    assert hist.epoch == [0, 1, 2]
    assert list(hist.history) == ["loss"]
    assert len(hist.history["loss"]) == 3
    assert hist.history["loss"][2] < hist.history["loss"][0]


# ---------------------------------------------------------------------------------------
# progress output

_NUM = r"-?\d+\.\d{4}(?:e[+-]\d+)?"


def test_verbose_1_output(capsys):
    x, y = _data(10, 3, 1)
    y = (y > 0).astype("float32")
    model = Sequential([Dense(1, input_dim=3, activation="sigmoid")])
    model.compile(SGD(lr=0.1), "binary_crossentropy", metrics=["accuracy"])
    hist = model.fit(x, y, batch_size=4, nb_epoch=2, validation_split=0.2, verbose=1)
    out = capsys.readouterr().out
    assert out.startswith("Train on 8 samples, validate on 2 samples\n")
    assert out.count("Epoch 1/2\n") == 1 and out.count("Epoch 2/2\n") == 1
    assert out.index("Epoch 1/2") < out.index("Epoch 2/2")
    # the final redraw of each epoch: full bar, elapsed time, epoch means, then val values
    n = "(" + _NUM + ")"
    final = re.findall(
        r"8/8 \[==============================\] - \d+s - loss: "
        + n
        + " - acc: "
        + n
        + " - val_loss: "
        + n
        + " - val_acc: "
        + n
        + r" *\n",
        out,
    )
    assert len(final) == 2
    for e, (loss, acc, val_loss, val_acc) in enumerate(final):
        assert abs(float(loss) - hist.history["loss"][e]) <= 1.5e-4
        assert abs(float(acc) - hist.history["acc"][e]) <= 1.5e-4
        assert abs(float(val_loss) - hist.history["val_loss"][e]) <= 1.5e-4
        assert abs(float(val_acc) - hist.history["val_acc"][e]) <= 1.5e-4
    # every line with values ends with "- loss: <v> ..." fields
    assert all(" - loss: " in line for line in out.split("\n") if "[" in line)


def test_verbose_2_one_line_per_epoch(capsys):
    x, y = _data(10, 3, 2)
    model = _linear(3, 2, lr=0.1)
    hist = model.fit(x, y, batch_size=4, nb_epoch=3, validation_data=(x, y), verbose=2)
    out = capsys.readouterr().out
    assert "\r" not in out and "\b" not in out and "[" not in out
    lines = out.splitlines()
    assert lines[0] == "Train on 10 samples, validate on 10 samples"
    assert len(lines) == 7
    assert [lines[1], lines[3], lines[5]] == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]
    for e, line in enumerate([lines[2], lines[4], lines[6]]):
        m = re.fullmatch(r"\d+s - loss: (" + _NUM + ") - val_loss: (" + _NUM + ")", line)
        assert m, line
        assert abs(float(m.group(1)) - hist.history["loss"][e]) <= 1.5e-4
        assert abs(float(m.group(2)) - hist.history["val_loss"][e]) <= 1.5e-4


def test_verbose_0_prints_nothing(capsys):
    x, y = _data(10, 3, 2)
    model = _linear(3, 2, lr=0.1)
    model.fit(x, y, batch_size=4, nb_epoch=2, validation_split=0.2, verbose=0)
    model.evaluate(x, y, verbose=0)
    model.predict(x)
    assert capsys.readouterr().out == ""
