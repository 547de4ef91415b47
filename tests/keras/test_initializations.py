"""keras.initializations: fans, limits, statistics, repeatability, identity, orthogonal."""

import numpy as np
import pytest

from keras import backend as K
from keras import initializations

# (shape, dim_ordering, fan_in, fan_out) as keras1-formats.md §5 states them.
FAN_CASES = [
    ((300, 200), "th", 300, 200),
    ((300, 200), "tf", 300, 200),
    # 'th' conv kernel (nb_filter, stack, rows, cols)
    ((16, 3, 5, 5), "th", 3 * 25, 16 * 25),
    # 'tf' conv kernel (rows, cols, stack, nb_filter)
    ((5, 5, 3, 16), "tf", 3 * 25, 16 * 25),
    # 5-D 'th' kernel: receptive field over all three spatial axes
    ((8, 2, 3, 4, 5), "th", 2 * 60, 8 * 60),
    # 5-D 'tf' kernel: the receptive field leaves out the third spatial axis (Keras quirk)
    ((3, 4, 5, 2, 8), "tf", 2 * 12, 8 * 12),
    # Convolution1D kernel (L, 1, in, out) initialised with the 'th' rule
    ((3, 1, 10, 20), "th", 1 * 200, 3 * 200),
    # other ranks: both sqrt(prod(shape))
    ((4, 6, 8), "th", np.sqrt(192), np.sqrt(192)),
    ((4, 6, 8), "tf", np.sqrt(192), np.sqrt(192)),
    ((50,), "th", np.sqrt(50), np.sqrt(50)),
]


# the initializations that draw from numpy's global random state
RANDOM_INITS = ("uniform", "normal", "lecun_uniform", "glorot_normal", "glorot_uniform", "he_normal",
                "he_uniform", "orthogonal")  # fmt: skip


@pytest.mark.parametrize("shape,ordering,fan_in,fan_out", FAN_CASES)
def test_get_fans(shape, ordering, fan_in, fan_out):
    fi, fo = initializations.get_fans(shape, dim_ordering=ordering)
    assert np.isclose(fi, fan_in) and np.isclose(fo, fan_out)


def test_get_fans_bad_ordering():
    with pytest.raises(ValueError, match="Invalid dim_ordering: xx"):
        initializations.get_fans((2, 3, 4, 5), dim_ordering="xx")
    # 2-D shapes do not look at the ordering
    assert initializations.get_fans((2, 3), dim_ordering="xx") == (2, 3)


def _value(init, shape, **kwargs):
    v = init(shape, **kwargs)
    assert isinstance(v, K.Variable)
    out = K.get_value(v)
    assert out.shape == tuple(shape) and out.dtype == np.float32
    return out


UNIFORM_LIMITS = [
    ("uniform", (200, 300), "th", 0.05),
    ("lecun_uniform", (200, 300), "th", np.sqrt(3.0 / 200)),
    ("glorot_uniform", (200, 300), "th", np.sqrt(6.0 / 500)),
    ("he_uniform", (200, 300), "th", np.sqrt(6.0 / 200)),
    ("glorot_uniform", (32, 16, 3, 3), "th", np.sqrt(6.0 / (16 * 9 + 32 * 9))),
    ("glorot_uniform", (3, 3, 16, 32), "tf", np.sqrt(6.0 / (16 * 9 + 32 * 9))),
    ("he_uniform", (3, 3, 16, 32), "tf", np.sqrt(6.0 / (16 * 9))),
    ("lecun_uniform", (10, 20, 30), "th", np.sqrt(3.0 / np.sqrt(6000))),
]


@pytest.mark.parametrize("name,shape,ordering,limit", UNIFORM_LIMITS)
def test_uniform_family(name, shape, ordering, limit):
    np.random.seed(0)
    w = _value(getattr(initializations, name), shape, dim_ordering=ordering)
    assert w.max() <= limit * (1 + 1e-6) and w.min() >= -limit * (1 + 1e-6)
    # the draw fills the interval: extremes close to the limits, flat histogram
    assert w.max() > 0.97 * limit and w.min() < -0.97 * limit
    assert abs(w.mean()) < 0.02 * limit
    np.testing.assert_allclose(w.std(), limit / np.sqrt(3), rtol=0.03)


NORMAL_STDS = [
    ("normal", (200, 300), "th", 0.05),
    ("glorot_normal", (200, 300), "th", np.sqrt(2.0 / 500)),
    ("he_normal", (200, 300), "th", np.sqrt(2.0 / 200)),
    ("he_normal", (32, 16, 3, 3), "th", np.sqrt(2.0 / (16 * 9))),
    ("glorot_normal", (3, 3, 16, 32), "tf", np.sqrt(2.0 / (16 * 9 + 32 * 9))),
]


