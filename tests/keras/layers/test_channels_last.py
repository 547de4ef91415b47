"""Channels-last ('tf') image layers without layout permutes: each 'tf' layer gives its
'th' counterpart's output and input gradient (and, for the layers with weights, its
weight gradients) on transposed data, and the compiled train Program of a 'tf' model
made of them holds no `permute` node."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from keras import backend as K
from keras.layers import (
    AveragePooling1D,
    AveragePooling2D,
    AveragePooling3D,
    BatchNormalization,
    Convolution2D,
    Convolution3D,
    Cropping1D,
    Cropping2D,
    Cropping3D,
    Deconvolution2D,
    Dense,
    Flatten,
    MaxPooling1D,
    MaxPooling2D,
    MaxPooling3D,
    SeparableConvolution2D,
    UpSampling1D,
    UpSampling2D,
    UpSampling3D,
    ZeroPadding1D,
    ZeroPadding2D,
    ZeroPadding3D,
)
from keras.models import Sequential

pytestmark = pytest.mark.usefixtures("fresh_session")


def run_layer(layer, x, r):
    """Output of ``layer`` on ``x`` and the gradient of sum(output * r) w.r.t. x, from
    one compiled function; also the op names it runs."""
    inp = K.placeholder(shape=(None,) + x.shape[1:])
    y = layer(inp)
    g = K.gradients(K.sum(y * K.constant(r)), [inp])[0]
    f = K.function([inp, K.learning_phase()], [y, g])
    out, grad = f([x, 1])
    return out, grad, f.op_names()


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
    ops = model.model.train_function.op_names()
    for op in ("pad", "batch_norm_train", "maxpool2d", "repeat_elements", "slice", "avgpool2d"):
        assert op in ops, (op, ops)
    assert "permute" not in ops, ops
    model.predict(x)
    assert "permute" not in model.model.predict_function.op_names()


# Layers with weights. 'th' Convolution3D and Deconvolution2D are (transposed) true
# convolutions and 'tf' ones cross-correlations, so the 'tf' kernel is the 'th' one
# flipped spatially and moved to its layout; SeparableConvolution2D cross-correlates
# in both orderings.


def deconv_w_to_tf(w):
    return np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(2, 3, 1, 0))


def conv3d_w_to_tf(w):
    return np.ascontiguousarray(w[:, :, ::-1, ::-1, ::-1].transpose(2, 3, 4, 1, 0))


def sep_w_to_tf(w):
    return np.ascontiguousarray(w.transpose(2, 3, 1, 0))


def same(b):
    return b


def run_weighted(layer, x, r):
    """Output of ``layer`` on ``x`` and the gradients of sum(output * r) w.r.t. x and
    each trainable weight, from one compiled function; also the op names it runs."""
    inp = K.placeholder(shape=(None,) + x.shape[1:])
    y = layer(inp)
    gs = K.gradients(K.sum(y * K.constant(r)), [inp] + layer.trainable_weights)
    f = K.function([inp, K.learning_phase()], [y] + gs)
    outs = f([x, 1])
    return outs[0], outs[1], outs[2:], f.op_names()


def weighted_both_orderings(make, x_th, first_to_last, to_tf):
    """``make(ordering, weights)`` in 'th' on x_th (random weights, random bias) and in
    'tf' on x_th transposed with those weights moved by ``to_tf``: output, input and
    weight gradients agree to a tight tolerance (the kernels sum in other orders), and
    the 'tf' function holds no permute and runs the bias and activation fused."""
    last_to_first = np.argsort(first_to_last)
    rng = np.random.RandomState(3)
    th = make("th", None)
    y_th, _, _, _ = run_weighted(th, x_th, 0)
    ws = th.get_weights()
    ws[-1] = rng.uniform(-0.5, 0.5, ws[-1].shape).astype("float32")  # the bias
    r_th = rng.uniform(-1, 1, y_th.shape).astype("float32")
    K.clear_session()
    th = make("th", ws)
    y_th, g_th, gw_th, _ = run_weighted(th, x_th, r_th)
    K.clear_session()
    tf = make("tf", [t(w) for t, w in zip(to_tf, ws)])
    x_tf = np.ascontiguousarray(x_th.transpose(first_to_last))
    r_tf = np.ascontiguousarray(r_th.transpose(first_to_last))
    y_tf, g_tf, gw_tf, ops = run_weighted(tf, x_tf, r_tf)
    assert "permute" not in ops, ops
    assert "bias_add" not in ops and "tanh" not in ops, ops
    assert_allclose(y_tf.transpose(last_to_first), y_th, rtol=1e-5, atol=1e-5)
    assert_allclose(g_tf.transpose(last_to_first), g_th, rtol=1e-4, atol=1e-5)
    assert len(gw_tf) == len(gw_th) == len(to_tf)
    for t, a, b in zip(to_tf, gw_tf, gw_th):
        assert_allclose(a, t(b), rtol=1e-4, atol=1e-4)
    return ops


@pytest.mark.parametrize(
    "nb,rows,cols,out_rc,sub,mode,x_shape",
    [
        (3, 3, 3, (9, 9), (1, 1), "valid", (2, 4, 7, 7)),
        (5, 3, 3, (10, 10), (2, 2), "same", (2, 3, 5, 5)),
        (2, 3, 3, (5, 5), (1, 1), "full", (3, 4, 7, 7)),
        (4, 1, 1, (6, 5), (1, 1), "valid", (2, 3, 6, 5)),
        (3, 3, 2, (9, 6), (2, 1), "valid", (2, 2, 4, 5)),
        (16, 3, 3, (14, 14), (2, 2), "same", (4, 32, 7, 7)),
    ],
)
def test_deconvolution_2d_tf_equals_th(nb, rows, cols, out_rc, sub, mode, x_shape):
    x = np.random.RandomState(0).uniform(-1, 1, x_shape).astype("float32")

    def make(ordering, weights):
        shape = (None, nb) + out_rc if ordering == "th" else (None,) + out_rc + (nb,)
        return Deconvolution2D(
            nb,
            rows,
            cols,
            shape,
            subsample=sub,
            border_mode=mode,
            dim_ordering=ordering,
            activation="tanh",
            weights=weights,
        )

    ops = weighted_both_orderings(make, x, (0, 2, 3, 1), [deconv_w_to_tf, same])
    assert "conv2d_transpose" in ops


@pytest.mark.parametrize(
    "nb,rows,cols,mult,sub,mode,x_shape",
    [
        (4, 3, 3, 1, (1, 1), "valid", (2, 5, 8, 7)),
        (6, 3, 3, 2, (2, 2), "same", (2, 3, 9, 8)),
        (3, 2, 3, 3, (1, 2), "valid", (3, 2, 6, 7)),
        (8, 3, 3, 1, (1, 1), "same", (4, 32, 10, 10)),
    ],
)
def test_separable_convolution_2d_tf_equals_th(nb, rows, cols, mult, sub, mode, x_shape):
    x = np.random.RandomState(0).uniform(-1, 1, x_shape).astype("float32")

    def make(ordering, weights):
        return SeparableConvolution2D(
            nb,
            rows,
            cols,
            depth_multiplier=mult,
            subsample=sub,
            border_mode=mode,
            dim_ordering=ordering,
            activation="tanh",
            weights=weights,
        )

    ops = weighted_both_orderings(make, x, (0, 2, 3, 1), [sep_w_to_tf, sep_w_to_tf, same])
    assert "depthwise_conv2d" in ops and "conv2d" in ops


@pytest.mark.parametrize(
    "nb,k,sub,mode,x_shape",
    [
        (3, (3, 3, 3), (1, 1, 1), "valid", (2, 3, 5, 6, 5)),
        (4, (2, 3, 2), (2, 1, 2), "same", (2, 2, 5, 4, 6)),
        (5, (1, 1, 1), (1, 1, 1), "valid", (3, 4, 3, 2, 3)),
        (8, (3, 3, 3), (1, 1, 1), "same", (4, 16, 6, 6, 6)),
    ],
)
def test_convolution_3d_tf_equals_th(nb, k, sub, mode, x_shape):
    x = np.random.RandomState(0).uniform(-1, 1, x_shape).astype("float32")

    def make(ordering, weights):
        return Convolution3D(
            nb,
            *k,
            subsample=sub,
            border_mode=mode,
            dim_ordering=ordering,
            activation="tanh",
            weights=weights,
        )

    ops = weighted_both_orderings(make, x, (0, 2, 3, 4, 1), [conv3d_w_to_tf, same])
    assert "conv3d" in ops


def test_tf_train_programs_with_deconvolution_separable_and_3d_have_no_permute():
    """'tf' models of Convolution2D, SeparableConvolution2D and Deconvolution2D, and of
    Convolution3D: their compiled train steps (forward, backward, updates) and predict
    functions contain no permute node, and they train."""
    model = Sequential()
    model.add(Convolution2D(4, 3, 3, dim_ordering="tf", activation="relu", input_shape=(9, 9, 3)))
    model.add(SeparableConvolution2D(6, 3, 3, depth_multiplier=2, border_mode="same", dim_ordering="tf"))
    model.add(
        Deconvolution2D(3, 3, 3, (None, 15, 15, 3), subsample=(2, 2), dim_ordering="tf", activation="relu")
    )
    model.add(Flatten())
    model.add(Dense(2, activation="softmax"))
    vol = Sequential()
    vol.add(Convolution3D(4, 3, 3, 3, border_mode="same", dim_ordering="tf", input_shape=(5, 6, 5, 2)))
    vol.add(Convolution3D(3, 2, 2, 2, subsample=(2, 2, 2), dim_ordering="tf", activation="sigmoid"))
    vol.add(Flatten())
    vol.add(Dense(2, activation="softmax"))
    rng = np.random.RandomState(0)
    y = np.eye(2, dtype="float32")[np.arange(8) % 2]
    for m, x, names in (
        (model, rng.uniform(-1, 1, (8, 9, 9, 3)), ("conv2d", "depthwise_conv2d", "conv2d_transpose")),
        (vol, rng.uniform(-1, 1, (8, 5, 6, 5, 2)), ("conv3d",)),
    ):
        x = x.astype("float32")
        m.compile(loss="categorical_crossentropy", optimizer="sgd")
        before = m.evaluate(x, y, verbose=0)
        for _ in range(5):
            m.train_on_batch(x, y)
        assert m.evaluate(x, y, verbose=0) < before
        ops = m.model.train_function.op_names()
        for op in names:
            assert op in ops, (op, ops)
        assert "permute" not in ops, ops
        m.predict(x)
        assert "permute" not in m.model.predict_function.op_names()
