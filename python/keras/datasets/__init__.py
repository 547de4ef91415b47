"""Keras 1's datasets (``keras.datasets``): cached under ``~/.keras/datasets/``."""

from . import cifar10, cifar100, imdb, mnist, reuters  # noqa: F401
