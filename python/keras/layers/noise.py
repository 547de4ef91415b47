"""Keras 1 `keras.layers.noise`: not implemented yet (the noise layers)."""

from ._absent import define

__all__ = [
    "GaussianNoise",
    "GaussianDropout",
]  # noqa: F822 (defined by define() below)
define(globals(), __all__, "noise")
