"""Inception V3 (Szegedy et al., 2015) as Keras 1.2.2 built it: every convolution is
followed by ReLU then BatchNormalization (`conv2d_bn`), blocks merged as `mixed0` ...
`mixed10`. Branches are created in Keras 1's order so that the layer order, and with
it positional weight loading, matches Keras 1's files."""

from .. import backend as K
from ..engine.topology import merge
from ..layers import AveragePooling2D, BatchNormalization, Convolution2D, Dense, Flatten, MaxPooling2D
from .imagenet_utils import (  # noqa: F401  (decode_predictions: Keras 1.2.2 re-exported it here)
    _architecture_input,
    _architecture_model,
    _documented,
    decode_predictions,
)


def conv2d_bn(x, nb_filter, nb_row, nb_col, border_mode="same", subsample=(1, 1), name=None):
    """Convolution (with ReLU) followed by BatchNormalization over the channel axis."""
    bn_axis = 1 if K.image_dim_ordering() == "th" else 3
    x = Convolution2D(
        nb_filter,
        nb_row,
        nb_col,
        subsample=subsample,
        activation="relu",
        border_mode=border_mode,
        name=None if name is None else name + "_conv",
    )(x)
    return BatchNormalization(axis=bn_axis, name=None if name is None else name + "_bn")(x)


def _avg_pool_same(x):
    return AveragePooling2D((3, 3), strides=(1, 1), border_mode="same")(x)


def _chain(x, specs):
    """conv2d_bn layers in sequence; each spec is (filters, rows, cols[, options])."""
    for spec in specs:
        options = spec[3] if len(spec) > 3 else {}
        x = conv2d_bn(x, spec[0], spec[1], spec[2], **options)
    return x


_VALID_2 = {"subsample": (2, 2), "border_mode": "valid"}


@_documented("inception_v3", 139)
def InceptionV3(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, classes=1000):
    """Instantiates the Inception V3 architecture (default input 299x299; use
    `keras.applications.inception_v3.preprocess_input`)."""
    img_input = _architecture_input(weights, include_top, classes, input_tensor, input_shape, 299, 139)
    axis = 1 if K.image_dim_ordering() == "th" else 3

    def mixed(branches, name):
        return merge(branches, mode="concat", concat_axis=axis, name=name)

    x = _chain(img_input, [(32, 3, 3, _VALID_2), (32, 3, 3, {"border_mode": "valid"}), (64, 3, 3)])
    x = MaxPooling2D((3, 3), strides=(2, 2))(x)
    x = _chain(x, [(80, 1, 1, {"border_mode": "valid"}), (192, 3, 3, {"border_mode": "valid"})])
    x = MaxPooling2D((3, 3), strides=(2, 2))(x)

    # mixed 0, 1, 2: 35 x 35 x 256
    for i in range(3):
        b1 = conv2d_bn(x, 64, 1, 1)
        b5 = _chain(x, [(48, 1, 1), (64, 5, 5)])
        b3 = _chain(x, [(64, 1, 1), (96, 3, 3), (96, 3, 3)])
        bp = conv2d_bn(_avg_pool_same(x), 32, 1, 1)
        x = mixed([b1, b5, b3, bp], "mixed%d" % i)

    # mixed 3: 17 x 17 x 768
    b3 = conv2d_bn(x, 384, 3, 3, **_VALID_2)
    b3d = _chain(x, [(64, 1, 1), (96, 3, 3), (96, 3, 3, _VALID_2)])
    bp = MaxPooling2D((3, 3), strides=(2, 2))(x)
    x = mixed([b3, b3d, bp], "mixed3")

    # mixed 4, 5, 6, 7: 17 x 17 x 768
    for i, width in enumerate((128, 160, 160, 192)):
        b1 = conv2d_bn(x, 192, 1, 1)
        b7 = _chain(x, [(width, 1, 1), (width, 1, 7), (192, 7, 1)])
        b7d = _chain(x, [(width, 1, 1), (width, 7, 1), (width, 1, 7), (width, 7, 1), (192, 1, 7)])
        bp = conv2d_bn(_avg_pool_same(x), 192, 1, 1)
        x = mixed([b1, b7, b7d, bp], "mixed%d" % (4 + i))

    # mixed 8: 8 x 8 x 1280
    b3 = _chain(x, [(192, 1, 1), (320, 3, 3, _VALID_2)])
    b7 = _chain(x, [(192, 1, 1), (192, 1, 7), (192, 7, 1), (192, 3, 3, _VALID_2)])
    bp = AveragePooling2D((3, 3), strides=(2, 2))(x)
    x = mixed([b3, b7, bp], "mixed8")

    # mixed 9, 10: 8 x 8 x 2048
    for i in range(2):
        b1 = conv2d_bn(x, 320, 1, 1)
        b3 = conv2d_bn(x, 384, 1, 1)
        b3 = mixed([conv2d_bn(b3, 384, 1, 3), conv2d_bn(b3, 384, 3, 1)], "mixed9_%d" % i)
        b3d = _chain(x, [(448, 1, 1), (384, 3, 3)])
        b3d = merge([conv2d_bn(b3d, 384, 1, 3), conv2d_bn(b3d, 384, 3, 1)], mode="concat", concat_axis=axis)
        bp = conv2d_bn(_avg_pool_same(x), 192, 1, 1)
        x = mixed([b1, b3, b3d, bp], "mixed%d" % (9 + i))

    if include_top:
        x = AveragePooling2D((8, 8), strides=(8, 8), name="avg_pool")(x)
        x = Flatten(name="flatten")(x)
        x = Dense(classes, activation="softmax", name="predictions")(x)
    return _architecture_model("inception_v3", input_tensor, img_input, x, weights, include_top, "v0.2")


def preprocess_input(x):
    """Scales RGB images in [0, 255] to [-1, 1] (in place), as Inception V3 and
    Xception were trained."""
    x /= 255.0
    x -= 0.5
    x *= 2.0
    return x
