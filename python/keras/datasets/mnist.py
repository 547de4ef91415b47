"""MNIST handwritten digits (``keras.datasets.mnist``)."""

from ._files import fetch, load_arrays

_ORIGIN_DIR = "https://s3.amazonaws.com/img-datasets/"
# Published checksums: none for Keras 1's mnist.pkl.gz (its pickle is read with the
# restricted unpickler of ._safe_pickle, like every dataset pickle); mnist.npz's SHA-256
# (the file whose md5 Keras 2 published, 8a61469f7ea1b51cbae51d4f78837e45).
_HASHES = {
    "mnist.pkl.gz": None,
    "mnist.npz": "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
}


def load_data(path="mnist.pkl.gz"):
    """Loads the MNIST dataset.

    # Arguments
        path: where to cache the data (relative to `~/.keras/datasets`). Keras 1's
            `mnist.pkl.gz` (a pickle of `((X_train, y_train), (X_test, y_test))`) and
            the later `mnist.npz` (arrays `x_train`, `y_train`, `x_test`, `y_test`)
            are both read.

    # Returns
        Tuple of Numpy arrays: `(X_train, y_train), (X_test, y_test)`, images uint8 of
        shape (N, 28, 28), labels of shape (N,).
    """
    path = fetch(path, _ORIGIN_DIR, _HASHES, "mnist.pkl.gz")
    (X_train, y_train), (X_test, y_test) = load_arrays(path, (("x_train", "y_train"), ("x_test", "y_test")))
    return (X_train, y_train), (X_test, y_test)
