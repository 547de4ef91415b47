"""ONNX export of the convolutional, pooling, padding, cropping and upsampling layers,
in both dim orderings ('th': a true convolution, the kernel flipped for ONNX; 'tf': a
cross-correlation between layout transposes)."""

import functools

import numpy as np
import pytest
from onnx_check import check_export, randomize

from keras.layers import convolutional as conv
from keras.layers import pooling
from keras.layers.core import Flatten
from keras.models import Sequential


def _x(*shape):
    return np.random.uniform(-1, 1, size=shape).astype("float32")


_randomize = functools.partial(randomize, low=-0.5, high=0.5)


def _img(order, c, h, w):
    return (c, h, w) if order == "th" else (h, w, c)


@pytest.mark.parametrize("order", ["th", "tf"])
@pytest.mark.parametrize(
    "kwargs",
    [
        dict(border_mode="valid"),
        dict(border_mode="same"),
        dict(border_mode="same", subsample=(2, 2)),
        dict(border_mode="valid", subsample=(2, 1)),
    ],
)
def test_convolution2d(order, kwargs):
    model = Sequential(
        [
            conv.Convolution2D(
                4, 3, 2, input_shape=_img(order, 3, 7, 6), dim_ordering=order, activation="relu", **kwargs
            )
        ]
    )
    check_export(_randomize(model), _x(2, *_img(order, 3, 7, 6)))


@pytest.mark.parametrize("order", ["th", "tf"])
def test_atrous_separable_deconvolution(order):
    shape = _img(order, 2, 9, 8)
    model = Sequential(
        [
            conv.AtrousConvolution2D(
                3, 3, 3, atrous_rate=(2, 1), border_mode="same", input_shape=shape, dim_ordering=order
            ),
            conv.SeparableConvolution2D(
                4,
                3,
                3,
                depth_multiplier=2,
                border_mode="same",
                subsample=(2, 2),
                dim_ordering=order,
                activation="tanh",
            ),
        ]
    )
    check_export(_randomize(model), _x(2, *shape))
    for border_mode, stride, out_hw in (("valid", 1, (6, 6)), ("same", 2, (8, 8)), ("valid", 2, (9, 9))):
        in_hw = (4, 4)
        out = (None,) + _img(order, 3, *out_hw)
        model = Sequential(
            [
                conv.Deconvolution2D(
                    3,
                    3,
                    3,
                    output_shape=out,
                    subsample=(stride, stride),
                    border_mode=border_mode,
                    input_shape=_img(order, 2, *in_hw),
                    dim_ordering=order,
                )
            ]
        )
        check_export(_randomize(model), _x(2, *_img(order, 2, *in_hw)))


@pytest.mark.parametrize("order", ["th", "tf"])
def test_convolution3d_pooling3d_padding3d(order):
    shape = (2, 5, 6, 4) if order == "th" else (5, 6, 4, 2)
    model = Sequential(
        [
            conv.ZeroPadding3D((1, 0, 1), input_shape=shape, dim_ordering=order),
            conv.Convolution3D(3, 3, 2, 2, border_mode="same", dim_ordering=order),
            pooling.MaxPooling3D((2, 2, 1), border_mode="same", dim_ordering=order),
            conv.UpSampling3D((1, 2, 2), dim_ordering=order),
            conv.Cropping3D(((1, 0), (0, 1), (1, 1)), dim_ordering=order),
            pooling.AveragePooling3D((2, 1, 2), strides=(1, 1, 2), dim_ordering=order),
            pooling.GlobalMaxPooling3D(dim_ordering=order),
        ]
    )
    check_export(_randomize(model), _x(2, *shape))
    model = Sequential([pooling.GlobalAveragePooling3D(input_shape=shape, dim_ordering=order)])
    check_export(model, _x(2, *shape))


@pytest.mark.parametrize("order", ["th", "tf"])
def test_pooling_padding_cropping_upsampling_2d(order):
    shape = _img(order, 3, 9, 8)
    model = Sequential(
        [
            conv.ZeroPadding2D((1, 2), input_shape=shape, dim_ordering=order),
            pooling.MaxPooling2D((3, 3), strides=(2, 2), border_mode="same", dim_ordering=order),
            conv.ZeroPadding2D((0, 1, 2, 0), dim_ordering=order),
            pooling.AveragePooling2D((2, 3), strides=(1, 2), border_mode="same", dim_ordering=order),
            conv.UpSampling2D((2, 3), dim_ordering=order),
            conv.Cropping2D(((1, 2), (3, 0)), dim_ordering=order),
            pooling.MaxPooling2D((2, 2), dim_ordering=order),
            pooling.AveragePooling2D((2, 2), border_mode="valid", dim_ordering=order),
        ]
    )
    check_export(model, _x(2, *shape))
    for cls in (pooling.GlobalMaxPooling2D, pooling.GlobalAveragePooling2D):
        check_export(Sequential([cls(input_shape=shape, dim_ordering=order)]), _x(2, *shape))


def test_one_dimensional_layers():
    model = Sequential(
        [
            conv.ZeroPadding1D((1, 2), input_shape=(10, 3)),
            conv.Convolution1D(4, 3, border_mode="same", activation="relu"),
            conv.AtrousConvolution1D(4, 2, atrous_rate=2, border_mode="valid"),
            pooling.MaxPooling1D(2, border_mode="same"),
            conv.UpSampling1D(3),
            conv.Cropping1D((2, 1)),
            conv.Convolution1D(2, 3, subsample_length=2),
            pooling.AveragePooling1D(2, stride=1),
        ]
    )
    check_export(_randomize(model), _x(3, 10, 3))
    for cls in (pooling.GlobalMaxPooling1D, pooling.GlobalAveragePooling1D):
        check_export(Sequential([cls(input_shape=(6, 3))]), _x(2, 6, 3))


@pytest.mark.parametrize("order", ["th", "tf"])
def test_small_convnet_to_dense(order):
    from keras.layers.core import Dense

    shape = _img(order, 1, 12, 12)
    model = Sequential(
        [
            conv.Convolution2D(4, 3, 3, input_shape=shape, dim_ordering=order, activation="relu"),
            pooling.MaxPooling2D(dim_ordering=order),
            Flatten(),
            Dense(3, activation="softmax"),
        ]
    )
    check_export(_randomize(model), _x(4, *shape))
