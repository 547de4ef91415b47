"""Neural style transfer (the Keras 1 `neural_style_transfer.py` example; Gatys, Ecker &
Bethge, "A Neural Algorithm of Artistic Style", http://arxiv.org/abs/1508.06576), on
small images.

A generated image is optimised (L-BFGS over its pixels, with scipy) so that its VGG16
features match those of a base image (content loss at block4_conv2), its Gram matrices
match those of a style image (style loss at block1_conv1 ... block5_conv1), and it
stays locally smooth (total variation loss). As in Keras 1, the three images are one
batch: `K.concatenate` of two `K.variable`s and a `K.placeholder`, passed to
`vgg16.VGG16(input_tensor=..., weights='imagenet', include_top=False)`, and the loss
gradient comes from `K.gradients` through a `K.function`.

ImageNet weights: Keras 1 downloads them. Offline, `VGG16(weights='imagenet')` raises
a DownloadError naming the weights file unless the file is already in
~/.keras/models; this script then says so and uses RANDOM VGG16 weights
(`weights=None`). With random weights the procedure runs the same, but the "style"
is only the statistics of random features: the picture is not artistic.

Images: `--base` and `--style` (any files Pillow reads); without them a small base
picture (an MNIST digit from examples/data on a colour gradient) and a striped style
picture are generated. Keras 1 renders 400 rows; the default here is 96 rows
(`--rows`), 4 iterations of L-BFGS with at most 20 evaluations each.

    python examples/neural_style_transfer.py [--base IMG --style IMG] [--output PREFIX]
        [--rows N] [--iter N] [--content_weight W] [--style_weight W] [--tv_weight W] [--quick]

`--quick` (or FERROKERAS_EXAMPLE_QUICK=1): 48 x 48 images, 1 iteration of 5 evaluations,
and no download attempt (ImageNet weights only if already in ~/.keras/models).
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from example_utils import quick_mode  # noqa: E402
from mnist_data import load_mnist_test_set  # noqa: E402

np.random.seed(1337)

from keras import backend as K  # noqa: E402
from keras.applications import vgg16  # noqa: E402
from keras.applications.imagenet_utils import preprocess_input  # noqa: E402
from keras.utils.data_utils import DownloadError, keras_dir  # noqa: E402


def generated_images(rows, cols):
    """A base picture (an MNIST digit over a colour gradient) and a style picture
    (diagonal coloured stripes), RGB uint8 arrays of shape (rows, cols, 3)."""
    from PIL import Image

    digit = Image.fromarray(load_mnist_test_set()[0][0]).resize((cols, rows))
    d = np.asarray(digit, dtype="float64")[:, :, None] / 255.0
    r, c = np.mgrid[0:rows, 0:cols]
    gradient = np.stack([200 * r / rows, 120 + 0 * r, 200 * c / cols], axis=-1)
    base = (1 - d) * gradient + d * np.array([250, 240, 40])
    phase = ((r + c) // max(2, rows // 8)) % 3
    palette = np.array([[30, 60, 160], [230, 200, 60], [200, 40, 40]])
    style = palette[phase] + np.random.RandomState(0).randint(-20, 20, (rows, cols, 3))
    return np.clip(base, 0, 255).astype("uint8"), np.clip(style, 0, 255).astype("uint8")


def load_image(path, rows, cols):
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB").resize((cols, rows)), dtype="uint8")


def preprocess_image(rgb):
    """RGB uint8 (rows, cols, 3) -> a VGG16 batch of one in the current dim ordering."""
    x = rgb.astype("float32")
    if K.image_dim_ordering() == "th":
        x = x.transpose(2, 0, 1)
    return preprocess_input(np.expand_dims(x, axis=0))


def deprocess_image(x, rows, cols):
    if K.image_dim_ordering() == "th":
        x = x.reshape((3, rows, cols)).transpose((1, 2, 0))
    else:
        x = x.reshape((rows, cols, 3))
    # remove the zero-centring by the mean pixel, then 'BGR' -> 'RGB'
    x = x + np.array([103.939, 116.779, 123.68])
    return np.clip(x[:, :, ::-1], 0, 255).astype("uint8")


def main(
    base=None,
    style=None,
    output=None,
    rows=96,
    iterations=4,
    maxfun=20,
    content_weight=0.025,
    style_weight=1.0,
    tv_weight=1.0,
    try_download=True,
):
    if base:
        from PIL import Image

        width, height = Image.open(base).size
        cols = max(48, int(width * rows / height))
        base_rgb = load_image(base, rows, cols)
    else:
        cols = rows
        base_rgb = None
    style_rgb = load_image(style, rows, cols) if style else None
    if base_rgb is None or style_rgb is None:
        gen_base, gen_style = generated_images(rows, cols)
        base_rgb = gen_base if base_rgb is None else base_rgb
        style_rgb = gen_style if style_rgb is None else style_rgb
    print("Image size: %d x %d" % (rows, cols))

    # tensor representations of our images
    base_image = K.variable(preprocess_image(base_rgb))
    style_reference_image = K.variable(preprocess_image(style_rgb))
    # this will contain our generated image
    if K.image_dim_ordering() == "th":
        combination_image = K.placeholder((1, 3, rows, cols))
    else:
        combination_image = K.placeholder((1, rows, cols, 3))
    # the 3 images in one batch
    input_tensor = K.concatenate([base_image, style_reference_image, combination_image], axis=0)

    # build the VGG16 network with our 3 images as input
    o = K.image_dim_ordering()
    cached = os.path.join(keras_dir(), "models", "vgg16_weights_%s_dim_ordering_%s_kernels_notop.h5" % (o, o))
    model = None
    if try_download or os.path.exists(cached):
        try:
            model = vgg16.VGG16(input_tensor=input_tensor, weights="imagenet", include_top=False)
            print("Model loaded (ImageNet weights).")
        except DownloadError as e:
            print("No ImageNet weights (%s)." % e)
    if model is None:
        print("Using RANDOM VGG16 weights: the procedure runs, the result is not artistic.")
        model = vgg16.VGG16(input_tensor=input_tensor, weights=None, include_top=False)
    outputs_dict = dict([(layer.name, layer.output) for layer in model.layers])

    def gram_matrix(x):
        # the feature-wise outer product of an image's feature maps
        assert K.ndim(x) == 3
        if K.image_dim_ordering() == "th":
            features = K.batch_flatten(x)
        else:
            features = K.batch_flatten(K.permute_dimensions(x, (2, 0, 1)))
        return K.dot(features, K.transpose(features))

    def style_loss(style, combination):
        # distance between the Gram matrices of the style and the generated image
        S = gram_matrix(style)
        C = gram_matrix(combination)
        channels = 3
        size = rows * cols
        return K.sum(K.square(S - C)) / (4.0 * (channels**2) * (size**2))

    def content_loss(base, combination):
        return K.sum(K.square(combination - base))

    def total_variation_loss(x):
        # keeps the generated image locally coherent
        assert K.ndim(x) == 4
        if K.image_dim_ordering() == "th":
            a = K.square(x[:, :, : rows - 1, : cols - 1] - x[:, :, 1:, : cols - 1])
            b = K.square(x[:, :, : rows - 1, : cols - 1] - x[:, :, : rows - 1, 1:])
        else:
            a = K.square(x[:, : rows - 1, : cols - 1, :] - x[:, 1:, : cols - 1, :])
            b = K.square(x[:, : rows - 1, : cols - 1, :] - x[:, : rows - 1, 1:, :])
        return K.sum(K.pow(a + b, 1.25))

    loss = K.variable(0.0)
    layer_features = outputs_dict["block4_conv2"]
    loss += content_weight * content_loss(layer_features[0, :, :, :], layer_features[2, :, :, :])
    feature_layers = ["block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1"]
    for layer_name in feature_layers:
        layer_features = outputs_dict[layer_name]
        sl = style_loss(layer_features[1, :, :, :], layer_features[2, :, :, :])
        loss += (style_weight / len(feature_layers)) * sl
    loss += tv_weight * total_variation_loss(combination_image)

    # the gradients of the generated image wrt the loss
    grads = K.gradients(loss, [combination_image])
    f_outputs = K.function([combination_image], [loss] + grads)
    shape = (1, 3, rows, cols) if K.image_dim_ordering() == "th" else (1, rows, cols, 3)

    def loss_and_grads(x):
        outs = f_outputs([x.reshape(shape).astype("float32")])
        return float(outs[0]), np.asarray(outs[1]).flatten().astype("float64")

    try:
        from scipy.optimize import fmin_l_bfgs_b
    except ImportError:  # no scipy: plain normalised gradient steps instead of L-BFGS
        fmin_l_bfgs_b = None

    x = np.random.uniform(0, 255, shape) - 128.0
    min_val = None
    for i in range(iterations):
        print("Start of iteration", i)
        start_time = time.time()
        if fmin_l_bfgs_b is not None:
            # one evaluation gives both the loss and its gradient
            x, min_val, info = fmin_l_bfgs_b(loss_and_grads, x.flatten(), maxfun=maxfun)
        else:
            for _ in range(maxfun):
                min_val, g = loss_and_grads(x)
                x = x.flatten() - 10.0 * g / (np.abs(g).mean() + 1e-8)
        print("Current loss value:", min_val)
        if output:
            from PIL import Image

            fname = output + "_at_iteration_%d.png" % i
            Image.fromarray(deprocess_image(x.copy(), rows, cols)).save(fname)
            print("Image saved as", fname)
        print("Iteration %d completed in %ds" % (i, time.time() - start_time))
    print("Final loss:", min_val)
    return min_val


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="Neural style transfer with Keras.")
    ap.add_argument("--base", help="path to the image to transform")
    ap.add_argument("--style", help="path to the style reference image")
    ap.add_argument("--output", help="prefix for the saved results (PNG)")
    ap.add_argument("--rows", type=int, default=96, help="height of the generated picture (>= 48)")
    ap.add_argument("--iter", type=int, default=4, help="number of L-BFGS iterations")
    ap.add_argument("--content_weight", type=float, default=0.025)
    ap.add_argument("--style_weight", type=float, default=1.0)
    ap.add_argument("--tv_weight", type=float, default=1.0)
    ap.add_argument("--quick", action="store_true", help="48 x 48 images, 1 iteration of 5 evaluations")
    a = ap.parse_args()
    kw = dict(
        base=a.base,
        style=a.style,
        output=a.output,
        content_weight=a.content_weight,
        style_weight=a.style_weight,
        tv_weight=a.tv_weight,
    )
    if quick_mode():
        main(rows=48, iterations=1, maxfun=5, try_download=False, **kw)
    else:
        main(rows=max(48, a.rows), iterations=a.iter, **kw)
