"""Geometries that used to reach an engine panic ("internal error") compute their
correct result: a zero-width Dense, and a dilated convolution whose taps reach past the
padded input (Keras 1 on TensorFlow computed these)."""

import numpy as np
import pytest

from keras.layers import AtrousConvolution2D, Dense
from keras.models import Sequential


def test_dense_with_zero_units_gives_an_empty_output_and_trains():
    model = Sequential(
        [
            Dense(0, input_dim=3),
        ]
    )
    model.compile("sgd", "mse")
    assert model.predict(np.ones((2, 3), "float32")).shape == (2, 0)
    wide = Sequential([Dense(0, input_dim=3, activation="relu"), Dense(2)])
    wide.compile("sgd", "mse")
    wide.fit(np.ones((4, 3)), np.ones((4, 2)), nb_epoch=1, verbose=0)
    # nothing reaches the second layer: its output is its bias
    np.testing.assert_allclose(wide.predict(np.ones((1, 3))), wide.layers[1].get_weights()[1][None])


@pytest.mark.parametrize("ordering", ["th", "tf"])
def test_atrous_taps_past_the_padding_see_zeros(ordering):
    shape = (1, 4, 4) if ordering == "th" else (4, 4, 1)
    model = Sequential(
        [
            AtrousConvolution2D(
                2, 3, 3, atrous_rate=(5, 5), border_mode="same", input_shape=shape, dim_ordering=ordering
            )
        ]
    )
    w, b = model.get_weights()
    x = np.random.RandomState(0).rand(3, *shape).astype("float32")
    y = model.predict(x)
    # with rate 5 on a 4x4 input only the centre tap ever lands on the input
    if ordering == "tf":
        want = x[..., :1] * w[1, 1, 0, :] + b
    else:  # a true convolution: the flipped kernel's centre is the centre
        want = x[:, :1] * w[:, 0, 1, 1][None, :, None, None] + b[None, :, None, None]
    np.testing.assert_allclose(y, want, rtol=1e-6, atol=1e-6)
