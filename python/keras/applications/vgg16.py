"""VGG16 (Simonyan & Zisserman, 2014) with Keras 1.2.2's layer names."""

from .imagenet_utils import decode_predictions, preprocess_input  # noqa: F401  (Keras 1.2.2 re-exported them here)
from .vgg19 import _vgg


def VGG16(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, classes=1000):
    """Instantiates the VGG16 architecture (138,357,544 parameters with the top).

    # Arguments
        include_top: whether to include the 3 fully-connected layers at the top.
        weights: `None` (random initialisation) or 'imagenet' (Keras 1's published
            weights, read from the Keras cache).
        input_tensor: optional Keras tensor (output of `Input()`) to use as input.
        input_shape: optional shape tuple, only when `include_top` is False; 3 channels,
            each side at least 48.
        classes: number of classes, only with `include_top` and no `weights`.

    # Returns
        A Keras model instance named 'vgg16'.
    """
    return _vgg("vgg16", (2, 2, 3, 3, 3), include_top, weights, input_tensor, input_shape, classes)
