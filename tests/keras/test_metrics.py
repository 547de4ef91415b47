"""keras.metrics against numpy: each metric is a scalar (a batch mean)."""

import numpy as np
import pytest
from loss_reference import (
    EPS,
    assert_aliases,
    cases,
    np_cce,
    run,
    samples,
)

from keras import backend as K
from keras import metrics

_, S = samples(5, 6, 3)


def _run(fn, y_true, y_pred, true_dtype=None, **kwargs):
    out = run(fn, y_true, y_pred, true_dtype, **kwargs)
    assert np.ndim(out) == 0, "a metric is a scalar"
    return float(out)


def batch_mean(ref):
    """The metric of a per-sample objective reference: its mean over the batch."""
    return lambda t, p: np.mean(ref(t, p))


def _f32(x):
    return np.asarray(x, np.float32).astype(np.float64)


REGRESSION = cases(S, reduce=batch_mean)


@pytest.mark.parametrize("name,ref,t,p", REGRESSION, ids=[c[0] for c in REGRESSION])
def test_objective_named_metrics(name, ref, t, p):
    np.testing.assert_allclose(_run(getattr(metrics, name), t, p), ref(t, _f32(p)), rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("name,ref,t,p", REGRESSION, ids=[c[0] for c in REGRESSION])
def test_objective_named_metrics_3d_are_scalars(name, ref, t, p):
    t3 = np.stack([t, t[::-1]], axis=1)
    p3 = np.stack([p, p[::-1]], axis=1)
    np.testing.assert_allclose(_run(getattr(metrics, name), t3, p3), ref(t3, _f32(p3)), rtol=2e-5, atol=1e-6)


def test_sparse_categorical_crossentropy_metric():
    labels = np.argmax(S.ONEHOT_T, -1)[:, None]
    ref = np.mean(np_cce(S.ONEHOT_T, _f32(S.PROB_P)))
    np.testing.assert_allclose(
        _run(metrics.sparse_categorical_crossentropy, labels, S.PROB_P, true_dtype="int32"), ref, rtol=2e-5
    )


def test_binary_accuracy_rounds_half_to_even():
    t = np.array([[1.0], [0.0], [1.0], [0.0], [1.0], [0.0]])
    p = np.array([[0.9], [0.2], [0.5], [0.5], [0.51], [0.49]])
    # 0.5 rounds to 0: the third sample is wrong, the fourth right
    assert _run(metrics.binary_accuracy, t, p) == pytest.approx(5 / 6)
    t2 = S.BIN_T
    np.testing.assert_allclose(
        _run(metrics.binary_accuracy, t2, S.PROB_P), np.mean(t2 == np.round(_f32(S.PROB_P))), rtol=1e-6
    )


def test_categorical_accuracy():
    t = S.ONEHOT_T
    ref = np.mean(np.argmax(t, -1) == np.argmax(S.PROB_P, -1))
    assert _run(metrics.categorical_accuracy, t, S.PROB_P) == pytest.approx(ref)
    t = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 1], [0, 0, 1]])
    p = np.array([[0.1, 0.8, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.6, 0.3, 0.1]])
    assert _run(metrics.categorical_accuracy, t, p) == pytest.approx(0.5)


def test_sparse_categorical_accuracy():
    labels = np.array([[1], [0], [2], [2]], np.float32)
    p = np.array([[0.1, 0.8, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.6, 0.3, 0.1]])
    assert _run(metrics.sparse_categorical_accuracy, labels, p) == pytest.approx(0.5)
    assert _run(
        metrics.sparse_categorical_accuracy, labels.astype(np.int32), p, true_dtype="int32"
    ) == pytest.approx(0.5)


def test_top_k_categorical_accuracy():
    rng = np.random.RandomState(3)
    p = rng.rand(20, 10)
    t = np.eye(10)[rng.randint(0, 10, 20)]
    ranks = (p > (p * t).sum(-1, keepdims=True)).sum(-1)  # classes strictly better than the target
    for k in (1, 3, 5):
        assert _run(metrics.top_k_categorical_accuracy, t, p, k=k) == pytest.approx(np.mean(ranks < k))
    assert _run(metrics.top_k_categorical_accuracy, t, p) == pytest.approx(np.mean(ranks < 5))


