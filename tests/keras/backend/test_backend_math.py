"""keras.backend math against numpy: linear algebra, reductions, elementwise functions,
comparisons and the Python operators of tensors."""

import numpy as np
import pytest
from kbackend_helpers import apply_np, f32, run

from keras import backend as K


def setup_function(function):
    K.clear_session()


RNG = np.random.RandomState(1234)


def rand(*shape, low=-1.0, high=1.0):
    return f32(RNG.uniform(low, high, size=shape))


# ---------------------------------------------------------------------------------
# dot / batch_dot / transpose / gather


@pytest.mark.parametrize(
    "xs,ys",
    [
        ((3, 4), (4, 5)),
        ((2, 3, 4), (4, 5)),
        ((4,), (4, 5)),
        ((2, 3), (4, 3, 5)),
        ((2, 3, 4), (5, 4, 6)),
        ((1, 2, 3, 4), (4, 2)),
    ],
)
def test_dot_matches_np_dot(xs, ys):
    x, y = rand(*xs), rand(*ys)
    out = apply_np(K.dot, x, y)
    expected = np.dot(x.astype(np.float64), y.astype(np.float64))
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_dot_with_unknown_batch_dim():
    x = K.placeholder(shape=(None, 3, 4))
    w = K.variable(rand(2, 4, 5))
    y = K.dot(x, w)
    assert K.int_shape(y) == (None, 3, 2, 5)
    xv = rand(6, 3, 4)
    np.testing.assert_allclose(run(y, [(x, xv)]), np.dot(xv, K.get_value(w)), rtol=1e-5, atol=1e-5)


def _np_batch_dot_3d(x, y, axes):
    """Keras 1.2.2 3-D batch_dot: a batched matmul, transposing x when its contracted
    axis is not the last one and y when its contracted axis is the last one."""
    if axes is None:
        axes = (2, 1)
    if isinstance(axes, int):
        axes = (axes, axes)
    axes = (axes[0] % 3, axes[1] % 3)
    a = x if axes[0] == 2 else np.transpose(x, (0, 2, 1))
    b = y if axes[1] != 2 else np.transpose(y, (0, 2, 1))
    return np.einsum("bij,bjk->bik", a, b)


@pytest.mark.parametrize(
    "xs,ys,axes",
    [
        ((4, 2, 3), (4, 3, 5), None),
        ((4, 2, 3), (4, 3, 5), (2, 1)),
        ((4, 2, 3), (4, 3, 5), [2, 1]),
        ((4, 3, 2), (4, 3, 5), (1, 1)),
        ((4, 3, 2), (4, 3, 5), 1),
        ((4, 2, 3), (4, 5, 3), (2, 2)),
        ((4, 2, 3), (4, 5, 3), 2),
        ((4, 3, 2), (4, 5, 3), (1, 2)),
        ((4, 2, 3), (4, 5, 3), (-1, -1)),
    ],
)
def test_batch_dot_3d(xs, ys, axes):
    x, y = rand(*xs), rand(*ys)
    out = apply_np(lambda a, b: K.batch_dot(a, b, axes=axes), x, y)
    expected = _np_batch_dot_3d(x.astype(np.float64), y.astype(np.float64), axes)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("axes", [1, (1, 1), -1])
def test_batch_dot_2d_same_axes(axes):
    # Keras docs: x (32, 20), y (32, 20), batch_dot(x, y, axes=1) -> (32, 1)
    x, y = rand(32, 20), rand(32, 20)
    out = apply_np(lambda a, b: K.batch_dot(a, b, axes=axes), x, y)
    assert out.shape == (32, 1)
    np.testing.assert_allclose(out[:, 0], np.sum(x * y, axis=1), rtol=1e-5, atol=1e-5)


def test_batch_dot_2d_axis0():
    x, y = rand(5, 3), rand(5, 3)
    out = apply_np(lambda a, b: K.batch_dot(a, b, axes=0), x, y)
    assert out.shape == (3, 1)
    np.testing.assert_allclose(out[:, 0], np.sum(x * y, axis=0), rtol=1e-5, atol=1e-5)


