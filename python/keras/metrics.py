"""Metrics (``keras.metrics``), Keras 1.2.2.

Every metric is ``fn(y_true, y_pred)`` and returns a scalar: its value on the batch
(a mean over samples and over the last axis). The name a model logs is the function's
``__name__`` (``metrics=['mse']`` is logged as ``mean_squared_error``); the strings
``'accuracy'`` / ``'acc'`` are resolved by ``Model.compile`` to one of the accuracies
below. ``eps`` is ``K.epsilon()``.
"""

import numpy as np

from . import backend as K
from .utils.generic_utils import get_from_module, module_functions


def binary_accuracy(y_true, y_pred):
    """``mean(y_true == round(y_pred))`` (round half to even, so 0.5 counts as 0)."""
    return K.mean(K.cast(K.equal(y_true, K.round(y_pred)), K.floatx()))


def categorical_accuracy(y_true, y_pred):
    """``mean(argmax(y_true) == argmax(y_pred))`` over the last axis."""
    return K.mean(K.cast(K.equal(K.argmax(y_true, axis=-1), K.argmax(y_pred, axis=-1)), K.floatx()))


def sparse_categorical_accuracy(y_true, y_pred):
    """``mean(max(y_true) == argmax(y_pred))``, for integer targets of shape
    ``(samples, 1)``."""
    return K.mean(
        K.cast(
            K.equal(K.max(y_true, axis=-1), K.cast(K.argmax(y_pred, axis=-1), K.floatx())),
            K.floatx(),
        )
    )


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """Fraction of samples whose target class (argmax of y_true) is among the ``k``
    largest predictions."""
    return K.mean(K.cast(K.in_top_k(y_pred, K.argmax(y_true, axis=-1), k), K.floatx()))


def mean_squared_error(y_true, y_pred):
    """``mean((y_pred - y_true)**2)``."""
    return K.mean(K.square(y_pred - y_true))


def mean_absolute_error(y_true, y_pred):
    """``mean(|y_pred - y_true|)``."""
    return K.mean(K.abs(y_pred - y_true))


def mean_absolute_percentage_error(y_true, y_pred):
    """``100 * mean(|(y_true - y_pred) / clip(|y_true|, eps, inf)|)``."""
    diff = K.abs((y_true - y_pred) / K.clip(K.abs(y_true), K.epsilon(), np.inf))
    return 100.0 * K.mean(diff)


def mean_squared_logarithmic_error(y_true, y_pred):
    """``mean((log(clip(y_pred, eps, inf) + 1) - log(clip(y_true, eps, inf) + 1))**2)``."""
    first_log = K.log(K.clip(y_pred, K.epsilon(), np.inf) + 1.0)
    second_log = K.log(K.clip(y_true, K.epsilon(), np.inf) + 1.0)
    return K.mean(K.square(first_log - second_log))


def hinge(y_true, y_pred):
    """``mean(max(1 - y_true * y_pred, 0))``."""
    return K.mean(K.maximum(1.0 - y_true * y_pred, 0.0))


def squared_hinge(y_true, y_pred):
    """``mean(max(1 - y_true * y_pred, 0)**2)``."""
    return K.mean(K.square(K.maximum(1.0 - y_true * y_pred, 0.0)))


def categorical_crossentropy(y_true, y_pred):
    """The batch mean of the categorical crossentropy (see ``keras.objectives``)."""
    return K.mean(K.categorical_crossentropy(y_pred, y_true))


def sparse_categorical_crossentropy(y_true, y_pred):
    """The batch mean of the sparse categorical crossentropy."""
    return K.mean(K.sparse_categorical_crossentropy(y_pred, y_true))


def binary_crossentropy(y_true, y_pred):
    """The mean of the elementwise binary crossentropy."""
    return K.mean(K.binary_crossentropy(y_pred, y_true))


def kullback_leibler_divergence(y_true, y_pred):
    """The batch mean of ``sum(t * log(t / p))`` (t, p clipped to ``[eps, 1]``)."""
    y_true = K.clip(y_true, K.epsilon(), 1)
    y_pred = K.clip(y_pred, K.epsilon(), 1)
    return K.mean(K.sum(y_true * K.log(y_true / y_pred), axis=-1))


def poisson(y_true, y_pred):
    """``mean(y_pred - y_true * log(y_pred + eps))``."""
    return K.mean(y_pred - y_true * K.log(y_pred + K.epsilon()))


def cosine_proximity(y_true, y_pred):
    """``-mean(l2_normalize(y_true) * l2_normalize(y_pred))`` (last-axis normalisation)."""
    y_true = K.l2_normalize(y_true, axis=-1)
    y_pred = K.l2_normalize(y_pred, axis=-1)
    return -K.mean(y_true * y_pred)


def matthews_correlation(y_true, y_pred):
    """Matthews correlation coefficient of the rounded (clipped to [0, 1]) predictions
    and targets, over the whole batch."""
    y_pred_pos = K.round(K.clip(y_pred, 0, 1))
    y_pred_neg = 1 - y_pred_pos
    y_pos = K.round(K.clip(y_true, 0, 1))
    y_neg = 1 - y_pos
    tp = K.sum(y_pos * y_pred_pos)
    tn = K.sum(y_neg * y_pred_neg)
    fp = K.sum(y_neg * y_pred_pos)
    fn = K.sum(y_pos * y_pred_neg)
    numerator = tp * tn - fp * fn
    denominator = K.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return numerator / (denominator + K.epsilon())


def precision(y_true, y_pred):
    """Batch-wise precision: true positives / predicted positives (predictions rounded)."""
    true_positives = K.sum(K.round(K.clip(y_true * y_pred, 0, 1)))
    predicted_positives = K.sum(K.round(K.clip(y_pred, 0, 1)))
    return true_positives / (predicted_positives + K.epsilon())


def recall(y_true, y_pred):
    """Batch-wise recall: true positives / actual positives (predictions rounded)."""
    true_positives = K.sum(K.round(K.clip(y_true * y_pred, 0, 1)))
    possible_positives = K.sum(K.round(K.clip(y_true, 0, 1)))
    return true_positives / (possible_positives + K.epsilon())


def fbeta_score(y_true, y_pred, beta=1):
    """Batch-wise F-beta score: ``(1 + b^2) * p * r / (b^2 * p + r + eps)``.

    With no positive target in the batch both precision's numerator and recall are 0,
    so the score is 0 (as scikit-learn fixes it).

    # Arguments
        beta: weight of recall relative to precision (0 gives precision).

    # Raises
        ValueError: for a negative beta.
    """
    if beta < 0:
        raise ValueError("The lowest choosable beta is zero (only precision).")
    p = precision(y_true, y_pred)
    r = recall(y_true, y_pred)
    bb = beta**2
    return (1 + bb) * (p * r) / (bb * p + r + K.epsilon())


def fmeasure(y_true, y_pred):
    """The F1 score (``fbeta_score`` with beta=1)."""
    return fbeta_score(y_true, y_pred, beta=1)


# Aliases (no `kld` in metrics, as in Keras 1).
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
cosine = cosine_proximity
fscore = f1score = fmeasure


def get(identifier):
    """Returns a metric function.

    # Arguments
        identifier: a metric name (``'mse'``, ``'fmeasure'``, ...) or a callable
            (returned as is). ``'accuracy'`` / ``'acc'`` are resolved by
            ``Model.compile``, not here.

    # Raises
        ValueError: for an unknown name.
    """
    return get_from_module(identifier, module_functions(globals()), "metric")
