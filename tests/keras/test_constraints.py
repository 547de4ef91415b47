"""keras.constraints: symbolic values vs numpy, and the engine's native application
(through an optimizer step with zero gradient) giving the same numbers."""

import numpy as np
import pytest

from keras import backend as K
from keras import constraints, optimizers

EPS = 1e-7


def _np_norms(p, axis):
    return np.sqrt(np.sum(np.square(p), axis=axis, keepdims=True))


def np_maxnorm(p, m=2, axis=0):
    n = _np_norms(p, axis)
    return p * (np.clip(n, 0, m) / (EPS + n))


def np_nonneg(p):
    return p * (p >= 0)


def np_unitnorm(p, axis=0):
    return p / (EPS + _np_norms(p, axis))


def np_minmaxnorm(p, low=0.0, high=1.0, rate=1.0, axis=0):
    n = _np_norms(p, axis)
    return p * ((rate * np.clip(n, low, high) + (1 - rate) * n) / (EPS + n))


def _symbolic(c, p):
    v = K.variable(p)
    return K.eval(c(v))


def _native(c, p):
    """Applies c natively: an SGD step with lr 0 leaves p unchanged, then the engine
    applies the constraint to the new value."""
    v = K.variable(p)
    opt = optimizers.SGD(lr=0.0)
    loss = K.sum(v * 0.0)
    updates = opt.get_updates([v], {v: c}, loss)
    assert len(updates) == 1 and isinstance(updates[0], K.FusedUpdate)
    K.function([], [], updates=updates)([])
    return K.get_value(v)


@pytest.fixture
def p():
    return np.random.RandomState(7).randn(6, 4).astype(np.float32) * 1.5


CASES = [
    (constraints.MaxNorm(), lambda p: np_maxnorm(p)),
    (constraints.MaxNorm(m=1.5, axis=0), lambda p: np_maxnorm(p, 1.5, 0)),
    (constraints.MaxNorm(m=1.0, axis=1), lambda p: np_maxnorm(p, 1.0, 1)),
    (constraints.MaxNorm(m=3.0, axis=[0, 1]), lambda p: np_maxnorm(p, 3.0, (0, 1))),
    (constraints.maxnorm(2.5), lambda p: np_maxnorm(p, 2.5)),
    (constraints.NonNeg(), np_nonneg),
    (constraints.nonneg(), np_nonneg),
    (constraints.UnitNorm(), lambda p: np_unitnorm(p)),
    (constraints.UnitNorm(axis=-1), lambda p: np_unitnorm(p, -1)),
    (constraints.unitnorm(axis=1), lambda p: np_unitnorm(p, 1)),
    (constraints.MinMaxNorm(), lambda p: np_minmaxnorm(p)),
    (
        constraints.MinMaxNorm(low=2.5, high=3.0, rate=0.5, axis=0),
        lambda p: np_minmaxnorm(p, 2.5, 3.0, 0.5, 0),
    ),
    (
        constraints.MinMaxNorm(low=0.5, high=1.0, rate=1.0, axis=1),
        lambda p: np_minmaxnorm(p, 0.5, 1.0, 1.0, 1),
    ),
]