def test_batch_dot_2d_different_axes():
    # 1.2.2: sum(transpose(x) * y, axis=axes[1]) (square operands)
    x, y = rand(4, 4), rand(4, 4)
    out = apply_np(lambda a, b: K.batch_dot(a, b, axes=(0, 1)), x, y)
    assert out.shape == (4, 1)
    np.testing.assert_allclose(out[:, 0], np.sum(x.T * y, axis=1), rtol=1e-5, atol=1e-5)


def test_batch_dot_unknown_batch():
    x = K.placeholder(shape=(None, 2, 3))
    y = K.placeholder(shape=(None, 3, 4))
    z = K.batch_dot(x, y)
    assert K.int_shape(z) == (None, 2, 4)
    xv, yv = rand(7, 2, 3), rand(7, 3, 4)
    np.testing.assert_allclose(run(z, [(x, xv), (y, yv)]), np.matmul(xv, yv), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape", [(3,), (3, 4), (2, 3, 4)])
def test_transpose(shape):
    x = rand(*shape)
    out = apply_np(K.transpose, x)
    np.testing.assert_array_equal(out, x.T)


def test_gather():
    ref = rand(6, 3)
    idx = np.array([4, 0, 4, 5], dtype=np.int32)
    out = apply_np(K.gather, ref, idx)
    np.testing.assert_array_equal(out, ref[idx])
    idx2 = np.array([[1, 2], [3, 0]], dtype=np.int32)
    out2 = apply_np(K.gather, ref, idx2)
    assert out2.shape == (2, 2, 3)
    np.testing.assert_array_equal(out2, ref[idx2])
    # float indices (as a Keras Embedding feeds them) are cast
    fref = K.variable(ref)
    fidx = K.placeholder(shape=(None,))
    np.testing.assert_array_equal(run(K.gather(fref, fidx), [(fidx, f32([2, 1]))]), ref[[2, 1]])


# ---------------------------------------------------------------------------------
# reductions

REDUCTIONS = [(name, getattr(np, name)) for name in ("max", "min", "sum", "prod", "mean", "var", "std")]
AXES = [None, 0, 1, 2, -1, -2, [0, 2], [1, -1], (0, 1, 2), [-3, -1]]


@pytest.mark.parametrize("name,npfn", REDUCTIONS)
@pytest.mark.parametrize("axis", AXES)
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions(name, npfn, axis, keepdims):
    x = rand(2, 3, 4, low=0.5, high=1.5) * f32(np.sign(RNG.randn(2, 3, 4)))
    out = apply_np(lambda t: getattr(K, name)(t, axis=axis, keepdims=keepdims), x)
    np_axis = tuple(axis) if isinstance(axis, list) else axis
    expected = npfn(x.astype(np.float64), axis=np_axis, keepdims=keepdims)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_reductions_positional_axis_and_symbolic_shape():
    x = K.placeholder(shape=(None, 3))
    m = K.mean(x, 0)
    s = K.sum(x, 1, True)
    assert K.int_shape(m) == (3,)
    assert K.int_shape(s) == (None, 1)
    xv = rand(5, 3)
    mv, sv = run([m, s], [(x, xv)])
    np.testing.assert_allclose(mv, xv.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sv, xv.sum(1, keepdims=True), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name,npfn", [("any", np.any), ("all", np.all)])
@pytest.mark.parametrize("axis", [None, 0, 1, -1, [0, 1]])
@pytest.mark.parametrize("keepdims", [False, True])
def test_any_all(name, npfn, axis, keepdims):
    x = f32([[0, 0, 1], [2, -1, 0.5], [0, 0, 0], [1, 1, 1]])
    out = apply_np(lambda t: getattr(K, name)(t, axis=axis, keepdims=keepdims), x)
    np_axis = tuple(axis) if isinstance(axis, list) else axis
    expected = npfn(x != 0, axis=np_axis, keepdims=keepdims)
    assert np.shape(out) == np.shape(expected)
    np.testing.assert_array_equal(np.asarray(out).astype(bool), expected)


@pytest.mark.parametrize("name,npfn", [("argmax", np.argmax), ("argmin", np.argmin)])
@pytest.mark.parametrize("axis", [0, 1, -1, 2])
def test_argmax_argmin(name, npfn, axis):
    x = rand(3, 4, 5)
    out = apply_np(lambda t: getattr(K, name)(t, axis=axis), x)
    assert out.dtype.kind in "iu"
    np.testing.assert_array_equal(out, npfn(x, axis=axis))


def test_argmax_default_axis_is_last():
    x = rand(4, 6)
    np.testing.assert_array_equal(apply_np(K.argmax, x), np.argmax(x, -1))
    np.testing.assert_array_equal(apply_np(K.argmin, x), np.argmin(x, -1))


# ---------------------------------------------------------------------------------
# elementwise

UNARY = [
    ("square", np.square, (-2, 2)),
    ("abs", np.abs, (-2, 2)),
    ("sqrt", np.sqrt, (0, 4)),
    ("exp", np.exp, (-3, 3)),
    ("log", np.log, (0.01, 5)),
    ("sign", np.sign, (-2, 2)),
    ("sin", np.sin, (-4, 4)),
    ("cos", np.cos, (-4, 4)),
]


@pytest.mark.parametrize("name,npfn,rng", UNARY)
def test_unary(name, npfn, rng):
    x = rand(3, 7, low=rng[0], high=rng[1])
    out = apply_np(getattr(K, name), x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, npfn(x.astype(np.float64)), rtol=1e-5, atol=1e-6)


def test_sign_of_zero_and_abs_of_negative_zero():
    x = f32([-3.0, -0.0, 0.0, 2.0])
    np.testing.assert_array_equal(apply_np(K.sign, x), [-1, 0, 0, 1])
    np.testing.assert_array_equal(apply_np(K.abs, x), [3, 0, 0, 2])


def test_sqrt_clips_negative_to_zero():
    # Keras 1 computes sqrt(clip(x, 0, inf)): no NaN for slightly negative inputs
    out = apply_np(K.sqrt, f32([-1.0, -1e-9, 0.0, 4.0]))
    np.testing.assert_array_equal(out, [0.0, 0.0, 0.0, 2.0])


def test_log_of_zero_is_minus_inf():
    with np.errstate(divide="ignore"):
        out = apply_np(K.log, f32([0.0, 1.0]))
    assert out[0] == -np.inf and out[1] == 0.0


def test_round_half_to_even():
    x = f32([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5, 0.49, 0.51, -0.51, 1.7])
    out = apply_np(K.round, x)
    np.testing.assert_array_equal(out, np.round(x))
    np.testing.assert_array_equal(out, [-2, -2, -0.0, 0, 2, 2, 4, 0, 1, -1, 2])


@pytest.mark.parametrize("a", [2, 3, 0.5, -1, 0, 1.5])
def test_pow(a):
    x = rand(4, 5, low=0.1, high=2.0)
    np.testing.assert_allclose(apply_np(lambda t: K.pow(t, a), x), x.astype(np.float64) ** a, rtol=1e-5)


@pytest.mark.parametrize("a", [2, 3])
def test_pow_integer_exponent_negative_base(a):
    x = f32([-2.0, -0.5, 0.0, 1.5])
    np.testing.assert_allclose(apply_np(lambda t: K.pow(t, a), x), x.astype(np.float64) ** a, rtol=1e-6)


@pytest.mark.parametrize(
    "lo,hi,ref",
    [
        (-0.5, 0.5, (-0.5, 0.5)),
        (0.0, None, (0.0, np.inf)),
        (None, 0.3, (-np.inf, 0.3)),
        (0.5, -0.5, (0.5, 0.5)),  # Keras 1: max < min is raised to min
        (0.2, 0.2, (0.2, 0.2)),
    ],
)
def test_clip(lo, hi, ref):
    x = rand(5, 6, low=-2, high=2)
    out = apply_np(lambda t: K.clip(t, lo, hi), x)
    np.testing.assert_allclose(out, np.clip(x, ref[0], ref[1]), rtol=1e-6)


# K's names and numpy's ("lesser" is Keras 1's older spelling of "less")
COMPARISONS = [
    (name, getattr(np, name.replace("lesser", "less")))
    for name in (
        "equal",
        "not_equal",
        "greater",
        "greater_equal",
        "lesser",
        "lesser_equal",
        "less",
        "less_equal",
    )
]


@pytest.mark.parametrize("name,npfn", COMPARISONS)
def test_comparisons(name, npfn):
    x = f32([[1, 2, 3], [4, 5, 6]])
    y = f32([[1, 0, 3], [5, 5, 7]])
    out = apply_np(getattr(K, name), x, y)
    assert out.dtype == np.bool_
    np.testing.assert_array_equal(out, npfn(x, y))
    # against a Python scalar and with broadcasting
    out2 = apply_np(lambda a: getattr(K, name)(a, 3.0), x)
    np.testing.assert_array_equal(out2, npfn(x, 3.0))
    out3 = apply_np(getattr(K, name), x, f32([1, 5, 6]))
    np.testing.assert_array_equal(out3, npfn(x, f32([1, 5, 6])))


def test_comparisons_of_int_tensors():
    x = np.array([1, 2, 3], dtype=np.int32)
    y = np.array([3, 2, 1], dtype=np.int32)
    np.testing.assert_array_equal(apply_np(K.equal, x, y), x == y)
    np.testing.assert_array_equal(apply_np(K.greater, x, y), x > y)


@pytest.mark.parametrize("name,npfn", [("maximum", np.maximum), ("minimum", np.minimum)])
def test_maximum_minimum(name, npfn):
    x, y = rand(3, 4), rand(3, 4)
    np.testing.assert_array_equal(apply_np(getattr(K, name), x, y), npfn(x, y))
    np.testing.assert_array_equal(apply_np(lambda a: getattr(K, name)(a, 0.25), x), npfn(x, f32(0.25)))
    np.testing.assert_array_equal(apply_np(getattr(K, name), x, y[:1]), npfn(x, y[:1]))


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_l2_normalize(axis):
    x = rand(4, 5, low=0.1, high=2) * f32(np.sign(RNG.randn(4, 5)))
    out = apply_np(lambda t: K.l2_normalize(t, axis), x)
    x64 = x.astype(np.float64)
    expected = x64 / np.sqrt(np.sum(x64**2, axis=axis, keepdims=True))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.sum(out.astype(np.float64) ** 2, axis=axis), 1.0, rtol=1e-5)


def test_l2_normalize_zero_row_is_finite():
    out = apply_np(lambda t: K.l2_normalize(t, 1), f32([[0, 0, 0], [3, 4, 0]]))
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out[1], [0.6, 0.8, 0.0], rtol=1e-6)


