"""Keras 1 `keras.layers.advanced_activations`: not implemented yet (the advanced activation layers)."""

from ._absent import define

__all__ = [
    "LeakyReLU",
    "PReLU",
    "ELU",
    "ParametricSoftplus",
    "ThresholdedReLU",
    "SReLU",
]  # noqa: F822 (defined by define() below)
define(globals(), __all__, "advanced activation")