@pytest.mark.parametrize(
    "c,ref", CASES, ids=lambda x: type(x).__name__ if isinstance(x, constraints.Constraint) else ""
)
def test_symbolic_matches_numpy(c, ref, p):
    np.testing.assert_allclose(_symbolic(c, p), ref(p.astype(np.float64)), rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize(
    "c,ref", CASES, ids=lambda x: type(x).__name__ if isinstance(x, constraints.Constraint) else ""
)
def test_native_matches_symbolic(c, ref, p):
    assert c.native_spec() is not None
    np.testing.assert_allclose(_native(c, p), _symbolic(c, p), rtol=2e-5, atol=1e-6)


def test_maxnorm_leaves_small_norms_alone():
    p = np.array([[0.3, -0.2], [0.4, 0.1]], np.float32)
    c = constraints.MaxNorm(m=2)
    np.testing.assert_allclose(_symbolic(c, p), p, rtol=1e-6)
    np.testing.assert_allclose(_native(c, p), p, rtol=1e-6)


def test_conv_kernel_axes():
    p = np.random.RandomState(1).randn(4, 3, 2, 2).astype(np.float32)
    c = constraints.MaxNorm(m=1.0, axis=[1, 2, 3])
    ref = np_maxnorm(p.astype(np.float64), 1.0, (1, 2, 3))
    np.testing.assert_allclose(_symbolic(c, p), ref, rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(_native(c, p), ref, rtol=2e-5, atol=1e-6)


def test_identity_constraint():
    p = np.arange(6, dtype=np.float32).reshape(2, 3)
    c = constraints.Constraint()
    v = K.variable(p)
    assert c(v) is v
    assert c.get_config() == {"name": "Constraint"}
    assert c.native_spec() is None
    # the optimizer treats the base class as "no constraint" and stays fused
    np.testing.assert_array_equal(_native(c, p), p)


def test_native_specs():
    assert constraints.MaxNorm(3, axis=[1, 2]).native_spec() == ("maxnorm", {"m": 3.0, "axis": [1, 2]})
    assert constraints.NonNeg().native_spec() == ("nonneg", {})
    assert constraints.UnitNorm(1).native_spec() == ("unitnorm", {"axis": 1})
    assert constraints.MinMaxNorm(0.5, 2.0, 0.3, 0).native_spec() == (
        "minmaxnorm",
        {"low": 0.5, "high": 2.0, "rate": 0.3, "axis": 0},
    )


def test_user_subclasses_have_no_native_spec():
    class Halve(constraints.Constraint):
        def __call__(self, p):
            return p * 0.5

    class MyMaxNorm(constraints.MaxNorm):
        def __call__(self, p):
            return super().__call__(p) * 2.0

    class Renamed(constraints.MaxNorm):
        pass

    assert Halve().native_spec() is None
    assert MyMaxNorm().native_spec() is None
    # a subclass that keeps the built-in __call__ stays native
    assert Renamed(1.0).native_spec() == ("maxnorm", {"m": 1.0, "axis": 0})


def test_get_config():
    assert constraints.MaxNorm().get_config() == {"name": "MaxNorm", "m": 2, "axis": 0}
    assert constraints.MaxNorm(m=3, axis=[1, 2]).get_config() == {"name": "MaxNorm", "m": 3, "axis": [1, 2]}
    assert constraints.NonNeg().get_config() == {"name": "NonNeg"}
    assert constraints.UnitNorm().get_config() == {"name": "UnitNorm", "axis": 0}
    assert constraints.MinMaxNorm().get_config() == {
        "name": "MinMaxNorm",
        "low": 0.0,
        "high": 1.0,
        "rate": 1.0,
        "axis": 0,
    }


def test_get():
    c = constraints.get("maxnorm")
    assert isinstance(c, constraints.MaxNorm) and c.m == 2 and c.axis == 0
    assert isinstance(constraints.get("nonneg"), constraints.NonNeg)
    assert isinstance(constraints.get("UnitNorm"), constraints.UnitNorm)
    c = constraints.get("MinMaxNorm", kwargs={"low": 0.2, "high": 0.9})
    assert c.get_config()["low"] == 0.2 and c.get_config()["high"] == 0.9
    cfg = constraints.MaxNorm(m=3, axis=1).get_config()
    c = constraints.get(cfg)
    assert isinstance(c, constraints.MaxNorm) and c.m == 3 and c.axis == 1
    assert cfg["name"] == "MaxNorm"
    inst = constraints.NonNeg()
    assert constraints.get(inst) is inst
    assert constraints.get(None) is None
    with pytest.raises(ValueError, match="Invalid constraint: max_norm"):
        constraints.get("max_norm")


def test_native_constraint_with_bad_axis_raises_when_run():
    v = K.variable(np.ones((2, 3), np.float32))
    opt = optimizers.SGD(lr=0.1)
    updates = opt.get_updates([v], {v: constraints.MaxNorm(axis=4)}, K.sum(v))
    f = K.function([], [], updates=updates)
    with pytest.raises(ValueError, match="axis 4 is out of range"):
        f([])
    np.testing.assert_array_equal(K.get_value(v), np.ones((2, 3)))