def test_in_top_k():
    pred = f32([[0.1, 0.5, 0.2, 0.2], [0.7, 0.1, 0.1, 0.1], [0.25, 0.25, 0.25, 0.25], [0.0, 0.1, 0.3, 0.6]])
    targets = np.array([2, 1, 3, 3], dtype=np.int32)
    p = K.placeholder(shape=(None, 4))
    t = K.placeholder(shape=(None,), dtype="int32")
    r1, r2, r3 = run(
        [K.in_top_k(p, t, 1), K.in_top_k(p, t, 2), K.in_top_k(p, t, 4)], [(p, pred), (t, targets)]
    )
    # ties straddling the boundary count in (TensorFlow semantics)
    np.testing.assert_array_equal(np.asarray(r1).astype(bool), [False, False, True, True])
    # row 1: the target (0.1) ties with two others for 2nd place -> in the top 2
    np.testing.assert_array_equal(np.asarray(r2).astype(bool), [True, True, True, True])
    np.testing.assert_array_equal(np.asarray(r3).astype(bool), [True, True, True, True])
    assert np.asarray(r1).shape == (4,)


# ---------------------------------------------------------------------------------
# tensor operators


def test_binary_operators_build_graph_nodes():
    x = K.placeholder(shape=(None, 3))
    y = K.placeholder(shape=(None, 3))
    exprs = [x + y, x - y, x * y, x / y, x**2, -x, abs(x), +x, x**y]
    for e in exprs:
        assert isinstance(e, K.Tensor)
    xv = rand(4, 3, low=0.5, high=2)
    yv = rand(4, 3, low=0.5, high=2)
    outs = run(exprs, [(x, xv), (y, yv)])
    x64, y64 = xv.astype(np.float64), yv.astype(np.float64)
    refs = [x64 + y64, x64 - y64, x64 * y64, x64 / y64, x64**2, -x64, np.abs(x64), x64, x64**y64]
    for o, r in zip(outs, refs):
        np.testing.assert_allclose(o, r, rtol=1e-5)


