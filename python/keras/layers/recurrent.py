"""Keras 1 `keras.layers.recurrent`: not implemented yet (the recurrent layers)."""

from ._absent import define

__all__ = ["Recurrent", "SimpleRNN", "GRU", "LSTM", ]
define(globals(), __all__, "recurrent")
