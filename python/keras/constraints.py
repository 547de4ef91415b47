"""Weight constraints (``keras.constraints``), Keras 1.2.2.

A constraint maps a parameter's new value (right after each optimizer step) to the
constrained value. ``constraint(p)`` builds that mapping with backend ops, as in
Keras 1. The built-in constraints also describe themselves to the engine through
:meth:`Constraint.native_spec`, so the optimizers apply them inside their fused native
update; a user-defined subclass has no native spec and the optimizer applies its
``__call__`` symbolically instead.
"""

from . import backend as K
from .utils.generic_utils import get_from_module


def _norms(p, axis):
    return K.sqrt(K.sum(K.square(p), axis=axis, keepdims=True))


def _axis_spec(axis):
    if isinstance(axis, (list, tuple)):
        return [int(a) for a in axis]
    return int(axis)


class Constraint:
    """Base class of constraints: the identity."""

    def __call__(self, p):
        return p

    def get_config(self):
        return {"name": self.__class__.__name__}

    def native_spec(self):
        """The ``(kind, params)`` description the engine's fused optimizer update takes,
        or None when this constraint has to be applied through ``__call__`` (any class
        whose ``__call__`` is not one of the built-in ones)."""
        return None

    def _is_builtin(self, cls):
        # a subclass that redefines __call__ is applied through it, not natively
        return type(self).__call__ is cls.__call__


class MaxNorm(Constraint):
    """Rescales the slices of the weight whose L2 norm exceeds ``m``.

    # Arguments
        m: the maximum norm.
        axis: the axis (int or list of ints) the norms are taken over. For a ``Dense``
            weight ``(input_dim, output_dim)``, ``axis=0`` constrains each unit's
            incoming weight vector; for a ``'th'`` convolution kernel
            ``(nb_filter, stack, rows, cols)`` use ``axis=[1, 2, 3]``.

    # References
        - [Dropout: A Simple Way to Prevent Neural Networks from Overfitting](http://www.cs.toronto.edu/~rsalakhu/papers/srivastava14a.pdf)
    """

    def __init__(self, m=2, axis=0):
        self.m = m
        self.axis = axis

    def __call__(self, p):
        norms = _norms(p, self.axis)
        desired = K.clip(norms, 0, self.m)
        p = p * (desired / (K.epsilon() + norms))
        return p

    def get_config(self):
        return {"name": self.__class__.__name__, "m": self.m, "axis": self.axis}

    def native_spec(self):
        if not self._is_builtin(MaxNorm):
            return None
        return ("maxnorm", {"m": float(self.m), "axis": _axis_spec(self.axis)})


class NonNeg(Constraint):
    """Zeroes the negative entries of the weight."""

    def __call__(self, p):
        p = p * K.cast(K.greater_equal(p, 0.0), K.floatx())
        return p

    def native_spec(self):
        if not self._is_builtin(NonNeg):
            return None
        return ("nonneg", {})


class UnitNorm(Constraint):
    """Divides the weight by its L2 norm along ``axis``.

    # Arguments
        axis: the axis (int or list of ints) the norms are taken over.
    """

    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, p):
        return p / (K.epsilon() + _norms(p, self.axis))

    def get_config(self):
        return {"name": self.__class__.__name__, "axis": self.axis}

    def native_spec(self):
        if not self._is_builtin(UnitNorm):
            return None
        return ("unitnorm", {"axis": _axis_spec(self.axis)})


class MinMaxNorm(Constraint):
    """Pulls the L2 norms of the weight's slices into ``[low, high]``.

    # Arguments
        low: the minimum norm.
        high: the maximum norm.
        rate: how far to move towards the clipped norm: 1.0 moves all the way, a lower
            rate gives ``rate * clip(norm, low, high) + (1 - rate) * norm``.
        axis: the axis (int or list of ints) the norms are taken over.
    """

    def __init__(self, low=0.0, high=1.0, rate=1.0, axis=0):
        self.low = low
        self.high = high
        self.rate = rate
        self.axis = axis

    def __call__(self, p):
        norms = _norms(p, self.axis)
        desired = self.rate * K.clip(norms, self.low, self.high) + (1 - self.rate) * norms
        p = p * (desired / (K.epsilon() + norms))
        return p

    def get_config(self):
        return {
            "name": self.__class__.__name__,
            "low": self.low,
            "high": self.high,
            "rate": self.rate,
            "axis": self.axis,
        }

    def native_spec(self):
        if not self._is_builtin(MinMaxNorm):
            return None
        return (
            "minmaxnorm",
            {
                "low": float(self.low),
                "high": float(self.high),
                "rate": float(self.rate),
                "axis": _axis_spec(self.axis),
            },
        )


# Aliases.
maxnorm = MaxNorm
nonneg = NonNeg
unitnorm = UnitNorm

_CONSTRAINTS = ("Constraint", "MaxNorm", "NonNeg", "UnitNorm", "MinMaxNorm", "maxnorm", "nonneg", "unitnorm")


def get(identifier, kwargs=None):
    """Returns a constraint instance.

    # Arguments
        identifier: a name (``'maxnorm'``, ``'MaxNorm'``, ...), a config dict
            ``{'name': ..., ...}`` (as ``get_config()`` returns), or a constraint
            instance (returned as is).
        kwargs: keyword arguments for the constructor when ``identifier`` is a name.

    # Raises
        ValueError: for an unknown name.
    """
    table = {k: globals()[k] for k in _CONSTRAINTS}
    return get_from_module(identifier, table, "constraint", instantiate=True, kwargs=kwargs)
