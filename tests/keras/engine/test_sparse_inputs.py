"""scipy.sparse inputs (Keras 1.2.2): sparse placeholders (`K.placeholder(sparse=True)`,
`Input(sparse=True)`, `K.is_sparse`, `K.to_dense`) fed scipy.sparse matrices through
`K.function`, and fit / evaluate / predict / *_on_batch / generators taking scipy.sparse
inputs and targets in any format, densified one batch at a time: training on the sparse
form gives exactly the weights of training on the dense form."""

import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_array_equal

sp = pytest.importorskip("scipy.sparse")

from keras import backend as K  # noqa: E402
from keras.engine.topology import InputLayer  # noqa: E402
from keras.layers import Dense, Dropout, Embedding, Flatten, Input, merge  # noqa: E402
from keras.models import Model, Sequential  # noqa: E402
from keras.optimizers import SGD  # noqa: E402

FORMATS = {
    "csr": sp.csr_matrix,
    "csc": sp.csc_matrix,
    "coo": sp.coo_matrix,
    "lil": sp.lil_matrix,
    "csr_array": getattr(sp, "csr_array", sp.csr_matrix),
}


pytestmark = pytest.mark.usefixtures("fresh_session")


def _sparse_data(n, dim, seed=0, density=0.3):
    """A float64 matrix with about `density` non-zeros (scipy's usual dtype)."""
    rng = np.random.RandomState(seed)
    return rng.uniform(-1, 1, (n, dim)) * (rng.uniform(0, 1, (n, dim)) < density)


def _targets(n, dim, seed=1):
    return np.random.RandomState(seed).uniform(-1, 1, (n, dim)).astype("float32")


def _mlp(input_dim=12, output_dim=3, dropout=True, sparse_input=False):
    """A small functional MLP (with dropout), weights drawn from np.random."""
    x = Input(shape=(input_dim,), sparse=sparse_input)
    h = Dense(7, activation="tanh")(x)
    if dropout:
        h = Dropout(0.3)(h)
    out = Dense(output_dim)(h)
    model = Model(x, out)
    model.compile(SGD(lr=0.1, momentum=0.9), "mse", metrics=["mae"])
    return model


def _train(x, y, seed=3, sparse_input=False, **fit_kwargs):
    """Builds and trains the MLP from a fixed seed; returns (weights, history)."""
    K.clear_session()
    np.random.seed(seed)
    model = _mlp(input_dim=x.shape[1], output_dim=y.shape[1], sparse_input=sparse_input)
    fit_kwargs.setdefault("batch_size", 8)
    fit_kwargs.setdefault("nb_epoch", 3)
    hist = model.fit(x, y, verbose=0, **fit_kwargs)
    return model.get_weights(), hist.history


def _assert_same_training(dense_run, sparse_run):
    (w_dense, h_dense), (w_sparse, h_sparse) = dense_run, sparse_run
    assert len(w_dense) == len(w_sparse)
    for a, b in zip(w_dense, w_sparse):
        assert_array_equal(a, b)
    assert h_dense == h_sparse


# ---------------------------------------------------------------------------------------
# scipy stays optional


