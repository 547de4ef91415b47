"""Core layers: layer_test with numpy references, masking, Lambda, regularizers,
constraints, bad inputs."""

import json
import warnings

import numpy as np
import pytest
from layer_checks import WEIGHT_ARG_KEYS
from numpy.testing import assert_allclose

from keras import backend as K
from keras import constraints, regularizers
from keras.engine.topology import Input, Merge
from keras.layers import core
from keras.layers.core import (
    Activation,
    ActivityRegularization,
    Dense,
    Dropout,
    Flatten,
    Highway,
    Lambda,
    Masking,
    MaxoutDense,
    Permute,
    RepeatVector,
    Reshape,
    SpatialDropout1D,
    SpatialDropout2D,
    SpatialDropout3D,
    TimeDistributedDense,
)
from keras.models import Model, Sequential, model_from_json
from keras.utils.test_utils import get_test_data, keras_test, layer_test

pytestmark = pytest.mark.usefixtures("fresh_session")


def _rand(*shape):
    return np.random.uniform(-1, 1, size=shape).astype("float32")


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# ---------------------------------------------------------------------------------------
# Dense


@keras_test
def test_dense_numpy_reference():
    x = _rand(4, 3)
    W = _rand(3, 5)
    b = _rand(5)
    layer_test(Dense, kwargs={"output_dim": 5, "weights": [W, b]}, input_data=x, expected_output=x.dot(W) + b)


@keras_test
def test_dense_activation_and_no_bias():
    x = _rand(4, 3)
    W = _rand(3, 2)
    out = layer_test(
        Dense,
        kwargs={"output_dim": 2, "activation": "relu", "bias": False, "weights": [W]},
        input_data=x,
        expected_output=np.maximum(x.dot(W), 0),
    )
    assert out.shape == (4, 2)
    layer = Dense(2, bias=False)
    layer.build((None, 3))
    assert [w.name for w in layer.weights] == [layer.name + "_W"]


@keras_test
def test_dense_nd_input_applies_on_last_axis():
    x = _rand(2, 3, 4, 5)
    W = _rand(5, 6)
    b = _rand(6)
    out = layer_test(
        Dense,
        kwargs={"output_dim": 6, "activation": "tanh", "weights": [W, b]},
        input_data=x,
        expected_output=np.tanh(x.dot(W) + b),
    )
    assert out.shape == (2, 3, 4, 6)
    layer_test(Dense, kwargs={"output_dim": 3}, input_shape=(3, None, 2))


@keras_test
def test_dense_random_weights_default_layer_test():
    layer_test(Dense, kwargs={"output_dim": 3}, input_shape=(3, 2))
    layer_test(Dense, kwargs={"output_dim": 3}, input_shape=(3, 2), fixed_batch_size=True)


@keras_test
def test_dense_weights_names_shapes_init():
    np.random.seed(1)
    layer = Dense(300, input_dim=200)
    assert layer.batch_input_shape == (None, 200)
    x = Input(shape=(200,))
    layer(x)
    assert [w.name for w in layer.trainable_weights] == ["dense_1_W", "dense_1_b"]
    W, b = layer.get_weights()
    assert W.shape == (200, 300) and b.shape == (300,)
    assert W.dtype == np.float32
    assert np.all(b == 0)
    limit = np.sqrt(6.0 / (200 + 300))
    assert np.abs(W).max() <= limit + 1e-6
    assert np.abs(W).max() > 0.9 * limit  # glorot_uniform fills the interval
    assert layer.count_params() == 200 * 300 + 300
    assert layer.output_shape == (None, 300)


@keras_test
def test_dense_config_keys():
    layer = Dense(
        4,
        init="he_normal",
        activation="sigmoid",
        W_regularizer=regularizers.l2(0.01),
        activity_regularizer=regularizers.activity_l1(0.1),
        W_constraint=constraints.maxnorm(2),
        bias=False,
        input_dim=3,
        name="my_dense",
    )
    config = layer.get_config()
    assert set(config) == {
        "name",
        "trainable",
        "batch_input_shape",
        "input_dtype",
        "output_dim",
        "init",
        "activation",
        "input_dim",
        *WEIGHT_ARG_KEYS,
    }
    assert config["name"] == "my_dense"
    assert config["init"] == "he_normal"
    assert config["activation"] == "sigmoid"
    assert config["W_regularizer"] == {"name": "L1L2Regularizer", "l1": 0.0, "l2": float(np.float32(0.01))}
    assert config["W_constraint"] == {"name": "MaxNorm", "m": 2, "axis": 0}
    assert config["b_regularizer"] is None and config["b_constraint"] is None
    assert config["batch_input_shape"] == (None, 3)
    assert config["input_dtype"] == "float32"
    json.dumps(config)
    clone = Dense.from_config(config)
    assert clone.get_config() == config
    assert Dense(2).get_config()["activation"] == "linear"


