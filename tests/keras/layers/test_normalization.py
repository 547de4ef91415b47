"""BatchNormalization: layer_test, numpy references of modes 0/1/2 in both learning
phases on features-last and channels-first inputs, the moving statistics updated by
train_on_batch, a Keras 1 layout weight file, and bad input."""

import h5py
import numpy as np
import pytest
from numpy.testing import assert_allclose

from keras import backend as K
from keras import regularizers
from keras.engine.topology import Input
from keras.layers.core import Dense
from keras.layers.normalization import BatchNormalization
from keras.models import Model, Sequential
from keras.optimizers import SGD
from keras.utils.test_utils import keras_test, layer_test

pytestmark = pytest.mark.usefixtures("fresh_session")


def _rand(*shape, seed=0, lo=-2.0, hi=3.0):
    return np.random.RandomState(seed).uniform(lo, hi, shape).astype("float32")


def _np_bn(x, axis, mean, var, gamma, beta, eps):
    bshape = [1] * x.ndim
    bshape[axis] = x.shape[axis]
    r = [np.reshape(v, bshape) for v in (mean, var, gamma, beta)]
    return r[2] * (x - r[0]) / np.sqrt(r[1] + eps) + r[3]


def _np_moments(x, axis):
    red = tuple(i for i in range(x.ndim) if i != axis % x.ndim)
    x64 = x.astype("float64")
    return x64.mean(axis=red), x64.var(axis=red)


def _random_weights(c, seed=1):
    rs = np.random.RandomState(seed)
    gamma = rs.uniform(0.5, 1.5, c).astype("float32")
    beta = rs.uniform(-1, 1, c).astype("float32")
    mean = rs.uniform(-1, 1, c).astype("float32")
    var = rs.uniform(0.2, 2.0, c).astype("float32")
    return [gamma, beta, mean, var]


@keras_test
def test_layer_test_every_mode():
    for mode in (0, 1, 2):
        layer_test(BatchNormalization, kwargs={"mode": mode}, input_shape=(3, 4, 2))
        layer_test(BatchNormalization, kwargs={"mode": mode, "input_shape": (4,)}, input_shape=(3, 4))
    layer_test(BatchNormalization, kwargs={"mode": 0, "axis": 1}, input_shape=(3, 4, 2, 3))
    layer_test(
        BatchNormalization,
        kwargs={"momentum": 0.9, "epsilon": 0.1, "gamma_regularizer": regularizers.l2(0.01)},
        input_shape=(3, 5),
    )


@keras_test
def test_weights_names_shapes_order_and_config():
    x = Input(shape=(3, 4, 5))
    layer = BatchNormalization(axis=1)
    layer(x)
    assert [w.name for w in layer.weights] == [
        layer.name + "_gamma",
        layer.name + "_beta",
        layer.name + "_running_mean",
        layer.name + "_running_std",
    ]
    assert [K.get_value(w).shape for w in layer.weights] == [(3,)] * 4
    assert [K.get_value(w).tolist() for w in layer.weights] == [[1] * 3, [0] * 3, [0] * 3, [1] * 3]
    assert len(layer.trainable_weights) == 2 and len(layer.non_trainable_weights) == 2
    assert layer.uses_learning_phase
    assert not BatchNormalization(mode=2).uses_learning_phase
    config = layer.get_config()
    for key, value in {"epsilon": 1e-3, "mode": 0, "axis": 1, "momentum": 0.99}.items():
        assert config[key] == value
    assert config["gamma_regularizer"] is None and config["beta_regularizer"] is None
    assert layer.name.startswith("batchnormalization_")


