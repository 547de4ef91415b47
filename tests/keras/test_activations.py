"""keras.activations against numpy references."""

import numpy as np
import pytest

from keras import activations
from keras import backend as K


def _eval(fn, x, **kwargs):
    x = np.asarray(x, dtype=np.float32)
    p = K.placeholder(shape=x.shape)
    return K.function([p], [fn(p, **kwargs)])([x])[0]


def _np_softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.fixture
def rng():
    return np.random.RandomState(1234)


def test_softmax_2d(rng):
    x = rng.randn(4, 5) * 3
    np.testing.assert_allclose(_eval(activations.softmax, x), _np_softmax(x), rtol=1e-5, atol=1e-7)


def test_softmax_3d_over_last_axis(rng):
    x = rng.randn(2, 3, 4) * 3
    out = _eval(activations.softmax, x)
    np.testing.assert_allclose(out, _np_softmax(x), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(out.sum(-1), np.ones((2, 3)), rtol=1e-6)


def test_softmax_large_values_are_stable():
    x = np.array([[1000.0, 1001.0, 1002.0]])
    np.testing.assert_allclose(_eval(activations.softmax, x), _np_softmax(x), rtol=1e-5)


@pytest.mark.parametrize("shape", [(5,), (2, 2, 2, 2)])
def test_softmax_other_ranks_raise(shape):
    p = K.placeholder(shape=shape)
    with pytest.raises(ValueError, match=f"not 2D or 3D. Here, ndim={len(shape)}"):
        activations.softmax(p)


def test_elu(rng):
    x = rng.randn(3, 4) * 2
    np.testing.assert_allclose(
        _eval(activations.elu, x), np.where(x > 0, x, np.exp(x) - 1), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        _eval(activations.elu, x, alpha=0.5), np.where(x > 0, x, 0.5 * (np.exp(x) - 1)), rtol=1e-5, atol=1e-6
    )


def test_softplus_softsign(rng):
    x = rng.randn(3, 4) * 3
    np.testing.assert_allclose(_eval(activations.softplus, x), np.log1p(np.exp(x)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_eval(activations.softsign, x), x / (np.abs(x) + 1), rtol=1e-5, atol=1e-7)


def test_relu_with_alpha_and_max_value(rng):
    x = rng.randn(4, 5) * 3
    np.testing.assert_allclose(_eval(activations.relu, x), np.maximum(x, 0), rtol=1e-6)
    np.testing.assert_allclose(
        _eval(activations.relu, x, alpha=0.1), np.where(x > 0, x, 0.1 * x), rtol=1e-5, atol=1e-7
    )
    np.testing.assert_allclose(
        _eval(activations.relu, x, max_value=1.5), np.clip(x, 0, 1.5), rtol=1e-6, atol=1e-7
    )


def test_tanh_sigmoid_hard_sigmoid_linear(rng):
    x = rng.randn(3, 4) * 4
    np.testing.assert_allclose(_eval(activations.tanh, x), np.tanh(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_eval(activations.sigmoid, x), 1 / (1 + np.exp(-x)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        _eval(activations.hard_sigmoid, x), np.clip(0.2 * x + 0.5, 0, 1), rtol=1e-5, atol=1e-6
    )
    p = K.placeholder(shape=(3, 4))
    assert activations.linear(p) is p


def test_get():
    for name in [
        "softmax",
        "elu",
        "softplus",
        "softsign",
        "relu",
        "tanh",
        "sigmoid",
        "hard_sigmoid",
        "linear",
    ]:
        fn = activations.get(name)
        assert fn is getattr(activations, name)
        assert fn.__name__ == name
    assert activations.get(None) is activations.linear

    def custom(x):
        return x * 2

    assert activations.get(custom) is custom


@pytest.mark.parametrize("name", ["relux", "get", "K", "Softmax"])
def test_get_unknown_raises(name):
    with pytest.raises(ValueError, match="Invalid activation function: " + name):
        activations.get(name)