@keras_test
def test_dense_is_coarse_and_its_activation_runs_fused():
    # matmul, bias_add and the activation, as Keras 1's Dense computes them; the compiled
    # function folds a relu / tanh / sigmoid into the bias add and the bias add into the
    # matmul (rust/.../graph/fuse.rs)
    x = Input(shape=(8,))
    graph = K.ferrokeras_backend._graph()
    layer = Dense(4, activation="relu")
    layer.build((None, 8))
    before = len(graph)
    y = layer(x)
    assert len(graph) - before == 3
    f = K.function([x], [y])
    xv = np.random.RandomState(0).uniform(-1, 1, (3, 8)).astype("float32")
    W, b = layer.get_weights()
    np.testing.assert_allclose(f([xv])[0], np.maximum(xv @ W + b, 0), rtol=1e-5, atol=1e-6)
    # one matmul with the bias add and the relu fused in
    assert f.op_names() == ["matmul"]
    before = len(graph)
    s = Dense(4, activation="softmax", input_dim=8)(x)
    # softmax is not fused: 2 weights + matmul + bias_add + softmax
    assert len(graph) - before == 5
    assert K.function([x], [s]).op_names() == ["matmul", "softmax"]
    before = len(graph)
    Dense(4)(x)
    # 2 weights + matmul + bias_add
    assert len(graph) - before == 4


@keras_test
def test_dense_learns():
    np.random.seed(1337)
    (X_train, y_train), (X_test, y_test) = get_test_data(
        nb_train=400, nb_test=200, input_shape=(10,), classification=True, nb_class=2
    )
    assert X_train.shape == (400, 10) and y_train.shape == (400,)
    Y_train = np.eye(2)[y_train]
    Y_test = np.eye(2)[y_test]
    model = Sequential([Dense(16, input_dim=10, activation="relu"), Dense(2, activation="softmax")])
    model.compile("rmsprop", "categorical_crossentropy", metrics=["accuracy"])
    model.fit(X_train, Y_train, nb_epoch=20, batch_size=32, verbose=0)
    loss, acc = model.evaluate(X_test, Y_test, verbose=0)
    assert acc > 0.85


# ---------------------------------------------------------------------------------------
# Activation, Dropout


@pytest.mark.parametrize(
    "name,ref",
    [
        ("relu", lambda x: np.maximum(x, 0)),
        ("tanh", np.tanh),
        ("sigmoid", _sigmoid),
        ("softmax", _softmax),
        ("linear", lambda x: x),
        ("softplus", lambda x: np.log(np.exp(x) + 1)),
        ("hard_sigmoid", lambda x: np.clip(0.2 * x + 0.5, 0, 1)),
    ],
)
@keras_test
def test_activation(name, ref):
    x = _rand(3, 4) * 3
    layer_test(Activation, kwargs={"activation": name}, input_data=x, expected_output=ref(x))


@keras_test
def test_activation_callable_and_config():
    layer = Activation(K.tanh)
    assert layer.get_config()["activation"] == "tanh"
    assert layer.supports_masking
    with pytest.raises(ValueError, match="Invalid activation function: nope"):
        Activation("nope")


@keras_test
def test_dropout_layer_test_is_identity_at_test_time():
    x = _rand(5, 4)
    layer_test(Dropout, kwargs={"p": 0.5}, input_data=x, expected_output=x)
    layer_test(Dropout, kwargs={"p": 0.5, "noise_shape": (None, 1, 4)}, input_shape=(3, 2, 4))
    config = Dropout(0.3, noise_shape=(None, 1), seed=3).get_config()
    assert config["p"] == 0.3
    assert "noise_shape" not in config and "seed" not in config


