"""Advanced activations: layer_test with numpy references, shared axes, the learned
parameters trained by a tiny fit, bad shared axes."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from keras import backend as K
from keras.engine.topology import Input
from keras.layers.advanced_activations import (
    ELU,
    LeakyReLU,
    ParametricSoftplus,
    PReLU,
    SReLU,
    ThresholdedReLU,
)
from keras.layers.core import Dense, Flatten
from keras.models import Model, Sequential
from keras.utils.test_utils import keras_test, layer_test

pytestmark = pytest.mark.usefixtures("fresh_session")


def _rand(*shape, seed=0):
    return np.random.RandomState(seed).uniform(-3, 3, shape).astype("float32")


def _softplus(z):
    return np.logaddexp(0.0, z)


def _srelu(x, tl, al, tr, ar):
    tra = tl + np.abs(tr)
    return np.where(x >= tra, tra + ar * (x - tra), np.where(x <= tl, tl + al * (x - tl), x))


@keras_test
def test_leaky_relu_and_elu_and_thresholded_relu_match_numpy():
    x = _rand(3, 4, 5)
    for alpha in (0.0, 0.3, 0.5):
        layer_test(
            LeakyReLU, kwargs={"alpha": alpha}, input_data=x, expected_output=np.where(x > 0, x, alpha * x)
        )
        layer_test(
            ELU,
            kwargs={"alpha": alpha},
            input_data=x,
            expected_output=np.where(x > 0, x, alpha * (np.exp(x) - 1)),
        )
    for theta in (0.5, 1.0, -1.0):
        layer_test(
            ThresholdedReLU, kwargs={"theta": theta}, input_data=x, expected_output=np.where(x > theta, x, 0)
        )
    assert LeakyReLU().get_config()["alpha"] == 0.3
    assert ELU().get_config()["alpha"] == 1.0
    assert ThresholdedReLU().get_config()["theta"] == 1.0


@keras_test
def test_prelu_weights_and_numpy_reference():
    x = _rand(2, 3, 4, seed=1)
    layer_test(PReLU, input_data=x, expected_output=np.maximum(x, 0))  # alphas start at zero
    layer_test(PReLU, kwargs={"shared_axes": [1]}, input_data=x)
    alphas = np.random.RandomState(2).uniform(0, 1, (1, 4)).astype("float32")
    inp = Input(shape=(3, 4))
    layer = PReLU(shared_axes=1, weights=[alphas])
    out = layer(inp)
    assert [w.name for w in layer.weights] == [layer.name + "_alphas"]
    assert K.get_value(layer.alphas).shape == (1, 4)
    assert_allclose(Model(inp, out).predict(x), np.where(x > 0, x, alphas * x), rtol=1e-6, atol=1e-6)
    assert PReLU().get_config()["init"] == "zero"


@keras_test
def test_parametric_softplus_weights_and_numpy_reference():
    x = _rand(2, 3, 4, seed=3)
    layer_test(ParametricSoftplus, input_data=x, expected_output=0.2 * _softplus(5.0 * x))
    layer_test(
        ParametricSoftplus, kwargs={"alpha_init": 0.5, "beta_init": 2.0, "shared_axes": [1, 2]}, input_data=x
    )
    inp = Input(shape=(3, 4))
    layer = ParametricSoftplus(shared_axes=[2])
    layer(inp)
    assert [w.name for w in layer.weights] == [layer.name + "_alphas", layer.name + "_betas"]
    assert_allclose(K.get_value(layer.alphas), np.full((3, 1), 0.2))
    assert_allclose(K.get_value(layer.betas), np.full((3, 1), 5.0))
    config = ParametricSoftplus().get_config()
    assert config["alpha_init"] == pytest.approx(0.2) and config["beta_init"] == 5.0


@keras_test
def test_srelu_weights_and_numpy_reference():
    x = _rand(4, 5, seed=4)
    layer_test(SReLU, input_data=x)
    layer_test(SReLU, kwargs={"shared_axes": [1]}, input_shape=(2, 3, 4))
    inp = Input(shape=(5,))
    layer = SReLU()
    out = layer(inp)
    assert [w.name for w in layer.weights] == [
        layer.name + s for s in ("_t_left", "_a_left", "_t_right", "_a_right")
    ]
    rs = np.random.RandomState(5)
    params = [rs.uniform(-1, 0, 5), rs.uniform(0, 0.5, 5), rs.uniform(-2, 2, 5), rs.uniform(0.5, 2, 5)]
    params = [p.astype("float32") for p in params]
    layer.set_weights(params)
    assert_allclose(Model(inp, out).predict(x), _srelu(x, *params), rtol=1e-5, atol=1e-5)
    config = SReLU().get_config()
    assert config["t_left_init"] == "zero" and config["a_right_init"] == "one"


@pytest.mark.parametrize(
    "cls,kwargs",
    [
        (PReLU, {}),
        (PReLU, {"init": "uniform"}),
        (ParametricSoftplus, {}),
        (SReLU, {}),
        (LeakyReLU, {}),
        (ELU, {}),
        (ThresholdedReLU, {"theta": 0.1}),
    ],
)
@keras_test
def test_tiny_training_run_learns_and_moves_parameters(cls, kwargs):
    # a small regression whose target is a non-linear function of a linear projection;
    # the global seed fixes the initial weights and the shuffles (unseeded, about one
    # start in a hundred left ParametricSoftplus just above the bar after 30 epochs)
    np.random.seed(0)
    rs = np.random.RandomState(0)
    x = rs.uniform(-1, 1, (256, 6)).astype("float32")
    y = np.abs(x @ rs.uniform(-1, 1, (6, 1))).astype("float32")
    model = Sequential()
    model.add(Dense(8, input_shape=(6,)))
    model.add(cls(**kwargs))
    model.add(Dense(1))
    model.compile(loss="mse", optimizer="adam")
    layer = model.layers[1]
    before = [K.get_value(w).copy() for w in layer.trainable_weights]
    first = model.evaluate(x, y, verbose=0)
    model.fit(x, y, batch_size=32, nb_epoch=50, verbose=0)
    last = model.evaluate(x, y, verbose=0)
    assert last < 0.5 * first, (first, last)
    for b, w in zip(before, layer.trainable_weights):
        assert not np.allclose(b, K.get_value(w)), w.name


@keras_test
def test_prelu_gradient_matches_numpy():
    x = Input(shape=(4,))
    layer = PReLU(weights=[np.array([0.1, 0.2, 0.3, 0.4], "float32")])
    y = layer(x)
    data = _rand(5, 4, seed=6)
    g = K.function([x], K.gradients(K.sum(y), [layer.alphas, x]))([data])
    assert_allclose(g[0], np.minimum(data, 0).sum(0), rtol=1e-5, atol=1e-5)
    assert_allclose(g[1], np.where(data > 0, 1.0, [0.1, 0.2, 0.3, 0.4]), rtol=1e-6)


@keras_test
def test_bad_shared_axes_is_a_value_error_naming_layer_and_shape():
    inp = Input(shape=(3, 4))
    with pytest.raises(ValueError, match=r"prelu_\d+.*shared axis 3.*\(None, 3, 4\)"):
        PReLU(shared_axes=[3])(inp)
    with pytest.raises(ValueError, match=r"srelu_\d+.*shared axis 0"):
        SReLU(shared_axes=0)(inp)
    with pytest.raises(ValueError, match="parametricsoftplus"):
        ParametricSoftplus()(Input(shape=(None, 4)))
    # the session stays usable
    out = Flatten()(PReLU(shared_axes=[1])(inp))
    assert Model(inp, out).predict(np.ones((2, 3, 4), "float32")).shape == (2, 12)
