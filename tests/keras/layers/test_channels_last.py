"""Channels-last ('tf') image layers without layout permutes: each 'tf' layer gives its
'th' counterpart's output and input gradient on transposed data, and the compiled
train Program of a 'tf' model made of them holds no `permute` node."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from keras import backend as K
from keras.layers import (
    AveragePooling1D,
    AveragePooling2D,
    AveragePooling3D,
    BatchNormalization,
    Cropping1D,
    Cropping2D,
    Cropping3D,
    Dense,
    Flatten,
    MaxPooling1D,
    MaxPooling2D,
    MaxPooling3D,
    UpSampling1D,
    UpSampling2D,
    UpSampling3D,
    ZeroPadding1D,
    ZeroPadding2D,
    ZeroPadding3D,
)
from keras.models import Sequential


@pytest.fixture(autouse=True)
def fresh_session():
    K.clear_session()
    yield


def run_layer(layer, x, r):
    """Output of ``layer`` on ``x`` and the gradient of sum(output * r) w.r.t. x, from
    one compiled function; also the op names it runs."""
    inp = K.placeholder(shape=(None,) + x.shape[1:])
    y = layer(inp)
    g = K.gradients(K.sum(y * K.constant(r)), [inp])[0]
    f = K.function([inp, K.learning_phase()], [y, g])
    out, grad = f([x, 1])
    return out, grad, f._program.op_names()


def both_orderings(make, x_th, first_to_last, bitwise=True):
    """Runs ``make('th')`` on x_th and ``make('tf')`` on it transposed; outputs and
    gradients must agree (transposed back), and the 'tf' function must not permute."""
    last_to_first = np.argsort(first_to_last)
    x_tf = np.ascontiguousarray(x_th.transpose(first_to_last))
    y_th, _, _ = run_layer(make("th"), x_th, 0)
    r_th = np.random.RandomState(1).uniform(-1, 1, y_th.shape).astype("float32")
    K.clear_session()
    y_th, g_th, _ = run_layer(make("th"), x_th, r_th)
    K.clear_session()
    r_tf = np.ascontiguousarray(r_th.transpose(first_to_last))
    y_tf, g_tf, ops = run_layer(make("tf"), x_tf, r_tf)
    assert "permute" not in ops, ops
    if bitwise:
        np.testing.assert_array_equal(y_tf.transpose(last_to_first), y_th)
        np.testing.assert_array_equal(g_tf.transpose(last_to_first), g_th)
    else:
        assert_allclose(y_tf.transpose(last_to_first), y_th, rtol=1e-5, atol=1e-5)
        assert_allclose(g_tf.transpose(last_to_first), g_th, rtol=1e-4, atol=1e-5)
    return ops


@pytest.mark.parametrize("cls", [MaxPooling2D, AveragePooling2D])
@pytest.mark.parametrize(
    "pool,strides,mode",
    [
        ((2, 2), None, "valid"),
        ((2, 2), None, "same"),
        ((3, 3), (2, 2), "same"),
        ((3, 2), (1, 2), "valid"),
        ((1, 1), None, "valid"),
    ],
)
@pytest.mark.parametrize("shape", [(2, 3, 7, 6), (3, 37, 5, 9), (1, 64, 8, 8)])
def test_pooling_2d_tf_equals_th(cls, pool, strides, mode, shape):
    x = np.random.uniform(-1, 1, shape).astype("float32")
    x[0, 0, :2, :2] = 0.5  # a tie

    def make(ordering):
        return cls(pool, strides=strides, border_mode=mode, dim_ordering=ordering)

    ops = both_orderings(make, x, (0, 2, 3, 1))
    assert ("maxpool2d" if cls is MaxPooling2D else "avgpool2d") in ops


@pytest.mark.parametrize("cls", [MaxPooling3D, AveragePooling3D])
@pytest.mark.parametrize("pool,strides,mode", [((2, 2, 2), None, "valid"), ((3, 2, 3), (2, 1, 2), "same")])
def test_pooling_3d_tf_equals_th(cls, pool, strides, mode):
    x = np.random.uniform(-1, 1, (2, 5, 4, 5, 6)).astype("float32")

    def make(ordering):
        return cls(pool, strides=strides, border_mode=mode, dim_ordering=ordering)

    both_orderings(make, x, (0, 2, 3, 4, 1))


@pytest.mark.parametrize("cls", [MaxPooling1D, AveragePooling1D])
@pytest.mark.parametrize("mode", ["valid", "same"])
def test_pooling_1d_runs_channels_last_without_permutes(cls, mode):
    x = np.random.uniform(-1, 1, (3, 9, 5)).astype("float32")
    y, g, ops = run_layer(cls(3, stride=2, border_mode=mode), x, np.float32(1.0))
    assert "permute" not in ops, ops
    # the same numbers as the 2-D layer on (N, steps, 1, features)
    K.clear_session()
    cls2 = MaxPooling2D if cls is MaxPooling1D else AveragePooling2D
    y2, g2, _ = run_layer(
        cls2((3, 1), strides=(2, 1), border_mode=mode, dim_ordering="tf"), x[:, :, None, :], np.float32(1.0)
    )
    np.testing.assert_array_equal(y, y2[:, :, 0, :])
    np.testing.assert_array_equal(g, g2[:, :, 0, :])


@pytest.mark.parametrize(
    "make,shape,order",
    [
        (lambda o: UpSampling2D((2, 3), dim_ordering=o), (2, 3, 4, 5), (0, 2, 3, 1)),
        (lambda o: ZeroPadding2D((1, 2), dim_ordering=o), (2, 3, 4, 5), (0, 2, 3, 1)),
        (lambda o: Cropping2D(((1, 0), (2, 1)), dim_ordering=o), (2, 3, 4, 5), (0, 2, 3, 1)),
        (lambda o: UpSampling3D((2, 1, 2), dim_ordering=o), (2, 3, 2, 3, 4), (0, 2, 3, 4, 1)),
        (lambda o: ZeroPadding3D((1, 0, 2), dim_ordering=o), (2, 3, 2, 3, 4), (0, 2, 3, 4, 1)),
        (lambda o: Cropping3D(((1, 0), (0, 1), (1, 1)), dim_ordering=o), (2, 3, 2, 3, 4), (0, 2, 3, 4, 1)),
    ],
)
def test_resampling_layers_tf_equal_th(make, shape, order):
    x = np.random.uniform(-1, 1, shape).astype("float32")
    both_orderings(make, x, order)


@pytest.mark.parametrize(
    "layer",
    [lambda: UpSampling1D(3), lambda: ZeroPadding1D((2, 1)), lambda: Cropping1D((1, 2))],
)
def test_1d_resampling_layers_do_not_permute(layer):
    x = np.random.uniform(-1, 1, (2, 6, 3)).astype("float32")
    _, _, ops = run_layer(layer(), x, np.float32(1.0))
    assert "permute" not in ops, ops


def test_batch_normalization_last_axis_equals_channels_first():
    x = np.random.uniform(-1, 1, (4, 6, 5, 7)).astype("float32") * 3 + 1

    def make(ordering):
        return BatchNormalization(axis=1 if ordering == "th" else -1, mode=0)

    ops = both_orderings(make, x, (0, 2, 3, 1), bitwise=False)
    assert "batch_norm_train" in ops


def test_tf_train_program_has_no_permute():
    """A 'tf' model of MaxPooling2D, AveragePooling2D, UpSampling2D, ZeroPadding2D,
    Cropping2D and BatchNormalization(axis=-1): its compiled train step (forward,
    backward and updates) contains no permute node, and it trains."""
    model = Sequential()
    model.add(ZeroPadding2D((1, 1), dim_ordering="tf", input_shape=(12, 12, 3)))
    model.add(BatchNormalization(axis=-1))
    model.add(MaxPooling2D((2, 2), dim_ordering="tf"))
    model.add(UpSampling2D((2, 2), dim_ordering="tf"))
    model.add(Cropping2D(((1, 1), (1, 1)), dim_ordering="tf"))
    model.add(AveragePooling2D((3, 3), strides=(2, 2), border_mode="same", dim_ordering="tf"))
    model.add(BatchNormalization(axis=-1))
    model.add(MaxPooling2D((2, 2), border_mode="same", dim_ordering="tf"))
    model.add(Flatten())
    model.add(Dense(2, activation="softmax"))
    model.compile(loss="categorical_crossentropy", optimizer="sgd")
    x = np.random.uniform(-1, 1, (8, 12, 12, 3)).astype("float32")
    y = np.eye(2, dtype="float32")[np.arange(8) % 2]
    model.train_on_batch(x, y)
    ops = model.model.train_function._program.op_names()
    for op in ("pad", "batch_norm_train", "maxpool2d", "repeat_elements", "slice", "avgpool2d"):
        assert op in ops, (op, ops)
    assert "permute" not in ops, ops
    model.predict(x)
    assert "permute" not in model.model.predict_function._program.op_names()