@keras_test
def test_dropout_train_phase():
    x = Input(shape=(1000,))
    layer = Dropout(0.25)
    y = layer(x)
    assert layer.uses_learning_phase and y._uses_learning_phase
    assert layer.supports_masking
    f = K.function([x, K.learning_phase()], [y])
    data = np.ones((20, 1000), dtype="float32")
    train = f([data, 1])[0]
    kept = train != 0
    assert abs(kept.mean() - 0.75) < 0.02
    assert_allclose(train[kept], 1 / 0.75, rtol=1e-5)
    test = f([data, 0])[0]
    assert_allclose(test, data)


@keras_test
def test_dropout_noise_shape_shares_mask():
    x = Input(shape=(6, 50))
    y = Dropout(0.5, noise_shape=(None, 1, 50))(x)
    f = K.function([x, K.learning_phase()], [y])
    out = f([np.ones((4, 6, 50), dtype="float32"), 1])[0]
    for t in range(1, 6):
        assert_allclose(out[:, t, :], out[:, 0, :])
    assert 0 < (out == 0).mean() < 1


@pytest.mark.parametrize("p", [0.0, 1.0, -0.5, 1.5])
@keras_test
def test_dropout_outside_open_interval_is_identity(p):
    x = Input(shape=(10,))
    layer = Dropout(p)
    y = layer(x)
    assert not layer.uses_learning_phase
    data = _rand(3, 10)
    f = K.function([x, K.learning_phase()], [y])
    assert_allclose(f([data, 1])[0], data)


@keras_test
def test_spatial_dropout_layer_test():
    x = _rand(2, 3, 4)
    layer_test(SpatialDropout1D, kwargs={"p": 0.5}, input_data=x, expected_output=x)
    for ordering in ("th", "tf"):
        layer_test(SpatialDropout2D, kwargs={"p": 0.5, "dim_ordering": ordering}, input_shape=(2, 3, 4, 5))
        layer_test(SpatialDropout3D, kwargs={"p": 0.5, "dim_ordering": ordering}, input_shape=(2, 3, 4, 5, 2))
    config = SpatialDropout2D(0.3, dim_ordering="tf").get_config()
    assert config["p"] == 0.3 and config["dim_ordering"] == "tf"
    assert SpatialDropout2D(0.3).dim_ordering == K.image_dim_ordering()
    assert SpatialDropout1D(0.1).name.startswith("spatialdropout1d_")
    with pytest.raises(ValueError, match="dim_ordering"):
        SpatialDropout2D(0.5, dim_ordering="xy")
    with pytest.raises(ValueError, match="spatialdropout2d_"):
        SpatialDropout2D(0.5)(Input(shape=(3, 4)))


@pytest.mark.parametrize(
    "cls,kwargs,shape,channel_axis",
    [
        (SpatialDropout1D, {}, (6, 40), 2),
        (SpatialDropout2D, {"dim_ordering": "th"}, (40, 3, 4), 1),
        (SpatialDropout2D, {"dim_ordering": "tf"}, (3, 4, 40), 3),
        (SpatialDropout3D, {"dim_ordering": "th"}, (40, 2, 3, 2), 1),
        (SpatialDropout3D, {"dim_ordering": "tf"}, (2, 3, 2, 40), 4),
    ],
)
@keras_test
def test_spatial_dropout_drops_whole_feature_maps(cls, kwargs, shape, channel_axis):
    x = Input(shape=shape)
    layer = cls(0.5, **kwargs)
    y = layer(x)
    assert layer.uses_learning_phase
    f = K.function([x, K.learning_phase()], [y])
    data = np.ones((5,) + shape, dtype="float32")
    out = f([data, 1])[0]
    # one keep/drop decision per (sample, channel), shared by every other position
    moved = np.moveaxis(out, channel_axis, 1).reshape(5, shape[channel_axis - 1], -1)
    assert np.all(moved == moved[:, :, :1])
    assert 0 < (moved[:, :, 0] == 0).mean() < 1
    assert_allclose(moved[moved != 0], 2.0)
    assert_allclose(f([data, 0])[0], data)


# ---------------------------------------------------------------------------------------
# Shape layers


@keras_test
def test_flatten():
    x = _rand(3, 2, 4, 5)
    layer_test(Flatten, input_data=x, expected_output=x.reshape(3, -1))
    assert Flatten().get_output_shape_for((None, 2, 4, 5)) == (None, 40)


