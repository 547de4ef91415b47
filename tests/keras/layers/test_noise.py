"""Noise layers: layer_test, statistics of the training-phase noise on a large tensor,
identity in the test phase, fresh noise per call, seeding, gradients."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from keras import backend as K
from keras.engine.topology import Input
from keras.layers.core import Dense
from keras.layers.noise import GaussianDropout, GaussianNoise
from keras.models import Model, Sequential
from keras.utils.test_utils import keras_test, layer_test

pytestmark = pytest.mark.usefixtures("fresh_session")


@keras_test
def test_layer_test_is_the_identity_at_test_time():
    x = np.random.RandomState(0).uniform(-1, 1, (3, 2, 3)).astype("float32")
    layer_test(GaussianNoise, kwargs={"sigma": 1.0}, input_data=x, expected_output=x)
    layer_test(GaussianDropout, kwargs={"p": 0.5}, input_data=x, expected_output=x)
    layer_test(GaussianDropout, kwargs={"p": 0.0}, input_data=x, expected_output=x)
    assert GaussianNoise(0.3).get_config()["sigma"] == 0.3
    assert GaussianDropout(0.2).get_config()["p"] == 0.2
    assert GaussianNoise(0.3).uses_learning_phase and GaussianDropout(0.2).uses_learning_phase
    assert not GaussianDropout(0.0).uses_learning_phase


@pytest.mark.parametrize(
    "layer,base,want_mean,want_std",
    [
        (lambda: GaussianNoise(0.5), 0.0, 0.0, 0.5),
        (lambda: GaussianNoise(2.0), 3.0, 3.0, 2.0),
        # multiplicative N(1, p / (1 - p)): p = 0.2 gives std 0.5
        (lambda: GaussianDropout(0.2), 1.0, 1.0, 0.5),
        (lambda: GaussianDropout(0.5), 2.0, 2.0, 2.0),
    ],
)
@keras_test
def test_training_phase_statistics_and_test_phase_identity(layer, base, want_mean, want_std):
    x = Input(shape=(400,))
    y = layer()(x)
    f = K.function([x, K.learning_phase()], [y])
    data = np.full((500, 400), base, "float32")
    out = f([data, 1])[0]
    n = out.size  # 200 000 draws: standard error of the mean ~ std / 447
    assert abs(out.mean() - want_mean) < 5 * want_std / np.sqrt(n)
    assert abs(out.std() - want_std) < 0.01 * want_std
    # no structure across rows / columns (independent draws)
    assert abs(np.corrcoef(out[:, 0], out[:, 1])[0, 1]) < 0.15
    second = f([data, 1])[0]
    assert not np.allclose(out, second)
    assert_allclose(f([data, 0])[0], data)
    assert_allclose(Model(x, y).predict(data), data)


@keras_test
def test_noise_is_repeatable_from_numpy_seed():
    outs = []
    for _ in range(2):
        K.clear_session()
        np.random.seed(42)
        x = Input(shape=(10,))
        y = GaussianNoise(1.0)(x)
        outs.append(K.function([x, K.learning_phase()], [y])([np.zeros((4, 10), "float32"), 1])[0])
    assert_allclose(outs[0], outs[1])


@keras_test
def test_gradients_pass_through_the_noise():
    x = Input(shape=(5,))
    y = GaussianDropout(0.3)(x)
    z = GaussianNoise(0.3)(x)
    f = K.function([x, K.learning_phase()], [y] + K.gradients(K.sum(y), [x]) + K.gradients(K.sum(z), [x]))
    data = np.ones((3, 5), "float32")
    out, gy, gz = f([data, 1])
    # d(x * noise)/dx = noise = out / x; additive noise has unit derivative
    assert_allclose(gy, out, rtol=1e-6)
    assert_allclose(gz, np.ones_like(data))


@keras_test
def test_fit_with_noise_layers_learns():
    rs = np.random.RandomState(0)
    xs = rs.uniform(-1, 1, (256, 4)).astype("float32")
    ys = (xs @ rs.uniform(-1, 1, (4, 1))).astype("float32")
    model = Sequential()
    model.add(GaussianNoise(0.05, input_shape=(4,)))
    model.add(Dense(16, activation="relu"))
    model.add(GaussianDropout(0.1))
    model.add(Dense(1))
    model.compile(loss="mse", optimizer="adam")
    first = model.evaluate(xs, ys, verbose=0)
    model.fit(xs, ys, batch_size=32, nb_epoch=20, verbose=0)
    assert model.evaluate(xs, ys, verbose=0) < 0.3 * first
