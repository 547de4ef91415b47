"""TimeDistributed and Bidirectional wrappers."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from keras.layers import LSTM, Bidirectional, Dense, SimpleRNN, TimeDistributed
from keras.models import Sequential, model_from_json


def test_time_distributed_dense():
    model = Sequential()
    model.add(TimeDistributed(Dense(2), input_shape=(3, 4)))
    model.compile("rmsprop", "mse")
    x = np.random.random((5, 3, 4)).astype("float32")
    W, b = model.get_weights()
    assert_allclose(model.predict(x), x @ W + b, rtol=1e-5, atol=1e-6)
    model.fit(x, np.random.random((5, 3, 2)), nb_epoch=1, verbose=0)
    again = model_from_json(model.to_json())
    again.set_weights(model.get_weights())
    assert_allclose(again.predict(x), model.predict(x), atol=1e-6)


@pytest.mark.parametrize("mode", ["sum", "mul", "ave", "concat"])
def test_bidirectional(mode):
    x = np.random.random((4, 5, 3)).astype("float32")
    model = Sequential()
    model.add(Bidirectional(SimpleRNN(2, return_sequences=True), merge_mode=mode, input_shape=(5, 3)))
    model.compile("rmsprop", "mse")
    out = model.predict(x)
    # reference from two plain layers with the same weights
    w = model.get_weights()
    fwd = Sequential()
    fwd.add(SimpleRNN(2, return_sequences=True, input_shape=(5, 3), weights=w[:3]))
    bwd = Sequential()
    bwd.add(SimpleRNN(2, return_sequences=True, go_backwards=True, input_shape=(5, 3), weights=w[3:]))
    a, b = fwd.predict(x), bwd.predict(x)[:, ::-1]
    want = {"sum": a + b, "mul": a * b, "ave": (a + b) / 2, "concat": np.concatenate([a, b], -1)}[mode]
    assert_allclose(out, want, atol=1e-6)
    model.fit(x, np.random.random(out.shape), nb_epoch=1, verbose=0)


def test_bidirectional_last_output_and_config():
    model = Sequential()
    model.add(Bidirectional(LSTM(3), input_shape=(4, 2)))
    model.add(Dense(1))
    model.compile("rmsprop", "mse")
    assert model.output_shape == (None, 1)
    assert len(model.layers[0].get_weights()) == 24
    model.fit(np.random.random((6, 4, 2)), np.random.random((6, 1)), nb_epoch=1, verbose=0)