@keras_test
def test_flatten_errors():
    with pytest.raises(ValueError, match="flatten_1"):
        Flatten()(Input(shape=(3,)))
    with pytest.raises(ValueError, match="not fully defined"):
        Flatten()(Input(shape=(None, 3)))
    with pytest.raises(ValueError, match="not fully defined"):
        Flatten().get_output_shape_for((None, 3, None))


@keras_test
def test_reshape():
    x = _rand(3, 2, 6)
    layer_test(Reshape, kwargs={"target_shape": (4, 3)}, input_data=x, expected_output=x.reshape(3, 4, 3))
    layer_test(Reshape, kwargs={"target_shape": (-1, 2)}, input_data=x, expected_output=x.reshape(3, 6, 2))
    layer_test(Reshape, kwargs={"target_shape": (12,)}, input_data=x, expected_output=x.reshape(3, 12))
    assert Reshape((-1, 2, 2)).get_output_shape_for((None, 12)) == (None, 3, 2, 2)
    assert Reshape([2, 3]).get_config()["target_shape"] == (2, 3)


@keras_test
def test_reshape_errors():
    with pytest.raises(ValueError, match="total size of new array must be unchanged"):
        Reshape((5,))(Input(shape=(2, 4)))
    with pytest.raises(ValueError, match="total size of new array must be unchanged"):
        Reshape((-1, 3))(Input(shape=(2, 4)))
    with pytest.raises(ValueError, match="one unknown dimension"):
        Reshape((-1, -1))


@keras_test
def test_permute():
    x = _rand(3, 2, 4, 5)
    layer_test(Permute, kwargs={"dims": (3, 1, 2)}, input_data=x, expected_output=x.transpose(0, 3, 1, 2))
    layer_test(Permute, kwargs={"dims": (2, 1)}, input_shape=(3, 2, 4))
    assert Permute((2, 1)).get_output_shape_for((None, 10, 64)) == (None, 64, 10)
    assert Permute([2, 1]).get_config()["dims"] == (2, 1)
    with pytest.raises(ValueError, match="permutation"):
        Permute((0, 1))
    with pytest.raises(ValueError, match="permute_"):
        Permute((2, 1))(Input(shape=(2, 3, 4)))


@keras_test
def test_repeat_vector():
    x = _rand(3, 4)
    layer_test(
        RepeatVector, kwargs={"n": 3}, input_data=x, expected_output=np.repeat(x[:, None, :], 3, axis=1)
    )
    assert RepeatVector(3).get_output_shape_for((None, 32)) == (None, 3, 32)
    with pytest.raises(ValueError, match="repeatvector_"):
        RepeatVector(2)(Input(shape=(2, 3)))


# ---------------------------------------------------------------------------------------
# Lambda


@keras_test
def test_lambda_layer_test():
    x = _rand(3, 2)
    layer_test(Lambda, kwargs={"function": lambda t: t + 1}, input_data=x, expected_output=x + 1)
    layer_test(
        Lambda,
        kwargs={"function": lambda t, a, b: t * a + b, "arguments": {"a": 0.6, "b": 0.4}},
        input_data=x,
        expected_output=x * 0.6 + 0.4,
    )


@keras_test
def test_lambda_output_shape_tuple_function_and_inferred():
    x = Input(shape=(3,))
    data = _rand(2, 3)

    def twice(t):
        return K.concatenate([t, t], axis=-1)

    a = Lambda(twice, output_shape=(6,))
    b = Lambda(twice, output_shape=lambda s: (s[0], 2 * s[1]))
    c = Lambda(twice)
    for layer in (a, b, c):
        y = layer(x)
        assert y._keras_shape == (None, 6)
        assert layer.output_shape == (None, 6)
        assert layer.get_output_shape_for((None, 5)) == ((None, 6) if layer is a else (None, 10))
        out = Model(x, y).predict(data)
        assert_allclose(out, np.concatenate([data, data], axis=-1))
    # inferred on a multi-input Lambda
    x2 = Input(shape=(4,))
    d = Lambda(lambda ts: K.concatenate(ts, axis=-1))
    y = d([x, x2])
    assert y._keras_shape == (None, 7)
    with pytest.raises(TypeError, match="output_shape"):
        Lambda(twice, output_shape=3)
    with pytest.raises(ValueError, match="must return a tuple"):
        Lambda(twice, output_shape=lambda s: 3)(x)