def test_reversed_operators_with_scalars_and_arrays():
    x = K.placeholder(shape=(2, 3))
    xv = rand(2, 3, low=0.5, high=2)
    arr = rand(2, 3, low=0.5, high=2)
    exprs = [
        2 + x,
        2 - x,
        2 * x,
        2 / x,
        2**x,
        arr + x,
        arr - x,
        arr * x,
        arr / x,
        x + arr,
        x - 1,
        x * 0.5,
        x / 4,
        x - np.float32(1),
        np.float64(3) * x,
    ]
    for e in exprs:
        assert isinstance(e, K.Tensor), type(e)
    outs = run(exprs, [(x, xv)])
    x64, a64 = xv.astype(np.float64), arr.astype(np.float64)
    refs = [
        2 + x64,
        2 - x64,
        2 * x64,
        2 / x64,
        2**x64,
        a64 + x64,
        a64 - x64,
        a64 * x64,
        a64 / x64,
        x64 + a64,
        x64 - 1,
        x64 * 0.5,
        x64 / 4,
        x64 - 1,
        3 * x64,
    ]
    for o, r in zip(outs, refs):
        np.testing.assert_allclose(o, r, rtol=1e-5)


def test_comparison_operators():
    x = K.placeholder(shape=(4,))
    y = K.placeholder(shape=(4,))
    xv, yv = f32([1, 2, 3, 4]), f32([4, 2, 2, 5])
    exprs = [x < y, x <= y, x > y, x >= y, x < 2.5, 2.5 < x, x >= np.float32(2)]
    outs = run(exprs, [(x, xv), (y, yv)])
    refs = [xv < yv, xv <= yv, xv > yv, xv >= yv, xv < 2.5, 2.5 < xv, xv >= 2]
    for o, r in zip(outs, refs):
        np.testing.assert_array_equal(o, r)


def test_lambda_subtraction_works():
    diff = lambda a, b: a - b
    x, y = K.placeholder(shape=(None, 2)), K.placeholder(shape=(None, 2))
    xv, yv = rand(3, 2), rand(3, 2)
    np.testing.assert_allclose(run(diff(x, y), [(x, xv), (y, yv)]), xv - yv, rtol=1e-6)


def test_operators_broadcast():
    x = K.placeholder(shape=(None, 3))
    b = K.variable(f32([1, 2, 3]))
    xv = rand(4, 3)
    np.testing.assert_allclose(run(x + b, [(x, xv)]), xv + f32([1, 2, 3]), rtol=1e-6)
    col = K.placeholder(shape=(None, 1))
    cv = rand(4, 1)
    np.testing.assert_allclose(run(x * col, [(x, xv), (col, cv)]), xv * cv, rtol=1e-6)


def test_tensor_has_no_truth_value():
    x = K.placeholder(shape=(2,))
    with pytest.raises(TypeError):
        bool(x)
    with pytest.raises(TypeError):
        if x > 0:
            pass
