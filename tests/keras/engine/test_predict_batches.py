"""`predict` runs all its batches in one engine call (`Function.run_batches`: batches
side by side on the engine's threads). Its outputs are bitwise those of one run of the
predict program per batch, for every kind of layer and batch split; a function whose
runs depend on each other (stateful, random) or whose outputs are not batch-major is
declined (None) and predicted batch by batch."""

import numpy as np
import pytest

from keras import backend as K
from keras.engine import loop
from keras.engine.loop import learning_phase_feed
from keras.layers import (
    LSTM,
    BatchNormalization,
    Convolution2D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    Input,
    Lambda,
    MaxPooling2D,
    merge,
)
from keras.models import Model, Sequential


def _one_run_per_batch(model, xs, batch_size):
    """What predict gave before run_batches: the predict program run once per batch."""
    model._make_predict_function()
    f = model.predict_function
    n = xs[0].shape[0]
    lp = learning_phase_feed(f, xs, 0.0)
    outs = None
    for lo in range(0, n, batch_size):
        got = f.run([x[lo : lo + batch_size] for x in xs] + lp)
        if outs is None:
            outs = [np.zeros((n,) + o.shape[1:], o.dtype) for o in got]
        for o, g in zip(outs, got):
            o[lo : lo + batch_size] = g
    return outs


def _assert_bitwise(a, b):
    assert a.dtype == b.dtype and a.shape == b.shape
    assert np.array_equal(a.view(np.uint32), b.view(np.uint32))


def _mlp():
    m = Sequential([Dense(64, input_dim=20, activation="relu"), Dropout(0.3), Dense(5, activation="softmax")])
    return m, [np.random.RandomState(1).rand(203, 20).astype("float32")]


def _cnn(ordering):
    shape = (3, 12, 12) if ordering == "th" else (12, 12, 3)
    m = Sequential(
        [
            Convolution2D(8, 3, 3, input_shape=shape, activation="relu", dim_ordering=ordering),
            BatchNormalization(axis=1 if ordering == "th" else -1),
            MaxPooling2D(dim_ordering=ordering),
            Flatten(),
            Dense(4, activation="softmax"),
        ]
    )
    return m, [np.random.RandomState(2).rand(77, *shape).astype("float32")]


def _lstm():
    m = Sequential([Embedding(50, 8, input_length=7, mask_zero=True), LSTM(6), Dense(2)])
    return m, [np.random.RandomState(3).randint(0, 50, (61, 7)).astype("int32")]


def _two_inputs_two_outputs():
    a, b = Input((6,)), Input((4,))
    h = merge([Dense(8, activation="tanh")(a), Dense(8)(b)], mode="concat")
    m = Model([a, b], [Dense(3, activation="softmax")(h), Dense(1)(h)])
    rs = np.random.RandomState(4)
    return m, [rs.rand(45, 6).astype("float32"), rs.rand(45, 4).astype("float32")]


MODELS = {
    "mlp": _mlp,
    "cnn_th": lambda: _cnn("th"),
    "cnn_tf": lambda: _cnn("tf"),
    "lstm_masked": _lstm,
    "two_in_two_out": _two_inputs_two_outputs,
}


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("batch_size", [1, 7, 16, 45, 1000])
def test_predict_is_bitwise_one_run_per_batch(name, batch_size):
    np.random.seed(0)
    model, xs = MODELS[name]()
    model.compile("sgd", "mse")
    got = model.predict(xs if len(xs) > 1 else xs[0], batch_size=batch_size)
    got = got if isinstance(got, list) else [got]
    want = _one_run_per_batch(model, xs, batch_size)
    f = model.predict_function
    assert (
        f.run_batches(xs + learning_phase_feed(f, xs, 0.0), batch_size) is not None
    )  # predict took the engine's path
    assert len(got) == len(want)
    for g, w in zip(got, want):
        _assert_bitwise(g, w)


def test_run_batches_gives_every_output_with_all_rows():
    model, xs = _two_inputs_two_outputs()
    model._make_predict_function()
    f = model.predict_function
    outs = f.run_batches(xs + learning_phase_feed(f, xs, 0.0), 10)
    assert [o.shape for o in outs] == [(45, 3), (45, 1)]
    for g, w in zip(outs, _one_run_per_batch(model, xs, 10)):
        _assert_bitwise(g, w)