@keras_test
def test_lambda_in_sequential_shape_propagates():
    model = Sequential()
    model.add(Dense(4, input_dim=3))
    model.add(Lambda(lambda t: t[:, :2]))
    model.add(Dense(1))
    assert model.layers[1].output_shape == (None, 2)
    assert model.output_shape == (None, 1)


@keras_test
def test_lambda_mask_kwarg():
    seen = {}

    def fn(t, mask=None):
        seen["mask"] = mask
        return t * 2

    x = Input(shape=(3, 2))
    y = Lambda(fn)(x)
    assert "mask" in seen and seen["mask"] is None
    assert_allclose(Model(x, y).predict(np.ones((1, 3, 2))), 2 * np.ones((1, 3, 2)))
    # Lambda does not support masking (Keras 1.2.2): it gets the mask, then refuses it
    with pytest.raises(ValueError, match="does not support masking"):
        Lambda(fn)(Masking()(x))
    assert seen["mask"] is not None


@keras_test
def test_lambda_config_and_safe_mode(monkeypatch):
    from keras.utils import generic_utils

    layer = Lambda(lambda t, k: t * k, output_shape=lambda s: s, arguments={"k": 3.0}, name="triple")
    config = layer.get_config()
    # the same process trusts what it serialised itself ...
    assert Lambda.from_config(config).function(2.0, 3.0) == 6.0
    # ... a config read elsewhere (a fresh process remembers nothing) needs the opt-in
    monkeypatch.setattr(generic_utils, "_OWN_BYTECODE", {})
    assert config["function_type"] == "lambda"
    assert config["output_shape_type"] == "lambda"
    assert config["arguments"] == {"k": 3.0}
    json.dumps(config)
    with pytest.raises(ValueError, match="triple.*safe_mode=False"):
        Lambda.from_config(config)
    clone = Lambda.from_config(json.loads(json.dumps(config)), safe_mode=False)
    x = Input(shape=(2,))
    assert_allclose(Model(x, clone(x)).predict(np.ones((1, 2))), [[3.0, 3.0]])
    # the refusal also protects model configs and JSON
    model = Sequential([Dense(2, input_dim=2), Lambda(lambda t: t + 1, name="plus_one")])
    as_json = model.to_json()
    monkeypatch.setattr(generic_utils, "_OWN_BYTECODE", {})
    with pytest.raises(ValueError, match="plus_one"):
        model_from_json(as_json)


@keras_test
def test_lambda_function_by_name():
    class Doubler:
        __name__ = "doubler"

        def __call__(self, t):
            return t * 2

    layer = Lambda(Doubler(), output_shape=(2,))
    config = layer.get_config()
    assert config["function"] == "doubler"
    assert config["function_type"] == "function"
    assert config["output_shape_type"] == "raw"
    clone = Lambda.from_config(config, custom_objects={"doubler": Doubler()})
    x = Input(shape=(2,))
    assert_allclose(Model(x, clone(x)).predict(np.ones((1, 2))), [[2.0, 2.0]])
    with pytest.raises(ValueError, match="custom_objects"):
        Lambda.from_config(config)


# ---------------------------------------------------------------------------------------
# Masking


@keras_test
def test_masking():
    x = np.array([[[1, 2], [0, 0], [3, 0]], [[0, 0], [0, 0], [5, 5]]], dtype="float32")
    layer_test(Masking, input_data=x, expected_output=x)
    mask_value = 2.0
    y = np.array([[[2, 2], [1, 2], [2, 2]]], dtype="float32")
    expected = y * np.any(y != mask_value, axis=-1, keepdims=True)
    layer_test(Masking, kwargs={"mask_value": mask_value}, input_data=y, expected_output=expected)
    assert Masking(mask_value=2.0).get_config()["mask_value"] == 2.0


