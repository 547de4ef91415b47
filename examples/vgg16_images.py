"""The VGG16 network that the picture examples (deep_dream, neural_style_transfer,
conv_filter_visualization) run, the conversions of their pictures to and from its
input, the total variation loss that keeps a generated picture locally coherent, and
the report of an iteration of deep_dream's and neural_style_transfer's L-BFGS.

ImageNet weights are downloaded on first use (Keras 1 does the same); offline, Keras
raises a DownloadError naming the weights file unless it is already in ~/.keras/models,
and `load_vgg16` then says so and builds the network with random weights.
"""

import os
import time

import numpy as np
from example_utils import save_png

from keras import backend as K
from keras.applications import vgg16
from keras.applications.imagenet_utils import preprocess_input
from keras.utils.data_utils import DownloadError, keras_dir

# the `--output PREFIX` option of deep_dream and neural_style_transfer (argparse settings)
OUTPUT = dict(help="prefix for the saved results (PNG)")


def load_vgg16(input_tensor=None, try_download=True, without_weights="the result is not meaningful."):
    """`vgg16.VGG16(include_top=False)` on `input_tensor`: with ImageNet weights when
    they are cached or `try_download` fetches them, else random ones, printing
    `without_weights` after the warning."""
    o = K.image_dim_ordering()
    cached = os.path.join(keras_dir(), "models", "vgg16_weights_%s_dim_ordering_%s_kernels_notop.h5" % (o, o))
    if try_download or os.path.exists(cached):
        try:
            model = vgg16.VGG16(input_tensor=input_tensor, weights="imagenet", include_top=False)
            print("Model loaded (ImageNet weights).")
            return model
        except DownloadError as e:
            print("No ImageNet weights (%s)." % e)
    print("Using RANDOM VGG16 weights: " + without_weights)
    return vgg16.VGG16(input_tensor=input_tensor, weights=None, include_top=False)


def preprocess_image(rgb):
    """RGB uint8 (rows, cols, 3) -> a VGG16 batch of one in the current dim ordering."""
    x = rgb.astype("float32")
    if K.image_dim_ordering() == "th":
        x = x.transpose(2, 0, 1)
    return preprocess_input(np.expand_dims(x, axis=0))


def deprocess_image(x, rows, cols):
    """The inverse of `preprocess_image`: a VGG16 input -> RGB uint8 (rows, cols, 3)."""
    if K.image_dim_ordering() == "th":
        x = x.reshape((3, rows, cols)).transpose((1, 2, 0))
    else:
        x = x.reshape((rows, cols, 3))
    # remove the zero-centring by the mean pixel, then 'BGR' -> 'RGB'
    x = x + np.array([103.939, 116.779, 123.68])
    return np.clip(x[:, :, ::-1], 0, 255).astype("uint8")


def total_variation_loss(x, rows, cols):
    """The sum over a batch of pictures (rows x cols, in the dim ordering) of
    (d_down^2 + d_right^2)^1.25, d the differences between neighbouring pixels."""
    assert K.ndim(x) == 4
    if K.image_dim_ordering() == "th":
        a = K.square(x[:, :, : rows - 1, : cols - 1] - x[:, :, 1:, : cols - 1])
        b = K.square(x[:, :, : rows - 1, : cols - 1] - x[:, :, : rows - 1, 1:])
    else:
        a = K.square(x[:, : rows - 1, : cols - 1, :] - x[:, 1:, : cols - 1, :])
        b = K.square(x[:, : rows - 1, : cols - 1, :] - x[:, : rows - 1, 1:, :])
    return K.sum(K.pow(a + b, 1.25))


def end_iteration(i, loss, started, output, x, rows, cols):
    """Prints iteration `i`'s loss and time (since `started`); when `output` is given,
    saves the picture `x` (a VGG16 input) as OUTPUT_at_iteration_I.png."""
    print("Current loss value:", loss)
    if output:
        save_png(
            deprocess_image(np.copy(x), rows, cols), output + "_at_iteration_%d.png" % i, "Image saved as"
        )
    print("Iteration %d completed in %ds" % (i, time.time() - started))
