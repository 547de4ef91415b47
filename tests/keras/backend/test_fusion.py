"""Compile-time fusion (rust/ferrokeras/src/graph/fuse.rs): a convolution or a bias add
followed by an activation runs as one node, a Dense layer's bias add and activation fold
into its matmul, and that never changes a result."""

import numpy as np
import pytest

from keras import backend as K
from keras.layers import (
    Activation,
    Convolution2D,
    Convolution3D,
    Deconvolution2D,
    Dense,
    Dropout,
    Flatten,
    MaxPooling2D,
    SeparableConvolution2D,
)
from keras.models import Sequential
from keras.utils.test_utils import keras_test


def _train(fusion, act, ordering="th", wide=False):
    """Three steps of a small CNN. `wide`: 8 channels into and out of 3x3 convolutions,
    which then run as Winograd correlations (on AVX-512 hosts) with their epilogues."""
    K.clear_session()
    K.ferrokeras_backend._graph().fusion = fusion
    np.random.seed(3)
    c, f, k = (8, 8, 3) if wide else (2, 4, 2)
    shape = (c, 9, 9) if ordering == "th" else (9, 9, c)
    model = Sequential()
    model.add(Convolution2D(f, 3, 3, input_shape=shape, dim_ordering=ordering))
    model.add(Activation(act))
    model.add(Convolution2D(5 if k == 2 else 8, k, k, activation=act, dim_ordering=ordering))
    model.add(MaxPooling2D((2, 2), dim_ordering=ordering))
    model.add(Flatten())
    model.add(Dense(6))
    model.add(Activation(act))
    model.add(Dense(3, activation="softmax"))
    model.compile(loss="categorical_crossentropy", optimizer="sgd")
    rs = np.random.RandomState(0)
    x = rs.uniform(-1, 1, (8,) + shape).astype("float32")
    y = np.eye(3, dtype="float32")[rs.randint(0, 3, 8)]
    losses = [model.train_on_batch(x, y) for _ in range(3)]
    return losses, model.predict(x), model.get_weights()


@pytest.mark.parametrize("wide", [False, True])
@pytest.mark.parametrize("ordering", ["th", "tf"])
@pytest.mark.parametrize("act", ["relu", "tanh", "sigmoid"])
@keras_test
def test_fused_and_unfused_training_agree_bitwise(act, ordering, wide):
    assert K.ferrokeras_backend._graph().fusion, "fusion is on by default"
    fused = _train(True, act, ordering, wide)
    plain = _train(False, act, ordering, wide)
    assert fused[0] == plain[0]
    np.testing.assert_array_equal(fused[1], plain[1])
    for a, b in zip(fused[2], plain[2]):
        np.testing.assert_array_equal(a, b)
    # training moved the weights, so the comparison compared something
    assert fused[0][0] != fused[0][-1]


def _train_channels_last(fusion, act):
    """'tf' Deconvolution2D, SeparableConvolution2D and Convolution3D models, each layer
    with a bias and ``act``: losses, predictions and weights after three steps, and the
    op names of the train Programs."""
    K.clear_session()
    K.ferrokeras_backend._graph().fusion = fusion
    np.random.seed(3)
    flat = Sequential()
    flat.add(
        Deconvolution2D(3, 3, 3, (None, 9, 9, 3), input_shape=(7, 7, 2), activation=act, dim_ordering="tf")
    )
    flat.add(SeparableConvolution2D(4, 3, 3, depth_multiplier=2, activation=act, dim_ordering="tf"))
    flat.add(Flatten())
    flat.add(Dense(3, activation="softmax"))
    vol = Sequential()
    vol.add(Convolution3D(3, 2, 2, 2, input_shape=(4, 5, 4, 2), activation=act, dim_ordering="tf"))
    vol.add(Flatten())
    vol.add(Dense(3, activation="softmax"))
    rs = np.random.RandomState(0)
    y = np.eye(3, dtype="float32")[rs.randint(0, 3, 8)]
    out = []
    for model, shape in ((flat, (7, 7, 2)), (vol, (4, 5, 4, 2))):
        model.compile(loss="categorical_crossentropy", optimizer="sgd")
        x = rs.uniform(-1, 1, (8,) + shape).astype("float32")
        losses = [model.train_on_batch(x, y) for _ in range(3)]
        ops = model.model.train_function.op_names()
        out.append((losses, model.predict(x), model.get_weights(), ops))
    return out