@keras_test
def test_masking_mask_propagation():
    data = np.array([[[1, 2], [0, 0], [3, 0]], [[0, 0], [0, 0], [5, 5]]], dtype="float32")
    x = Input(shape=(3, 2))
    masking = Masking()
    h = masking(x)
    mask = masking.output_mask
    assert mask is not None
    f = K.function([x], [mask])
    assert_allclose(f([data])[0], [[1, 0, 1], [0, 0, 1]])
    # layers that support masking pass it through
    for layer in (Dropout(0.5), Activation("relu"), ActivityRegularization(l1=0.0)):
        h = layer(h)
        assert layer.supports_masking
        assert layer.output_mask is mask
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tdd = TimeDistributedDense(4)
    h2 = tdd(h)
    assert tdd.output_mask is mask
    assert h2._keras_shape == (None, 3, 4)
    # the rest refuse a mask
    for layer in (Dense(3), Flatten(), Reshape((6,)), Permute((2, 1))):
        with pytest.raises(ValueError, match="does not support masking"):
            layer(h)


@keras_test
def test_dense_receiving_mask_raises():
    x = Input(shape=(3, 2))
    with pytest.raises(ValueError, match="dense_1 does not support masking"):
        Dense(2, name="dense_1")(Masking()(x))


# ---------------------------------------------------------------------------------------
# ActivityRegularization and regularizers / constraints


@keras_test
def test_activity_regularization_layer_test():
    x = _rand(3, 4)
    layer_test(ActivityRegularization, kwargs={"l1": 0.01, "l2": 0.01}, input_data=x, expected_output=x)
    config = ActivityRegularization(l1=0.1, l2=0.2).get_config()
    assert config["l1"] == 0.1 and config["l2"] == 0.2


@keras_test
def test_activity_regularization_loss():
    data = _rand(4, 3)
    x = Input(shape=(3,))
    y = ActivityRegularization(l1=0.1, l2=0.2)(x)
    model = Model(x, y)
    assert len(model.losses) == 1
    value = K.function([x], model.losses)([data])[0]
    assert_allclose(value, 0.1 * np.abs(data).sum() + 0.2 * (data**2).sum(), rtol=1e-5)


@keras_test
def test_dense_activity_regularizer_loss():
    data = _rand(4, 3)
    W = _rand(3, 2)
    x = Input(shape=(3,))
    layer = Dense(2, weights=[W, np.zeros(2)], activity_regularizer=regularizers.activity_l2(0.5))
    model = Model(x, layer(x))
    assert len(model.losses) == 1
    value = K.function([x], model.losses)([data])[0]
    assert_allclose(value, 0.5 * (data.dot(W) ** 2).sum(), rtol=1e-5)


@keras_test
def test_weight_regularizers_in_losses():
    W = _rand(3, 2)
    b = _rand(2)
    x = Input(shape=(3,))
    layer = Dense(2, weights=[W, b], W_regularizer=regularizers.l2(0.01), b_regularizer=regularizers.l1(0.1))
    model = Model(x, layer(x))
    assert len(layer.losses) == 2
    assert len(model.losses) == 2
    values = K.function([], model.losses)([])
    assert_allclose(values[0], 0.01 * (W**2).sum(), rtol=1e-5)
    assert_allclose(values[1], 0.1 * np.abs(b).sum(), rtol=1e-5)
    # by name too
    layer = Dense(2, W_regularizer="l1l2")
    layer.build((None, 3))
    assert len(layer.losses) == 1


@pytest.mark.parametrize(
    "cls,kwargs,shape",
    [
        (Dense, {"output_dim": 3}, (None, 4)),
        (MaxoutDense, {"output_dim": 3}, (None, 4)),
        (Highway, {}, (None, 4)),
        (TimeDistributedDense, {"output_dim": 3}, (None, 2, 4)),
    ],
)
@keras_test
def test_regularizers_and_constraints_registered(cls, kwargs, shape):
    W_con = constraints.maxnorm(2.0)
    b_con = constraints.nonneg()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        layer = cls(
            W_regularizer=regularizers.l2(0.01),
            b_regularizer=regularizers.l1(0.01),
            W_constraint=W_con,
            b_constraint=b_con,
            **kwargs,
        )
    x = Input(shape=shape[1:])
    model = Model(x, layer(x))
    assert layer.constraints[layer.W] is W_con
    assert layer.constraints[layer.b] is b_con
    assert model.constraints[layer.W] is W_con
    assert len(layer.losses) == 2
    config = layer.get_config()
    assert config["W_constraint"]["name"] == "MaxNorm"
    assert config["b_constraint"] == {"name": "NonNeg"}
    assert config["b_regularizer"]["l1"] == pytest.approx(0.01)


