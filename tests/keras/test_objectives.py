"""keras.objectives against numpy (keras1-formats.md §6.1): per-sample reduction over
the last axis only, clipping and renormalisation."""

import numpy as np
import pytest
from loss_reference import (
    ALIASES,
    EPS,
    assert_aliases,
    cases,
    np_cce,
    np_kld,
    run,
    samples,
)

from keras import backend as K
from keras import objectives

RNG, S = samples(11, 5, 4, distributions=True)

# the shared table, then two more on distributions (rows summing to 1) as targets
CASES = cases(S) + cases(
    S,
    [
        ("categorical_crossentropy", np_cce, "DIST_T", "DIST_P"),
        ("kullback_leibler_divergence", np_kld, "DIST_T", "DIST_P"),
    ],
)


@pytest.mark.parametrize("name,ref,t,p", CASES, ids=[c[0] for c in CASES])
def test_objective_2d(name, ref, t, p):
    out = run(getattr(objectives, name), t, p)
    assert out.shape == (5,)
    np.testing.assert_allclose(out, ref(t, p.astype(np.float32).astype(np.float64)), rtol=2e-5, atol=1e-5)


@pytest.mark.parametrize("name,ref,t,p", CASES, ids=[c[0] for c in CASES])
def test_objective_3d_reduces_only_the_last_axis(name, ref, t, p):
    t3 = np.stack([t, t[::-1]], axis=1)  # (5, 2, 4)
    p3 = np.stack([p, p[::-1]], axis=1)
    out = run(getattr(objectives, name), t3, p3)
    assert out.shape == (5, 2)
    np.testing.assert_allclose(out, ref(t3, p3.astype(np.float32).astype(np.float64)), rtol=2e-5, atol=1e-5)


def test_categorical_crossentropy_renormalises_then_clips():
    t = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    # unnormalised predictions (sums 2 and 4), and an exact zero on a target class
    p = np.array([[0.5, 1.0, 0.5], [0.0, 2.0, 2.0]])
    out = run(objectives.categorical_crossentropy, t, p)
    np.testing.assert_allclose(out, [-np.log(0.5), -np.log(EPS)], rtol=1e-4)


def test_binary_crossentropy_clips_saturated_predictions():
    t = np.array([[1.0, 0.0]])
    p = np.array([[0.0, 1.0]])  # both maximally wrong
    out = run(objectives.binary_crossentropy, t, p)
    # the clip bounds are float32 numbers, as in Keras' float32 graphs: 1 - eps rounds
    # to 1 - 2**-23 (so a saturated wrong 1 costs -log(1.19e-7) = 15.94, not 16.12)
    hi = np.float64(np.float32(1 - EPS))
    lo = np.float64(np.float32(EPS))
    np.testing.assert_allclose(out, [(-np.log(lo) - np.log(1 - hi)) / 2], rtol=1e-4)
    np.testing.assert_allclose(
        run(objectives.binary_crossentropy, [[0.0]], [[1.0]]), [-np.log(1 - hi)], rtol=1e-4
    )
    np.testing.assert_allclose(run(objectives.binary_crossentropy, [[1.0]], [[0.0]]), [16.118], rtol=1e-4)


def test_mape_clips_zero_targets():
    t = np.array([[0.0, 2.0]])
    p = np.array([[1e-3, 1.0]])
    np.testing.assert_allclose(
        run(objectives.mape, t, p), 100.0 * np.mean([1e-3 / EPS, 0.5], keepdims=True), rtol=1e-4
    )


def test_kld_clips_zeros():
    t = np.array([[0.0, 1.0]])
    p = np.array([[0.5, 0.0]])
    ref = EPS * np.log(EPS / 0.5) + 1.0 * np.log(1.0 / EPS)
    np.testing.assert_allclose(run(objectives.kld, t, p), [ref], rtol=1e-4)


def test_sparse_categorical_crossentropy():
    labels = np.array([[2], [0], [1], [3], [0]])
    p = S.PROB_P
    ref = np_cce(np.eye(4)[labels[:, 0]], p.astype(np.float32).astype(np.float64))
    out = run(objectives.sparse_categorical_crossentropy, labels, p, true_dtype="int32")
    np.testing.assert_allclose(out, ref, rtol=2e-5)
    # float labels are accepted as well (cast to int)
    out = run(objectives.sparse_categorical_crossentropy, labels.astype(np.float32), p)
    np.testing.assert_allclose(out, ref, rtol=2e-5)


def test_sparse_categorical_crossentropy_temporal():
    labels = np.array([[[1], [2]], [[0], [0]]])
    p = RNG.dirichlet(np.ones(3), (2, 2))
    out = run(objectives.sparse_categorical_crossentropy, labels, p, true_dtype="int32")
    assert out.shape == (2, 2)
    ref = np_cce(np.eye(3)[labels[..., 0]], p.astype(np.float32).astype(np.float64))
    np.testing.assert_allclose(out, ref, rtol=2e-5)


def test_gradient_flows_to_predictions():
    t = K.placeholder(shape=(None, 3))
    p = K.placeholder(shape=(None, 3))
    (g,) = K.gradients(K.sum(objectives.mse(t, p)), [p])
    tv = np.array([[1.0, 2.0, 3.0]], np.float32)
    pv = np.array([[0.0, 2.0, 5.0]], np.float32)
    np.testing.assert_allclose(K.function([t, p], [g])([tv, pv])[0], 2 * (pv - tv) / 3, rtol=1e-6)


def test_aliases():
    assert_aliases(objectives, ALIASES + [("kld", "KLD", "kullback_leibler_divergence")])


def test_get():
    for name in [
        "mse",
        "MSE",
        "mae",
        "MAE",
        "mape",
        "MAPE",
        "msle",
        "MSLE",
        "squared_hinge",
        "hinge",
        "binary_crossentropy",
        "categorical_crossentropy",
        "sparse_categorical_crossentropy",
        "kullback_leibler_divergence",
        "kld",
        "KLD",
        "poisson",
        "cosine_proximity",
        "cosine",
    ]:
        assert objectives.get(name) is getattr(objectives, name)
    assert objectives.get("mse").__name__ == "mean_squared_error"

    def custom(y_true, y_pred):
        return y_pred

    assert objectives.get(custom) is custom
    with pytest.raises(ValueError, match="Invalid objective: crossentropy"):
        objectives.get("crossentropy")
