"""ONNX export of BatchNormalization (modes 0, 1, 2), Merge in every named mode (with
masks), LocallyConnected1D/2D and Embedding."""

import functools

import numpy as np
import pytest
from onnx_check import check_export, randomize

from keras.engine.topology import Input, Merge, merge
from keras.layers.core import Dense, Flatten
from keras.layers.embeddings import Embedding
from keras.layers.local import LocallyConnected1D, LocallyConnected2D
from keras.layers.normalization import BatchNormalization
from keras.layers.recurrent import LSTM
from keras.models import Model, Sequential
from keras.utils.onnx_utils import OnnxExportError, export_onnx


def _x(*shape):
    return np.random.uniform(-2, 2, size=shape).astype("float32")


_randomize = functools.partial(randomize, low=0.1, high=1.0)


@pytest.mark.parametrize("mode", [0, 1, 2])
def test_batch_normalization_modes_dense(mode):
    model = Sequential([Dense(6, input_dim=4), BatchNormalization(mode=mode, epsilon=1e-3)])
    check_export(_randomize(model), _x(8, 4))


@pytest.mark.parametrize("mode", [0, 2])
@pytest.mark.parametrize("axis", [1, -1])
def test_batch_normalization_on_images(mode, axis):
    model = Sequential([BatchNormalization(mode=mode, axis=axis, input_shape=(3, 5, 4))])
    check_export(_randomize(model), _x(4, 3, 5, 4))


@pytest.mark.parametrize("mode", ["sum", "ave", "mul", "max", "concat"])
def test_merge_modes(mode):
    a, b, c = Input(shape=(3, 4)), Input(shape=(3, 4)), Input(shape=(3, 4))
    out = merge([a, b, c], mode=mode)
    check_export(Model([a, b, c], out), [_x(2, 3, 4), _x(2, 3, 4), _x(2, 3, 4)])


def test_merge_concat_axis_dot_cos():
    a, b = Input(shape=(3, 4)), Input(shape=(5, 4))
    check_export(Model([a, b], merge([a, b], mode="concat", concat_axis=1)), [_x(2, 3, 4), _x(2, 5, 4)])
    check_export(Model([a, b], merge([a, b], mode="dot", dot_axes=(2, 2))), [_x(2, 3, 4), _x(2, 5, 4)])
    c = Input(shape=(4, 6))
    check_export(Model([a, c], merge([a, c], mode="dot", dot_axes=(2, 1))), [_x(2, 3, 4), _x(2, 4, 6)])
    p, q = Input(shape=(5,)), Input(shape=(5,))
    for mode in ("dot", "cos"):
        check_export(Model([p, q], merge([p, q], mode=mode, dot_axes=1)), [_x(3, 5), _x(3, 5)])


def test_sequential_merge_layer_of_branches():
    left = Sequential([Dense(4, input_dim=3, activation="relu")])
    right = Sequential([Dense(4, input_dim=5, activation="tanh")])
    model = Sequential([Merge([left, right], mode="concat"), Dense(2, activation="softmax")])
    check_export(_randomize(model), [_x(3, 3), _x(3, 5)])


def test_merged_masks_feed_an_lstm():
    a, b = Input(shape=(6,)), Input(shape=(6,))
    emb = Embedding(10, 3, mask_zero=True)
    ea, eb = emb(a), emb(b)
    for mode in ("sum", "concat"):
        model = Model([a, b], LSTM(2)(merge([ea, eb], mode=mode)))
        ids_a = np.random.randint(1, 9, size=(3, 6)).astype("float32")
        ids_b = np.random.randint(1, 9, size=(3, 6)).astype("float32")
        ids_a[0, 4:] = 0
        ids_b[1, 3:] = 0
        check_export(model, [ids_a, ids_b])


def test_callable_merge_mode_is_refused():
    a, b = Input(shape=(3,)), Input(shape=(3,))
    model = Model([a, b], merge([a, b], mode=lambda x, y: x - y, name="diff"))
    with pytest.raises(OnnxExportError, match="'diff' \\(Merge\\).*callable"):
        export_onnx(model)


def test_locally_connected():
    model = Sequential(
        [LocallyConnected1D(3, 3, subsample_length=2, input_shape=(9, 4), activation="relu"), Flatten()]
    )
    check_export(_randomize(model), _x(2, 9, 4))
    for order, shape in (("th", (2, 7, 6)), ("tf", (7, 6, 2))):
        model = Sequential(
            [LocallyConnected2D(3, 3, 2, subsample=(2, 1), dim_ordering=order, input_shape=shape)]
        )
        check_export(_randomize(model), _x(2, *shape))


def test_embedding_int_input_and_dropout():
    ids = Input(shape=(5,), dtype="int32")
    model = Model(ids, Flatten()(Embedding(12, 3, dropout=0.3)(ids)))
    check_export(model, np.random.randint(0, 12, size=(4, 5)).astype("int32"))
