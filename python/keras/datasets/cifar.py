"""CIFAR batch files (the `cifar-*-python` pickles)."""

import numpy as np

from .. import backend as K
from ._files import load_pickle


def load_batch(fpath, label_key="labels"):
    """Reads one CIFAR batch pickle: returns `(data, labels)`, data uint8 of shape
    (N, 3, 32, 32) and labels as the pickle holds them (a list). Read with the restricted
    unpickler of `._safe_pickle` (Python 2 `str` as bytes, as Keras 1 read them), so a
    folder whose archive is no longer in the cache needs no opt-in."""
    d = load_pickle(fpath, encoding="bytes")
    if not isinstance(d, dict):
        raise ValueError("%s is not a CIFAR batch (a pickled dict)" % fpath)
    d = {(k.decode("utf8") if isinstance(k, bytes) else k): v for k, v in d.items()}
    data = np.asarray(d["data"])
    labels = d[label_key]
    data = data.reshape(data.shape[0], 3, 32, 32)
    return data, labels


def as_loaded(X, y):
    """The images and labels as `load_data` returns them: the labels a column, the images
    channels-last under the 'tf' image ordering."""
    y = np.reshape(y, (len(y), 1))
    if K.image_dim_ordering() == "tf":
        X = X.transpose(0, 2, 3, 1)
    return X, y
