"""Keras 1 `keras.layers.normalization`: not implemented yet (the normalization layers)."""

from ._absent import define

__all__ = [
    "BatchNormalization",
]  # noqa: F822 (defined by define() below)
define(globals(), __all__, "normalization")
