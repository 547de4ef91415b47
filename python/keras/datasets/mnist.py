"""MNIST handwritten digits (``keras.datasets.mnist``)."""

from ..utils.data_utils import get_file
from ._files import load_npz, load_pickle

_ORIGINS = {
    "mnist.pkl.gz": "https://s3.amazonaws.com/img-datasets/mnist.pkl.gz",
    "mnist.npz": "https://s3.amazonaws.com/img-datasets/mnist.npz",
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
    origin = _ORIGINS.get(path.rsplit("/", 1)[-1], _ORIGINS["mnist.pkl.gz"])
    path = get_file(path, origin=origin)
    if path.endswith(".npz"):
        d = load_npz(path)
        return (d["x_train"], d["y_train"]), (d["x_test"], d["y_test"])
    (X_train, y_train), (X_test, y_test) = load_pickle(path)
    return (X_train, y_train), (X_test, y_test)
