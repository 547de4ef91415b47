"""Numpy references of keras.objectives (per-sample losses: each reduces the last axis
only) and the random arrays they are checked on, for test_objectives.py and
test_metrics.py (a metric named after an objective is that objective's batch mean)."""

from types import SimpleNamespace

import numpy as np

from keras import backend as K

EPS = 1e-7


def run(fn, y_true, y_pred, true_dtype=None, **kwargs):
    """``fn(t, p, **kwargs)`` on placeholders, evaluated on (y_true, float32 y_pred)."""
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred, dtype=np.float32)
    t = K.placeholder(shape=(None,) + y_true.shape[1:], dtype=true_dtype)
    p = K.placeholder(shape=(None,) + y_pred.shape[1:])
    return K.function([t, p], [fn(t, p, **kwargs)])([y_true, y_pred])[0]


def samples(seed, n, k, distributions=False):
    """(rng, arrays) of n samples of k values drawn from RandomState(seed), in this order:
    REAL_T, REAL_P (normal), POS_T, POS_P (in [0.1, 3)), SIGN_T (+-1), PROB_P (in
    [0.01, 1)), ONEHOT_T, then with ``distributions`` DIST_T, DIST_P (rows summing to 1),
    then BIN_T (0/1); the rng goes on from there."""
    rng = np.random.RandomState(seed)
    s = dict(
        REAL_T=rng.randn(n, k),
        REAL_P=rng.randn(n, k),
        POS_T=rng.uniform(0.1, 3, (n, k)),
        POS_P=rng.uniform(0.1, 3, (n, k)),
        SIGN_T=np.sign(rng.randn(n, k)),
        PROB_P=rng.uniform(0.01, 1, (n, k)),
        ONEHOT_T=np.eye(k)[rng.randint(0, k, n)],
    )
    if distributions:
        s["DIST_T"] = rng.dirichlet(np.ones(k), n)
        s["DIST_P"] = rng.dirichlet(np.ones(k), n)
    s["BIN_T"] = (rng.rand(n, k) > 0.5).astype(float)
    return rng, SimpleNamespace(**s)


def np_mse(t, p):
    return np.mean((p - t) ** 2, axis=-1)


def np_mae(t, p):
    return np.mean(np.abs(p - t), axis=-1)


def np_mape(t, p):
    return 100.0 * np.mean(np.abs((t - p) / np.clip(np.abs(t), EPS, None)), axis=-1)


def np_msle(t, p):
    return np.mean((np.log(np.clip(p, EPS, None) + 1) - np.log(np.clip(t, EPS, None) + 1)) ** 2, axis=-1)


def np_hinge(t, p):
    return np.mean(np.maximum(1 - t * p, 0), axis=-1)


def np_squared_hinge(t, p):
    return np.mean(np.maximum(1 - t * p, 0) ** 2, axis=-1)


def np_cce(t, p):
    p = p / p.sum(axis=-1, keepdims=True)
    p = np.clip(p, EPS, 1 - EPS)
    return -np.sum(t * np.log(p), axis=-1)


def np_bce(t, p):
    p = np.clip(p, EPS, 1 - EPS)
    return np.mean(-(t * np.log(p) + (1 - t) * np.log(1 - p)), axis=-1)


def np_kld(t, p):
    t = np.clip(t, EPS, 1)
    p = np.clip(p, EPS, 1)
    return np.sum(t * np.log(t / p), axis=-1)


def np_poisson(t, p):
    return np.mean(p - t * np.log(p + EPS), axis=-1)


def np_cosine(t, p):
    def l2n(x):
        return x / np.sqrt(np.maximum(np.sum(x * x, axis=-1, keepdims=True), 1e-12))

    return -np.mean(l2n(t) * l2n(p), axis=-1)


# Each objective on the arrays (names of ``samples``) it is checked on, in both test files.
OBJECTIVES = [
    ("mean_squared_error", np_mse, "REAL_T", "REAL_P"),
    ("mean_absolute_error", np_mae, "REAL_T", "REAL_P"),
    ("mean_absolute_percentage_error", np_mape, "REAL_T", "REAL_P"),
    ("mean_squared_logarithmic_error", np_msle, "POS_T", "REAL_P"),
    ("hinge", np_hinge, "SIGN_T", "REAL_P"),
    ("squared_hinge", np_squared_hinge, "SIGN_T", "REAL_P"),
    ("categorical_crossentropy", np_cce, "ONEHOT_T", "PROB_P"),
    ("binary_crossentropy", np_bce, "BIN_T", "PROB_P"),
    ("kullback_leibler_divergence", np_kld, "ONEHOT_T", "PROB_P"),
    ("poisson", np_poisson, "POS_T", "POS_P"),
    ("cosine_proximity", np_cosine, "REAL_T", "REAL_P"),
]


def cases(arrays, table=OBJECTIVES, reduce=None):
    """``table`` as (name, reference, y_true, y_pred) on ``arrays``; ``reduce`` wraps
    each reference."""
    return [
        (name, reduce(ref) if reduce else ref, getattr(arrays, t), getattr(arrays, p))
        for name, ref, t, p in table
    ]


# Names of one function in keras.objectives and keras.metrics, the canonical one last.
ALIASES = [
    ("mse", "MSE", "mean_squared_error"),
    ("mae", "MAE", "mean_absolute_error"),
    ("mape", "MAPE", "mean_absolute_percentage_error"),
    ("msle", "MSLE", "mean_squared_logarithmic_error"),
    ("cosine", "cosine_proximity"),
]


def assert_aliases(module, groups=ALIASES):
    """Each group of names is one function of ``module``."""
    for names in groups:
        fn = getattr(module, names[-1])
        assert all(getattr(module, name) is fn for name in names), names
