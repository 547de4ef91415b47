"""VGG19 (Simonyan & Zisserman, 2014) with Keras 1.2.2's layer names; also the
builder shared with VGG16."""

from .. import backend as K
from ..engine.training import Model
from ..layers import Convolution2D, Dense, Flatten, MaxPooling2D
from .imagenet_utils import (  # noqa: F401  (preprocess_input, decode_predictions: Keras 1.2.2 re-exported them here)
    _check_weights_argument,
    _image_input,
    _load_weights,
    _model_inputs,
    _obtain_input_shape,
    decode_predictions,
    preprocess_input,
)

_WIDTHS = (64, 128, 256, 512, 512)


def _vgg(name, depths, include_top, weights, input_tensor, input_shape, classes):
    _check_weights_argument(weights, include_top, classes)
    input_shape = _obtain_input_shape(input_shape, 224, 48, K.image_dim_ordering(), include_top)
    img_input = _image_input(input_tensor, input_shape)
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
    model = Model(_model_inputs(input_tensor, img_input), x, name=name)
    if weights == "imagenet":
        _load_weights(model, name, "v0.1", include_top)
    return model


def VGG19(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, classes=1000):
    """Instantiates the VGG19 architecture (143,667,240 parameters with the top).

    # Arguments
        include_top: whether to include the 3 fully-connected layers at the top.
        weights: `None` (random initialisation) or 'imagenet' (Keras 1's published
            weights, read from the Keras cache).
        input_tensor: optional Keras tensor (output of `Input()`) to use as input.
        input_shape: optional shape tuple, only when `include_top` is False; 3 channels,
            each side at least 48.
        classes: number of classes, only with `include_top` and no `weights`.

    # Returns
        A Keras model instance named 'vgg19'.
    """
    return _vgg("vgg19", (2, 2, 4, 4, 4), include_top, weights, input_tensor, input_shape, classes)
