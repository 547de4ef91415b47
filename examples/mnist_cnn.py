"""Trains a simple convnet on MNIST digits (the Keras 1 `mnist_cnn.py` example).

Runs offline on the MNIST test set bundled in examples/data: the first 8,000 images
train the model, the last 2,000 test it. Gets to about 98% test accuracy in 12 epochs
(Keras 1 reports 99.25% with the full 60,000 training images).

    python examples/mnist_cnn.py [--epochs N] [--quick]

`--quick` (or FERROKERAS_EXAMPLE_QUICK=1): 512 training images, 1 epoch.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from example_utils import quick_mode  # noqa: E402
from mnist_data import load_mnist_test_set  # noqa: E402

np.random.seed(1337)  # for reproducibility

from keras import backend as K  # noqa: E402
from keras.layers import Activation, Convolution2D, Dense, Dropout, Flatten, MaxPooling2D  # noqa: E402
from keras.models import Sequential  # noqa: E402
from keras.utils import np_utils  # noqa: E402


def main(nb_epoch=12, batch_size=128, nb_train=8000, nb_test=2000, verbose=1):
    nb_classes = 10
    # input image dimensions
    img_rows, img_cols = 28, 28
    # number of convolutional filters to use
    nb_filters = 32
    # size of pooling area for max pooling
    pool_size = (2, 2)
    # convolution kernel size
    kernel_size = (3, 3)

    images, labels = load_mnist_test_set()
    X_train, y_train = images[:nb_train], labels[:nb_train]
    X_test, y_test = images[8000 : 8000 + nb_test], labels[8000 : 8000 + nb_test]

    if K.image_dim_ordering() == "th":
        X_train = X_train.reshape(X_train.shape[0], 1, img_rows, img_cols)
        X_test = X_test.reshape(X_test.shape[0], 1, img_rows, img_cols)
        input_shape = (1, img_rows, img_cols)
    else:
        X_train = X_train.reshape(X_train.shape[0], img_rows, img_cols, 1)
        X_test = X_test.reshape(X_test.shape[0], img_rows, img_cols, 1)
        input_shape = (img_rows, img_cols, 1)

    X_train = X_train.astype("float32") / 255
    X_test = X_test.astype("float32") / 255
    print("X_train shape:", X_train.shape)
    print(X_train.shape[0], "train samples")
    print(X_test.shape[0], "test samples")

    # convert class vectors to binary class matrices
    Y_train = np_utils.to_categorical(y_train, nb_classes)
    Y_test = np_utils.to_categorical(y_test, nb_classes)

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

    model.compile(loss="categorical_crossentropy", optimizer="adadelta", metrics=["accuracy"])

    model.fit(
        X_train,
        Y_train,
        batch_size=batch_size,
        nb_epoch=nb_epoch,
        verbose=verbose,
        validation_data=(X_test, Y_test),
    )
    score = model.evaluate(X_test, Y_test, verbose=0)
    print("Test score:", score[0])
    print("Test accuracy:", score[1])
    return score


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--quick", action="store_true", help="512 training images, 1 epoch")
    a = ap.parse_args()
    if quick_mode():
        main(nb_epoch=1, nb_train=512, nb_test=256, verbose=2)
    else:
        main(nb_epoch=a.epochs)
