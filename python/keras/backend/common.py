"""Backend configuration: floatx, epsilon, image dim ordering, uids.

Read from ``~/.keras/keras.json`` at import time when it exists; never written (Keras 1
wrote a default file on first import; ferrokeras leaves the user's home alone). The
default image dim ordering is ``'th'`` (channels first), as in the Keras 1.0 era the
Sequential guide comes from.
"""

import json
import os
from collections import defaultdict

import numpy as np

_FLOATX = "float32"
_EPSILON = 1e-7
_IMAGE_DIM_ORDERING = "th"
_LEGACY_WEIGHT_ORDERING = False
_UID_PREFIXES = defaultdict(int)


def _load_config():
    global _FLOATX, _EPSILON, _IMAGE_DIM_ORDERING
    base = os.path.expanduser("~")
    if not os.access(base, os.W_OK):
        base = "/tmp"
    path = os.path.join(base, ".keras", "keras.json")
    if not os.path.exists(path):
        return
    try:
        with open(path) as f:
            cfg = json.load(f)
    except (OSError, ValueError):
        return
    if not isinstance(cfg, dict):
        return
    if cfg.get("floatx", "float32") == "float32":
        _FLOATX = "float32"
    eps = cfg.get("epsilon")
    if isinstance(eps, (int, float)):
        _EPSILON = float(eps)
    ordering = cfg.get("image_dim_ordering")
    if ordering in ("th", "tf"):
        _IMAGE_DIM_ORDERING = ordering


_load_config()


def epsilon():
    """The fuzz factor used in numeric expressions (1e-7 by default)."""
    return _EPSILON


def set_epsilon(e):
    """Sets the fuzz factor."""
    global _EPSILON
    _EPSILON = float(e)


def floatx():
    """The default float type, ``'float32'``."""
    return _FLOATX


def set_floatx(floatx):
    """Sets the default float type. Only float32 is supported by the engine."""
    if floatx not in {"float16", "float32", "float64"}:
        raise ValueError("Unknown floatx type: " + str(floatx))
    if floatx != "float32":
        raise NotImplementedError(
            "set_floatx(%r): the ferrokeras engine computes in float32 only" % (floatx,)
        )


def cast_to_floatx(x):
    """Casts a numpy array to floatx."""
    return np.asarray(x, dtype=_FLOATX)


def image_dim_ordering():
    """``'th'`` (channels first) or ``'tf'`` (channels last)."""
    return _IMAGE_DIM_ORDERING


def set_image_dim_ordering(dim_ordering):
    """Sets the image dim ordering, ``'th'`` or ``'tf'``."""
    global _IMAGE_DIM_ORDERING
    if dim_ordering not in {"tf", "th"}:
        raise ValueError("Unknown dim_ordering:", dim_ordering)
    _IMAGE_DIM_ORDERING = str(dim_ordering)


def get_uid(prefix=""):
    """Per-prefix counter starting at 1 (drives auto layer names)."""
    _UID_PREFIXES[prefix] += 1
    return _UID_PREFIXES[prefix]


def reset_uids():
    """Resets every uid counter."""
    _UID_PREFIXES.clear()


def legacy_weight_ordering():
    """Whether layers are sorted by name (pre-1.0 weight files)."""
    return _LEGACY_WEIGHT_ORDERING


def set_legacy_weight_ordering(value):
    """Sets the legacy weight ordering flag."""
    global _LEGACY_WEIGHT_ORDERING
    if value not in {True, False}:
        raise ValueError("legacy_weight_ordering must be True or False")
    _LEGACY_WEIGHT_ORDERING = value
