"""`custom_objects` reach the names inside a layer's config (Keras 1.2.2 put them in the
global table while deserialising), and Bidirectional clones a layer with a user
activation."""

import numpy as np

from keras import backend as K
from keras.layers import LSTM, Bidirectional, Dense
from keras.models import Sequential, model_from_json
from keras.utils.generic_utils import get_custom_objects


def scaled_tanh(x):
    return K.tanh(x) * 0.5


def _x(shape):
    return np.random.RandomState(3).rand(*shape).astype("float32")


def test_custom_activation_inside_a_config_resolves_through_custom_objects():
    model = Sequential([Dense(3, activation=scaled_tanh, input_dim=4)])
    copy = model_from_json(model.to_json(), custom_objects={"scaled_tanh": scaled_tanh})
    copy.set_weights(model.get_weights())
    np.testing.assert_array_equal(copy.predict(_x((2, 4))), model.predict(_x((2, 4))))
    # only for the duration of the call
    assert "scaled_tanh" not in get_custom_objects()


def test_bidirectional_clones_a_layer_with_a_user_activation():
    model = Sequential([Bidirectional(LSTM(3, activation=scaled_tanh), input_shape=(5, 2))])
    assert model.layers[0].backward_layer.activation is scaled_tanh
    out = model.predict(_x((2, 5, 2)))
    assert out.shape == (2, 6) and np.all(np.abs(out) <= 0.5)
    copy = model_from_json(model.to_json(), custom_objects={"scaled_tanh": scaled_tanh})
    copy.set_weights(model.get_weights())
    np.testing.assert_allclose(copy.predict(_x((2, 5, 2))), out, rtol=1e-6)