def _train_mlp(fusion, act):
    """A 20-512-512-3 MLP (the hidden layers' outputs large enough for the bias pass to
    split over the pool) trained for three steps with dropout: losses, predictions,
    weights and the train and predict Programs' op names."""
    K.clear_session()
    K.ferrokeras_backend._graph().fusion = fusion
    np.random.seed(5)
    model = Sequential()
    model.add(Dense(512, input_dim=20, activation=act))
    model.add(Dropout(0.2))
    model.add(Dense(512))
    model.add(Activation(act))
    model.add(Dense(3, activation="softmax"))
    model.compile(loss="categorical_crossentropy", optimizer="rmsprop")
    rs = np.random.RandomState(1)
    x = rs.uniform(-1, 1, (256, 20)).astype("float32")
    y = np.eye(3, dtype="float32")[rs.randint(0, 3, 256)]
    losses = [model.train_on_batch(x, y) for _ in range(3)]
    pred = model.predict(x, batch_size=256)
    ops = (model.model.train_function.op_names(), model.model.predict_function.op_names())
    return losses, pred, model.get_weights(), ops


@pytest.mark.parametrize("act", ["relu", "tanh", "sigmoid"])
@keras_test
def test_dense_layers_fold_into_their_matmul_without_changing_results(act):
    fl, fp, fw, (ftrain, fpredict) = _train_mlp(True, act)
    pl, pp, pw, (ptrain, ppredict) = _train_mlp(False, act)
    assert fl == pl
    np.testing.assert_array_equal(fp, pp)
    for a, b in zip(fw, pw):
        np.testing.assert_array_equal(a, b)
    assert fl[0] != fl[-1]
    for ops in (ftrain, fpredict):
        assert ops.count("matmul") == 3 and "bias_add" not in ops and act not in ops, ops
    assert fpredict == ["matmul", "matmul", "matmul", "softmax"], fpredict
    for ops in (ptrain, ppredict):
        assert ops.count("bias_add") == 3 and act in ops, ops


@pytest.mark.parametrize("act", ["relu", "tanh", "sigmoid"])
@keras_test
def test_channels_last_deconvolution_separable_and_3d_fuse_without_changing_results(act):
    fused = _train_channels_last(True, act)
    plain = _train_channels_last(False, act)
    for (fl, fp, fw, fops), (pl, pp, pw, pops) in zip(fused, plain):
        assert fl == pl
        np.testing.assert_array_equal(fp, pp)
        for a, b in zip(fw, pw):
            np.testing.assert_array_equal(a, b)
        assert fl[0] != fl[-1]
        # fused: no bias_add left (the softmax Dense's folds into its matmul), no
        # separate activation node
        assert "bias_add" not in fops and act not in fops and "matmul" in fops, fops
        assert pops.count("bias_add") > 1 and act in pops, pops


@keras_test
def test_a_pre_activation_output_stays_observable():
    # the bias add's output is also a function output, so it is not folded away
    x = K.placeholder((None, 2, 4, 4))
    k = K.variable(np.random.RandomState(1).uniform(-1, 1, (3, 2, 3, 3)).astype("float32"))
    b = K.variable(np.array([-5.0, 0.0, 5.0], "float32"))
    pre = K.bias_add(K.conv2d(x, k), b, axis=1)
    f = K.function([x], [pre, K.relu(pre)])
    xv = np.random.RandomState(2).uniform(-1, 1, (2, 2, 4, 4)).astype("float32")
    p, r = f([xv])
    assert (p < 0).any()
    np.testing.assert_array_equal(r, np.maximum(p, 0))


@keras_test
def test_a_pre_activation_output_stays_observable_channels_last():
    x = K.placeholder((None, 4, 4, 2))
    k = K.variable(np.random.RandomState(1).uniform(-1, 1, (3, 3, 2, 3)).astype("float32"))
    b = K.variable(np.array([-5.0, 0.0, 5.0], "float32"))
    pre = K.bias_add(K.conv2d(x, k, dim_ordering="tf"), b, axis=-1)
    f = K.function([x], [pre, K.relu(pre)])
    # the bias folds into the convolution, the relu stays its own node
    assert f.op_names() == ["conv2d", "relu"]
    xv = np.random.RandomState(2).uniform(-1, 1, (2, 4, 4, 2)).astype("float32")
    p, r = f([xv])
    assert (p < 0).any()
    np.testing.assert_array_equal(r, np.maximum(p, 0))
    # the same chain with only the activation observed runs as one conv2d node
    g = K.function([x], [K.relu(pre)])
    assert g.op_names() == ["conv2d"]
    np.testing.assert_array_equal(g([xv])[0], r)