def test_import_keras_does_not_import_scipy():
    code = (
        "import sys\n"
        "import keras, keras.models, keras.layers, keras.engine.training\n"
        "from keras import backend as K\n"
        "bad = sorted(m for m in sys.modules if m == 'scipy' or m.startswith('scipy.'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------------------
# backend: sparse placeholders


def test_sparse_placeholder_is_sparse_and_to_dense():
    p = K.placeholder(shape=(None, 4), sparse=True)
    d = K.placeholder(shape=(None, 4))
    assert K.is_sparse(p) is True
    assert K.is_sparse(d) is False
    assert K.int_shape(p) == (None, 4)
    dense = K.to_dense(p)
    assert K.is_sparse(dense) is False
    assert K.int_shape(dense) == (None, 4)
    assert K.to_dense(d) is d
    v = K.variable(np.ones((2, 2)))
    assert K.is_sparse(v) is False
    assert K.to_dense(v) is v


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_function_feeds_sparse_placeholder_a_scipy_matrix(fmt):
    x = _sparse_data(5, 4)
    W = np.random.RandomState(2).uniform(-1, 1, (4, 3)).astype("float32")
    p = K.placeholder(shape=(None, 4), sparse=True)
    f = K.function([p], [K.dot(p, K.variable(W)), K.sum(K.to_dense(p), axis=1)])
    out_sparse = f([FORMATS[fmt](x)])
    out_dense = f([x])
    for a, b in zip(out_sparse, out_dense):
        assert_array_equal(a, b)
    assert_array_equal(out_dense[0], x.astype("float32") @ W)


def test_function_sparse_int_placeholder():
    idx = np.array([[0, 3, 0], [2, 0, 1]])
    p = K.placeholder(shape=(None, 3), dtype="int32", sparse=True)
    f = K.function([p], [K.gather(K.variable(np.arange(8.0).reshape(4, 2)), p)])
    assert_array_equal(f([sp.csr_matrix(idx)])[0], f([idx])[0])


def test_function_sparse_wrong_shape_raises_as_dense():
    p = K.placeholder(shape=(None, 4), sparse=True)
    f = K.function([p], [p * 2.0])
    x = _sparse_data(3, 5)
    with pytest.raises(Exception) as dense_err:
        f([x])
    with pytest.raises(type(dense_err.value)) as sparse_err:
        f([sp.csr_matrix(x)])
    assert str(sparse_err.value) == str(dense_err.value)


def test_input_and_input_layer_sparse():
    x = Input(shape=(6,), sparse=True)
    assert K.is_sparse(x)
    assert not K.is_sparse(Input(shape=(6,)))
    layer = x._keras_history[0]
    assert isinstance(layer, InputLayer)
    assert layer.get_config()["sparse"] is True
    layer2 = InputLayer(input_shape=(6,), sparse=True)
    assert K.is_sparse(layer2.inbound_nodes[0].output_tensors[0])


# ---------------------------------------------------------------------------------------
# fit: sparse == dense, exactly


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("shuffle", [True, False, "batch"])
def test_fit_sparse_equals_dense(fmt, shuffle):
    x, y = _sparse_data(53, 12), _targets(53, 3)
    dense = _train(x, y, shuffle=shuffle)
    sparse = _train(FORMATS[fmt](x), y, shuffle=shuffle, sparse_input=True)
    _assert_same_training(dense, sparse)


def test_fit_sparse_into_dense_input_and_sparse_targets():
    x, y = _sparse_data(40, 10), _sparse_data(40, 4, seed=5)
    dense = _train(x, y, shuffle="batch", batch_size=7)
    sparse = _train(sp.csc_matrix(x), sp.coo_matrix(y), shuffle="batch", batch_size=7)
    _assert_same_training(dense, sparse)


@pytest.mark.parametrize("shuffle", [True, "batch"])
def test_fit_validation_split_sparse_equals_dense(shuffle):
    x, y = _sparse_data(50, 12), _targets(50, 3)
    dense = _train(x, y, shuffle=shuffle, validation_split=0.3)
    sparse = _train(sp.coo_matrix(x), sp.csr_matrix(y), shuffle=shuffle, validation_split=0.3)
    assert "val_loss" in sparse[1] and "val_mean_absolute_error" in sparse[1]
    _assert_same_training(dense, sparse)


def test_fit_validation_data_sparse_equals_dense():
    x, y = _sparse_data(45, 12), _targets(45, 3)
    vx, vy = _sparse_data(17, 12, seed=7), _targets(17, 3, seed=8)
    dense = _train(x, y, validation_data=(vx, vy))
    sparse = _train(sp.csr_matrix(x), y, validation_data=(sp.csc_matrix(vx), sp.coo_matrix(vy)))
    assert len(sparse[1]["val_loss"]) == 3
    _assert_same_training(dense, sparse)
    # and with sample weights in validation_data
    vw = np.random.RandomState(9).uniform(0, 1, 17)
    dense = _train(x, y, validation_data=(vx, vy, vw))
    sparse = _train(sp.csr_matrix(x), y, validation_data=(sp.lil_matrix(vx), vy, vw))
    _assert_same_training(dense, sparse)


def test_fit_sample_and_class_weights_with_sparse_data():
    x, y = _sparse_data(36, 12), _targets(36, 3)
    sw = np.random.RandomState(4).uniform(0, 2, 36)
    _assert_same_training(_train(x, y, sample_weight=sw), _train(sp.csr_matrix(x), y, sample_weight=sw))

    labels = np.random.RandomState(6).randint(0, 3, 36)
    onehot = np.eye(3)[labels]
    cw = {0: 0.5, 1: 2.0, 2: 1.0}
    _assert_same_training(
        _train(x, onehot, class_weight=cw), _train(sp.csr_matrix(x), sp.csr_matrix(onehot), class_weight=cw)
    )


def test_multi_input_model_sparse_and_dense_inputs():
    def run(a, b, y):
        K.clear_session()
        np.random.seed(11)
        ia = Input(shape=(8,), sparse=True, name="a")
        ib = Input(shape=(5,), name="b")
        h = merge([Dense(4)(ia), Dense(4)(ib)], mode="concat")
        model = Model([ia, ib], Dense(2)(h))
        model.compile("rmsprop", "mse")
        hist = model.fit({"a": a, "b": b}, y, batch_size=6, nb_epoch=2, verbose=0, validation_split=0.2)
        pred = model.predict([a, b], batch_size=4)
        ev = model.evaluate([a, b], y, batch_size=5, verbose=0)
        return model.get_weights(), hist.history, pred, ev

    a, b, y = _sparse_data(30, 8), _sparse_data(30, 5, seed=2, density=1.0), _targets(30, 2)
    dense = run(a, b, y)
    sparse = run(sp.csr_matrix(a), b, y)
    _assert_same_training(dense[:2], sparse[:2])
    assert_array_equal(dense[2], sparse[2])
    assert dense[3] == sparse[3]


# ---------------------------------------------------------------------------------------
# evaluate / predict / *_on_batch


@pytest.mark.parametrize("fmt", ["csr", "coo", "csr_array"])
def test_evaluate_predict_and_on_batch_sparse_equal_dense(fmt):
    x, y = _sparse_data(29, 12), _targets(29, 3)
    xs = FORMATS[fmt](x)
    np.random.seed(0)
    model = _mlp(sparse_input=True)

    assert_array_equal(model.predict(xs, batch_size=8), model.predict(x, batch_size=8))
    assert model.evaluate(xs, y, batch_size=8, verbose=0) == model.evaluate(x, y, batch_size=8, verbose=0)
    assert model.evaluate(xs, sp.csr_matrix(y), verbose=0) == model.evaluate(x, y, verbose=0)
    assert_array_equal(model.predict_on_batch(xs), model.predict_on_batch(x))
    assert model.test_on_batch(xs, y) == model.test_on_batch(x, y)

    def train_on_batch(xb, yb):
        K.clear_session()
        np.random.seed(1)
        fresh = _mlp(sparse_input=True)
        outs = [fresh.train_on_batch(xb, yb) for _ in range(3)]
        return outs, fresh.get_weights()

    dense_outs, dense_weights = train_on_batch(x, y)
    sparse_outs, sparse_weights = train_on_batch(xs, sp.coo_matrix(y))
    assert sparse_outs == dense_outs
    for a, b in zip(sparse_weights, dense_weights):
        assert_array_equal(a, b)


def test_sequential_embedding_with_sparse_int_input():
    idx = np.random.RandomState(0).randint(0, 10, (14, 5)) * (
        np.random.RandomState(1).uniform(0, 1, (14, 5)) < 0.4
    )
    np.random.seed(2)
    model = Sequential([Embedding(10, 3, input_length=5), Flatten(), Dense(1)])
    model.compile("sgd", "mse")
    assert_array_equal(model.predict(sp.csr_matrix(idx), batch_size=4), model.predict(idx, batch_size=4))


def test_generators_yield_sparse_batches():
    x, y = _sparse_data(24, 12), _targets(24, 3)

    def gen(sparse):
        while True:
            for i in range(0, 24, 6):
                xb = x[i : i + 6]
                yield (sp.csr_matrix(xb) if sparse else xb), y[i : i + 6]

    def run(sparse):
        K.clear_session()
        np.random.seed(5)
        model = _mlp()
        model.fit_generator(gen(sparse), samples_per_epoch=24, nb_epoch=2, verbose=0)
        ev = model.evaluate_generator(gen(sparse), 24)
        pred = model.predict_generator((b[0] for b in gen(sparse)), 24)
        return model.get_weights(), ev, pred

    dense, sparse = run(False), run(True)
    for a, b in zip(dense[0], sparse[0]):
        assert_array_equal(a, b)
    assert dense[1] == sparse[1]
    assert_array_equal(dense[2], sparse[2])


# ---------------------------------------------------------------------------------------
# batch by batch: the whole matrix is never densified


def test_fit_evaluate_predict_densify_one_batch_at_a_time(monkeypatch):
    rows = []
    real_toarray = sp.csr_matrix.toarray

    def spy(self, *args, **kwargs):
        rows.append(self.shape[0])
        return real_toarray(self, *args, **kwargs)

    monkeypatch.setattr(sp.csr_matrix, "toarray", spy)
    x, y = _sparse_data(100, 12), _targets(100, 3)
    np.random.seed(0)
    model = _mlp()
    model.fit(sp.coo_matrix(x), sp.csc_matrix(y), batch_size=16, nb_epoch=2, verbose=0, validation_split=0.2)
    model.evaluate(sp.csr_matrix(x), y, batch_size=16, verbose=0)
    model.predict(sp.csr_matrix(x), batch_size=16)
    assert rows and max(rows) <= 16
    # 2 epochs x 5 train batches x (x, y) + 2 x 2 validation batches x 2 + 7 + 7
    assert len(rows) == 2 * 5 * 2 + 2 * 2 * 2 + 7 + 7


# ---------------------------------------------------------------------------------------
# errors: as for the dense equivalent


def _same_error(call_dense, call_sparse):
    with pytest.raises(ValueError) as dense_err:
        call_dense()
    with pytest.raises(ValueError) as sparse_err:
        call_sparse()
    assert str(sparse_err.value) == str(dense_err.value)


def test_wrong_shape_sparse_raises_same_value_error_as_dense():
    np.random.seed(0)
    model = _mlp(sparse_input=True)
    x, y = _sparse_data(10, 11), _targets(10, 3)
    xs = sp.csr_matrix(x)
    _same_error(lambda: model.fit(x, y, verbose=0), lambda: model.fit(xs, y, verbose=0))
    _same_error(lambda: model.evaluate(x, y, verbose=0), lambda: model.evaluate(xs, y, verbose=0))
    _same_error(lambda: model.predict(x), lambda: model.predict(xs))
    _same_error(lambda: model.train_on_batch(x, y), lambda: model.train_on_batch(xs, y))
    _same_error(lambda: model.test_on_batch(x, y), lambda: model.test_on_batch(xs, y))
    _same_error(lambda: model.predict_on_batch(x), lambda: model.predict_on_batch(xs))
    # wrong target shape, and mismatched sample counts
    xg, yb = _sparse_data(10, 12), _targets(10, 4)
    _same_error(
        lambda: model.fit(xg, yb, verbose=0),
        lambda: model.fit(sp.csr_matrix(xg), sp.csr_matrix(yb), verbose=0),
    )
    y9 = _targets(9, 3)
    _same_error(lambda: model.fit(xg, y9, verbose=0), lambda: model.fit(sp.csr_matrix(xg), y9, verbose=0))
