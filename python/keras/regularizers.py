"""Weight and activity regularizers (``keras.regularizers``), Keras 1.2.2.

A regularizer is called on a weight (or a layer output) and returns a scalar penalty
tensor that the model adds to its total loss, at training and test time:
``L1L2Regularizer(l1, l2)(x) = sum(l1 * |x|) + sum(l2 * x**2)``.

The Keras 1.0 / 1.1 protocol (``reg.set_param(p)`` or ``reg.set_layer(layer)``, then
``loss = reg(loss)``) still works, with a deprecation warning: once ``set_param`` or
``set_layer`` has been called, calling the regularizer on a loss returns that loss plus
the penalty of the parameter (or of the layer's outputs).
"""

import warnings

import numpy as np

from . import backend as K
from .utils.generic_utils import get_from_module


class Regularizer:
    """Base class of regularizers: no penalty."""

    def set_param(self, p):
        """Deprecated (Keras 1.0 / 1.1): attaches the parameter ``p``.

        After this, ``reg(loss)`` returns ``loss + penalty(p)``.
        """
        warnings.warn(
            "The `set_param` method on regularizers is deprecated. "
            "Call the regularizer on the weight instead (`regularizer(weight)` returns the "
            "penalty), or use `layer.add_weight(..., regularizer=...)`.",
            DeprecationWarning,
            stacklevel=2,
        )
        if getattr(self, "_param", None) is not None and self._param is not p:
            raise ValueError("Regularizers cannot be reused. Instantiate one regularizer per layer.")
        self._param = p

    def set_layer(self, layer):
        """Deprecated (Keras 1.0 / 1.1): attaches the layer whose outputs are regularized.

        After this, ``reg(loss)`` returns ``loss + penalty(outputs of layer)``.
        """
        warnings.warn(
            "The `set_layer` method on regularizers is deprecated. "
            "Activity regularizers are applied by the layer (`activity_regularizer=...`).",
            DeprecationWarning,
            stacklevel=2,
        )
        self._layer = layer

    def penalty(self, x):
        """The penalty of tensor ``x`` (0 for the base class)."""
        return 0

    def __call__(self, x):
        """The penalty of ``x``, or, after ``set_param`` / ``set_layer`` (deprecated),
        ``x`` taken as a loss plus the penalty of the attached parameter / layer outputs.
        """
        p = getattr(self, "_param", None)
        layer = getattr(self, "_layer", None)
        if p is None and layer is None:
            return self.penalty(x)
        loss = x
        if p is not None:
            loss = loss + self.penalty(p)
        if layer is not None:
            for output in _layer_outputs(layer):
                loss = loss + self.penalty(output)
        return loss

    def get_config(self):
        return {"name": self.__class__.__name__}


def _layer_outputs(layer):
    nodes = getattr(layer, "inbound_nodes", None)
    if nodes:
        outs = []
        for i in range(len(nodes)):
            out = layer.get_output_at(i)
            outs.extend(out if isinstance(out, list) else [out])
        return outs
    out = layer.output
    return out if isinstance(out, list) else [out]


class EigenvalueRegularizer(Regularizer):
    """Penalises the largest eigenvalue of ``W^T W`` (2-D weights only), estimated by
    power iteration (Xie et al. 2016, "Diversity Networks").

    # Arguments
        k: the penalty factor.
    """

    def __init__(self, k):
        self.k = k
        self.uses_learning_phase = True

    def penalty(self, x):
        if K.ndim(x) != 2:
            raise ValueError("EigenvalueRegularizer is only available for dense and embedding layers.")
        W = x
        WW = K.dot(K.transpose(W), W)
        dim = K.int_shape(WW)[0]
        o = K.constant(np.ones((dim, 1)))
        # power method for the dominant eigenvector
        main_eigenvect = K.dot(WW, o)
        for _ in range(9):
            main_eigenvect = K.dot(WW, main_eigenvect)
        WWd = K.dot(WW, main_eigenvect)
        # the corresponding dominant eigenvalue (Rayleigh quotient)
        main_eigenval = K.dot(K.transpose(WWd), main_eigenvect) / K.dot(
            K.transpose(main_eigenvect), main_eigenvect
        )
        return K.sum(self.k * main_eigenval)

    def get_config(self):
        return {"name": self.__class__.__name__, "k": float(self.k)}


class L1L2Regularizer(Regularizer):
    """L1 and L2 penalty: ``sum(l1 * |x|) + sum(l2 * x**2)``.

    # Arguments
        l1: L1 factor (stored as float32).
        l2: L2 factor (stored as float32).
    """

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = K.cast_to_floatx(l1)
        self.l2 = K.cast_to_floatx(l2)
        self.uses_learning_phase = False

    def penalty(self, x):
        regularization = 0
        if self.l1:
            regularization = regularization + K.sum(float(self.l1) * K.abs(x))
        if self.l2:
            regularization = regularization + K.sum(float(self.l2) * K.square(x))
        return regularization

    def get_config(self):
        return {"name": self.__class__.__name__, "l1": float(self.l1), "l2": float(self.l2)}


# Aliases (distinct classes in Keras 1.0 / 1.1, one class since 1.2).
WeightRegularizer = L1L2Regularizer
ActivityRegularizer = L1L2Regularizer


def l1(l=0.01):  # noqa: E741 (Keras 1's argument name)
    """An L1 weight regularizer of factor ``l``."""
    return L1L2Regularizer(l1=l)


def l2(l=0.01):  # noqa: E741
    """An L2 weight regularizer of factor ``l``."""
    return L1L2Regularizer(l2=l)


def l1l2(l1=0.01, l2=0.01):
    """An L1 + L2 weight regularizer."""
    return L1L2Regularizer(l1=l1, l2=l2)


def activity_l1(l=0.01):  # noqa: E741
    """An L1 activity regularizer of factor ``l``."""
    return L1L2Regularizer(l1=l)


def activity_l2(l=0.01):  # noqa: E741
    """An L2 activity regularizer of factor ``l``."""
    return L1L2Regularizer(l2=l)


def activity_l1l2(l1=0.01, l2=0.01):
    """An L1 + L2 activity regularizer."""
    return L1L2Regularizer(l1=l1, l2=l2)


_REGULARIZERS = (
    "Regularizer",
    "EigenvalueRegularizer",
    "L1L2Regularizer",
    "WeightRegularizer",
    "ActivityRegularizer",
    "l1",
    "l2",
    "l1l2",
    "activity_l1",
    "activity_l2",
    "activity_l1l2",
)


def get(identifier, kwargs=None):
    """Returns a regularizer instance.

    # Arguments
        identifier: a name (``'l2'`` gives ``l2(0.01)``; ``'L1L2Regularizer'``), a
            config dict ``{'name': ..., ...}`` (as ``get_config()`` returns), or a
            regularizer instance (returned as is).
        kwargs: keyword arguments for the constructor when ``identifier`` is a name.

    # Raises
        ValueError: for an unknown name.
    """
    table = {k: globals()[k] for k in _REGULARIZERS}
    return get_from_module(identifier, table, "regularizer", instantiate=True, kwargs=kwargs)
