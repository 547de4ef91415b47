"""Loss functions (``keras.objectives``), Keras 1.2.2.

Every objective is ``fn(y_true, y_pred)`` and returns the per-sample loss: a tensor
reduced over the last axis only (``(samples,)`` for 2-D outputs, ``(samples,
timesteps)`` for 3-D ones). The model averages it (with sample weights and masks).
``eps`` below is ``K.epsilon()`` (1e-7 by default).
"""

from . import backend as K
from .utils.generic_utils import get_from_module, module_functions


def mean_squared_error(y_true, y_pred):
    """``mean((y_pred - y_true)**2)`` over the last axis."""
    return K.mean(K.square(y_pred - y_true), axis=-1)


def mean_absolute_error(y_true, y_pred):
    """``mean(|y_pred - y_true|)`` over the last axis."""
    return K.mean(K.abs(y_pred - y_true), axis=-1)


def mean_absolute_percentage_error(y_true, y_pred):
    """``100 * mean(|(y_true - y_pred) / clip(|y_true|, eps, inf)|)`` over the last axis."""
    diff = K.abs((y_true - y_pred) / K.clip(K.abs(y_true), K.epsilon(), None))
    return 100.0 * K.mean(diff, axis=-1)


def mean_squared_logarithmic_error(y_true, y_pred):
    """``mean((log(clip(y_pred, eps, inf) + 1) - log(clip(y_true, eps, inf) + 1))**2)``."""
    first_log = K.log(K.clip(y_pred, K.epsilon(), None) + 1.0)
    second_log = K.log(K.clip(y_true, K.epsilon(), None) + 1.0)
    return K.mean(K.square(first_log - second_log), axis=-1)


def squared_hinge(y_true, y_pred):
    """``mean(max(1 - y_true * y_pred, 0)**2)`` (targets -1 / 1)."""
    return K.mean(K.square(K.maximum(1.0 - y_true * y_pred, 0.0)), axis=-1)


def hinge(y_true, y_pred):
    """``mean(max(1 - y_true * y_pred, 0))`` (targets -1 / 1)."""
    return K.mean(K.maximum(1.0 - y_true * y_pred, 0.0), axis=-1)


def categorical_crossentropy(y_true, y_pred):
    """``-sum(y_true * log(p))`` with ``p = clip(y_pred / sum(y_pred), eps, 1 - eps)``.

    The targets are one-hot (or probability) vectors over the last axis.
    """
    return K.categorical_crossentropy(y_pred, y_true)


def sparse_categorical_crossentropy(y_true, y_pred):
    """Categorical crossentropy against integer targets of shape ``(samples, 1)`` (or
    ``(samples, timesteps, 1)``)."""
    return K.sparse_categorical_crossentropy(y_pred, y_true)


def binary_crossentropy(y_true, y_pred):
    """``mean(-(t * log(p) + (1 - t) * log(1 - p)))`` with ``p = clip(y_pred, eps, 1 - eps)``,
    over the last axis."""
    return K.mean(K.binary_crossentropy(y_pred, y_true), axis=-1)


def kullback_leibler_divergence(y_true, y_pred):
    """``sum(t * log(t / p))`` with t and p clipped to ``[eps, 1]``."""
    y_true = K.clip(y_true, K.epsilon(), 1)
    y_pred = K.clip(y_pred, K.epsilon(), 1)
    return K.sum(y_true * K.log(y_true / y_pred), axis=-1)


def poisson(y_true, y_pred):
    """``mean(y_pred - y_true * log(y_pred + eps))`` over the last axis."""
    return K.mean(y_pred - y_true * K.log(y_pred + K.epsilon()), axis=-1)


def cosine_proximity(y_true, y_pred):
    """``-mean(l2_normalize(y_true) * l2_normalize(y_pred))`` over the last axis (a mean,
    not a sum, as in Keras 1)."""
    y_true = K.l2_normalize(y_true, axis=-1)
    y_pred = K.l2_normalize(y_pred, axis=-1)
    return -K.mean(y_true * y_pred, axis=-1)


# Aliases.
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kullback_leibler_divergence
cosine = cosine_proximity


def get(identifier):
    """Returns a loss function.

    # Arguments
        identifier: a loss name (``'mse'``, ``'categorical_crossentropy'``, ...) or a
            callable (returned as is).

    # Raises
        ValueError: for an unknown name.
    """
    return get_from_module(identifier, module_functions(globals()), "objective")