def test_a_stateful_model_is_declined_and_predicts_batch_by_batch():
    model = Sequential([LSTM(4, batch_input_shape=(5, 3, 2), stateful=True), Dense(1)])
    model.compile("sgd", "mse")
    x = np.random.RandomState(5).rand(20, 3, 2).astype("float32")
    model._make_predict_function()
    assert model.predict_function.run_batches([x], 5) is None
    model.reset_states()
    a = model.predict(x, batch_size=5)
    model.reset_states()
    want = _one_run_per_batch(model, [x], 5)[0]
    _assert_bitwise(a, want)
    # the states carried over: a second pass without a reset differs
    assert not np.array_equal(model.predict(x, batch_size=5), a)


def test_a_random_function_is_declined():
    x = K.placeholder((None, 3))
    f = K.function([x], [x + K.random_normal((3,))], inference=True)
    assert f.run_batches([np.ones((8, 3), "float32")], 2) is None


def test_an_output_neither_batch_major_nor_scalar_is_declined_a_scalar_comes_per_batch():
    x = K.placeholder((None, 3))
    f = K.function([x], [K.sum(x, axis=0)], inference=True)
    assert f.run_batches([np.ones((8, 3), "float32")], 4) is None
    g = K.function([x], [K.sum(x)], inference=True)
    np.testing.assert_array_equal(g.run_batches([np.ones((10, 3), "float32")], 4)[0], [12.0, 12.0, 6.0])
    # predict keeps Keras 1's rows for a scalar output: each batch's value in its rows
    got = loop.predict_loop(g, [np.ones((10, 3), "float32")], batch_size=4)
    np.testing.assert_array_equal(got, [12.0] * 8 + [6.0] * 2)


@pytest.mark.parametrize("batch_size", [1, 7, 64])
def test_evaluate_runs_its_batches_at_once_with_the_same_result(batch_size):
    np.random.seed(4)
    model = Sequential(
        [
            Dense(8, input_dim=5, activation="relu"),
            BatchNormalization(),
            Dropout(0.5),
            Dense(3, activation="softmax"),
        ]
    )
    model.compile("rmsprop", "categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.RandomState(5)
    x, y = rng.rand(30, 5).astype("float32"), np.eye(3)[rng.randint(0, 3, 30)].astype("float32")
    model.fit(x, y, nb_epoch=1, verbose=0)
    at_once = model.evaluate(x, y, batch_size=batch_size, verbose=0)
    sums = [0.0, 0.0]  # what the loop sums batch by batch (one engine call each)
    f = model.model.test_function
    assert "dropout" not in " ".join(f.op_names())
    ins = [x, y, np.ones(30, "float32")]
    for lo in range(0, 30, batch_size):
        outs = f.run([a[lo : lo + batch_size] for a in ins] + loop.learning_phase_feed(f, ins, 0.0))
        for i, o in enumerate(outs):
            sums[i] += float(o) * len(x[lo : lo + batch_size])
    assert at_once == [s / 30 for s in sums]
    assert model.evaluate(x, y, batch_size=batch_size, verbose=1) == at_once


def test_a_lambda_reducing_over_the_batch_still_predicts_as_before():
    model = Sequential([Lambda(lambda t: K.sum(t, axis=0, keepdims=True) + 0 * t, input_shape=(3,))])
    model.compile("sgd", "mse")
    x = np.random.RandomState(6).rand(10, 3).astype("float32")
    _assert_bitwise(model.predict(x, batch_size=4), _one_run_per_batch(model, [x], 4)[0])


def test_bad_arguments_are_errors_and_leave_the_function_usable():
    x = K.placeholder((None, 3))
    f = K.function([x], [x * 2.0], inference=True)
    a, b = np.ones((6, 3), "float32"), np.ones((5, 3), "float32")
    with pytest.raises(ValueError, match="at least 1"):
        f.run_batches([a], 0)
    with pytest.raises(ValueError, match="takes 1 input"):
        f.run_batches([a, b], 2)
    y = K.placeholder((None, 3))
    two = K.function([x, y], [x + y], inference=True)
    with pytest.raises(ValueError, match="same number of samples"):
        two.run_batches([a, b], 2)
    with pytest.raises(ValueError, match="expects shape"):
        f.run_batches([np.ones((6, 4), "float32")], 2)
    with pytest.raises(TypeError, match="float32 or int32"):
        f.run_batches([np.ones((6, 3), "float64")], 2)
    with pytest.raises(ValueError, match="takes 1 input"):
        f.run_batches([np.ones((6, 3), "float64"), a], 2)
    np.testing.assert_array_equal(f.run_batches([a], 4)[0], a * 2.0)
