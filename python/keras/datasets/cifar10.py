"""CIFAR-10 small images (``keras.datasets.cifar10``)."""

import os

import numpy as np

from ..utils.data_utils import get_dataset_file
from .cifar import as_loaded, load_batch

# SHA-256 of the archive at the origin (the file Keras 1 fetched over http).
CIFAR10_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"


def load_data():
    """Loads CIFAR10 dataset (`cifar-10-batches-py`, fetched as `cifar-10-python.tar.gz`).

    # Returns
        Tuple of Numpy arrays: `(X_train, y_train), (X_test, y_test)`; X uint8 of shape
        (N, 3, 32, 32) under 'th' image ordering, (N, 32, 32, 3) under 'tf'; y of
        shape (N, 1).
    """
    dirname = "cifar-10-batches-py"
    origin = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"  # Keras 1: http
    path = get_dataset_file(dirname, origin, CIFAR10_SHA256, untar=True)

    batches = [load_batch(os.path.join(path, "data_batch_" + str(i))) for i in range(1, 6)]
    nb_train_samples = sum(len(b[0]) for b in batches)
    X_train = np.zeros((nb_train_samples, 3, 32, 32), dtype="uint8")
    y_train = np.zeros((nb_train_samples,), dtype="uint8")
    start = 0
    for data, labels in batches:
        X_train[start : start + len(data)] = data
        y_train[start : start + len(data)] = labels
        start += len(data)

    X_test, y_test = load_batch(os.path.join(path, "test_batch"))

    return as_loaded(X_train, y_train), as_loaded(X_test, y_test)
