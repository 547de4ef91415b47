"""Reads the MNIST IDX files bundled in examples/data (or another folder)."""

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
