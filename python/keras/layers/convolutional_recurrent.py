"""Keras 1 `keras.layers.convolutional_recurrent`: not implemented yet (the convolutional recurrent layers)."""

from ._absent import define

__all__ = [
    "ConvLSTM2D",
]  # noqa: F822 (defined by define() below)
define(globals(), __all__, "convolutional recurrent")
