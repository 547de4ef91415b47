"""Activation functions (``keras.activations``), Keras 1.2.2.

Each function takes a tensor and returns a tensor of the same shape. Layers take them
by name (``Dense(64, activation='relu')``) through :func:`get`.
"""

from . import backend as K
from .utils.generic_utils import get_from_module, module_functions


def softmax(x):
    """Softmax over the last axis.

    # Arguments
        x: a 2-D tensor ``(samples, features)`` or a 3-D tensor
            ``(samples, timesteps, features)``.

    # Returns
        The softmax of x along its last axis.

    # Raises
        ValueError: for a tensor that is neither 2-D nor 3-D.
    """
    ndim = K.ndim(x)
    if ndim == 2:
        return K.softmax(x)
    elif ndim == 3:
        e = K.exp(x - K.max(x, axis=-1, keepdims=True))
        s = K.sum(e, axis=-1, keepdims=True)
        return e / s
    else:
        raise ValueError("Cannot apply softmax to a tensor that is not 2D or 3D. Here, ndim=" + str(ndim))


def elu(x, alpha=1.0):
    """Exponential linear unit: ``x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` otherwise.

    # Arguments
        x: a tensor.
        alpha: scale of the negative part.
    """
    return K.elu(x, alpha)


def softplus(x):
    """``log(exp(x) + 1)``."""
    return K.softplus(x)


def softsign(x):
    """``x / (abs(x) + 1)``."""
    return K.softsign(x)


def relu(x, alpha=0.0, max_value=None):
    """Rectified linear unit.

    # Arguments
        x: a tensor.
        alpha: slope of the negative part (leaky ReLU when > 0).
        max_value: saturation threshold, or None.
    """
    return K.relu(x, alpha=alpha, max_value=max_value)


def tanh(x):
    """Hyperbolic tangent."""
    return K.tanh(x)


def sigmoid(x):
    """Logistic sigmoid ``1 / (1 + exp(-x))``."""
    return K.sigmoid(x)


def hard_sigmoid(x):
    """Piecewise linear sigmoid: ``clip(0.2 * x + 0.5, 0, 1)``."""
    return K.hard_sigmoid(x)


def linear(x):
    """The identity."""
    return x


def get(identifier):
    """Returns an activation function.

    # Arguments
        identifier: a function name (``'relu'``), a callable (returned as is), or None
            (returns :func:`linear`).

    # Raises
        ValueError: for an unknown name.
    """
    if identifier is None:
        return linear
    return get_from_module(identifier, module_functions(globals()), "activation function")
