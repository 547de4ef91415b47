"""Weight initializations (``keras.initializations``), Keras 1.2.2.

Every initialization is ``f(shape, name=None, dim_ordering='th')`` and returns a backend
variable (``K.variable``) holding the initial values. Random values are drawn from
``np.random``, so ``np.random.seed(n)`` before building a model makes them repeatable.
"""

import numpy as np

from . import backend as K
from .utils.generic_utils import get_from_module


def get_fans(shape, dim_ordering="th"):
    """The fan-in and fan-out of a weight of shape ``shape``.

    # Arguments
        shape: the weight's shape tuple.
        dim_ordering: ``'th'`` or ``'tf'``, the layout of 4-D / 5-D convolution kernels.

    # Returns
        ``(fan_in, fan_out)``:
        - 2-D ``(input_dim, output_dim)``: ``shape[0]``, ``shape[1]``;
        - 4-D / 5-D kernels, ``'th'`` layout ``(nb_filter, stack, k1, ...)``:
          ``shape[1] * receptive_field`` and ``shape[0] * receptive_field`` with
          ``receptive_field = prod(shape[2:])``;
        - 4-D / 5-D kernels, ``'tf'`` layout ``(k1, k2, ..., stack, nb_filter)``:
          ``shape[-2] * prod(shape[:2])`` and ``shape[-1] * prod(shape[:2])`` (for 5-D
          kernels the third spatial axis is left out of the receptive field, as in
          Keras 1);
        - any other rank: both ``sqrt(prod(shape))``.

    # Raises
        ValueError: for a 4-D / 5-D shape with a dim_ordering other than 'th' / 'tf'.
    """
    if len(shape) == 2:
        fan_in = shape[0]
        fan_out = shape[1]
    elif len(shape) == 4 or len(shape) == 5:
        if dim_ordering == "th":
            receptive_field_size = np.prod(shape[2:])
            fan_in = shape[1] * receptive_field_size
            fan_out = shape[0] * receptive_field_size
        elif dim_ordering == "tf":
            receptive_field_size = np.prod(shape[:2])
            fan_in = shape[-2] * receptive_field_size
            fan_out = shape[-1] * receptive_field_size
        else:
            raise ValueError("Invalid dim_ordering: " + str(dim_ordering))
    else:
        fan_in = np.sqrt(np.prod(shape))
        fan_out = np.sqrt(np.prod(shape))
    return fan_in, fan_out


def uniform(shape, scale=0.05, name=None, dim_ordering="th"):
    """Uniform values in ``[-scale, scale]``.

    # Arguments
        shape: the variable's shape.
        scale: half-width of the interval.
        name: the variable's name.
        dim_ordering: unused (accepted for a uniform signature).
    """
    return K.random_uniform_variable(shape, -scale, scale, name=name)


def normal(shape, scale=0.05, name=None, dim_ordering="th"):
    """Normal values of mean 0 and standard deviation ``scale``.

    # Arguments
        shape: the variable's shape.
        scale: the standard deviation.
        name: the variable's name.
        dim_ordering: unused (accepted for a uniform signature).
    """
    return K.random_normal_variable(shape, 0.0, scale, name=name)


def _fan_scaled(draw, numerator, shape, name, dim_ordering, both_fans):
    """``draw(shape, sqrt(numerator / fan))`` (``uniform`` or ``normal``), ``fan`` the
    fan-in, or with ``both_fans`` fan-in + fan-out (``get_fans``)."""
    fan_in, fan_out = get_fans(shape, dim_ordering=dim_ordering)
    return draw(shape, np.sqrt(numerator / (fan_in + fan_out if both_fans else fan_in)), name=name)


def lecun_uniform(shape, name=None, dim_ordering="th"):
    """Uniform in ``[-sqrt(3 / fan_in), sqrt(3 / fan_in)]`` (LeCun 98, Efficient Backprop)."""
    return _fan_scaled(uniform, 3.0, shape, name, dim_ordering, both_fans=False)


def glorot_normal(shape, name=None, dim_ordering="th"):
    """Normal with standard deviation ``sqrt(2 / (fan_in + fan_out))`` (Glorot & Bengio 2010)."""
    return _fan_scaled(normal, 2.0, shape, name, dim_ordering, both_fans=True)


def glorot_uniform(shape, name=None, dim_ordering="th"):
    """Uniform in ``[-s, s]`` with ``s = sqrt(6 / (fan_in + fan_out))`` (Glorot & Bengio 2010)."""
    return _fan_scaled(uniform, 6.0, shape, name, dim_ordering, both_fans=True)


def he_normal(shape, name=None, dim_ordering="th"):
    """Normal with standard deviation ``sqrt(2 / fan_in)`` (He et al. 2015)."""
    return _fan_scaled(normal, 2.0, shape, name, dim_ordering, both_fans=False)


def he_uniform(shape, name=None, dim_ordering="th"):
    """Uniform in ``[-s, s]`` with ``s = sqrt(6 / fan_in)`` (He et al. 2015)."""
    return _fan_scaled(uniform, 6.0, shape, name, dim_ordering, both_fans=False)


def orthogonal(shape, scale=1.1, name=None, dim_ordering="th"):
    """A (semi-)orthogonal matrix times ``scale`` (Saxe et al. 2013).

    The SVD of a standard normal matrix of shape ``(shape[0], prod(shape[1:]))`` gives
    the factor of that shape, reshaped to ``shape``.

    # Arguments
        shape: the variable's shape (at least 2-D).
        scale: the multiplier (1.1 by default, as in Keras 1).
        name: the variable's name.
        dim_ordering: unused.
    """
    flat_shape = (shape[0], int(np.prod(shape[1:])))
    a = np.random.normal(0.0, 1.0, flat_shape)
    u, _, v = np.linalg.svd(a, full_matrices=False)
    q = u if u.shape == flat_shape else v
    q = q.reshape(shape)
    return K.variable(scale * q[: shape[0], : shape[1]], name=name)


def identity(shape, scale=1, name=None, dim_ordering="th"):
    """``scale`` times the identity matrix.

    # Raises
        ValueError: unless the shape is 2-D and square.
    """
    if len(shape) != 2 or shape[0] != shape[1]:
        raise ValueError("Identity matrix initialization can only be used for 2D square matrices.")
    return K.variable(scale * np.identity(shape[0]), name=name)


def zero(shape, name=None, dim_ordering="th"):
    """All zeros."""
    return K.zeros(shape, name=name)


def one(shape, name=None, dim_ordering="th"):
    """All ones."""
    return K.ones(shape, name=name)


_NOT_INITIALIZATIONS = {"get", "get_fans", "get_from_module"}


def _table():
    return {
        k: v
        for k, v in globals().items()
        if not k.startswith("_") and k not in _NOT_INITIALIZATIONS and callable(v) and not isinstance(v, type)
    }


def get(identifier, kwargs=None, **extra):
    """Returns an initialization function.

    # Arguments
        identifier: a function name (``'glorot_uniform'``) or a callable (returned as
            is).
        kwargs: unused for names (initializations are functions, not classes); kept
            for the Keras 1 signature. Extra keyword arguments are accepted likewise.

    # Raises
        ValueError: for an unknown name.
    """
    kwargs = dict(kwargs or {}, **extra)
    return get_from_module(identifier, _table(), "initialization", kwargs=kwargs)
