"""Keras 1 `keras.layers.embeddings`: not implemented yet (the embedding layers)."""

from ._absent import define

__all__ = ["Embedding", ]
define(globals(), __all__, "embedding")
