"""Xception (Chollet, 2016) with Keras 1.2.2's layer names. As in Keras 1 it exists for
the 'tf' ordering only (channels last; its separable convolutions are
cross-correlations); with 'th' the ordering is switched to 'tf' while the model is built,
with a warning, as Keras 1 did."""

import warnings

from .. import backend as K
from ..engine.topology import merge
from ..layers import (
    Activation,
    BatchNormalization,
    Convolution2D,
    Dense,
    GlobalAveragePooling2D,
    MaxPooling2D,
    SeparableConvolution2D,
)
from .imagenet_utils import (  # noqa: F401  (decode_predictions: Keras 1.2.2 re-exported it here)
    _architecture_input,
    _architecture_model,
    _documented,
    decode_predictions,
)
from .inception_v3 import preprocess_input  # noqa: F401  (Keras 1 exposed it here too)


def _sep_bn(x, width, name):
    x = SeparableConvolution2D(width, 3, 3, border_mode="same", bias=False, name=name)(x)
    return BatchNormalization(name=name + "_bn")(x)


def _downsampling_block(x, widths, block, first_relu=True):
    """Two separable convolutions and a strided max pooling, plus a strided 1x1
    convolution on the residual path."""
    residual = Convolution2D(widths[1], 1, 1, subsample=(2, 2), border_mode="same", bias=False)(x)
    residual = BatchNormalization()(residual)
    prefix = "block%d" % block
    if first_relu:
        x = Activation("relu", name=prefix + "_sepconv1_act")(x)
    x = _sep_bn(x, widths[0], prefix + "_sepconv1")
    x = Activation("relu", name=prefix + "_sepconv2_act")(x)
    x = _sep_bn(x, widths[1], prefix + "_sepconv2")
    x = MaxPooling2D((3, 3), strides=(2, 2), border_mode="same", name=prefix + "_pool")(x)
    return merge([x, residual], mode="sum")


@_documented("xception", 71)
def Xception(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, classes=1000):
    """Instantiates the Xception architecture (default input 299x299, 'tf' ordering;
    use `keras.applications.xception.preprocess_input`)."""
    # The input is made before the ordering is switched: its shape is checked as 'tf'.
    img_input = _architecture_input(weights, include_top, classes, input_tensor, input_shape, 299, 71, "tf")
    old_ordering = None
    if K.image_dim_ordering() != "tf":
        warnings.warn(
            'The Xception model is only available for the input dimension ordering "tf" (width, height, '
            'channels). However your settings specify the default dimension ordering "th" (channels, width, '
            'height). You should set `image_dim_ordering="tf"` in your Keras config located at '
            '~/.keras/keras.json. The model being returned right now will expect inputs to follow the "tf" '
            "dimension ordering.",
            stacklevel=2,
        )
        old_ordering = K.image_dim_ordering()
        K.set_image_dim_ordering("tf")
    try:
        x = Convolution2D(32, 3, 3, subsample=(2, 2), bias=False, name="block1_conv1")(img_input)
        x = BatchNormalization(name="block1_conv1_bn")(x)
        x = Activation("relu", name="block1_conv1_act")(x)
        x = Convolution2D(64, 3, 3, bias=False, name="block1_conv2")(x)
        x = BatchNormalization(name="block1_conv2_bn")(x)
        x = Activation("relu", name="block1_conv2_act")(x)

        x = _downsampling_block(x, (128, 128), 2, first_relu=False)
        x = _downsampling_block(x, (256, 256), 3)
        x = _downsampling_block(x, (728, 728), 4)
        for block in range(5, 13):
            residual = x
            prefix = "block%d" % block
            for k in (1, 2, 3):
                x = Activation("relu", name="%s_sepconv%d_act" % (prefix, k))(x)
                x = _sep_bn(x, 728, "%s_sepconv%d" % (prefix, k))
            x = merge([x, residual], mode="sum")
        x = _downsampling_block(x, (728, 1024), 13)

        x = _sep_bn(x, 1536, "block14_sepconv1")
        x = Activation("relu", name="block14_sepconv1_act")(x)
        x = _sep_bn(x, 2048, "block14_sepconv2")
        x = Activation("relu", name="block14_sepconv2_act")(x)
        if include_top:
            x = GlobalAveragePooling2D(name="avg_pool")(x)
            x = Dense(classes, activation="softmax", name="predictions")(x)
        model = _architecture_model(
            "xception", input_tensor, img_input, x, weights, include_top, "v0.4", orderings=("tf",)
        )
    finally:
        if old_ordering is not None:
            K.set_image_dim_ordering(old_ordering)
    return model
