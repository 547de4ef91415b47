"""Model training API: compile/metrics, return types of the *_on_batch methods and of
evaluate/predict, accuracy resolution, sparse labels, multi-input/multi-output models
with loss dicts/lists and loss_weights, dict/list data by name, and the generator
methods (keras1-formats.md §6.2, §8, §9)."""

import time

import numpy as np
import pytest
from numpy.testing import assert_allclose

from keras import backend as K
from keras.callbacks import LambdaCallback
from keras.layers import Dense, Input, merge
from keras.models import Model, Sequential
from keras.optimizers import SGD

EPS = 1e-7


pytestmark = pytest.mark.usefixtures("fresh_session")


def _rand(*shape, seed=0):
    return np.random.RandomState(seed).uniform(-1, 1, size=shape).astype("float32")


def _np_softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _np_bce(y, p):
    p = np.clip(p.astype(np.float64), EPS, 1 - EPS)
    return np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p)), axis=-1)


def _np_cce(y, p):
    p = p.astype(np.float64)
    p = np.clip(p / p.sum(axis=-1, keepdims=True), EPS, 1 - EPS)
    return -np.sum(y * np.log(p), axis=-1)


# ---------------------------------------------------------------------------------------
# return types and metric names


def test_on_batch_return_types():
    x, y = _rand(6, 3), _rand(6, 2, seed=1)
    model = Sequential([Dense(2, input_dim=3)])
    model.compile(SGD(lr=0.0), "mse")
    W, b = model.get_weights()
    expected = np.mean((x @ W + b - y) ** 2)

    out = model.train_on_batch(x, y)
    assert isinstance(out, float)
    assert_allclose(out, expected, rtol=1e-5)
    out = model.test_on_batch(x, y)
    assert isinstance(out, float)
    assert_allclose(out, expected, rtol=1e-5)
    out = model.evaluate(x, y, batch_size=4, verbose=0)
    assert isinstance(out, float)
    assert_allclose(out, expected, rtol=1e-5)

    pred = model.predict_on_batch(x)
    assert isinstance(pred, np.ndarray) and pred.dtype == np.float32 and pred.shape == (6, 2)
    assert_allclose(pred, x @ W + b, rtol=1e-5, atol=1e-6)
    pred = model.predict(x, batch_size=4)
    assert isinstance(pred, np.ndarray) and pred.dtype == np.float32 and pred.shape == (6, 2)
    assert_allclose(pred, x @ W + b, rtol=1e-5, atol=1e-6)

    model.compile(SGD(lr=0.0), "mse", metrics=["mae"])
    for out in (model.train_on_batch(x, y), model.test_on_batch(x, y), model.evaluate(x, y, verbose=0)):
        assert isinstance(out, list) and len(out) == 2
        assert all(isinstance(v, float) for v in out)
        assert_allclose(out, [expected, np.mean(np.abs(x @ W + b - y))], rtol=1e-5)


def test_metrics_names_and_values():
    x, y = _rand(8, 3), _rand(8, 2, seed=1)

    def mean_pred(y_true, y_pred):
        return K.mean(y_pred)

    model = Sequential([Dense(2, input_dim=3)])
    model.compile(SGD(lr=0.0), "mae", metrics=["mse", "mae", mean_pred])
    assert model.metrics_names == ["loss", "mean_squared_error", "mean_absolute_error", "mean_pred"]
    W, b = model.get_weights()
    p = x @ W + b
    out = model.evaluate(x, y, batch_size=8, verbose=0)
    assert_allclose(
        out, [np.mean(np.abs(p - y)), np.mean((p - y) ** 2), np.mean(np.abs(p - y)), p.mean()], rtol=1e-5
    )
    hist = model.fit(x, y, nb_epoch=1, batch_size=8, verbose=0, validation_data=(x, y))
    assert sorted(hist.history) == sorted(
        ["loss", "mean_squared_error", "mean_absolute_error", "mean_pred"]
        + ["val_loss", "val_mean_squared_error", "val_mean_absolute_error", "val_mean_pred"]
    )
    assert_allclose(hist.history["mean_pred"], [p.mean()], rtol=1e-5)


# ---------------------------------------------------------------------------------------
# 'accuracy' resolution