@pytest.mark.parametrize("name,shape,ordering,std", NORMAL_STDS)
def test_normal_family(name, shape, ordering, std):
    np.random.seed(1)
    w = _value(getattr(initializations, name), shape, dim_ordering=ordering)
    np.testing.assert_allclose(w.std(), std, rtol=0.03)
    assert abs(w.mean()) < 0.03 * std
    # Gaussian, not uniform: some values beyond 2.5 std
    assert (np.abs(w) > 2.5 * std).mean() > 0.005


def test_scale_arguments():
    np.random.seed(2)
    w = _value(initializations.uniform, (100, 100), scale=0.5)
    assert w.max() <= 0.5 and w.max() > 0.48
    w = _value(initializations.normal, (100, 100), scale=2.0)
    np.testing.assert_allclose(w.std(), 2.0, rtol=0.03)


def test_seed_repeatability():
    for name in RANDOM_INITS:
        init = getattr(initializations, name)
        np.random.seed(42)
        a = _value(init, (7, 9))
        np.random.seed(42)
        b = _value(init, (7, 9))
        c = _value(init, (7, 9))
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(b, c), name


def test_values_come_from_numpy_global_rng():
    np.random.seed(3)
    w = _value(initializations.uniform, (4, 5), scale=0.1)
    np.random.seed(3)
    ref = np.random.uniform(-0.1, 0.1, size=(4, 5))
    np.testing.assert_allclose(w, ref.astype(np.float32), rtol=1e-6)


@pytest.mark.parametrize("shape", [(6, 6), (10, 4), (4, 10)])
def test_orthogonal(shape):
    np.random.seed(4)
    w = _value(initializations.orthogonal, shape).astype(np.float64)
    q = w / 1.1
    # rows or columns (whichever are fewer) are orthonormal
    if shape[0] <= shape[1]:
        np.testing.assert_allclose(q @ q.T, np.eye(shape[0]), atol=1e-5)
    else:
        np.testing.assert_allclose(q.T @ q, np.eye(shape[1]), atol=1e-5)
    # exactly the SVD factor of the standard-normal draw, times 1.1
    np.random.seed(4)
    a = np.random.normal(0.0, 1.0, shape)
    u, _, v = np.linalg.svd(a, full_matrices=False)
    ref = u if u.shape == shape else v
    np.testing.assert_allclose(w, 1.1 * ref, rtol=1e-5, atol=1e-6)


def test_orthogonal_scale_and_higher_rank():
    np.random.seed(5)
    w = _value(initializations.orthogonal, (4, 4), scale=2.0).astype(np.float64)
    np.testing.assert_allclose(w @ w.T, 4.0 * np.eye(4), atol=1e-4)
    w = _value(initializations.orthogonal, (3, 2, 2, 2)).reshape(3, 8).astype(np.float64)
    np.testing.assert_allclose(w @ w.T, 1.21 * np.eye(3), atol=1e-5)


def test_identity():
    np.testing.assert_array_equal(_value(initializations.identity, (3, 3)), np.eye(3))
    np.testing.assert_array_equal(_value(initializations.identity, (4, 4), scale=2.5), 2.5 * np.eye(4))
    for bad in [(3, 4), (3,), (2, 2, 2)]:
        with pytest.raises(ValueError, match="2D square matrices"):
            initializations.identity(bad)


def test_zero_one():
    np.testing.assert_array_equal(_value(initializations.zero, (2, 3)), np.zeros((2, 3)))
    np.testing.assert_array_equal(_value(initializations.one, (4,)), np.ones(4))


def test_name_is_passed_to_the_variable():
    v = initializations.glorot_uniform((3, 4), name="dense_9_W")
    assert v.name == "dense_9_W"
    v = initializations.zero((4,), name="dense_9_b")
    assert v.name == "dense_9_b"


def test_get():
    for name in RANDOM_INITS + ("identity", "zero", "one"):
        assert initializations.get(name) is getattr(initializations, name)

    def custom(shape, name=None):
        return K.zeros(shape, name=name)

    assert initializations.get(custom) is custom
    with pytest.raises(ValueError, match="Invalid initialization: glorot"):
        initializations.get("glorot")
    with pytest.raises(ValueError, match="Invalid initialization: get_fans"):
        initializations.get("get_fans")
