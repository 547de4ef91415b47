"""Channels-last ('tf') convolutions run the engine's NHWC conv2d: no permute around them
in the compiled train Program, the same outputs as the 'th' layers on transposed data,
and the same training as the permute-around-channels-first path they replace."""

import numpy as np
import pytest

from keras import backend as K
from keras.engine.topology import Layer
from keras.layers import (
    Activation,
    AtrousConvolution1D,
    AtrousConvolution2D,
    Convolution1D,
    Convolution2D,
    Dense,
    Flatten,
)
from keras.models import Sequential
from keras.optimizers import SGD
from keras.utils.test_utils import keras_test

FB = K.ferrokeras_backend


def _train_ops(model):
    inner = model.model  # the Sequential's functional model
    inner._make_train_function()
    return inner.train_function.op_names()


def _assert_fused_train_program(model, nb_classes, nb_conv):
    """Adds a Flatten and a Dense softmax head and compiles ``model``: its train Program
    holds no permute, ``nb_conv`` conv2d nodes and no bias_add (every convolution's bias
    and activation fold into its conv2d node, the Dense's bias into its matmul). Returns
    the op names."""
    model.add(Flatten())
    model.add(Dense(nb_classes, activation="softmax"))
    model.compile(loss="categorical_crossentropy", optimizer="sgd")
    ops = _train_ops(model)
    assert "permute" not in ops, ops
    assert ops.count("conv2d") == nb_conv, ops
    assert "bias_add" not in ops and ops.count("matmul") == 1, ops
    return ops


@keras_test
def test_tf_cnn_train_program_has_no_permute():
    model = Sequential()
    model.add(Convolution2D(4, 3, 3, input_shape=(10, 11, 3), dim_ordering="tf", activation="relu"))
    model.add(Convolution2D(5, 3, 2, subsample=(2, 2), border_mode="same", dim_ordering="tf"))
    model.add(Activation("tanh"))
    model.add(AtrousConvolution2D(6, 2, 2, atrous_rate=(2, 1), dim_ordering="tf", activation="sigmoid"))
    model.add(Convolution2D(3, 1, 1, dim_ordering="tf", activation="relu"))
    ops = _assert_fused_train_program(model, 3, 4)
    for act in ("relu", "tanh", "sigmoid"):
        assert act not in ops, ops


@keras_test
def test_tf_conv1d_train_program_has_no_permute():
    model = Sequential()
    model.add(Convolution1D(4, 3, input_shape=(12, 5), activation="relu"))
    model.add(AtrousConvolution1D(3, 2, atrous_rate=2, border_mode="same", activation="tanh"))
    model.add(Convolution1D(2, 3, subsample_length=2))
    ops = _assert_fused_train_program(model, 2, 3)
    assert "relu" not in ops and "tanh" not in ops, ops


@pytest.mark.parametrize(
    "border_mode,subsample,atrous",
    [
        ("valid", (1, 1), (1, 1)),
        ("same", (1, 1), (1, 1)),
        ("full", (1, 1), (1, 1)),
        ("valid", (2, 3), (1, 1)),
        ("same", (2, 2), (1, 1)),
        ("valid", (1, 1), (2, 3)),
        ("same", (1, 1), (2, 2)),
    ],
)
@pytest.mark.parametrize("stack", [2, 17])
@keras_test
def test_tf_layer_matches_th_layer_on_transposed_data(border_mode, subsample, atrous, stack):
    rs = np.random.RandomState(5)
    nb_filter, rows, cols = 4, 3, 2
    w_th = rs.uniform(-1, 1, (nb_filter, stack, rows, cols)).astype("float32")
    b = rs.uniform(-1, 1, (nb_filter,)).astype("float32")
    x_th = rs.uniform(-1, 1, (3, stack, 9, 10)).astype("float32")
    # 'th' is a true convolution, 'tf' a cross-correlation: the same map with the kernel
    # flipped spatially
    w_tf = np.ascontiguousarray(w_th[:, :, ::-1, ::-1].transpose(2, 3, 1, 0))
    outs = {}
    for do, w, x in (("th", w_th, x_th), ("tf", w_tf, x_th.transpose(0, 2, 3, 1))):
        K.clear_session()
        kw = dict(border_mode=border_mode, dim_ordering=do, activation="relu", input_shape=x.shape[1:])
        if atrous != (1, 1):
            layer = AtrousConvolution2D(nb_filter, rows, cols, atrous_rate=atrous, **kw)
        else:
            layer = Convolution2D(nb_filter, rows, cols, subsample=subsample, **kw)
        model = Sequential([layer])
        layer.set_weights([w, b])
        outs[do] = model.predict(x)
    np.testing.assert_allclose(outs["tf"], outs["th"].transpose(0, 2, 3, 1), rtol=1e-5, atol=1e-5)
    assert (outs["tf"] > 0).any()


