"""CIFAR batch files (the `cifar-*-python` pickles)."""

import pickle

import numpy as np

from ..utils.data_utils import check_unpickle_allowed


def load_batch(fpath, label_key="labels"):
    """Reads one CIFAR batch pickle: returns `(data, labels)`, data uint8 of shape
    (N, 3, 32, 32) and labels as the pickle holds them (a list). Only from a folder
    extracted from the verified archive, or after the opt-in of `keras.utils.data_utils`."""
    check_unpickle_allowed(fpath)
    with open(fpath, "rb") as f:
        d = pickle.load(f, encoding="bytes")
    d = {(k.decode("utf8") if isinstance(k, bytes) else k): v for k, v in d.items()}
    data = np.asarray(d["data"])
    labels = d[label_key]
    data = data.reshape(data.shape[0], 3, 32, 32)
    return data, labels
