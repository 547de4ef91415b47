"""A convolutional variational autoencoder on MNIST digits (the Keras 1
`variational_autoencoder_deconv.py` example; Kingma & Welling, "Auto-Encoding
Variational Bayes", https://arxiv.org/abs/1312.6114).

Encoder: four `Convolution2D` layers (the second with stride 2), a hidden Dense layer,
and the mean and log-variance of a 2-D Gaussian; a `Lambda` samples
z = mean + exp(log_var) * eps (as Keras 1's script wrote it). Decoder: Dense layers up
to 64 x 14 x 14 maps, two `Deconvolution2D` layers with 'same' borders, one with
stride 2 and 'valid' borders up to 29 x 29, and a 2 x 2 'valid' convolution back to
28 x 28 pixel probabilities. `Deconvolution2D` takes its full `output_shape` (batch
included), so the input has a fixed `batch_shape`. Both image dim orderings work.
The loss flattens images and predictions (`K.flatten`) for 784 *
`objectives.binary_crossentropy`, plus the KL term. After training, the encoder and a
generator reusing the decoder layers are built as in Keras 1; instead of its
matplotlib plots this prints how well the latent means separate the digits and
decodes a grid of latent points (`--plot FILE` saves it as a PNG with Pillow).

Real MNIST digits bundled in examples/data (the first 8,000 test-set images train, the
last 2,000 test). Keras 1 trains 5 epochs on 60,000 images.

    python examples/variational_autoencoder_deconv.py [--epochs N] [--plot FILE] [--quick]

`--quick` (or FERROKERAS_EXAMPLE_QUICK=1): 200 training images, 1 epoch, a 5 x 5 grid.
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
from keras.layers import Convolution2D, Deconvolution2D, Dense, Flatten, Input, Lambda, Reshape  # noqa: E402
from keras.models import Model  # noqa: E402


def main(nb_epoch=5, nb_train=8000, nb_test=2000, grid=15, plot=None, verbose=1):
    # input image dimensions
    img_rows, img_cols, img_chns = 28, 28, 1
    # number of convolutional filters to use
    nb_filters = 64
    # convolution kernel size
    nb_conv = 3

    batch_size = 100
    if K.image_dim_ordering() == "th":
        original_img_size = (img_chns, img_rows, img_cols)
    else:
        original_img_size = (img_rows, img_cols, img_chns)
    latent_dim = 2
    intermediate_dim = 128
    epsilon_std = 1.0

    x = Input(batch_shape=(batch_size,) + original_img_size)
    conv_1 = Convolution2D(img_chns, 2, 2, border_mode="same", activation="relu")(x)
    conv_2 = Convolution2D(nb_filters, 2, 2, border_mode="same", activation="relu", subsample=(2, 2))(conv_1)
    conv_3 = Convolution2D(nb_filters, nb_conv, nb_conv, border_mode="same", activation="relu")(conv_2)
    conv_4 = Convolution2D(nb_filters, nb_conv, nb_conv, border_mode="same", activation="relu")(conv_3)
    flat = Flatten()(conv_4)
    hidden = Dense(intermediate_dim, activation="relu")(flat)

    z_mean = Dense(latent_dim)(hidden)
    z_log_var = Dense(latent_dim)(hidden)

    def sampling(args):
        z_mean, z_log_var = args
        epsilon = K.random_normal(shape=(batch_size, latent_dim), mean=0.0, std=epsilon_std)
        return z_mean + K.exp(z_log_var) * epsilon

    z = Lambda(sampling, output_shape=(latent_dim,))([z_mean, z_log_var])

    # the decoder layers, kept to be reused by the generator
    decoder_hid = Dense(intermediate_dim, activation="relu")
    decoder_upsample = Dense(nb_filters * 14 * 14, activation="relu")
    if K.image_dim_ordering() == "th":
        output_shape = (batch_size, nb_filters, 14, 14)
    else:
        output_shape = (batch_size, 14, 14, nb_filters)
    decoder_reshape = Reshape(output_shape[1:])
    decoder_deconv_1 = Deconvolution2D(
        nb_filters, nb_conv, nb_conv, output_shape, border_mode="same", subsample=(1, 1), activation="relu"
    )
    decoder_deconv_2 = Deconvolution2D(
        nb_filters, nb_conv, nb_conv, output_shape, border_mode="same", subsample=(1, 1), activation="relu"
    )
    if K.image_dim_ordering() == "th":
        output_shape = (batch_size, nb_filters, 29, 29)
    else:
        output_shape = (batch_size, 29, 29, nb_filters)
    decoder_deconv_3_upsamp = Deconvolution2D(
        nb_filters, 2, 2, output_shape, border_mode="valid", subsample=(2, 2), activation="relu"
    )
    decoder_mean_squash = Convolution2D(img_chns, 2, 2, border_mode="valid", activation="sigmoid")

    def decode(t):
        t = decoder_reshape(decoder_upsample(decoder_hid(t)))
        t = decoder_deconv_3_upsamp(decoder_deconv_2(decoder_deconv_1(t)))
        return decoder_mean_squash(t)

    x_decoded_mean_squash = decode(z)

    def vae_loss(x, x_decoded_mean):
        # binary_crossentropy averages over the last axis: flatten images and predictions
        x = K.flatten(x)
        x_decoded_mean = K.flatten(x_decoded_mean)
        xent_loss = img_rows * img_cols * objectives.binary_crossentropy(x, x_decoded_mean)
        kl_loss = -0.5 * K.mean(1 + z_log_var - K.square(z_mean) - K.exp(z_log_var), axis=-1)
        return xent_loss + kl_loss

    vae = Model(x, x_decoded_mean_squash)
    vae.compile(optimizer="rmsprop", loss=vae_loss)
    vae.summary()

    # train the VAE on MNIST digits (whole batches: the input has a fixed batch size)
    x_train, x_test, y_test = vae_digits(original_img_size, nb_train, nb_test)
    print("x_train.shape:", x_train.shape)

    vae.fit(x_train, x_train, batch_size, nb_epoch, verbose=verbose, validation_data=(x_test, x_test))
    test_loss = vae.evaluate(x_test, x_test, batch_size=batch_size, verbose=0)

    # a model projecting inputs on the latent space
    print_latent_separation(Model(x, z_mean), x_test, y_test, batch_size)

    # a digit generator sampling from the learned distribution (fixed batch size too)
    decoder_input = Input(batch_shape=(batch_size, latent_dim))
    generator = Model(decoder_input, decode(decoder_input))
    decode_latent_grid(generator, grid, img_rows, batch_size, plot)
    print("Test loss:", test_loss)
    return test_loss


if __name__ == "__main__":
    quick = dict(nb_epoch=1, nb_train=200, nb_test=200, grid=5, verbose=2)
    main(**example_arguments("200 training images, 1 epoch", quick, epochs=5, plot=PLOT))
