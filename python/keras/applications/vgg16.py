"""VGG16 (Simonyan & Zisserman, 2014) with Keras 1.2.2's layer names."""

from .imagenet_utils import _documented, decode_predictions, preprocess_input  # noqa: F401  (Keras 1.2.2 re-exported them here)
from .vgg19 import _vgg


@_documented("vgg16", 48, top="the 3 fully-connected layers")
def VGG16(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, classes=1000):
    """Instantiates the VGG16 architecture (138,357,544 parameters with the top)."""
    return _vgg("vgg16", (2, 2, 3, 3, 3), include_top, weights, input_tensor, input_shape, classes)