class _PermutedConv2D(Layer):
    """The 'tf' Convolution2D as it ran before the engine had a channels-last conv2d:
    permute to channels-first, a channels-first cross-correlation with the HWIO kernel,
    permute back, then the bias along the last axis and the activation."""

    def __init__(self, nb_filter, rows, cols, subsample=(1, 1), border_mode="valid", atrous=(1, 1), **kw):
        self.nb_filter, self.rows, self.cols = nb_filter, rows, cols
        self.subsample, self.border_mode, self.atrous = subsample, border_mode, atrous
        super().__init__(**kw)

    def build(self, input_shape):
        shape = (self.rows, self.cols, input_shape[3], self.nb_filter)
        self.W = self.add_weight(shape, initializer="glorot_uniform", name=self.name + "_W")
        self.b = self.add_weight((self.nb_filter,), initializer="zero", name=self.name + "_b")
        self.built = True

    def _pads(self, shape):
        return [
            p
            for length, k, s, d in zip(shape[1:3], (self.rows, self.cols), self.subsample, self.atrous)
            for p in K.conv_padding(length, k, s, self.border_mode, d)
        ]

    def get_output_shape_for(self, input_shape):
        pads = self._pads(input_shape)
        out = []
        for i, (length, k, s, d) in enumerate(
            zip(input_shape[1:3], (self.rows, self.cols), self.subsample, self.atrous)
        ):
            out.append((length + pads[2 * i] + pads[2 * i + 1] - d * (k - 1) - 1) // s + 1)
        return (input_shape[0], out[0], out[1], self.nb_filter)

    def call(self, x, mask=None):
        y = K.permute_dimensions(x, (0, 3, 1, 2))
        y = FB._op(
            "conv2d",
            [y, self.W],
            strides=list(self.subsample),
            pads=self._pads(K.int_shape(x)),
            dilation=list(self.atrous),
            kernel_layout="hwio",
            flip=False,
        )
        y = K.permute_dimensions(y, (0, 2, 3, 1))
        return K.relu(K.bias_add(y, self.b, axis=-1))


# (nb_filter, rows, cols, subsample, border_mode, atrous)
_STACK = [
    (6, 3, 3, (1, 1), "valid", (1, 1)),
    (16, 3, 3, (1, 1), "same", (1, 1)),
    (16, 3, 2, (1, 1), "same", (1, 1)),
    (8, 3, 3, (2, 2), "same", (1, 1)),
    (5, 2, 2, (1, 1), "valid", (2, 2)),
]


def _model(permuted):
    np.random.seed(11)
    model = Sequential()
    for i, (nb, r, c, s, bm, a) in enumerate(_STACK):
        kw = {"input_shape": (14, 13, 3)} if i == 0 else {}
        if permuted:
            model.add(_PermutedConv2D(nb, r, c, subsample=s, border_mode=bm, atrous=a, **kw))
        elif a != (1, 1):
            model.add(AtrousConvolution2D(nb, r, c, atrous_rate=a, border_mode=bm, dim_ordering="tf", **kw))
            model.add(Activation("relu"))
        else:
            model.add(Convolution2D(nb, r, c, subsample=s, border_mode=bm, dim_ordering="tf", **kw))
            model.add(Activation("relu"))
    model.add(Flatten())
    model.add(Dense(4, activation="softmax"))
    model.compile(loss="categorical_crossentropy", optimizer=SGD(lr=0.05, momentum=0.9))
    return model


@keras_test
def test_tf_training_equals_the_permuted_path():
    rs = np.random.RandomState(0)
    x = rs.uniform(0, 1, (16, 14, 13, 3)).astype("float32")
    y = np.eye(4, dtype="float32")[rs.randint(0, 4, 16)]
    native = _model(False)
    weights = native.get_weights()
    permuted = _model(True)
    assert [w.shape for w in permuted.get_weights()] == [w.shape for w in weights]
    permuted.set_weights(weights)
    assert "permute" not in _train_ops(native)
    assert _train_ops(permuted).count("permute") == 2 * len(_STACK)
    for _ in range(6):
        a = native.train_on_batch(x, y)
        b = permuted.train_on_batch(x, y)
        np.testing.assert_allclose(a, b, rtol=1e-5)
    for wa, wb in zip(native.get_weights(), permuted.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-4, atol=1e-5)
    # training moved the weights, so the comparison compared something
    assert not np.allclose(native.get_weights()[0], weights[0], atol=1e-4)
