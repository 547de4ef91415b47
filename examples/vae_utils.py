"""What the two variational autoencoder examples share around their models: the
digits they train on, and what they print (and draw) after training."""

from statistics import NormalDist

import numpy as np
from example_utils import save_png
from mnist_data import split_mnist

# the `--plot FILE` option of both examples (argparse settings)
PLOT = dict(help="save the decoded latent grid as this PNG file")


def vae_digits(shape, nb_train, nb_test):
    """`x_train, x_test, y_test`: the digits of `split_mnist` as float32 in [0, 1]
    reshaped to `(samples,) + shape`, and the test labels (the autoencoder learns
    without labels; they only score its latent space)."""
    (train, _), (test, y_test) = split_mnist(nb_train, nb_test)
    x_train = train.astype("float32").reshape((-1,) + tuple(shape)) / 255.0
    x_test = test.astype("float32").reshape((-1,) + tuple(shape)) / 255.0
    return x_train, x_test, y_test


def print_latent_separation(encoder, x_test, y_test, batch_size):
    """Prints how often a test digit's latent mean lies nearest its own class centre."""
    encoded = encoder.predict(x_test, batch_size=batch_size)
    centres = np.array([encoded[y_test == d].mean(axis=0) for d in range(10)])
    nearest = np.argmin(((encoded[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)
    print(
        "Latent means: nearest class centre is the right digit for %.1f%% of the test digits"
        % (100 * np.mean(nearest == y_test))
    )


def decode_latent_grid(generator, n, digit_size, batch_size, plot=None):
    """Decodes an n x n grid of 2-D latent points taken through the Gaussian's inverse
    CDF (Keras 1 uses scipy.stats.norm.ppf; `statistics.NormalDist` here), in whole
    batches of `batch_size` (a generator may have a fixed one); prints the figure's
    size, saves it as a PNG (Pillow) when `plot` names a file, and returns it."""
    points = [NormalDist().inv_cdf(p) for p in np.linspace(0.05, 0.95, n)]
    z_grid = np.array([[xi, yi] for yi in points for xi in points])
    padded = np.zeros((batch_size * -(-len(z_grid) // batch_size), 2))
    padded[: len(z_grid)] = z_grid
    decoded = generator.predict(padded, batch_size=batch_size)[: len(z_grid)]
    figure = decoded.reshape(n, n, digit_size, digit_size).transpose(0, 2, 1, 3).reshape(n * digit_size, -1)
    print(
        "Decoded a %dx%d grid of latent points: figure %s, mean pixel %.3f"
        % (n, n, figure.shape, figure.mean())
    )
    if plot:
        save_png((255 * (1 - figure)).astype("uint8"), plot)
    return figure
