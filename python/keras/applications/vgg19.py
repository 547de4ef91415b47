"""VGG19 (Simonyan & Zisserman, 2014) with Keras 1.2.2's layer names; also the
builder shared with VGG16."""

from ..layers import Convolution2D, Dense, Flatten, MaxPooling2D
from .imagenet_utils import (  # noqa: F401  (preprocess_input, decode_predictions: Keras 1.2.2 re-exported them here)
    _architecture_input,
    _architecture_model,
    _documented,
    decode_predictions,
    preprocess_input,
)

_WIDTHS = (64, 128, 256, 512, 512)


def _vgg(name, depths, include_top, weights, input_tensor, input_shape, classes):
    img_input = _architecture_input(weights, include_top, classes, input_tensor, input_shape, 224, 48)
    x = img_input
    for block, (width, depth) in enumerate(zip(_WIDTHS, depths), start=1):
        for conv in range(1, depth + 1):
            x = Convolution2D(
                width, 3, 3, activation="relu", border_mode="same", name="block%d_conv%d" % (block, conv)
            )(x)
        x = MaxPooling2D((2, 2), strides=(2, 2), name="block%d_pool" % block)(x)
    if include_top:
        x = Flatten(name="flatten")(x)
        x = Dense(4096, activation="relu", name="fc1")(x)
        x = Dense(4096, activation="relu", name="fc2")(x)
        x = Dense(classes, activation="softmax", name="predictions")(x)
    return _architecture_model(name, input_tensor, img_input, x, weights, include_top, "v0.1")


@_documented("vgg19", 48, top="the 3 fully-connected layers")
def VGG19(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, classes=1000):
    """Instantiates the VGG19 architecture (143,667,240 parameters with the top)."""
    return _vgg("vgg19", (2, 2, 4, 4, 4), include_top, weights, input_tensor, input_shape, classes)
