"""Keras 1 `keras.layers.wrappers`: not implemented yet (the wrapper layers)."""

from ._absent import define

__all__ = ["Wrapper", "TimeDistributed", "Bidirectional", ]
define(globals(), __all__, "wrapper")
