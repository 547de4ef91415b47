"""keras.regularizers: penalties against numpy, configs, lookup, 1.0-era protocol."""

import warnings

import numpy as np
import pytest

from keras import backend as K
from keras import regularizers


def _penalty(reg, w):
    v = K.variable(w)
    out = reg(v)
    return float(K.eval(out))


@pytest.fixture
def w():
    return np.random.RandomState(0).randn(5, 4).astype(np.float32)


@pytest.mark.parametrize(
    "make,l1,l2",
    [
        (lambda: regularizers.l1(0.3), 0.3, 0.0),
        (lambda: regularizers.l2(0.02), 0.0, 0.02),
        (lambda: regularizers.l1l2(0.1, 0.2), 0.1, 0.2),
        (lambda: regularizers.activity_l1(0.5), 0.5, 0.0),
        (lambda: regularizers.activity_l2(0.5), 0.0, 0.5),
        (lambda: regularizers.activity_l1l2(0.01, 0.03), 0.01, 0.03),
        (lambda: regularizers.L1L2Regularizer(l1=0.7, l2=0.4), 0.7, 0.4),
        (lambda: regularizers.WeightRegularizer(l2=0.4), 0.0, 0.4),
        (lambda: regularizers.ActivityRegularizer(l1=0.4), 0.4, 0.0),
    ],
)
def test_l1l2_penalty(make, l1, l2, w):
    ref = l1 * np.abs(w.astype(np.float64)).sum() + l2 * np.square(w.astype(np.float64)).sum()
    np.testing.assert_allclose(_penalty(make(), w), ref, rtol=1e-5)


def test_defaults():
    assert regularizers.l1().get_config()["l1"] == float(np.float32(0.01))
    assert regularizers.l2().get_config() == {
        "name": "L1L2Regularizer",
        "l1": 0.0,
        "l2": 0.009999999776482582,
    }
    assert regularizers.l1l2().get_config() == {
        "name": "L1L2Regularizer",
        "l1": 0.009999999776482582,
        "l2": 0.009999999776482582,
    }
    r = regularizers.L1L2Regularizer()
    assert r.get_config() == {"name": "L1L2Regularizer", "l1": 0.0, "l2": 0.0}
    assert r.uses_learning_phase is False


def test_zero_penalty_is_zero(w):
    # no factor: the plain number 0, as in Keras 1 (add_loss accepts it)
    assert regularizers.L1L2Regularizer()(K.variable(w)) == 0
    assert regularizers.Regularizer()(K.variable(w)) == 0
    assert regularizers.Regularizer().get_config() == {"name": "Regularizer"}


def test_aliases_are_one_class():
    assert regularizers.WeightRegularizer is regularizers.L1L2Regularizer
    assert regularizers.ActivityRegularizer is regularizers.L1L2Regularizer


def test_penalty_gradient(w):
    v = K.variable(w)
    reg = regularizers.l1l2(0.1, 0.2)
    (g,) = K.gradients(reg(v), [v])
    np.testing.assert_allclose(K.eval(g), 0.1 * np.sign(w) + 0.4 * w, rtol=1e-5, atol=1e-6)


def test_config_round_trip_through_get():
    reg = regularizers.l1l2(0.03, 0.2)
    cfg = reg.get_config()
    copy = regularizers.get(dict(cfg))
    assert isinstance(copy, regularizers.L1L2Regularizer)
    assert copy.get_config() == cfg
    # get() does not consume the caller's dict
    assert "name" in cfg


def test_get():
    r = regularizers.get("l2")
    assert isinstance(r, regularizers.L1L2Regularizer)
    assert r.get_config()["l2"] == 0.009999999776482582
    r = regularizers.get("activity_l1", kwargs={"l": 0.5})
    assert r.get_config()["l1"] == 0.5
    r = regularizers.get("L1L2Regularizer", kwargs={"l1": 0.25})
    assert r.get_config() == {"name": "L1L2Regularizer", "l1": 0.25, "l2": 0.0}
    inst = regularizers.l1()
    assert regularizers.get(inst) is inst
    assert regularizers.get(None) is None
    with pytest.raises(ValueError, match="Invalid regularizer: l3"):
        regularizers.get("l3")
    with pytest.raises(ValueError, match="Invalid regularizer"):
        regularizers.get("K")


def test_eigenvalue_regularizer(w):
    reg = regularizers.EigenvalueRegularizer(0.5)
    assert reg.get_config() == {"name": "EigenvalueRegularizer", "k": 0.5}
    assert reg.uses_learning_phase is True
    ww = w.astype(np.float64).T @ w.astype(np.float64)
    # the power iteration of Keras 1 (10 products from a ones vector, Rayleigh quotient)
    v = ww @ np.ones((ww.shape[0], 1))
    for _ in range(9):
        v = ww @ v
    wwd = ww @ v
    ref = 0.5 * ((wwd.T @ v) / (v.T @ v)).item()
    np.testing.assert_allclose(_penalty(reg, w), ref, rtol=1e-4)
    # close to k times the largest eigenvalue
    np.testing.assert_allclose(ref, 0.5 * np.linalg.eigvalsh(ww).max(), rtol=1e-2)
    with pytest.raises(ValueError, match="only available for dense and embedding"):
        reg(K.variable(np.ones((2, 2, 2))))


def test_deprecated_set_param_turns_call_into_loss_plus_penalty(w):
    reg = regularizers.l2(0.1)
    v = K.variable(w)
    with pytest.warns(DeprecationWarning, match="set_param"):
        reg.set_param(v)
    loss = K.variable(np.float32(3.0))
    total = float(K.eval(reg(loss)))
    np.testing.assert_allclose(total, 3.0 + 0.1 * np.square(w.astype(np.float64)).sum(), rtol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg.set_param(v)  # same parameter again is fine
        with pytest.raises(ValueError, match="cannot be reused"):
            reg.set_param(K.variable(w))


class _FakeLayer:
    """The two members the 1.0-era activity regularizer protocol reads."""

    def __init__(self, outputs):
        self.inbound_nodes = list(outputs)
        self._outputs = outputs

    def get_output_at(self, i):
        return self._outputs[i]


def test_deprecated_set_layer_regularizes_the_layer_outputs(w):
    reg = regularizers.activity_l1(0.2)
    out1, out2 = K.variable(w), K.variable(2 * w)
    with pytest.warns(DeprecationWarning, match="set_layer"):
        reg.set_layer(_FakeLayer([out1, out2]))
    total = float(K.eval(reg(K.variable(np.float32(1.0)))))
    np.testing.assert_allclose(total, 1.0 + 0.2 * 3 * np.abs(w.astype(np.float64)).sum(), rtol=1e-5)