def test_accuracy_binary_for_one_unit():
    x = _rand(20, 3)
    y = (np.random.RandomState(2).uniform(size=(20, 1)) > 0.5).astype("float32")
    model = Sequential([Dense(1, input_dim=3, activation="sigmoid")])
    model.compile(SGD(lr=0.0), "mse", metrics=["accuracy"])
    assert model.metrics_names == ["loss", "acc"]
    p = model.predict(x)
    loss, acc = model.evaluate(x, y, batch_size=20, verbose=0)
    assert_allclose(acc, np.mean(y == np.round(p)), rtol=1e-6)
    assert_allclose(loss, np.mean((p - y) ** 2), rtol=1e-5)


def test_accuracy_binary_for_binary_crossentropy_on_many_units():
    x = _rand(20, 3)
    y = (np.random.RandomState(2).uniform(size=(20, 3)) > 0.5).astype("float32")
    model = Sequential([Dense(3, input_dim=3, activation="sigmoid")])
    model.compile(SGD(lr=0.0), "binary_crossentropy", metrics=["acc"])
    p = model.predict(x)
    loss, acc = model.evaluate(x, y, batch_size=20, verbose=0)
    # element-wise, not argmax-based
    assert_allclose(acc, np.mean(y == np.round(p)), rtol=1e-6)
    assert_allclose(loss, _np_bce(y, p).mean(), rtol=1e-5)


def test_accuracy_categorical():
    x = _rand(30, 4)
    labels = np.random.RandomState(2).randint(0, 3, size=30)
    y = np.eye(3, dtype="float32")[labels]
    model = Sequential([Dense(3, input_dim=4, activation="softmax")])
    model.compile(SGD(lr=0.0), "categorical_crossentropy", metrics=["accuracy"])
    p = model.predict(x)
    loss, acc = model.evaluate(x, y, batch_size=30, verbose=0)
    assert_allclose(acc, np.mean(labels == p.argmax(-1)), rtol=1e-6)
    assert_allclose(loss, _np_cce(y, p).mean(), rtol=1e-5)
    # a categorical accuracy is not the element-wise one
    assert abs(np.mean(labels == p.argmax(-1)) - np.mean(y == np.round(p))) > 1e-3