@keras_test
def test_constraint_applied_in_training():
    np.random.seed(3)
    model = Sequential([Dense(4, input_dim=3, W_constraint="nonneg", b_constraint=constraints.maxnorm(0.1))])
    model.compile("sgd", "mse")
    model.fit(_rand(32, 3), _rand(32, 4) * 5, nb_epoch=3, batch_size=8, verbose=0)
    W, b = model.get_weights()
    assert W.min() >= 0
    assert np.sqrt((b**2).sum()) <= 0.1 + 1e-5


# ---------------------------------------------------------------------------------------
# MaxoutDense, Highway, TimeDistributedDense


@keras_test
def test_maxout_dense():
    x = _rand(4, 3)
    W = _rand(5, 3, 2)
    b = _rand(5, 2)
    expected = (np.einsum("ni,fio->nfo", x, W) + b).max(axis=1)
    layer_test(
        MaxoutDense,
        kwargs={"output_dim": 2, "nb_feature": 5, "weights": [W, b]},
        input_data=x,
        expected_output=expected,
    )
    layer_test(MaxoutDense, kwargs={"output_dim": 3}, input_shape=(3, 2))
    layer = MaxoutDense(2, input_dim=3)
    layer.build((None, 3))
    assert [w.name for w in layer.weights] == [layer.name + "_W", layer.name + "_b"]
    assert [w.shape for w in layer.get_weights()] == [(4, 3, 2), (4, 2)]
    assert set(layer.get_config()) >= {"output_dim", "init", "nb_feature", "bias", "input_dim"}
    layer = MaxoutDense(2, nb_feature=5, bias=False, weights=[W])
    x_in = Input(shape=(3,))
    out = Model(x_in, layer(x_in)).predict(x)
    assert_allclose(out, np.einsum("ni,fio->nfo", x, W).max(axis=1), rtol=1e-5)


@keras_test
def test_highway():
    d = 4
    x = _rand(5, d)
    W, Wc, b, bc = _rand(d, d), _rand(d, d), _rand(d), _rand(d)
    t = _sigmoid(x.dot(Wc) + bc)
    expected = t * np.tanh(x.dot(W) + b) + (1 - t) * x
    layer_test(
        Highway,
        kwargs={"activation": "tanh", "weights": [W, Wc, b, bc]},
        input_data=x,
        expected_output=expected,
    )
    layer_test(Highway, kwargs={}, input_shape=(3, 2))
    layer = Highway(input_dim=d)
    layer.build((None, d))
    names = [w.name for w in layer.weights]
    assert names == [layer.name + s for s in ("_W", "_W_carry", "_b", "_b_carry")]
    weights = layer.get_weights()
    assert np.all(weights[2] == 0) and np.all(weights[3] == 1)
    with pytest.warns(UserWarning, match="transform_bias"):
        Highway(transform_bias=-2)
    # no bias
    layer = Highway(bias=False, weights=[W, Wc])
    x_in = Input(shape=(d,))
    t = _sigmoid(x.dot(Wc))
    assert_allclose(Model(x_in, layer(x_in)).predict(x), t * x.dot(W) + (1 - t) * x, rtol=1e-4, atol=1e-6)


