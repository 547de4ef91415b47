"""Trains a simple convnet on MNIST digits (the Keras 1 `mnist_cnn.py` example).

Runs offline on the MNIST test set bundled in examples/data: the first 8,000 images
train the model, the last 2,000 test it. Gets to about 98% test accuracy in 12 epochs
(Keras 1 reports 99.25% with the full 60,000 training images).

    python examples/mnist_cnn.py [--epochs N] [--quick]

`--quick` (or FERROKERAS_EXAMPLE_QUICK=1): 512 training images, 1 epoch.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from example_utils import example_arguments, image_shape, print_evaluation  # noqa: E402
from mnist_data import load_digits  # noqa: E402

np.random.seed(1337)  # for reproducibility

from keras.layers import Activation, Convolution2D, Dense, Dropout, Flatten, MaxPooling2D  # noqa: E402
from keras.models import Sequential  # noqa: E402


def build_model(input_shape, nb_classes=10):
    """The convnet, uncompiled, in Keras's dim ordering (tests/ train it too)."""
    # number of convolutional filters to use
    nb_filters = 32
    # size of pooling area for max pooling
    pool_size = (2, 2)
    # convolution kernel size
    kernel_size = (3, 3)

    model = Sequential()
    model.add(
        Convolution2D(
            nb_filters, kernel_size[0], kernel_size[1], border_mode="valid", input_shape=input_shape
        )
    )
    model.add(Activation("relu"))
    model.add(Convolution2D(nb_filters, kernel_size[0], kernel_size[1]))
    model.add(Activation("relu"))
    model.add(MaxPooling2D(pool_size=pool_size))
    model.add(Dropout(0.25))

    model.add(Flatten())
    model.add(Dense(128))
    model.add(Activation("relu"))
    model.add(Dropout(0.5))
    model.add(Dense(nb_classes))
    model.add(Activation("softmax"))
    return model


def main(nb_epoch=12, nb_train=8000, nb_test=2000, verbose=1):
    nb_classes = 10
    # input image dimensions
    img_rows, img_cols = 28, 28

    # one grayscale channel, before or after the rows and columns as the dim ordering says
    input_shape = image_shape(img_rows, img_cols, 1)
    (X_train, Y_train), (X_test, Y_test) = load_digits(input_shape, nb_train, nb_test, nb_classes)

    model = build_model(input_shape, nb_classes)
    model.compile(loss="categorical_crossentropy", optimizer="adadelta", metrics=["accuracy"])

    model.fit(
        X_train, Y_train, batch_size=128, nb_epoch=nb_epoch, verbose=verbose, validation_data=(X_test, Y_test)
    )
    return print_evaluation(model, X_test, Y_test)


if __name__ == "__main__":
    quick = dict(nb_epoch=1, nb_train=512, nb_test=256, verbose=2)
    main(**example_arguments("512 training images, 1 epoch", quick, epochs=12))
