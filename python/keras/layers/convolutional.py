"""Keras 1 `keras.layers.convolutional`: not implemented yet (the convolutional layers)."""

from ._absent import define

__all__ = ["Convolution1D", "Convolution2D", "Convolution3D", "AtrousConvolution1D", "AtrousConvolution2D", "SeparableConvolution2D", "Deconvolution2D", "UpSampling1D", "UpSampling2D", "UpSampling3D", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D", "Cropping3D", "Conv1D", "Conv2D", "Conv3D", "Deconv2D", "AtrousConv1D", "AtrousConv2D", "SeparableConv2D", ]
define(globals(), __all__, "convolutional")