def _np_counts(t, p):
    pp = np.round(np.clip(p, 0, 1))
    tp_ = np.round(np.clip(t, 0, 1))
    return (
        np.sum(tp_ * pp),
        np.sum((1 - tp_) * (1 - pp)),
        np.sum((1 - tp_) * pp),
        np.sum(tp_ * (1 - pp)),
    )


def test_precision_recall_fbeta_mcc():
    t = S.BIN_T
    p = _f32(S.PROB_P)
    tp = np.sum(np.round(np.clip(t * p, 0, 1)))
    prec = tp / (np.sum(np.round(np.clip(p, 0, 1))) + EPS)
    rec = tp / (np.sum(np.round(np.clip(t, 0, 1))) + EPS)
    np.testing.assert_allclose(_run(metrics.precision, t, p), prec, rtol=1e-5)
    np.testing.assert_allclose(_run(metrics.recall, t, p), rec, rtol=1e-5)
    for beta in (0.5, 1, 2):
        bb = beta**2
        ref = (1 + bb) * prec * rec / (bb * prec + rec + EPS)
        np.testing.assert_allclose(_run(metrics.fbeta_score, t, p, beta=beta), ref, rtol=1e-5)
    f1 = 2 * prec * rec / (prec + rec + EPS)
    for fn in (metrics.fmeasure, metrics.fscore, metrics.f1score):
        np.testing.assert_allclose(_run(fn, t, p), f1, rtol=1e-5)
    tp_, tn, fp, fn_ = _np_counts(t, p)
    mcc = (tp_ * tn - fp * fn_) / (np.sqrt((tp_ + fp) * (tp_ + fn_) * (tn + fp) * (tn + fn_)) + EPS)
    np.testing.assert_allclose(_run(metrics.matthews_correlation, t, p), mcc, rtol=1e-5)


def test_perfect_and_empty_predictions():
    t = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert _run(metrics.matthews_correlation, t, t) == pytest.approx(1.0, rel=1e-5)
    assert _run(metrics.fmeasure, t, t) == pytest.approx(1.0, rel=1e-5)
    # no positive targets: the F score is 0 (no NaN)
    z = np.zeros((2, 2))
    assert _run(metrics.fmeasure, z, np.full((2, 2), 0.9)) == 0.0
    assert _run(metrics.recall, z, z) == 0.0


def test_fbeta_negative_beta_raises():
    t = K.placeholder(shape=(None, 2))
    with pytest.raises(ValueError, match="lowest choosable beta is zero"):
        metrics.fbeta_score(t, t, beta=-1)


def test_aliases_and_names():
    m = metrics
    assert_aliases(m)
    assert m.fscore is m.f1score is m.fmeasure
    assert not hasattr(m, "kld") and not hasattr(m, "KLD")
    assert m.get("mse").__name__ == "mean_squared_error"


def test_get():
    for name in [
        "binary_accuracy",
        "categorical_accuracy",
        "sparse_categorical_accuracy",
        "top_k_categorical_accuracy",
        "mse",
        "mae",
        "mape",
        "msle",
        "hinge",
        "squared_hinge",
        "categorical_crossentropy",
        "sparse_categorical_crossentropy",
        "binary_crossentropy",
        "kullback_leibler_divergence",
        "poisson",
        "cosine_proximity",
        "cosine",
        "matthews_correlation",
        "precision",
        "recall",
        "fbeta_score",
        "fmeasure",
        "fscore",
        "f1score",
    ]:
        assert metrics.get(name) is getattr(metrics, name)
    for bad in ["kld", "accuracy", "acc", "np"]:
        with pytest.raises(ValueError, match="Invalid metric: " + bad):
            metrics.get(bad)
