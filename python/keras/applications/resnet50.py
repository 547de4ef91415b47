"""ResNet50 (He et al., 2015) with Keras 1.2.2's layer names (`res2a_branch2a`,
`bn2a_branch2a`, ...)."""

from .. import backend as K
from ..engine.topology import merge
from ..layers import (
    Activation,
    AveragePooling2D,
    BatchNormalization,
    Convolution2D,
    Dense,
    Flatten,
    MaxPooling2D,
    ZeroPadding2D,
)
from .imagenet_utils import (  # noqa: F401  (preprocess_input, decode_predictions: Keras 1.2.2 re-exported them here)
    _architecture_input,
    _architecture_model,
    _documented,
    decode_predictions,
    preprocess_input,
)


def _bottleneck(x, kernel_size, filters, stage, block, strides=None):
    """The three-convolution residual block; with `strides` the shortcut is a strided
    1x1 convolution ('conv block'), otherwise the identity ('identity block')."""
    bn_axis = 1 if K.image_dim_ordering() == "th" else 3
    conv = "res%d%s_branch" % (stage, block)
    bn = "bn%d%s_branch" % (stage, block)
    f1, f2, f3 = filters
    y = Convolution2D(f1, 1, 1, subsample=strides or (1, 1), name=conv + "2a")(x)
    y = BatchNormalization(axis=bn_axis, name=bn + "2a")(y)
    y = Activation("relu")(y)
    y = Convolution2D(f2, kernel_size, kernel_size, border_mode="same", name=conv + "2b")(y)
    y = BatchNormalization(axis=bn_axis, name=bn + "2b")(y)
    y = Activation("relu")(y)
    y = Convolution2D(f3, 1, 1, name=conv + "2c")(y)
    y = BatchNormalization(axis=bn_axis, name=bn + "2c")(y)
    shortcut = x
    if strides is not None:
        shortcut = Convolution2D(f3, 1, 1, subsample=strides, name=conv + "1")(x)
        shortcut = BatchNormalization(axis=bn_axis, name=bn + "1")(shortcut)
    y = merge([y, shortcut], mode="sum")
    return Activation("relu")(y)


# (filters, number of blocks, stride of the first block) per stage 2..5
_STAGES = (((64, 64, 256), 3, (1, 1)), ((128, 128, 512), 4, (2, 2)), ((256, 256, 1024), 6, (2, 2)),
           ((512, 512, 2048), 3, (2, 2)))  # fmt: skip


@_documented("resnet50", 197)
def ResNet50(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, classes=1000):
    """Instantiates the ResNet50 architecture (25,636,712 parameters with the top,
    counting BatchNormalization's running statistics as Keras 1 did)."""
    img_input = _architecture_input(weights, include_top, classes, input_tensor, input_shape, 224, 197)
    bn_axis = 1 if K.image_dim_ordering() == "th" else 3

    x = ZeroPadding2D((3, 3))(img_input)
    x = Convolution2D(64, 7, 7, subsample=(2, 2), name="conv1")(x)
    x = BatchNormalization(axis=bn_axis, name="bn_conv1")(x)
    x = Activation("relu")(x)
    x = MaxPooling2D((3, 3), strides=(2, 2))(x)
    for stage, (filters, blocks, strides) in enumerate(_STAGES, start=2):
        x = _bottleneck(x, 3, filters, stage, "a", strides=strides)
        for b in range(1, blocks):
            x = _bottleneck(x, 3, filters, stage, "abcdef"[b])
    x = AveragePooling2D((7, 7), name="avg_pool")(x)
    if include_top:
        x = Flatten()(x)
        x = Dense(classes, activation="softmax", name="fc1000")(x)
    return _architecture_model("resnet50", input_tensor, img_input, x, weights, include_top, "v0.2")
