"""CIFAR-100 small images (``keras.datasets.cifar100``)."""

import os

from ..utils.data_utils import get_dataset_file
from .cifar import as_loaded, load_batch

# SHA-256 of the archive at the origin (the file Keras 1 fetched over http).
CIFAR100_SHA256 = "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"


def load_data(label_mode="fine"):
    """Loads CIFAR100 dataset (`cifar-100-python`).

    # Arguments
        label_mode: one of "fine", "coarse".

    # Returns
        Tuple of Numpy arrays: `(X_train, y_train), (X_test, y_test)`; X uint8 of shape
        (N, 3, 32, 32) under 'th' image ordering, (N, 32, 32, 3) under 'tf'; y of
        shape (N, 1).

    # Raises
        ValueError: in case of invalid `label_mode`.
    """
    if label_mode not in ["fine", "coarse"]:
        raise ValueError('label_mode must be one of "fine" "coarse".')
    dirname = "cifar-100-python"
    origin = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"  # Keras 1: http
    path = get_dataset_file(dirname, origin, CIFAR100_SHA256, untar=True)

    X_train, y_train = load_batch(os.path.join(path, "train"), label_key=label_mode + "_labels")
    X_test, y_test = load_batch(os.path.join(path, "test"), label_key=label_mode + "_labels")

    return as_loaded(X_train, y_train), as_loaded(X_test, y_test)
