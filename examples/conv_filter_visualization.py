"""Visualizes VGG16 filters by gradient ascent in input space (the Keras 1
`conv_filter_visualization.py` example).

For each filter of one convolution layer, the loss is the filter's mean activation;
`K.gradients` of it with respect to the input picture, normalised by its RMS, drives 20
steps of gradient ascent from a grey noise picture (`K.function([input], [loss,
grads])`, rebuilt per filter as in Keras 1). Filters whose activation stays at 0 are
skipped; the ones reaching the highest loss are stitched into an n x n grid.

ImageNet weights: Keras 1 downloads them. Offline, `VGG16(weights='imagenet')` raises
a DownloadError naming the weights file unless the file is already in
~/.keras/models; this script then says so and uses RANDOM VGG16 weights
(`weights=None`): the ascent runs the same, but the pictures show what random filters
respond to, not ImageNet features. Keras 1 scans 200 filters of block5_conv1 on
128 x 128 pictures; the default here scans 16 filters of 64 x 64 pictures (`--size`,
`--filters`, `--layer`); `--output FILE` saves the grid as a PNG with Pillow (Keras 1
used scipy.misc.imsave).

    python examples/conv_filter_visualization.py [--layer NAME] [--filters N] [--size S]
        [--output FILE] [--quick]

`--quick` (or FERROKERAS_EXAMPLE_QUICK=1): block3_conv1, 2 filters, 48 x 48, 3 steps,
and no download attempt (ImageNet weights only if already in ~/.keras/models).
"""

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from example_utils import example_arguments, save_png  # noqa: E402

np.random.seed(1337)

from vgg16_images import load_vgg16  # noqa: E402

from keras import backend as K  # noqa: E402


def deprocess_image(x):
    """A float picture -> uint8 RGB (rows, cols, 3): centred on 0.5 with std 0.1, clipped."""
    x = x - x.mean()
    x /= x.std() + 1e-5
    x *= 0.1
    x += 0.5
    x = np.clip(x, 0, 1) * 255
    if K.image_dim_ordering() == "th":
        x = x.transpose((1, 2, 0))
    return np.clip(x, 0, 255).astype("uint8")


def main(layer_name="block5_conv1", nb_filters=16, size=64, steps=20, output=None, try_download=True):
    img_width = img_height = max(48, size)  # block5 holds no pixel of a smaller picture
    model = load_vgg16(None, try_download, "the pictures show random filters, not ImageNet features.")
    model.summary()

    # this is the placeholder for the input images
    input_img = model.input
    # the symbolic outputs of each "key" layer (they have unique names)
    layer_dict = dict([(layer.name, layer) for layer in model.layers[1:]])

    def normalize(x):
        # utility function to normalize a tensor by its L2 norm
        return x / (K.sqrt(K.mean(K.square(x))) + 1e-5)

    kept_filters = []
    for filter_index in range(0, nb_filters):
        print("Processing filter %d" % filter_index)
        start_time = time.time()

        # a loss that maximizes the activation of the nth filter of the layer considered
        layer_output = layer_dict[layer_name].output
        if K.image_dim_ordering() == "th":
            loss = K.mean(layer_output[:, filter_index, :, :])
        else:
            loss = K.mean(layer_output[:, :, :, filter_index])

        # the gradient of the input picture wrt this loss, normalized
        grads = normalize(K.gradients(loss, [input_img])[0])
        # this function returns the loss and grads given the input picture
        iterate = K.function([input_img], [loss, grads])

        step = 1.0
        # start from a gray image with some random noise
        if K.image_dim_ordering() == "th":
            input_img_data = np.random.random((1, 3, img_width, img_height))
        else:
            input_img_data = np.random.random((1, img_width, img_height, 3))
        input_img_data = (input_img_data - 0.5) * 20 + 128

        loss_value = 0.0
        for _ in range(steps):
            loss_value, grads_value = iterate([input_img_data])
            input_img_data += grads_value * step
            print("Current loss value:", loss_value)
            if loss_value <= 0.0:
                # some filters get stuck to 0, we can skip them
                break

        if loss_value > 0:
            kept_filters.append((deprocess_image(input_img_data[0]), loss_value))
        print("Filter %d processed in %ds" % (filter_index, time.time() - start_time))

    # the filters with the highest loss are assumed to look best: stitch them on a grid
    n = min(8, int(np.sqrt(len(kept_filters))))
    print("Kept %d of %d filters" % (len(kept_filters), nb_filters))
    if n == 0:
        print("No filter responded; nothing to stitch")
        return kept_filters
    kept_filters.sort(key=lambda x: x[1], reverse=True)
    kept_filters = kept_filters[: n * n]
    margin = 5
    width = n * img_width + (n - 1) * margin
    height = n * img_height + (n - 1) * margin
    stitched_filters = np.zeros((width, height, 3), dtype="uint8")
    for i in range(n):
        for j in range(n):
            img, _ = kept_filters[i * n + j]
            r, c = (img_width + margin) * i, (img_height + margin) * j
            stitched_filters[r : r + img_width, c : c + img_height, :] = img
    print("Stitched the best %d filters into a %dx%d grid: %s" % (n * n, n, n, stitched_filters.shape))
    if output:
        save_png(stitched_filters, output)
    return kept_filters


if __name__ == "__main__":
    quick = dict(layer_name="block3_conv1", nb_filters=2, size=48, steps=3, try_download=False)
    options = dict(
        layer_name=dict(flag="--layer", default="block5_conv1"),
        nb_filters=dict(flag="--filters", type=int, default=16),
        size=dict(type=int, default=64, help="picture side (>= 48)"),
        output=dict(help="save the stitched filters as this PNG file"),
    )
    main(**example_arguments("block3_conv1, 2 filters, 48 x 48, 3 steps", quick, **options))