@pytest.mark.parametrize(
    "shape,axis",
    [((8, 5), -1), ((6, 3, 4, 5), 1), ((6, 4, 5, 3), -1), ((6, 4, 5, 3), 3), ((5, 4, 6), 1)],
)
@pytest.mark.parametrize("mode", [0, 2])
@keras_test
def test_feature_wise_modes_match_numpy_in_both_phases(shape, axis, mode):
    x = Input(shape=shape[1:])
    layer = BatchNormalization(mode=mode, axis=axis, epsilon=1e-3)
    y = layer(x)
    c = shape[axis]
    weights = _random_weights(c)
    layer.set_weights(weights)
    f = K.function([x, K.learning_phase()], [y])
    data = _rand(*shape)
    m, v = _np_moments(data, axis)
    batch = _np_bn(data, axis, m, v, weights[0], weights[1], 1e-3)
    assert_allclose(f([data, 1])[0], batch, rtol=1e-4, atol=1e-4)
    if mode == 0:
        running = _np_bn(data, axis, weights[2], weights[3], weights[0], weights[1], 1e-3)
        assert_allclose(f([data, 0])[0], running, rtol=1e-4, atol=1e-4)
        # the model's predict is the test phase
        assert_allclose(Model(x, y).predict(data), running, rtol=1e-4, atol=1e-4)
    else:
        assert_allclose(f([data, 0])[0], batch, rtol=1e-4, atol=1e-4)
        assert_allclose(Model(x, y).predict(data), batch, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("shape", [(6, 7), (4, 3, 5)])
@keras_test
def test_sample_wise_mode_matches_keras1_formula(shape):
    x = Input(shape=shape[1:])
    layer = BatchNormalization(mode=1, epsilon=0.01)
    y = layer(x)
    weights = _random_weights(shape[-1])
    layer.set_weights(weights)
    data = _rand(*shape, seed=3)
    m = data.mean(axis=-1, keepdims=True)
    std = np.sqrt(data.var(axis=-1, keepdims=True) + 0.01)
    want = (data - m) / (std + 0.01) * weights[0] + weights[1]
    f = K.function([x, K.learning_phase()], [y])
    for phase in (0, 1):
        assert_allclose(f([data, phase])[0], want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("shape,axis", [((16, 5), -1), ((8, 3, 4, 4), 1)])
@keras_test
def test_train_on_batch_updates_moving_statistics_and_parameters(shape, axis):
    c = shape[axis]
    model = Sequential()
    model.add(BatchNormalization(axis=axis, momentum=0.9, input_shape=shape[1:]))
    lr = 0.1
    model.compile(loss="mse", optimizer=SGD(lr=lr))
    weights = _random_weights(c, seed=5)
    model.set_weights(weights)
    data = _rand(*shape, seed=6)
    target = _rand(*shape, seed=7)
    loss = model.train_on_batch(data, target)

    gamma, beta, rmean, rvar = weights
    m, v = _np_moments(data, axis)
    got = model.get_weights()
    # Keras 1: var * momentum + batch_value * (1 - momentum), with the biased variance
    assert_allclose(got[2], rmean * 0.9 + m * 0.1, rtol=1e-5, atol=1e-6)
    assert_allclose(got[3], rvar * 0.9 + v * 0.1, rtol=1e-5, atol=1e-6)

    # loss and SGD step from a numpy forward/backward with the batch statistics
    bshape = [1] * len(shape)
    bshape[axis] = c
    xhat = (data - m.reshape(bshape)) / np.sqrt(v.reshape(bshape) + 1e-3)
    y = gamma.reshape(bshape) * xhat + beta.reshape(bshape)
    assert_allclose(loss, np.mean((y - target) ** 2), rtol=1e-4)
    dy = 2 * (y - target) / y.size
    red = tuple(i for i in range(len(shape)) if i != axis % len(shape))
    assert_allclose(got[0], gamma - lr * (dy * xhat).sum(axis=red), rtol=1e-4, atol=1e-6)
    assert_allclose(got[1], beta - lr * dy.sum(axis=red), rtol=1e-4, atol=1e-6)

    # evaluate / predict use the updated moving statistics and do not change them
    pred = model.predict(data)
    assert_allclose(pred, _np_bn(data, axis, got[2], got[3], got[0], got[1], 1e-3), rtol=1e-4, atol=1e-4)
    model.evaluate(data, target, verbose=0)
    assert_allclose(model.get_weights()[2], got[2])


@keras_test
def test_fit_runs_moving_averages_once_per_batch():
    model = Sequential()
    model.add(BatchNormalization(momentum=0.5, input_shape=(3,)))
    model.compile(loss="mse", optimizer=SGD(lr=0.0))
    data = _rand(8, 3, seed=9)
    model.fit(data, data, batch_size=4, nb_epoch=1, shuffle=False, verbose=0)
    rmean, rvar = np.zeros(3), np.ones(3)
    for b in (data[:4], data[4:]):
        m, v = _np_moments(b, -1)
        rmean, rvar = rmean * 0.5 + m * 0.5, rvar * 0.5 + v * 0.5
    got = model.get_weights()
    assert_allclose(got[2], rmean, rtol=1e-5, atol=1e-6)
    assert_allclose(got[3], rvar, rtol=1e-5, atol=1e-6)


@keras_test
def test_gradient_flows_through_batch_statistics():
    # Dense -> BN: the Dense gradient must include the path through the batch mean and
    # variance; with a loss that BN makes invariant to the Dense bias, that bias gets
    # exactly zero gradient (it would not if the statistics were treated as constants)
    x = Input(shape=(4,))
    dense = Dense(3)
    y = BatchNormalization()(dense(x))
    loss = K.sum(K.square(y - 0.5) * np.arange(1, 4, dtype="float32"))
    gb = K.gradients(loss, [dense.b])[0]
    f = K.function([x, K.learning_phase()], [gb])
    g = f([_rand(10, 4, seed=2), 1])[0]
    assert_allclose(g, np.zeros(3), atol=1e-4)


@keras_test
def test_keras1_weight_file_with_running_std_as_variance(tmp_path):
    rs = np.random.RandomState(11)
    w = rs.uniform(-1, 1, (4, 3)).astype("float32")
    b = rs.uniform(-1, 1, 3).astype("float32")
    bn = _random_weights(3, seed=12)
    path = str(tmp_path / "keras1_bn.h5")
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [b"dense_1", b"batchnormalization_1"]
        g = f.create_group("dense_1")
        g.attrs["weight_names"] = [b"dense_1_W", b"dense_1_b"]
        g.create_dataset("dense_1_W", data=w)
        g.create_dataset("dense_1_b", data=b)
        names = [b"batchnormalization_1_" + n for n in (b"gamma", b"beta", b"running_mean", b"running_std")]
        g = f.create_group("batchnormalization_1")
        g.attrs["weight_names"] = names
        for n, arr in zip(names, bn):
            g.create_dataset(n.decode(), data=arr)
    model = Sequential()
    model.add(Dense(3, input_shape=(4,)))
    model.add(BatchNormalization())
    model.load_weights(path)
    data = _rand(5, 4, seed=13)
    h = data @ w + b
    want = bn[0] * (h - bn[2]) / np.sqrt(bn[3] + 1e-3) + bn[1]
    assert_allclose(model.predict(data), want, rtol=1e-4, atol=1e-4)
    # and back: save_weights writes the same four arrays in the same order
    out = str(tmp_path / "ours.h5")
    model.save_weights(out)
    with h5py.File(out, "r") as f:
        name = model.layers[1].name
        saved = [np.asarray(f[name][n]) for n in f[name].attrs["weight_names"]]
    for a, e in zip(saved, bn):
        assert_allclose(a, e)


@keras_test
def test_weights_argument_sets_gamma_beta_mean_variance():
    bn = _random_weights(4, seed=21)
    x = Input(shape=(4,))
    y = BatchNormalization(weights=bn)(x)
    data = _rand(3, 4, seed=22)
    assert_allclose(
        Model(x, y).predict(data), _np_bn(data, -1, bn[2], bn[3], bn[0], bn[1], 1e-3), rtol=1e-4, atol=1e-4
    )


@keras_test
def test_bad_axis_is_a_value_error_naming_layer_and_shape():
    x = Input(shape=(3, 4))
    layer = BatchNormalization(axis=3)
    with pytest.raises(ValueError, match=r"batchnormalization_\d+.*axis 3.*\(None, 3, 4\)"):
        layer(x)
    with pytest.raises(ValueError, match=r"axis -4"):
        BatchNormalization(axis=-4)(x)
    with pytest.raises(ValueError, match="mode"):
        BatchNormalization(mode=3)
    # the session stays usable
    y = BatchNormalization(axis=2)(x)
    assert_allclose(Model(x, y).predict(np.zeros((2, 3, 4), "float32")), np.zeros((2, 3, 4)), atol=1e-6)


@keras_test
def test_backend_functions_match_numpy():
    data = _rand(6, 3, 4, seed=31)
    gamma, beta, mean, var = _random_weights(4, seed=32)
    x = K.placeholder(shape=(None, 3, 4))
    normed, m, v = K.normalize_batch_in_training(x, K.variable(gamma), K.variable(beta), [0, 1], epsilon=0.01)
    out = K.function([x], [normed, m, v])([data])
    bm, bv = _np_moments(data, -1)
    assert_allclose(out[0], _np_bn(data, -1, bm, bv, gamma, beta, 0.01), rtol=1e-4, atol=1e-4)
    assert_allclose(out[1], bm, rtol=1e-5, atol=1e-6)
    assert_allclose(out[2], bv, rtol=1e-5, atol=1e-6)
    # reduction over a set leaving two axes: the elementwise fallback
    normed2, m2, v2 = K.normalize_batch_in_training(
        x, K.variable(np.ones((3, 4), "float32")), K.variable(np.zeros((3, 4), "float32")), [0], epsilon=0.01
    )
    out2 = K.function([x], [normed2, m2])([data])
    assert_allclose(out2[0], (data - data.mean(0)) / np.sqrt(data.var(0) + 0.01), rtol=1e-4, atol=1e-4)
    assert_allclose(out2[1], data.mean(0), rtol=1e-5, atol=1e-6)
    y = K.batch_normalization(x, K.variable(mean), K.variable(var), K.variable(beta), K.variable(gamma), 0.01)
    assert_allclose(
        K.function([x], [y])([data])[0], _np_bn(data, -1, mean, var, gamma, beta, 0.01), rtol=1e-4, atol=1e-4
    )
    # broadcast-shaped parameters (1, 3, 1): normalisation along axis 1
    p = [K.variable(a.reshape(1, 3, 1)) for a in _random_weights(3, seed=33)]
    y = K.batch_normalization(x, p[2], p[3], p[1], p[0], 0.01)
    w3 = _random_weights(3, seed=33)
    assert_allclose(
        K.function([x], [y])([data])[0],
        _np_bn(data, 1, w3[2], w3[3], w3[0], w3[1], 0.01),
        rtol=1e-4,
        atol=1e-4,
    )
    upd = K.moving_average_update(K.variable(np.ones(2, "float32")), K.variable(np.zeros(2, "float32")), 0.9)
    K.function([], [], updates=[upd])([])
    assert_allclose(K.get_value(upd[0]), [0.9, 0.9])
