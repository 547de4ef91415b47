"""A variational autoencoder on MNIST digits (the Keras 1 `variational_autoencoder.py`
example; Kingma & Welling, "Auto-Encoding Variational Bayes",
https://arxiv.org/abs/1312.6114).

The encoder maps a digit to the mean and log-variance of a 2-D Gaussian; a `Lambda`
layer samples z = mean + exp(log_var / 2) * eps with `K.random_normal` (so the input
has a fixed `batch_shape`); the decoder maps z back to 784 pixel probabilities. The
loss is the reconstruction cross-entropy (784 * `objectives.binary_crossentropy`) plus
the KL divergence, written as a Keras 1 custom loss closing over the encoder tensors.
After training, an encoder model (digit -> latent mean) and a generator model
(latent point -> digit, reusing the decoder layers) are built as in Keras 1; instead of
Keras 1's matplotlib plots (and scipy.stats.norm.ppf: `statistics.NormalDist` here) this prints how well the latent means separate the classes
and decodes a 15 x 15 grid of latent points (`--plot FILE` saves the grid as a PNG
with Pillow).

Real MNIST digits bundled in examples/data (the first 8,000 test-set images train, the
last 2,000 test). Keras 1 trains 50 epochs on 60,000 images.

    python examples/variational_autoencoder.py [--epochs N] [--plot FILE] [--quick]

`--quick` (or FERROKERAS_EXAMPLE_QUICK=1): 500 training images, 1 epoch.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from example_utils import example_arguments  # noqa: E402
from vae_utils import PLOT, decode_latent_grid, print_latent_separation, vae_digits  # noqa: E402

np.random.seed(1337)  # for reproducibility

from keras import backend as K  # noqa: E402
from keras import objectives  # noqa: E402
from keras.layers import Dense, Input, Lambda  # noqa: E402
from keras.models import Model  # noqa: E402


def main(nb_epoch=50, nb_train=8000, nb_test=2000, plot=None, verbose=1):
    batch_size = 100
    original_dim = 784
    latent_dim = 2
    intermediate_dim = 256
    epsilon_std = 1.0

    x = Input(batch_shape=(batch_size, original_dim))
    h = Dense(intermediate_dim, activation="relu")(x)
    z_mean = Dense(latent_dim)(h)
    z_log_var = Dense(latent_dim)(h)

    def sampling(args):
        z_mean, z_log_var = args
        epsilon = K.random_normal(shape=(batch_size, latent_dim), mean=0.0, std=epsilon_std)
        return z_mean + K.exp(z_log_var / 2) * epsilon

    # note that "output_shape" isn't necessary with the TensorFlow backend
    z = Lambda(sampling, output_shape=(latent_dim,))([z_mean, z_log_var])

    # we instantiate these layers separately so as to reuse them later
    decoder_h = Dense(intermediate_dim, activation="relu")
    decoder_mean = Dense(original_dim, activation="sigmoid")
    h_decoded = decoder_h(z)
    x_decoded_mean = decoder_mean(h_decoded)

    def vae_loss(x, x_decoded_mean):
        xent_loss = original_dim * objectives.binary_crossentropy(x, x_decoded_mean)
        kl_loss = -0.5 * K.sum(1 + z_log_var - K.square(z_mean) - K.exp(z_log_var), axis=-1)
        return xent_loss + kl_loss

    vae = Model(x, x_decoded_mean)
    vae.compile(optimizer="rmsprop", loss=vae_loss)

    # train the VAE on MNIST digits (whole batches: the input has a fixed batch size)
    x_train, x_test, y_test = vae_digits((original_dim,), nb_train, nb_test)
    vae.fit(x_train, x_train, batch_size, nb_epoch, verbose=verbose, validation_data=(x_test, x_test))
    test_loss = vae.evaluate(x_test, x_test, batch_size=batch_size, verbose=0)

    # build a model to project inputs on the latent space
    print_latent_separation(Model(x, z_mean), x_test, y_test, batch_size)

    # build a digit generator that can sample from the learned distribution
    decoder_input = Input(shape=(latent_dim,))
    _h_decoded = decoder_h(decoder_input)
    _x_decoded_mean = decoder_mean(_h_decoded)
    generator = Model(decoder_input, _x_decoded_mean)

    # decode a 15 x 15 grid of latent points
    decode_latent_grid(generator, 15, 28, batch_size, plot)
    print("Test loss:", test_loss)
    return test_loss


if __name__ == "__main__":
    quick = dict(nb_epoch=1, nb_train=500, nb_test=500, verbose=2)
    main(**example_arguments("500 training images, 1 epoch", quick, epochs=50, plot=PLOT))
