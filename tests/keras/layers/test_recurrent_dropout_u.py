"""Recurrent dropout (Keras 1 `dropout_U`) of SimpleRNN / GRU / LSTM on the fused ops:
test phase equals the layer without dropout, train phase differs and keeps one mask per
batch, config round trip, and a model with dropout_U learns."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from keras import backend as K
from keras.engine.topology import Input
from keras.layers import GRU, LSTM, Dense, SimpleRNN
from keras.models import Sequential
from keras.utils.test_utils import layer_test

CELLS = [SimpleRNN, GRU, LSTM]


def _pair(cls, consume_less, **kw):
    """(function of [x, learning_phase], layer with dropout_U, plain twin with the same weights)."""
    inp = Input(shape=(6, 3))
    layer = cls(5, dropout_U=0.5, consume_less=consume_less, return_sequences=True, **kw)
    out = layer(inp)
    f = K.function([inp, K.learning_phase()], [out])
    twin_in = Input(shape=(6, 3))
    twin = cls(5, consume_less=consume_less, return_sequences=True, **kw)
    g = K.function([twin_in], [twin(twin_in)])
    twin.set_weights(layer.get_weights())
    return f, g


@pytest.mark.parametrize("cls", CELLS)
@pytest.mark.parametrize("consume_less", ["cpu", "gpu"])
def test_test_phase_is_plain_and_train_phase_drops(cls, consume_less):
    np.random.seed(3)
    f, g = _pair(cls, consume_less)
    x = np.random.uniform(-1, 1, (4, 6, 3)).astype("float32")
    plain = g([x])[0]
    assert_allclose(f([x, 0])[0], plain, rtol=1e-5, atol=1e-6)
    train = f([x, 1])[0]
    assert train.shape == plain.shape
    # the first step only sees h0 = 0, so dropping h_{t-1} cannot change it
    assert_allclose(train[:, 0], plain[:, 0], rtol=1e-5, atol=1e-6)
    assert np.abs(train[:, 1:] - plain[:, 1:]).max() > 1e-3
    # a new mask per batch call
    assert np.abs(f([x, 1])[0] - train).max() > 1e-6


def test_simple_rnn_train_phase_matches_an_oracle_mask():
    """SimpleRNN with one unit: the mask is 0 or 2 per sample, fixed across time; the
    train-phase output must equal the numpy step with one of those two masks per sample."""
    np.random.seed(5)
    inp = Input(shape=(5, 2))
    layer = SimpleRNN(1, dropout_U=0.5, return_sequences=True)
    f = K.function([inp, K.learning_phase()], [layer(inp)])
    W, U, b = (K.get_value(v) for v in layer.weights)
    x = np.random.uniform(-1, 1, (64, 5, 2)).astype("float32")
    y = f([x, 1])[0]
    seen = set()
    for i in range(len(x)):
        fits = []
        for m in (0.0, 2.0):
            h = np.zeros((1,))
            outs = []
            for t in range(5):
                h = np.tanh(x[i, t] @ W + b + (h * m) @ U)
                outs.append(h)
            fits.append(np.abs(np.stack(outs)[:, 0] - y[i, :, 0]).max() < 1e-5)
        assert any(fits), f"sample {i} matches neither mask"
        seen.add(fits.index(True))
    assert seen == {0, 1}


@pytest.mark.parametrize("cls", CELLS)
def test_layer_test_with_dropout_U(cls):
    layer_test(
        cls,
        kwargs={"output_dim": 3, "dropout_U": 0.25, "return_sequences": True},
        input_shape=(2, 4, 5),
    )


@pytest.mark.parametrize("cls", [GRU, LSTM])
def test_a_model_with_dropout_U_learns(cls):
    np.random.seed(8)
    x = np.random.uniform(-1, 1, (256, 6, 2)).astype("float32")
    y = x[:, :, 0].sum(1, keepdims=True)
    model = Sequential()
    model.add(cls(16, input_shape=(6, 2), dropout_U=0.2, dropout_W=0.1))
    model.add(Dense(1))
    model.compile("adam", "mse")
    h = model.fit(x, y, nb_epoch=15, batch_size=32, verbose=0)
    assert h.history["loss"][-1] < 0.7 * h.history["loss"][0]
    assert model.layers[0].get_config()["dropout_U"] == 0.2
