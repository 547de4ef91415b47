"""Utilities (``keras.utils``): generic helpers, numpy helpers, data and I/O helpers."""

from . import generic_utils  # noqa: F401