def test_sparse_categorical_crossentropy_with_integer_labels():
    x = _rand(30, 4)
    labels = np.random.RandomState(2).randint(0, 3, size=30)
    model = Sequential([Dense(3, input_dim=4, activation="softmax")])
    model.compile(SGD(lr=0.5), "sparse_categorical_crossentropy", metrics=["accuracy"])
    p = model.predict(x)
    expected_loss = -np.mean(np.log(np.clip(p[np.arange(30), labels], EPS, 1 - EPS)))
    expected_acc = np.mean(labels == p.argmax(-1))
    for targets in (labels.astype("int32"), labels.reshape(30, 1), labels.astype("int64").reshape(30, 1)):
        loss, acc = model.evaluate(x, targets, batch_size=30, verbose=0)
        assert_allclose(loss, expected_loss, rtol=1e-5)
        assert_allclose(acc, expected_acc, rtol=1e-6)
    hist = model.fit(x, labels.reshape(30, 1), batch_size=10, nb_epoch=10, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    assert model.evaluate(x, labels, verbose=0)[0] < expected_loss


# ---------------------------------------------------------------------------------------
# predict_classes / predict_proba


def test_predict_classes_and_proba(capsys):
    x = _rand(7, 4)
    model = Sequential([Dense(3, input_dim=4, activation="softmax")])
    model.compile("sgd", "categorical_crossentropy")
    proba = model.predict_proba(x, batch_size=3, verbose=0)
    assert proba.shape == (7, 3)
    assert_allclose(proba, model.predict(x), rtol=1e-6)
    classes = model.predict_classes(x, batch_size=3, verbose=0)
    assert classes.shape == (7,)
    assert_allclose(classes, proba.argmax(-1))
    assert capsys.readouterr().out == ""

    K.clear_session()
    model = Sequential([Dense(1, input_dim=4, activation="sigmoid")])
    model.compile("sgd", "binary_crossentropy")
    proba = model.predict_proba(x, verbose=0)
    assert proba.shape == (7, 1)
    classes = model.predict_classes(x, verbose=0)
    assert classes.shape == (7, 1)
    assert_allclose(classes, (proba > 0.5).astype("int32"))


def test_predict_classes_default_verbose_prints_a_bar(capsys):
    model = Sequential([Dense(3, input_dim=4, activation="softmax")])
    model.compile("sgd", "categorical_crossentropy")
    model.predict_classes(_rand(7, 4))
    assert "7/7 [" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------
# multi-input / multi-output


def _two_in_two_out():
    a = Input(shape=(3,), name="in_a")
    b = Input(shape=(2,), name="in_b")
    h = merge([Dense(4, name="da")(a), Dense(4, name="db")(b)], mode="concat")
    out1 = Dense(2, name="out1")(h)
    out2 = Dense(1, activation="sigmoid", name="out2")(h)
    return Model(input=[a, b], output=[out1, out2])


def _two_in_two_out_data(n=12):
    xa, xb = _rand(n, 3, seed=1), _rand(n, 2, seed=2)
    y1 = _rand(n, 2, seed=3)
    y2 = (np.random.RandomState(4).uniform(size=(n, 1)) > 0.5).astype("float32")
    return xa, xb, y1, y2


@pytest.mark.parametrize(
    "loss, loss_weights",
    [
        ({"out1": "mse", "out2": "binary_crossentropy"}, {"out1": 0.3, "out2": 2.0}),
        (["mse", "binary_crossentropy"], [0.3, 2.0]),
    ],
)
def test_two_inputs_two_outputs_weighted_total_loss(loss, loss_weights):
    model = _two_in_two_out()
    model.compile(SGD(lr=0.0), loss, loss_weights=loss_weights, metrics=["acc"])
    assert model.metrics_names == ["loss", "out1_loss", "out2_loss", "out1_acc", "out2_acc"]
    xa, xb, y1, y2 = _two_in_two_out_data()
    p1, p2 = model.predict([xa, xb])
    l1 = np.mean((p1 - y1) ** 2)
    l2 = _np_bce(y2, p2).mean()
    acc1 = np.mean(y1.argmax(-1) == p1.argmax(-1))
    acc2 = np.mean(y2 == np.round(p2))
    out = model.evaluate([xa, xb], [y1, y2], batch_size=12, verbose=0)
    assert_allclose(out, [0.3 * l1 + 2.0 * l2, l1, l2, acc1, acc2], rtol=1e-5)
    assert_allclose(model.test_on_batch([xa, xb], [y1, y2]), out, rtol=1e-5)

    hist = model.fit([xa, xb], [y1, y2], batch_size=12, nb_epoch=2, validation_split=0.25, verbose=0)
    names = ["loss", "out1_loss", "out2_loss", "out1_acc", "out2_acc"]
    assert sorted(hist.history) == sorted(names + ["val_" + n for n in names])
    val = model.evaluate([xa[9:], xb[9:]], [y1[9:], y2[9:]], verbose=0)
    for n, v in zip(names, val):
        assert_allclose(hist.history["val_" + n], [v, v], rtol=1e-5)


def test_loss_weights_default_to_one_and_missing_dict_weight_is_one():
    xa, xb, y1, y2 = _two_in_two_out_data()
    model = _two_in_two_out()
    model.compile(SGD(lr=0.0), ["mse", "binary_crossentropy"])
    total, l1, l2 = model.evaluate([xa, xb], [y1, y2], verbose=0)
    assert_allclose(total, l1 + l2, rtol=1e-5)
    model.compile(SGD(lr=0.0), ["mse", "binary_crossentropy"], loss_weights={"out2": 0.5})
    total, l1, l2 = model.evaluate([xa, xb], [y1, y2], verbose=0)
    assert_allclose(total, l1 + 0.5 * l2, rtol=1e-5)


def test_metrics_dict_per_output():
    xa, xb, y1, y2 = _two_in_two_out_data()
    model = _two_in_two_out()
    model.compile(SGD(lr=0.0), "mse", metrics={"out2": ["accuracy", "mae"]})
    assert model.metrics_names == ["loss", "out1_loss", "out2_loss", "out2_acc", "out2_mean_absolute_error"]
    p1, p2 = model.predict([xa, xb])
    out = model.evaluate([xa, xb], [y1, y2], verbose=0)
    assert_allclose(out[3:], [np.mean(y2 == np.round(p2)), np.mean(np.abs(p2 - y2))], rtol=1e-5)


def test_dict_and_list_data_by_name():
    xa, xb, y1, y2 = _two_in_two_out_data()
    model = _two_in_two_out()
    model.compile(SGD(lr=0.0), ["mse", "binary_crossentropy"])
    as_list = model.evaluate([xa, xb], [y1, y2], verbose=0)
    as_dict = model.evaluate({"in_b": xb, "in_a": xa}, {"out2": y2, "out1": y1}, verbose=0)
    assert_allclose(as_dict, as_list, rtol=1e-6)
    p_list = model.predict([xa, xb])
    p_dict = model.predict({"in_a": xa, "in_b": xb})
    for a, b in zip(p_list, p_dict):
        assert_allclose(a, b)
    # inputs swapped by name are not the same as swapped by position
    assert isinstance(p_list, list) and len(p_list) == 2
    assert p_list[0].shape == (12, 2) and p_list[1].shape == (12, 1)
    out = model.predict_on_batch({"in_a": xa, "in_b": xb})
    assert isinstance(out, list) and len(out) == 2

    model.compile(SGD(lr=0.1), ["mse", "binary_crossentropy"])
    hist = model.fit({"in_a": xa, "in_b": xb}, {"out1": y1, "out2": y2}, batch_size=4, nb_epoch=3, verbose=0)
    assert len(hist.history["loss"]) == 3
    out = model.train_on_batch({"in_a": xa, "in_b": xb}, {"out1": y1, "out2": y2})
    assert isinstance(out, list) and len(out) == 3


def test_multi_output_sample_weights_per_output():
    xa, xb, y1, y2 = _two_in_two_out_data(8)
    model = _two_in_two_out()
    model.compile(SGD(lr=0.0), ["mse", "binary_crossentropy"])
    p1, p2 = model.predict([xa, xb])
    w1 = np.array([1, 0, 2, 1, 0, 1, 1, 3], "float32")
    l1_per = np.mean((p1 - y1) ** 2, axis=-1)
    l2_per = _np_bce(y2, p2)
    expected_l1 = np.sum(w1 * l1_per) / np.count_nonzero(w1)
    out = model.test_on_batch([xa, xb], [y1, y2], sample_weight={"out1": w1})
    assert_allclose(out, [expected_l1 + l2_per.mean(), expected_l1, l2_per.mean()], rtol=1e-5)
    out = model.test_on_batch([xa, xb], [y1, y2], sample_weight=[None, w1])
    expected_l2 = np.sum(w1 * l2_per) / np.count_nonzero(w1)
    assert_allclose(out, [l1_per.mean() + expected_l2, l1_per.mean(), expected_l2], rtol=1e-5)


def test_shared_output_layer_gets_numbered_history_keys():
    a, b = Input(shape=(3,)), Input(shape=(3,))
    shared = Dense(2)
    model = Model([a, b], [shared(a), shared(b)])
    model.compile(SGD(lr=0.0), "mse", metrics=["mae"])
    # metrics_names keep the duplicates; fit numbers every occurrence (Keras 1.2)
    mae = "dense_1_mean_absolute_error"
    assert model.metrics_names == ["loss", "dense_1_loss", "dense_1_loss", mae, mae]
    xa, xb = _rand(8, 3, seed=1), _rand(8, 3, seed=2)
    y1, y2 = _rand(8, 2, seed=3), _rand(8, 2, seed=4)
    expected = model.evaluate([xa, xb], [y1, y2], batch_size=8, verbose=0)
    hist = model.fit([xa, xb], [y1, y2], batch_size=8, nb_epoch=1, verbose=0)
    labels = [
        "loss",
        "dense_1_loss_1",
        "dense_1_loss_2",
        "dense_1_mean_absolute_error_1",
        "dense_1_mean_absolute_error_2",
    ]
    assert sorted(hist.history) == sorted(labels)
    for label, value in zip(labels, expected):
        assert_allclose(hist.history[label], [value], rtol=1e-5)
    assert abs(expected[1] - expected[2]) > 1e-3


def test_functional_single_output_model_fit():
    inp = Input(shape=(3,))
    out = Dense(2)(inp)
    model = Model(inp, out)
    model.compile(SGD(lr=0.1), "mse")
    x, y = _rand(16, 3), _rand(16, 2, seed=1)
    before = model.evaluate(x, y, verbose=0)
    hist = model.fit(x, y, batch_size=4, nb_epoch=5, verbose=0)
    assert model.history is hist
    assert model.evaluate(x, y, verbose=0) < before


# ---------------------------------------------------------------------------------------
# generators


class _Cycle:
    """An infinite generator over fixed batches; counts what it yielded. `delay` makes
    each batch take a while with the GIL released, like a generator reading files."""

    def __init__(self, x, y, batch_size, weights=None, x_only=False, delay=0.0):
        self.x, self.y, self.bs, self.w, self.x_only = x, y, batch_size, weights, x_only
        self.delay = delay
        self.yielded = 0

    def __call__(self):
        n = len(self.x)
        i = 0
        while True:
            s = slice(i, i + self.bs)
            if self.delay:
                time.sleep(self.delay)
            self.yielded += 1
            if self.x_only:
                yield self.x[s]
            elif self.w is not None:
                yield self.x[s], self.y[s], self.w[s]
            else:
                yield self.x[s], self.y[s]
            i = (i + self.bs) % n


def _sgd_model(lr=0.1):
    model = Sequential([Dense(2, input_dim=3)])
    model.compile(SGD(lr=lr), "mse")
    return model


def _batch_recorder():
    sizes = []
    return sizes, LambdaCallback(on_batch_end=lambda b, logs: sizes.append((logs["batch"], logs["size"])))


def test_fit_generator_equals_numpy_sgd_in_order():
    x, y = _rand(20, 3), _rand(20, 2, seed=1)
    model = _sgd_model()
    W, b = (v.astype(np.float64) for v in model.get_weights())
    sizes, rec = _batch_recorder()
    hist = model.fit_generator(
        _Cycle(x, y, 5)(), samples_per_epoch=20, nb_epoch=2, verbose=0, callbacks=[rec]
    )
    assert sizes == [(i, 5) for i in range(4)] * 2
    assert hist.epoch == [0, 1]
    losses = []
    for _ in range(2):
        total = 0.0
        for start in range(0, 20, 5):
            xb, yb = x[start : start + 5].astype(np.float64), y[start : start + 5].astype(np.float64)
            pred = xb @ W + b
            total += np.mean((pred - yb) ** 2) * 5
            g = 2 * (pred - yb) / (5 * 2)
            W, b = W - 0.1 * xb.T @ g, b - 0.1 * g.sum(0)
        losses.append(total / 20)
    assert_allclose(model.get_weights()[0], W, rtol=1e-5, atol=1e-6)
    assert_allclose(hist.history["loss"], losses, rtol=1e-5)


def test_fit_generator_two_threads():
    x, y = _rand(20, 3), _rand(20, 2, seed=1)
    model = _sgd_model()
    sizes, rec = _batch_recorder()
    # a plain (not thread-safe) generator shared by two worker threads
    gen = _Cycle(x, y, 5, delay=0.002)
    hist = model.fit_generator(
        gen(), samples_per_epoch=20, nb_epoch=3, verbose=0, nb_worker=2, callbacks=[rec]
    )
    assert sizes == [(i, 5) for i in range(4)] * 3
    assert hist.epoch == [0, 1, 2]
    assert all(np.isfinite(hist.history["loss"]))
    assert gen.yielded >= 12


def test_fit_generator_processes_pickle_safe():
    x, y = _rand(20, 3), _rand(20, 2, seed=1)
    model = _sgd_model()
    sizes, rec = _batch_recorder()
    hist = model.fit_generator(
        _Cycle(x, y, 5)(),
        samples_per_epoch=20,
        nb_epoch=2,
        verbose=0,
        nb_worker=2,
        pickle_safe=True,
        callbacks=[rec],
    )
    assert sizes == [(i, 5) for i in range(4)] * 2
    assert hist.epoch == [0, 1]
    assert all(np.isfinite(hist.history["loss"]))
    loss = model.evaluate_generator(_Cycle(x, y, 5)(), val_samples=20, pickle_safe=True)
    assert_allclose(loss, model.evaluate(x, y, batch_size=5, verbose=0), rtol=1e-5)
    pred = model.predict_generator(_Cycle(x, y, 5, x_only=True)(), val_samples=20, pickle_safe=True)
    assert_allclose(pred, model.predict(x), rtol=1e-6)


def test_fit_generator_with_sample_weights_and_validation():
    x, y = _rand(20, 3), _rand(20, 2, seed=1)
    w = np.tile(np.array([1.0, 0.0, 2.0, 1.0, 0.5], "float32"), 4)
    vx, vy = _rand(10, 3, seed=5), _rand(10, 2, seed=6)
    model = _sgd_model(lr=0.0)
    W, b = model.get_weights()
    hist = model.fit_generator(
        _Cycle(x, y, 5, weights=w)(), samples_per_epoch=20, nb_epoch=2, verbose=0, validation_data=(vx, vy)
    )
    per = np.mean((x @ W + b - y) ** 2, axis=-1)
    batch_losses = [np.sum(w[s : s + 5] * per[s : s + 5]) / 4 for s in range(0, 20, 5)]
    assert_allclose(hist.history["loss"], [np.mean(batch_losses)] * 2, rtol=1e-5)
    assert_allclose(hist.history["val_loss"], [np.mean((vx @ W + b - vy) ** 2)] * 2, rtol=1e-5)

    # a validation generator needs nb_val_samples
    with pytest.raises(ValueError, match="nb_val_samples"):
        model.fit_generator(_Cycle(x, y, 5)(), 20, 1, verbose=0, validation_data=_Cycle(vx, vy, 5)())
    hist = model.fit_generator(
        _Cycle(x, y, 5)(), 20, 1, verbose=0, validation_data=_Cycle(vx, vy, 5)(), nb_val_samples=10
    )
    assert_allclose(hist.history["val_loss"], [np.mean((vx @ W + b - vy) ** 2)], rtol=1e-5)


def test_fit_generator_overshooting_samples_per_epoch_warns():
    x, y = _rand(20, 3), _rand(20, 2, seed=1)
    model = _sgd_model()
    sizes, rec = _batch_recorder()
    with pytest.warns(UserWarning, match="samples_per_epoch"):
        model.fit_generator(_Cycle(x, y, 5)(), samples_per_epoch=18, nb_epoch=1, verbose=0, callbacks=[rec])
    assert sizes == [(i, 5) for i in range(4)]


def test_evaluate_and_predict_generator_threads():
    x, y = _rand(20, 3), _rand(20, 2, seed=1)
    model = _sgd_model()
    model.compile(SGD(lr=0.0), "mse", metrics=["mae"])
    expected = model.evaluate(x, y, batch_size=5, verbose=0)
    out = model.evaluate_generator(_Cycle(x, y, 5)(), val_samples=20)
    assert_allclose(out, expected, rtol=1e-5)
    # with two threads batches may arrive in any order; 4 consecutive batches of the
    # cycle are still the whole data set
    out = model.evaluate_generator(_Cycle(x, y, 5, delay=0.002)(), val_samples=20, nb_worker=2)
    assert len(out) == 2
    batch_losses = [model.test_on_batch(x[s : s + 5], y[s : s + 5])[0] for s in range(0, 20, 5)]
    assert min(batch_losses) - 1e-6 <= out[0] <= max(batch_losses) + 1e-6

    pred = model.predict_generator(_Cycle(x, y, 5, x_only=True)(), val_samples=20)
    assert pred.shape == (20, 2)
    assert_allclose(pred, model.predict(x), rtol=1e-6)
    # (x, y) tuples are accepted too
    pred = model.predict_generator(_Cycle(x, y, 5)(), val_samples=20)
    assert_allclose(pred, model.predict(x), rtol=1e-6)
    pred = model.predict_generator(_Cycle(x, y, 5, x_only=True, delay=0.002)(), val_samples=20, nb_worker=2)
    assert pred.shape == (20, 2)
    ref = model.predict(x)
    # every predicted row is the prediction of one of the samples
    for row in pred:
        assert np.min(np.abs(ref - row).max(axis=1)) < 1e-5


def test_generator_that_stops_early_raises_and_model_still_works():
    x, y = _rand(10, 3), _rand(10, 2, seed=1)

    def short():
        yield x[:5], y[:5]

    model = _sgd_model()
    with pytest.raises(ValueError, match="stopped"):
        model.fit_generator(short(), samples_per_epoch=20, nb_epoch=1, verbose=0)

    def bad():
        yield x[:5]

    with pytest.raises(ValueError, match="tuple"):
        model.fit_generator(bad(), samples_per_epoch=5, nb_epoch=1, verbose=0)

    def boom():
        yield x[:5], y[:5]
        raise RuntimeError("generator failed")

    with pytest.raises(RuntimeError, match="generator failed"):
        model.fit_generator(boom(), samples_per_epoch=10, nb_epoch=1, verbose=0)
    hist = model.fit(x, y, nb_epoch=2, verbose=0)
    assert len(hist.history["loss"]) == 2
