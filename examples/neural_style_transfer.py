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
    rows = max(48, rows)  # block5 holds no pixel of a smaller picture
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
    model = load_vgg16(input_tensor, try_download, "the procedure runs, the result is not artistic.")
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

    loss = K.variable(0.0)
    layer_features = outputs_dict["block4_conv2"]
    loss += content_weight * content_loss(layer_features[0, :, :, :], layer_features[2, :, :, :])
    feature_layers = ["block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1"]
    for layer_name in feature_layers:
        layer_features = outputs_dict[layer_name]
        sl = style_loss(layer_features[1, :, :, :], layer_features[2, :, :, :])
        loss += (style_weight / len(feature_layers)) * sl
    loss += tv_weight * total_variation_loss(combination_image, rows, cols)

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
        end_iteration(i, min_val, start_time, output, x, rows, cols)
    print("Final loss:", min_val)
    return min_val


if __name__ == "__main__":
    quick = dict(rows=48, iterations=1, maxfun=5, try_download=False)
    options = dict(
        base=dict(help="path to the image to transform"),
        style=dict(help="path to the style reference image"),
        output=OUTPUT,
        rows=dict(type=int, default=96, help="height of the generated picture (>= 48)"),
        iterations=dict(flag="--iter", type=int, default=4, help="number of L-BFGS iterations"),
        # Keras 1's flags keep their underscores
        content_weight=dict(flag="--content_weight", type=float, default=0.025),
        style_weight=dict(flag="--style_weight", type=float, default=1.0),
        tv_weight=dict(flag="--tv_weight", type=float, default=1.0),
    )
    about = "48 x 48 images, 1 iteration of 5 evaluations"
    main(**example_arguments(about, quick, description="Neural style transfer with Keras.", **options))