@keras_test
def test_time_distributed_dense():
    x = _rand(2, 3, 4)
    W = _rand(4, 5)
    b = _rand(5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        layer_test(
            TimeDistributedDense,
            kwargs={"output_dim": 5, "weights": [W, b], "activation": "relu"},
            input_data=x,
            expected_output=np.maximum(x.dot(W) + b, 0),
        )
        layer_test(TimeDistributedDense, kwargs={"output_dim": 3}, input_shape=(3, 2, 4))
    with pytest.warns(UserWarning, match="deprecated"):
        layer = TimeDistributedDense(5, input_dim=4, input_length=3)
    assert layer.batch_input_shape == (None, 3, 4)
    config = layer.get_config()
    assert config["input_length"] == 3 and config["input_dim"] == 4
    layer.build((None, 3, 4))
    assert [w.name for w in layer.weights] == [layer.name + "_W", layer.name + "_b"]
    assert layer.name.startswith("timedistributeddense_")
    with pytest.raises(ValueError, match=layer.name):
        layer(Input(shape=(4,)))


# ---------------------------------------------------------------------------------------
# Bad inputs and generic behaviour


@pytest.mark.parametrize(
    "factory",
    [
        lambda: Dense(3, foo=1),
        lambda: Activation("relu", output_dim=3),
        lambda: Dropout(0.5, bar=2),
        lambda: Flatten(init="zero"),
        lambda: Lambda(lambda x: x, mode="sum"),
    ],
)
def test_unknown_kwarg_raises_type_error(factory):
    with pytest.raises(TypeError, match="Keyword argument not understood"):
        factory()


@keras_test
def test_wrong_ndim_names_layer():
    with pytest.raises(ValueError, match="dense_1"):
        Dense(3)(K.placeholder(shape=(None,)))
    with pytest.raises(ValueError, match="maxoutdense_1"):
        MaxoutDense(3)(Input(shape=(2, 3)))
    with pytest.raises(ValueError, match="highway_1"):
        Highway()(Input(shape=(2, 3)))
    with pytest.raises(ValueError, match="dense_2"):
        Dense(2)(Input(shape=(None,)))  # unknown input dim


@keras_test
def test_dense_wrong_input_dim_after_build():
    layer = Dense(2)
    layer(Input(shape=(3,)))
    with pytest.raises(ValueError, match=layer.name):
        layer(Input(shape=(4,)))


@keras_test
def test_auto_names():
    assert Dense(2).name == "dense_1"
    assert Dense(2).name == "dense_2"
    assert Activation("relu").name == "activation_1"
    assert Dropout(0.1).name == "dropout_1"
    assert RepeatVector(2).name == "repeatvector_1"
    assert ActivityRegularization().name == "activityregularization_1"
    assert MaxoutDense(2).name == "maxoutdense_1"
    K.clear_session()
    assert Dense(2).name == "dense_1"


@keras_test
def test_supports_masking_flags():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tdd = TimeDistributedDense(2)
    yes = [Masking(), Dropout(0.5), SpatialDropout1D(0.5), Activation("relu"), ActivityRegularization(), tdd]
    no = [
        Dense(2),
        Flatten(),
        Reshape((2,)),
        Permute((1,)),
        RepeatVector(2),
        Lambda(lambda x: x),
        MaxoutDense(2),
        Highway(),
    ]
    assert all(layer.supports_masking for layer in yes)
    assert not any(layer.supports_masking for layer in no)


@keras_test
def test_trainable_false_moves_weights():
    layer = Dense(2, trainable=False)
    layer.build((None, 3))
    assert layer.trainable_weights == []
    assert len(layer.non_trainable_weights) == 2
    assert layer.get_config()["trainable"] is False


@keras_test
def test_set_weights_mismatch():
    layer = Dense(2)
    layer.build((None, 3))
    with pytest.raises(ValueError):
        layer.set_weights([np.zeros((3, 2))])
    with pytest.raises(ValueError):
        layer.set_weights([np.zeros((2, 2)), np.zeros(2)])
    with pytest.raises(ValueError):
        Dense(2, weights=[np.zeros((4, 2)), np.zeros(2)])(Input(shape=(3,)))


def test_public_names():
    import keras.layers

    for name in core.__all__:
        assert getattr(keras.layers, name) is getattr(core, name)
    assert core.Merge is Merge
    from keras.layers.core import Merge as M  # Keras 1.0 scripts import it from here

    assert M is Merge


@keras_test
def test_get_test_data_regression():
    np.random.seed(0)
    (X_train, y_train), (X_test, y_test) = get_test_data(
        nb_train=50, nb_test=20, input_shape=(3, 4), output_shape=(2,), classification=False
    )
    assert X_train.shape == (50, 3, 4) and y_train.shape == (50, 2)
    assert X_test.shape == (20, 3, 4) and y_test.shape == (20, 2)
    (X_train, y_train), _ = get_test_data(nb_train=300, nb_test=1, nb_class=3)
    assert set(np.unique(y_train)) == {0, 1, 2}
    # features are centred on the class
    for c in range(3):
        assert abs(X_train[y_train == c].mean() - c) < 0.2


def test_keras_test_clears_session():
    @keras_test
    def body():
        Dense(2)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        body()
    assert Dense(2).name == "dense_1"
