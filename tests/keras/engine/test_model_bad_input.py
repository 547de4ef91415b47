"""Bad input to the training API: each mistake raises a clear Python exception naming
the problem, the failed call changes no weight, and the model trains afterwards."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from keras import backend as K
from keras.layers import Activation, Dense, Input, merge
from keras.models import Model, Sequential
from keras.optimizers import SGD

pytestmark = pytest.mark.usefixtures("fresh_session")


def _data(n=10, input_dim=3, output_dim=2, seed=0):
    rng = np.random.RandomState(seed)
    return rng.uniform(-1, 1, (n, input_dim)).astype("float32"), rng.uniform(-1, 1, (n, output_dim)).astype(
        "float32"
    )


def _model(lr=0.1):
    np.random.seed(3)
    model = Sequential([Dense(2, input_dim=3)])
    model.compile(SGD(lr=lr), "mse")
    return model


def _assert_unchanged_and_trains(model, before, x=None, y=None):
    """The failed call wrote no weight, and a fit on good data still lowers the loss."""
    for a, b in zip(model.get_weights(), before):
        assert_allclose(a, b)
    if x is None:
        x, y = _data()
    start = model.evaluate(x, y, verbose=0)
    start = start[0] if isinstance(start, list) else start
    hist = model.fit(x, y, batch_size=5, nb_epoch=5, verbose=0)
    assert np.all(np.isfinite(hist.history["loss"]))
    end = model.evaluate(x, y, verbose=0)
    end = end[0] if isinstance(end, list) else end
    assert end < start


_CALLS = {
    "fit": lambda m, x, y: m.fit(x, y, verbose=0),
    "evaluate": lambda m, x, y: m.evaluate(x, y, verbose=0),
    "predict": lambda m, x, y: m.predict(x),
    "train_on_batch": lambda m, x, y: m.train_on_batch(x, y),
    "test_on_batch": lambda m, x, y: m.test_on_batch(x, y),
    "predict_on_batch": lambda m, x, y: m.predict_on_batch(x),
}


def _each_call_raises(model, x, y, match, calls=tuple(_CALLS)):
    """Each training-API method named in ``calls``, given (x, y), raises a ValueError
    matching ``match``."""
    for name in calls:
        with pytest.raises(ValueError, match=match):
            _CALLS[name](model, x, y)


# ---------------------------------------------------------------------------------------
# data shapes and counts


def test_x_y_length_mismatch():
    model = _model()
    before = model.get_weights()
    x, y = _data()
    with pytest.raises(ValueError, match="10 input samples and 7 target samples"):
        model.fit(x, y[:7], verbose=0)
    with pytest.raises(ValueError, match="same number of samples"):
        model.evaluate(x, y[:7], verbose=0)
    with pytest.raises(ValueError, match="same number of samples"):
        model.train_on_batch(x, y[:7])
    with pytest.raises(ValueError, match="same number of samples"):
        model.test_on_batch(x[:3], y)
    _assert_unchanged_and_trains(model, before)


def test_sample_weight_length_mismatch():
    model = _model()
    before = model.get_weights()
    x, y = _data()
    with pytest.raises(ValueError, match=r"sample_weight.*\(7,\)"):
        model.fit(x, y, sample_weight=np.ones(7), verbose=0)
    _assert_unchanged_and_trains(model, before)


def test_wrong_input_dimension():
    model = _model()
    before = model.get_weights()
    x, y = _data()
    bad = np.zeros((10, 4), "float32")
    with pytest.raises(
        ValueError,
        match=r"expected dense_input_1 to have shape \(None, 3\) but got array with shape \(10, 4\)",
    ):
        model.fit(bad, y, verbose=0)
    calls = ("evaluate", "predict", "train_on_batch", "predict_on_batch")
    _each_call_raises(model, bad, y, "expected dense_input_1 to have shape", calls)
    with pytest.raises(ValueError, match="expected dense_input_1 to have 2 dimensions"):
        model.fit(x.reshape(10, 3, 1), y, verbose=0)
    with pytest.raises(ValueError, match=r"expected dense_1 to have shape \(None, 2\)"):
        model.fit(x, np.zeros((10, 5), "float32"), verbose=0)
    with pytest.raises(ValueError, match="expected dense_input_1 to have shape"):
        model.fit(x, y, validation_data=(bad, y), verbose=0)
    _assert_unchanged_and_trains(model, before)


def _two_input_model():
    a = Input(shape=(3,), name="a")
    b = Input(shape=(2,), name="b")
    out = Dense(2, name="out")(merge([a, b], mode="concat"))
    model = Model([a, b], out)
    model.compile(SGD(lr=0.1), "mse")
    return model


def test_wrong_number_of_input_arrays():
    model = _two_input_model()
    before = model.get_weights()
    xa, y = _data()
    xb = np.random.RandomState(1).uniform(-1, 1, (10, 2)).astype("float32")
    with pytest.raises(ValueError, match="expects 2 input arrays"):
        model.fit(xa, y, verbose=0)
    with pytest.raises(
        ValueError, match="Expected to see 2 arrays but instead got the following list of 3 arrays"
    ):
        model.fit([xa, xb, xb], y, verbose=0)
    with pytest.raises(ValueError, match="Expected to see 2 arrays"):
        model.predict([xa])
    with pytest.raises(ValueError, match='No data provided for "b"'):
        model.fit({"a": xa}, y, verbose=0)
    # one-input model given two arrays
    seq = _model()
    with pytest.raises(ValueError, match="Expected to see 1 arrays"):
        seq.fit([xa, xa], y, verbose=0)

    for w, v in zip(model.get_weights(), before):
        assert_allclose(w, v)
    start = model.evaluate([xa, xb], y, verbose=0)
    model.fit({"a": xa, "b": xb}, y, batch_size=5, nb_epoch=5, verbose=0)
    assert model.evaluate([xa, xb], y, verbose=0) < start


def test_empty_arrays():
    model = _model()
    before = model.get_weights()
    ex, ey = np.zeros((0, 3), "float32"), np.zeros((0, 2), "float32")
    _each_call_raises(model, ex, ey, "empty")
    x, y = _data()
    with pytest.raises(ValueError, match="empty"):
        model.fit(x, y, validation_data=(ex, ey), verbose=0)
    _assert_unchanged_and_trains(model, before)


# ---------------------------------------------------------------------------------------
# types and values


def test_non_numeric_arrays():
    model = _model()
    before = model.get_weights()
    x, y = _data()
    strings = np.array([["a", "b", "c"]] * 10)
    objects = np.array([[1, None, 2]] * 10, dtype=object)
    with pytest.raises(TypeError, match="dense_input_1"):
        model.fit(strings, y, verbose=0)
    with pytest.raises(TypeError, match="dense_input_1"):
        model.fit(objects, y, verbose=0)
    with pytest.raises(TypeError, match="dense_1"):
        model.fit(x, np.array([["a", "b"]] * 10), verbose=0)
    with pytest.raises(TypeError):
        model.predict(strings)
    with pytest.raises(TypeError):
        model.train_on_batch(objects, y)
    with pytest.raises(TypeError, match="Numpy array"):
        model.fit(None, y, verbose=0)
    _assert_unchanged_and_trains(model, before)


def test_nan_in_data_trains_to_nan_without_crashing():
    model = _model()
    good = model.get_weights()
    x, y = _data()
    xn = x.copy()
    xn[3, 1] = np.nan
    hist = model.fit(xn, y, batch_size=5, nb_epoch=2, shuffle=False, verbose=0)
    assert len(hist.history["loss"]) == 2
    assert all(np.isnan(v) for v in hist.history["loss"])
    assert np.isnan(model.get_weights()[0]).any()
    assert np.isnan(model.evaluate(x, y, verbose=0))
    yn = y.copy()
    yn[0, 0] = np.nan
    model.set_weights(good)
    assert np.isnan(model.test_on_batch(x, yn))
    # Good weights and a fresh optimizer (SGD keeps a velocity even with momentum=0, as
    # Keras 1 does, and 0 * nan stays nan): the model trains normally again.
    model.compile(SGD(lr=0.1), "mse")
    _assert_unchanged_and_trains(model, good)


def test_fit_and_evaluate_before_compile():
    x, y = _data()
    seq = Sequential([Dense(2, input_dim=3)])
    for call in (
        lambda: seq.fit(x, y, verbose=0),
        lambda: seq.evaluate(x, y, verbose=0),
        lambda: seq.train_on_batch(x, y),
        lambda: seq.test_on_batch(x, y),
    ):
        with pytest.raises(RuntimeError, match="compile"):
            call()
    inp = Input(shape=(3,))
    func = Model(inp, Dense(2)(inp))
    for call in (
        lambda: func.fit(x, y, verbose=0),
        lambda: func.evaluate(x, y, verbose=0),
        lambda: func.train_on_batch(x, y),
        lambda: func.test_on_batch(x, y),
        lambda: func.fit_generator(iter([(x, y)]), 10, 1, verbose=0),
    ):
        with pytest.raises(RuntimeError, match="compile"):
            call()
    # predicting needs no compile (as in Keras 1)
    assert seq.predict(x).shape == (10, 2)
    assert func.predict(x).shape == (10, 2)
    seq.compile(SGD(lr=0.1), "mse")
    _assert_unchanged_and_trains(seq, seq.get_weights())
    func.compile(SGD(lr=0.1), "mse")
    _assert_unchanged_and_trains(func, func.get_weights())


# ---------------------------------------------------------------------------------------
# names


def test_unknown_loss_optimizer_metric_activation_names():
    model = Sequential([Dense(2, input_dim=3)])
    with pytest.raises(ValueError, match="nope_loss"):
        model.compile("sgd", "nope_loss")
    with pytest.raises(ValueError, match="nope_opt"):
        model.compile("nope_opt", "mse")
    with pytest.raises(ValueError, match="nope_metric"):
        model.compile("sgd", "mse", metrics=["nope_metric"])
    with pytest.raises(ValueError, match="nope_act"):
        Dense(2, activation="nope_act")
    with pytest.raises(ValueError, match="nope_act"):
        Activation("nope_act")
    inp = Input(shape=(3,))
    two = Model(inp, [Dense(2, name="o1")(inp), Dense(1, name="o2")(inp)])
    with pytest.raises(ValueError, match="o3"):
        two.compile("sgd", {"o1": "mse", "o3": "mse"})
    with pytest.raises(ValueError, match="o2"):
        two.compile("sgd", {"o1": "mse"})
    with pytest.raises(ValueError, match="one entry per model outputs"):
        two.compile("sgd", ["mse"])
    with pytest.raises(ValueError, match="one entry per model outputs"):
        two.compile("sgd", "mse", loss_weights=[1.0])
    # a good compile afterwards works
    model.compile(SGD(lr=0.1), "mse")
    _assert_unchanged_and_trains(model, model.get_weights())


def test_categorical_crossentropy_with_column_targets_points_at_to_categorical():
    x, _ = _data()
    labels = np.arange(10) % 3
    np.random.seed(3)
    model = Sequential([Dense(3, input_dim=3, activation="softmax")])
    model.compile(SGD(lr=0.1), "categorical_crossentropy")
    before = model.get_weights()
    # integer labels, as a column or 1-D: the message says how to fix it
    with pytest.raises(ValueError, match="to_categorical"):
        model.fit(x, labels.reshape(10, 1), verbose=0)
    with pytest.raises(ValueError, match="to_categorical"):
        model.fit(x, labels, verbose=0)
    with pytest.raises(ValueError, match="to_categorical"):
        model.train_on_batch(x, labels.reshape(10, 1))
    _assert_unchanged_and_trains(model, before, x, np.eye(3, dtype="float32")[labels])

    K.clear_session()
    one = Sequential([Dense(1, input_dim=3, activation="softmax")])
    one.compile("sgd", "categorical_crossentropy")
    with pytest.raises(ValueError, match="to_categorical"):
        one.fit(x, labels.reshape(10, 1).astype("float32"), verbose=0)


def test_class_weight_missing_class():
    x, _ = _data()
    y = np.eye(3, dtype="float32")[np.arange(10) % 3]
    np.random.seed(3)
    model = Sequential([Dense(3, input_dim=3, activation="softmax")])
    model.compile(SGD(lr=0.1), "categorical_crossentropy")
    before = model.get_weights()
    with pytest.raises(KeyError):
        model.fit(x, y, class_weight={0: 1.0, 1: 2.0}, verbose=0)
    _assert_unchanged_and_trains(model, before, x, y)


def test_bad_validation_data_tuple():
    model = _model()
    before = model.get_weights()
    x, y = _data()
    with pytest.raises(ValueError, match="validation_data should be a tuple"):
        model.fit(x, y, validation_data=(x, y, None, None), verbose=0)
    with pytest.raises(ValueError, match="same number of samples"):
        model.fit(x, y, validation_data=(x, y[:4]), verbose=0)
    _assert_unchanged_and_trains(model, before)


def test_stateful_batch_size_mismatch():
    from keras.layers import LSTM, Dense
    from keras.models import Sequential

    model = Sequential()
    model.add(LSTM(4, stateful=True, batch_input_shape=(8, 3, 2)))
    model.add(Dense(1))
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.random((20, 3, 2)).astype("float32")
    y = np.random.random((20, 1)).astype("float32")
    with pytest.raises(ValueError, match="can be divided by the batch size"):
        model.fit(x, y, batch_size=8, nb_epoch=1, verbose=0)
    with pytest.raises(ValueError, match="can be divided by the batch size"):
        model.predict(x, batch_size=8)
    # still usable with a valid sample count
    model.fit(x[:16], y[:16], batch_size=8, nb_epoch=1, verbose=0)
    assert model.predict(x[:16], batch_size=8).shape == (16, 1)
