"""Keras 1 `keras.layers.local`: not implemented yet (the locally-connected layers)."""

from ._absent import define

__all__ = [
    "LocallyConnected1D",
    "LocallyConnected2D",
]  # noqa: F822 (defined by define() below)
define(globals(), __all__, "locally-connected")
