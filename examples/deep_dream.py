"""Deep Dreaming (the Keras 1 `deep_dream.py` example), on small pictures.

A picture is modified (L-BFGS over its pixels, with scipy) to maximise the activations
of chosen VGG16 layers (Keras 1's 'dreamy' setting: block5_conv1 0.05, block5_conv2
0.02, border pixels left out), with a continuity loss (local coherence) and an L2
penalty on the picture. The picture is a fixed-size `Input(batch_shape=(1, ...))`
passed to `vgg16.VGG16(input_tensor=..., include_top=False)`; the loss and
`K.gradients` of it come out of one `K.function`.

ImageNet weights: Keras 1 downloads them. Offline, `VGG16(weights='imagenet')` raises
a DownloadError naming the weights file unless the file is already in
~/.keras/models; this script then says so and uses RANDOM VGG16 weights
(`weights=None`): the procedure runs the same, but the "dream" amplifies random
features. Keras 1 dreams on 600 x 600 pictures; the default here is 128 x 128
(`--size`), 5 iterations of at most 7 evaluations as in Keras 1. The picture is
`--image` (any file Pillow reads) or, by default, an MNIST digit from examples/data on
a colour gradient; `--output PREFIX` saves each iteration as a PNG with Pillow (Keras 1
used scipy.misc.imsave).

    python examples/deep_dream.py [--image IMG] [--output PREFIX] [--size S] [--iter N] [--quick]

`--quick` (or FERROKERAS_EXAMPLE_QUICK=1): 80 x 80, 1 iteration of 3 evaluations, and no
download attempt (ImageNet weights only if already in ~/.keras/models).
"""

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from example_utils import example_arguments  # noqa: E402
from mnist_data import load_mnist_test_set  # noqa: E402

np.random.seed(1337)

from vgg16_images import OUTPUT, end_iteration, load_vgg16, preprocess_image, total_variation_loss  # noqa: E402

from keras import backend as K  # noqa: E402
from keras.layers import Input  # noqa: E402

# some settings Keras 1 found interesting
saved_settings = {
    "bad_trip": {
        "features": {"block4_conv1": 0.05, "block4_conv2": 0.01, "block4_conv3": 0.01},
        "continuity": 0.1,
        "dream_l2": 0.8,
        "jitter": 5,
    },
    "dreamy": {
        "features": {"block5_conv1": 0.05, "block5_conv2": 0.02},
        "continuity": 0.1,
        "dream_l2": 0.02,
        "jitter": 0,
    },
}


def base_picture(path, size):
    """RGB uint8 (size, size, 3): the given image, or an MNIST digit on a gradient."""
    from PIL import Image

    if path:
        return np.asarray(Image.open(path).convert("RGB").resize((size, size)), dtype="uint8")
    digit = np.asarray(Image.fromarray(load_mnist_test_set()[0][7]).resize((size, size)), dtype="float64")
    d = digit[:, :, None] / 255.0
    r, c = np.mgrid[0:size, 0:size]
    gradient = np.stack([60 + 150 * r / size, 90 + 0 * r, 200 - 150 * c / size], axis=-1)
    return np.clip((1 - d) * gradient + d * 235, 0, 255).astype("uint8")


def main(image=None, output=None, size=128, iterations=5, maxfun=7, setting="dreamy", try_download=True):
    size = max(80, size)  # the block5 features of a smaller picture are empty
    img_width = img_height = size
    settings = saved_settings[setting]

    if K.image_dim_ordering() == "th":
        img_size = (3, img_width, img_height)
    else:
        img_size = (img_width, img_height, 3)

    # this will contain our generated image
    dream = Input(batch_shape=(1,) + img_size)

    model = load_vgg16(dream, try_download, "the dream amplifies random features.")
    layer_dict = dict([(layer.name, layer) for layer in model.layers])

    # the loss: minus the L2 norm of the chosen layers' features (border pixels left out)
    loss = K.variable(0.0)
    for layer_name in settings["features"]:
        assert layer_name in layer_dict, "Layer " + layer_name + " not found in model."
        coeff = settings["features"][layer_name]
        x = layer_dict[layer_name].output
        shape = layer_dict[layer_name].output_shape
        if K.image_dim_ordering() == "th":
            loss -= coeff * K.sum(K.square(x[:, :, 2 : shape[2] - 2, 2 : shape[3] - 2])) / np.prod(shape[1:])
        else:
            loss -= coeff * K.sum(K.square(x[:, 2 : shape[1] - 2, 2 : shape[2] - 2, :])) / np.prod(shape[1:])
    # continuity loss (local coherence, can result in an artful blur)
    loss += settings["continuity"] * total_variation_loss(dream, img_width, img_height) / np.prod(img_size)
    # image L2 norm (prevents pixels from taking very high values, makes the image darker)
    loss += settings["dream_l2"] * K.sum(K.square(dream)) / np.prod(img_size)

    # the gradients of the dream wrt the loss
    grads = K.gradients(loss, [dream])
    f_outputs = K.function([dream], [loss] + grads)

    def loss_and_grads(x):
        outs = f_outputs([x.reshape((1,) + img_size).astype("float32")])
        return float(outs[0]), np.asarray(outs[1]).flatten().astype("float64")

    try:
        from scipy.optimize import fmin_l_bfgs_b
    except ImportError:
        sys.exit("This example needs scipy (scipy.optimize.fmin_l_bfgs_b): pip install scipy")

    x = preprocess_image(base_picture(image, size))
    min_val = None
    for i in range(iterations):
        print("Start of iteration", i)
        start_time = time.time()
        # a random jitter, reverted at decoding time
        random_jitter = (settings["jitter"] * 2) * (np.random.random(img_size) - 0.5)
        x = x.reshape(img_size) + random_jitter
        # L-BFGS for a few evaluations (one evaluation gives the loss and its gradient)
        x, min_val, info = fmin_l_bfgs_b(loss_and_grads, x.flatten(), maxfun=maxfun)
        x = x.reshape(img_size) - random_jitter
        end_iteration(i, min_val, start_time, output, x, img_width, img_height)
    print("Final loss:", min_val)
    return min_val


if __name__ == "__main__":
    options = dict(
        image=dict(help="path to the picture to transform"),
        output=OUTPUT,
        size=dict(type=int, default=128, help="picture side (>= 80 for the block5 features)"),
        iterations=dict(flag="--iter", type=int, default=5),
    )
    quick = dict(size=80, iterations=1, maxfun=3, try_download=False)
    about = "80 x 80, 1 iteration of 3 evaluations"
    main(**example_arguments(about, quick, description="Deep Dreams with Keras.", **options))
