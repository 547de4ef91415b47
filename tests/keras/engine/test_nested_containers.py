"""Models used as layers: integer inputs through nested Sequential/Model graphs, a
Model or Sequential inside TimeDistributed, multi-output models and masked models
called on new tensors (issue 15, defects 3 and 4)."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from keras import backend as K
from keras.layers import LSTM, Dense, Embedding, Flatten, Input, Lambda, Merge, TimeDistributed
from keras.models import Model, Sequential

pytestmark = pytest.mark.usefixtures("fresh_session")


def _ints(*shape, high=10):
    return np.random.randint(0, high, size=shape).astype("int32")


def _rand(*shape):
    return np.random.uniform(-1, 1, size=shape).astype("float32")


def _embed_flatten():
    return Sequential([Embedding(10, 4, input_length=2), Flatten()])


# ---------------------------------------------------------------------------------------
# integer inputs through nested containers


def test_merged_embedding_sequentials_called_on_int_inputs():
    a, b = _embed_flatten(), _embed_flatten()
    m = Sequential([Merge([a, b], mode="concat"), Dense(1)])
    m.compile("sgd", "mse")
    x = [_ints(4, 2), _ints(4, 2)]
    y = _rand(4, 1)
    m.fit(x, y, verbose=0)

    i1, i2 = Input((2,), dtype="int32"), Input((2,), dtype="int32")
    mm = Model([i1, i2], m([i1, i2]))
    mm.compile("sgd", "mse")
    assert_allclose(mm.predict(x), m.predict(x), rtol=1e-6, atol=1e-6)
    # the reference: embedding rows looked up in numpy, concatenated, then the Dense
    ea, eb = a.layers[0].get_weights()[0], b.layers[0].get_weights()[0]
    W, bias = m.layers[-1].get_weights()
    ref = np.concatenate([ea[x[0]].reshape(4, -1), eb[x[1]].reshape(4, -1)], axis=1) @ W + bias
    assert_allclose(mm.predict(x), ref, rtol=1e-5, atol=1e-6)

    mm.fit(x, y, verbose=0)
    mm.train_on_batch(x, y)
    loss = mm.evaluate(x, y, verbose=0)
    assert np.isfinite(loss)
    # shared weights: the outer model trained the inner ones
    assert_allclose(mm.predict(x), m.predict(x), rtol=1e-6, atol=1e-6)


def test_sequential_nested_first_in_sequential_fits_on_int32():
    inner = _embed_flatten()
    s = Sequential([inner, Dense(1)])
    s.compile("sgd", "mse")
    x, y = _ints(4, 2), _rand(4, 1)
    s.fit(x, y, verbose=0)
    W, b = s.layers[-1].get_weights()
    assert_allclose(s.predict(x), inner.predict(x) @ W + b, rtol=1e-5, atol=1e-6)


def test_model_calls_embedding_sequential_on_int_input():
    seq = _embed_flatten()
    i = Input((2,), dtype="int32")
    h = seq(i)
    assert h._keras_shape == (None, 8)
    m = Model(i, Dense(1)(h))
    m.compile("sgd", "mse")
    x, y = _ints(5, 2), _rand(5, 1)
    m.fit(x, y, verbose=0)
    m.train_on_batch(x, y)
    assert np.isfinite(m.evaluate(x, y, verbose=0))
    assert np.isfinite(m.test_on_batch(x, y))
    W, b = m.layers[-1].get_weights()
    emb = seq.layers[0].get_weights()[0]
    assert_allclose(m.predict(x), emb[x].reshape(5, -1) @ W + b, rtol=1e-5, atol=1e-6)
    assert_allclose(m.predict_on_batch(x), seq.predict(x) @ W + b, rtol=1e-5, atol=1e-6)


def test_int_branch_and_float_branch_merged_then_called_from_model():
    a = _embed_flatten()
    b = Sequential([Dense(3, input_dim=5)])
    m = Sequential([Merge([a, b], mode="concat"), Dense(1)])
    m.compile("sgd", "mse")
    xi, xf, y = _ints(4, 2), _rand(4, 5), _rand(4, 1)
    m.fit([xi, xf], y, verbose=0)

    i1, i2 = Input((2,), dtype="int32"), Input((5,))
    mm = Model([i1, i2], m([i1, i2]))
    mm.compile("sgd", "mse")
    assert_allclose(mm.predict([xi, xf]), m.predict([xi, xf]), rtol=1e-6, atol=1e-6)
    emb = a.layers[0].get_weights()[0]
    Wb, bb = b.layers[0].get_weights()
    W, bias = m.layers[-1].get_weights()
    ref = np.concatenate([emb[xi].reshape(4, -1), xf @ Wb + bb], axis=1) @ W + bias
    assert_allclose(mm.predict([xi, xf]), ref, rtol=1e-5, atol=1e-5)
    mm.fit([xi, xf], y, verbose=0)
    mm.train_on_batch([xi, xf], y)
    assert np.isfinite(mm.evaluate([xi, xf], y, verbose=0))


def test_pass_through_layer_on_int_input_nested():
    i = Input((2,), dtype="int32")
    inner = Model(i, Lambda(lambda x: x, output_shape=(2,))(i))
    x = _ints(3, 2)
    assert_allclose(inner.predict(x), x)
    j = Input((2,), dtype="int32")
    out = inner(j)
    assert K.dtype(out) == "int32"
    assert out._keras_shape == (None, 2)
    assert_allclose(Model(j, out).predict(x), x)


# ---------------------------------------------------------------------------------------
# containers inside TimeDistributed / called on new tensors


def test_functional_model_in_time_distributed():
    i = Input((3,))
    inner = Model(i, Dense(2)(i))
    j = Input((5, 3))
    out = TimeDistributed(inner)(j)
    assert out._keras_shape == (None, 5, 2)
    m = Model(j, out)
    m.compile("sgd", "mse")
    x = _rand(2, 5, 3)
    W, b = inner.get_weights()
    assert_allclose(m.predict(x), x @ W + b, rtol=1e-5, atol=1e-6)
    assert_allclose(m.predict(x), inner.predict(x.reshape(-1, 3)).reshape(2, 5, 2), rtol=1e-6, atol=1e-6)
    y = _rand(2, 5, 2)
    m.fit(x, y, verbose=0)
    m.train_on_batch(x, y)
    W, b = inner.get_weights()
    assert_allclose(m.predict(x), x @ W + b, rtol=1e-5, atol=1e-6)


def test_sequential_in_time_distributed():
    inner = Sequential([Dense(4, input_dim=3, activation="tanh"), Dense(2)])
    j = Input((5, 3))
    m = Model(j, TimeDistributed(inner)(j))
    m.compile("sgd", "mse")
    x = _rand(3, 5, 3)
    assert_allclose(m.predict(x), inner.predict(x.reshape(-1, 3)).reshape(3, 5, 2), rtol=1e-5, atol=1e-6)
    (W1, b1), (W2, b2) = [layer.get_weights() for layer in inner.layers]
    assert_allclose(m.predict(x), np.tanh(x @ W1 + b1) @ W2 + b2, rtol=1e-5, atol=1e-5)
    m.fit(x, _rand(3, 5, 2), verbose=0)

    s = Sequential([TimeDistributed(inner, input_shape=(5, 3))])
    s.compile("sgd", "mse")
    assert s.output_shape == (None, 5, 2)
    assert_allclose(s.predict(x), m.predict(x), rtol=1e-6, atol=1e-6)


def test_int_embedding_sequential_in_time_distributed():
    inner = _embed_flatten()
    j = Input((5, 2), dtype="int32")
    out = TimeDistributed(inner)(j)
    assert out._keras_shape == (None, 5, 8)
    m = Model(j, out)
    m.compile("sgd", "mse")
    x = _ints(3, 5, 2)
    emb = inner.layers[0].get_weights()[0]
    assert_allclose(m.predict(x), emb[x].reshape(3, 5, 8), rtol=1e-6, atol=1e-6)
    m.fit(x, _rand(3, 5, 8), verbose=0)


def test_container_call_on_plain_tensor_sets_keras_shapes():
    i = Input((3,))
    inner = Model(i, Dense(2)(Dense(4)(i)))
    p = K.placeholder((None, 3))
    out = inner.call(p * 2.0)
    assert out._keras_shape == (None, 2)
    assert inner.get_output_shape_for((None, 3)) == (None, 2)


def test_container_call_cache_distinguishes_short_lived_inputs():
    """A container's output cache is keyed by the ids of the input tensors: an input
    freed after the call (a TimeDistributed reshape) must not hand its outputs to a later
    tensor that happens to get the same id."""
    i = Input((3,))
    inner = Model(i, Dense(2)(i))
    W, b = inner.get_weights()
    placeholders = [K.placeholder((None, 3)) for _ in range(40)]
    outs = [inner.call(p * float(k + 1)) for k, p in enumerate(placeholders)]
    assert len({o.node for o in outs}) == len(outs)
    x = _rand(2, 3)
    for k in (0, 7, 39):
        f = K.function([placeholders[k]], [outs[k]])
        assert_allclose(f([x])[0], (x * (k + 1)) @ W + b, rtol=1e-5, atol=1e-5)


def test_two_output_model_called_on_new_inputs():
    i = Input((3,))
    h = Dense(4, activation="relu")(i)
    inner = Model(i, [Dense(2)(h), Dense(1, activation="sigmoid")(h)])
    j = Input((3,))
    outs = inner(j)
    assert [o._keras_shape for o in outs] == [(None, 2), (None, 1)]
    m = Model(j, outs)
    m.compile("sgd", ["mse", "mse"])
    x = _rand(4, 3)
    for got, want in zip(m.predict(x), inner.predict(x)):
        assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    m.fit(x, [_rand(4, 2), _rand(4, 1)], verbose=0)
    for got, want in zip(m.predict(x), inner.predict(x)):
        assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_masked_model_called_on_new_input():
    i = Input((4,), dtype="int32")
    inner = Model(i, LSTM(2)(Embedding(10, 3, mask_zero=True)(i)))
    j = Input((4,), dtype="int32")
    h = inner(j)
    assert h._keras_shape == (None, 2)
    m = Model(j, Dense(1)(h))
    m.compile("sgd", "mse")
    x = np.array([[1, 2, 0, 0], [3, 0, 0, 0], [4, 5, 6, 7]], "int32")
    m.fit(x, _rand(3, 1), verbose=0)
    W, b = m.layers[-1].get_weights()
    assert_allclose(m.predict(x), inner.predict(x) @ W + b, rtol=1e-5, atol=1e-6)


def test_mask_leaves_nested_model_and_reaches_next_layer():
    i = Input((None,), dtype="int32")
    inner = Model(i, LSTM(2, return_sequences=True)(Embedding(10, 3, mask_zero=True)(i)))
    j = Input((None,), dtype="int32")
    seq = inner(j)
    assert inner.get_output_mask_at(1) is not None
    m = Model(j, LSTM(3)(seq))
    m.compile("sgd", "mse")
    x = np.array([[1, 2, 0, 0], [3, 4, 0, 0]], "int32")
    # masked (padding) steps leave the outer LSTM's state unchanged
    assert_allclose(m.predict(x), m.predict(x[:, :2]), rtol=1e-5, atol=1e-6)
