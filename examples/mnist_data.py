"""Reads the MNIST IDX files bundled in examples/data (or another folder), and splits
and prepares them the way the MNIST examples train on them."""

import gzip
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
BUNDLED = os.path.join(HERE, "data", "mnist")


def load_mnist_test_set(folder=BUNDLED):
    """The 10,000 MNIST test images (uint8, (N, 28, 28)) and labels (uint8, (N,))."""
    with gzip.open(os.path.join(folder, "t10k-images-idx3-ubyte.gz")) as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(os.path.join(folder, "t10k-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    return images, labels


def split_mnist(nb_train=8000, nb_test=2000):
    """`(X_train, y_train), (X_test, y_test)` of the bundled test set, as the examples
    share it: the first `nb_train` images train, `nb_test` from the 8,001st test."""
    images, labels = load_mnist_test_set()
    train = images[:nb_train], labels[:nb_train]
    return train, (images[8000 : 8000 + nb_test], labels[8000 : 8000 + nb_test])


def prepare_digits(train, test, shape, nb_classes=10, show_shape=True):
    """Both splits ready to fit: images reshaped to `(samples,) + shape`, float32 in
    [0, 1], labels as one-hot rows of `nb_classes`; prints the sizes as Keras 1 does."""
    from keras.utils import np_utils

    X_train = train[0].reshape((-1,) + tuple(shape)).astype("float32") / 255
    X_test = test[0].reshape((-1,) + tuple(shape)).astype("float32") / 255
    if show_shape:
        print("X_train shape:", X_train.shape)
    print(X_train.shape[0], "train samples")
    print(X_test.shape[0], "test samples")
    # convert class vectors to binary class matrices
    Y_train = np_utils.to_categorical(train[1], nb_classes)
    Y_test = np_utils.to_categorical(test[1], nb_classes)
    return (X_train, Y_train), (X_test, Y_test)


def load_digits(shape, nb_train=8000, nb_test=2000, nb_classes=10, show_shape=True):
    """`prepare_digits` of `split_mnist(nb_train, nb_test)`."""
    return prepare_digits(*split_mnist(nb_train, nb_test), shape, nb_classes, show_shape)


def zeros_and_ones(images, labels):
    """The images of 0 and 1 among the first 8,000 (train) and the rest (test), as
    (N, 784) floats in [0, 1], and their labels as float32 0/1 (for a logistic
    regression)."""
    x = images.reshape(len(images), 784).astype("float32") / 255.0
    keep_train = labels[:8000] <= 1
    keep_test = labels[8000:] <= 1
    train = x[:8000][keep_train], labels[:8000][keep_train].astype("float32")
    return train, (x[8000:][keep_test], labels[8000:][keep_test].astype("float32"))
