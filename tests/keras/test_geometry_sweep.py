"""Conv / pool geometry sweep against a float64 numpy reference (issue 17, item 4).

Every geometry of Convolution1D/2D, AtrousConvolution1D/2D, Max/AveragePooling1D/2D and
(on a smaller grid) Convolution3D, Max/AveragePooling3D -- kernel sizes, strides,
dilations, border_mode 'valid'/'same', input sizes 1..9, both dim orderings -- either
raises a ValueError when the layer is called (only when a 'valid' kernel or pool is
larger than its input) or matches the reference; never an engine "internal error".
A sampled subset also checks the input gradient of sum(output * R) against the
reference's adjoint.

Conventions of the reference (those of Keras 1 and of ferrokeras_backend):
- 'th' Convolution2D/3D is a TRUE convolution (kernel flipped, as Theano); 'tf' and
  Convolution1D are cross-correlations.
- 'same' pads as TensorFlow: total = max((ceil(n/s)-1)*s + (k-1)*d + 1 - n, 0), the odd
  one at the end; pooling pads likewise, padding never wins a max and is not counted in
  an average. The convolutions also take Theano's 'full' ((k-1)*d zeros on each side).

The grids are sampled with a fixed seed (the full product is far too large); the number
of sampled cases per family is scaled by FERROKERAS_GEOMETRY_SCALE (default 1).
"""

import itertools
import os
import random
from collections import namedtuple

import numpy as np
import pytest
from numpy.testing import assert_allclose

from keras import backend as K
from keras.layers import pooling
from keras.layers.convolutional import (
    AtrousConvolution1D,
    AtrousConvolution2D,
    Convolution1D,
    Convolution2D,
    Convolution3D,
)

SCALE = float(os.environ.get("FERROKERAS_GEOMETRY_SCALE", "1"))
N_BATCH, N_CHANNELS, N_FILTERS = 2, 2, 3


pytestmark = pytest.mark.usefixtures("fresh_session")


# --------------------------------------------------------------------------- reference


def _axis_taps(n, k, s, d, mode):
    """(idx, valid) of one spatial axis: idx[o, j] is the input position read by tap j of
    output o (may fall in the padding), or None when 'valid' leaves no output."""
    span = d * (k - 1) + 1
    if mode == "valid":
        if span > n:
            return None
        o, before = (n - span) // s + 1, 0
    elif mode == "full":  # Theano's full convolution: span - 1 zeros on each side
        o, before = (n + span - 2) // s + 1, span - 1
    else:
        o = -(-n // s)
        before = max((o - 1) * s + span - n, 0) // 2  # the odd one goes at the end
    idx = np.arange(o)[:, None] * s + np.arange(k)[None, :] * d - before
    return idx, (idx >= 0) & (idx < n)


def _gather(x, taps):
    """x (N, C, *sp) -> G (N, C, o1, k1, o2, k2, ...), mask M (o1, k1, ...), the index
    tuple used (for the adjoint scatter)."""
    nd = len(taps)
    index = [slice(None), slice(None)]
    mask = np.ones((1,) * (2 * nd), bool)
    for a, (idx, valid) in enumerate(taps):
        shape = [1] * (2 * nd)
        shape[2 * a], shape[2 * a + 1] = idx.shape
        index.append(np.clip(idx, 0, x.shape[2 + a] - 1).reshape(shape))
        mask = mask & valid.reshape(shape)
    index = tuple(index)
    return x[index], mask, index


def _scatter(shape, index, values):
    g = np.zeros(shape)
    np.add.at(g, index, values)
    return g


def _k_axes(nd):
    return tuple(2 + 2 * a + 1 for a in range(nd))


def ref_conv(x, w, b, taps, r=None):
    """Cross-correlation of x (N, C, *sp) with w (F, C, *k) plus b; with r (the output
    cotangent) also the input gradient of sum(y * r)."""
    nd = len(taps)
    g, m, index = _gather(x, taps)
    g = g * m
    o_letters, k_letters = "pqr"[:nd], "ijk"[:nd]
    gx = "nc" + "".join(o + k for o, k in zip(o_letters, k_letters))
    y = np.einsum("%s,fc%s->nf%s" % (gx, k_letters, o_letters), g, w)
    y = y + b.reshape((1, -1) + (1,) * nd)
    if r is None:
        return y, None
    dg = np.einsum("nf%s,fc%s->%s" % (o_letters, k_letters, gx), r, w) * m
    return y, _scatter(x.shape, index, dg)


def ref_conv_kernel_grad(x, taps, r):
    """Gradient of sum(y * r) with respect to the cross-correlation kernel (F, C, *k)."""
    nd = len(taps)
    g, m, _ = _gather(x, taps)
    o_letters, k_letters = "pqr"[:nd], "ijk"[:nd]
    gx = "nc" + "".join(o + k for o, k in zip(o_letters, k_letters))
    return np.einsum("%s,nf%s->fc%s" % (gx, o_letters, k_letters), g * m, r)


def ref_pool(x, taps, mode, r=None):
    nd = len(taps)
    g, m, index = _gather(x, taps)
    kax = _k_axes(nd)
    if mode == "max":
        gm = np.where(m, g, -np.inf)
        y = gm.max(axis=kax)
        if r is None:
            return y, None
        hit = (gm == np.expand_dims(y, kax)) & m
        dg = hit * np.expand_dims(r, kax)
    else:
        cnt = m.sum(axis=tuple(2 * a + 1 for a in range(nd)))
        y = (g * m).sum(axis=kax) / cnt
        if r is None:
            return y, None
        dg = m * np.expand_dims(r / cnt, kax)
    return y, _scatter(x.shape, index, dg)


# --------------------------------------------------------------------------- cases

# axes: one (kernel, stride, dilation, input size) per spatial axis
Case = namedtuple("Case", "family nd ordering mode axes")

FAMILIES = {
    # family: (nd, orderings, kernels, strides, dilations, sizes, samples)
    "Convolution1D": (1, ("tf",), range(1, 5), range(1, 4), (1,), range(1, 10), None),
    "AtrousConvolution1D": (1, ("tf",), range(1, 5), range(1, 4), range(1, 5), range(1, 10), None),
    "MaxPooling1D": (1, ("tf",), range(1, 5), range(1, 5), (1,), range(1, 10), None),
    "AveragePooling1D": (1, ("tf",), range(1, 5), range(1, 5), (1,), range(1, 10), None),
    "Convolution2D": (2, ("th", "tf"), range(1, 5), range(1, 4), (1,), range(1, 10), 400),
    "AtrousConvolution2D": (2, ("th", "tf"), range(1, 4), range(1, 3), range(1, 5), range(1, 10), 400),
    "MaxPooling2D": (2, ("th", "tf"), range(1, 4), range(1, 4), (1,), range(1, 10), 250),
    "AveragePooling2D": (2, ("th", "tf"), range(1, 4), range(1, 4), (1,), range(1, 10), 250),
    "Convolution3D": (3, ("th", "tf"), range(1, 4), range(1, 3), (1,), range(1, 6), 100),
    "MaxPooling3D": (3, ("th", "tf"), range(1, 4), range(1, 3), (1,), range(1, 6), 80),
    "AveragePooling3D": (3, ("th", "tf"), range(1, 4), range(1, 3), (1,), range(1, 6), 50),
}

# Geometries named in issue 17 and other corners, always included.
EXTRA = [
    Case("AtrousConvolution2D", 2, "tf", "same", ((3, 1, 5, 4), (3, 1, 5, 4))),
    Case("AtrousConvolution2D", 2, "th", "same", ((3, 1, 5, 4), (3, 1, 5, 4))),
    Case("AtrousConvolution2D", 2, "tf", "same", ((3, 2, 4, 1), (2, 3, 3, 1))),
    Case("AtrousConvolution2D", 2, "th", "valid", ((2, 1, 8, 9), (3, 1, 4, 9))),
    Case("AtrousConvolution1D", 1, "tf", "same", ((4, 3, 4, 1),)),
    Case("AtrousConvolution1D", 1, "tf", "valid", ((2, 1, 8, 8),)),  # span 9 > 8
    Case("Convolution2D", 2, "tf", "same", ((4, 3, 1, 1), (1, 1, 1, 9))),
    Case("Convolution2D", 2, "th", "valid", ((4, 1, 1, 3), (1, 1, 1, 9))),  # k > n
    Case("MaxPooling2D", 2, "th", "same", ((3, 1, 1, 1), (3, 5, 1, 2))),
    Case("AveragePooling2D", 2, "tf", "same", ((3, 4, 1, 2), (2, 1, 1, 9))),
    Case("MaxPooling1D", 1, "tf", "valid", ((4, 1, 1, 3),)),  # pool > n
    Case("Convolution3D", 2 + 1, "th", "same", ((3, 2, 1, 1), (2, 1, 1, 2), (3, 3, 1, 5))),
]


def _sample_cases():
    rng = random.Random(20240617)
    cases = []
    for fam, (nd, orderings, ks, ss, ds, ns, samples) in FAMILIES.items():
        per_axis = list(itertools.product(ks, ss, ds, ns))
        pooling = "Pooling" in fam
        if samples is None:  # the full product
            for ordering, mode, ax in itertools.product(
                orderings, ("valid", "same") if pooling else ("valid", "same", "full"), per_axis
            ):
                cases.append(Case(fam, nd, ordering, mode, (ax,)))
            continue
        modes = ("valid", "same") if pooling else ("valid", "same", "valid", "same", "full")
        for _ in range(max(1, int(samples * SCALE))):
            axes = tuple(rng.choice(per_axis) for _ in range(nd))
            if rng.random() < 0.5 and nd > 1:  # often the same geometry on every axis
                axes = (axes[0],) * nd
            cases.append(Case(fam, nd, rng.choice(orderings), rng.choice(modes), axes))
    return cases + EXTRA


CASES = _sample_cases()
GRAD_CASES = random.Random(7).sample(CASES, min(len(CASES), int(300 * SCALE))) + EXTRA


def _case_id(c):
    ax = "x".join("k%ds%dd%dn%d" % a for a in c.axes)
    return "%s-%s-%s-%s" % (c.family, c.ordering, c.mode, ax)


# --------------------------------------------------------------------------- layers


def _make_layer(c):
    ks = [a[0] for a in c.axes]
    ss = tuple(a[1] for a in c.axes)
    ds = tuple(a[2] for a in c.axes)
    f, mode, o = c.family, c.mode, c.ordering
    if f == "Convolution1D":
        return Convolution1D(N_FILTERS, ks[0], border_mode=mode, subsample_length=ss[0])
    if f == "AtrousConvolution1D":
        return AtrousConvolution1D(
            N_FILTERS, ks[0], border_mode=mode, subsample_length=ss[0], atrous_rate=ds[0]
        )
    if f == "Convolution2D":
        return Convolution2D(N_FILTERS, ks[0], ks[1], border_mode=mode, subsample=ss, dim_ordering=o)
    if f == "AtrousConvolution2D":
        return AtrousConvolution2D(
            N_FILTERS, ks[0], ks[1], border_mode=mode, subsample=ss, atrous_rate=ds, dim_ordering=o
        )
    if f == "Convolution3D":
        return Convolution3D(N_FILTERS, ks[0], ks[1], ks[2], border_mode=mode, subsample=ss, dim_ordering=o)
    cls = getattr(pooling, f)  # the families left are keras.layers.pooling's
    if c.nd == 1:
        return cls(pool_length=ks[0], stride=ss[0], border_mode=mode)
    return cls(pool_size=tuple(ks), strides=ss, border_mode=mode, dim_ordering=o)


def _channels_first(c):
    """Whether the layer's input/output put the channels right after the batch axis."""
    return c.nd > 1 and c.ordering == "th"


def _kernel_as_xcorr(c, w):
    """The layer's W as a cross-correlation kernel (F, C, *k)."""
    if c.nd == 1:  # (k, 1, C, F), a cross-correlation
        return w[:, 0].transpose(2, 1, 0)
    if c.ordering == "th":  # (F, C, *k), a true convolution: flip
        return w[(slice(None), slice(None)) + (slice(None, None, -1),) * c.nd]
    return w.transpose((c.nd + 1, c.nd) + tuple(range(c.nd)))  # (*k, C, F)


def _xcorr_to_layer(c, wx):
    """Inverse of _kernel_as_xcorr: a (F, C, *k) array in the layer's W layout."""
    if c.nd == 1:
        return wx.transpose(2, 1, 0)[:, None]
    if c.ordering == "th":
        return wx[(slice(None), slice(None)) + (slice(None, None, -1),) * c.nd]
    perm = (c.nd + 1, c.nd) + tuple(range(c.nd))
    return wx.transpose(np.argsort(perm))


def _channels_first_arrays(c, *arrays):
    cf = _channels_first(c)
    return [a.astype(np.float64) if cf else np.moveaxis(a, -1, 1).astype(np.float64) for a in arrays]


def _reference(c, layer, x_layer, r_layer=None):
    """Reference output (and input gradient) in the layer's own layout."""
    taps = [_axis_taps(n, k, s, d, c.mode) for (k, s, d, n) in c.axes]
    cf = _channels_first(c)
    (x,) = _channels_first_arrays(c, x_layer)
    r = None if r_layer is None else _channels_first_arrays(c, r_layer)[0]
    if "Pooling" in c.family:
        y, gx = ref_pool(x, taps, "max" if c.family.startswith("Max") else "avg", r)
    else:
        w, b = (v.astype(np.float64) for v in layer.get_weights())
        y, gx = ref_conv(x, _kernel_as_xcorr(c, w), b, taps, r)
    if not cf:
        y = np.moveaxis(y, 1, -1)
        gx = None if gx is None else np.moveaxis(gx, 1, -1)
    return y, gx


def _input_shape(c):
    sp = tuple(a[3] for a in c.axes)
    return (N_CHANNELS,) + sp if _channels_first(c) else sp + (N_CHANNELS,)


def _expect_error(c):
    return c.mode == "valid" and any(d * (k - 1) + 1 > n for (k, s, d, n) in c.axes)


def _build(c, rng):
    """(layer, placeholder, output tensor); random weights with a non-zero bias."""
    layer = _make_layer(c)
    x = K.placeholder((None,) + _input_shape(c))
    y = layer(x)
    if layer.get_weights():
        layer.set_weights([rng.standard_normal(w.shape).astype("float32") for w in layer.get_weights()])
    return layer, x, y


def _with_input(c, seed):
    """``_build`` with a fresh rng of ``seed``, then a random input batch: (rng, layer,
    placeholder, output tensor, input values)."""
    rng = np.random.default_rng(seed)
    layer, x, y = _build(c, rng)
    xv = rng.standard_normal((N_BATCH,) + _input_shape(c)).astype("float32")
    return rng, layer, x, y, xv


def _cotangent(rng, y):
    """A random output cotangent for ``y``: (placeholder, values)."""
    out_shape = (N_BATCH,) + K.int_shape(y)[1:]
    rv = rng.standard_normal(out_shape).astype("float32")
    return K.placeholder((None,) + out_shape[1:]), rv


def _check_error(c):
    layer = _make_layer(c)
    x = K.placeholder((None,) + _input_shape(c))
    with pytest.raises(ValueError) as info:
        layer(x)
    assert "internal error" not in str(info.value)


def _scale(ref):
    return max(1.0, float(np.abs(ref).max())) if ref.size else 1.0


# Geometries with no output (a 'valid' window wider than its axis) are checked once each
# for their error; the others against the references.
ERROR_CASES = list(dict.fromkeys(c for c in CASES if _expect_error(c)))  # GRAD_CASES' are among them


@pytest.mark.parametrize("c", ERROR_CASES, ids=_case_id)
def test_no_output_geometry_is_a_clear_error(c):
    _check_error(c)


@pytest.mark.parametrize("c", [c for c in CASES if not _expect_error(c)], ids=_case_id)
def test_forward_matches_reference(c):
    _, layer, x, y, xv = _with_input(c, 0)
    want, _ = _reference(c, layer, xv)
    assert K.int_shape(y)[1:] == want.shape[1:], "static output shape"
    got = K.function([x], [y])([xv])[0]
    assert got.shape == want.shape
    assert_allclose(got, want, rtol=1e-4, atol=1e-5 * _scale(want))


@pytest.mark.parametrize("c", [c for c in GRAD_CASES if not _expect_error(c)], ids=_case_id)
def test_input_gradient_matches_adjoint(c):
    rng, layer, x, y, xv = _with_input(c, 1)
    r, rv = _cotangent(rng, y)
    (g,) = K.gradients(K.sum(y * r), [x])
    got = K.function([x, r], [g])([xv, rv])[0]
    _, want = _reference(c, layer, xv, rv)
    assert got.shape == want.shape
    assert_allclose(got, want, rtol=1e-4, atol=1e-5 * _scale(want))


CONV_GRAD_CASES = [c for c in GRAD_CASES if "Pooling" not in c.family and not _expect_error(c)]


@pytest.mark.parametrize("c", CONV_GRAD_CASES, ids=_case_id)
def test_kernel_and_bias_gradients_match_adjoint(c):
    rng, layer, x, y, xv = _with_input(c, 2)
    r, rv = _cotangent(rng, y)
    gw, gb = K.gradients(K.sum(y * r), [layer.W, layer.b])
    got_w, got_b = K.function([x, r], [gw, gb])([xv, rv])
    x64, r64 = _channels_first_arrays(c, xv, rv)
    taps = [_axis_taps(n, k, s, d, c.mode) for (k, s, d, n) in c.axes]
    want_w = _xcorr_to_layer(c, ref_conv_kernel_grad(x64, taps, r64))
    assert got_w.shape == want_w.shape == layer.get_weights()[0].shape
    assert_allclose(got_w, want_w, rtol=1e-4, atol=1e-5 * _scale(want_w))
    want_b = r64.sum(axis=(0,) + tuple(range(2, 2 + c.nd)))
    assert_allclose(got_b, want_b, rtol=1e-4, atol=1e-5 * _scale(want_b))


def test_reference_self_check_against_finite_differences():
    """The numpy adjoint is the true gradient of the numpy forward (a tiny dilated,
    strided 'same' case for the conv and both pools)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 2, 5, 4))
    w = rng.standard_normal((3, 2, 2, 3))
    b = rng.standard_normal(3)
    taps = [_axis_taps(5, 2, 2, 3, "same"), _axis_taps(4, 3, 1, 2, "same")]
    ptaps = [_axis_taps(5, 3, 2, 1, "same"), _axis_taps(4, 2, 3, 1, "same")]
    fns = [
        (lambda v, r=None: ref_conv(v, w, b, taps, r)),
        (lambda v, r=None: ref_pool(v, ptaps, "max", r)),
        (lambda v, r=None: ref_pool(v, ptaps, "avg", r)),
    ]
    for fn in fns:
        y, _ = fn(x)
        r = rng.standard_normal(y.shape)
        _, g = fn(x, r)
        eps, num = 1e-6, np.zeros_like(x)
        for i in np.ndindex(*x.shape):
            xp, xm = x.copy(), x.copy()
            xp[i] += eps
            xm[i] -= eps
            num[i] = (np.sum(fn(xp)[0] * r) - np.sum(fn(xm)[0] * r)) / (2 * eps)
        assert_allclose(g, num, rtol=1e-5, atol=1e-6)
    r = rng.standard_normal(fns[0](x)[0].shape)
    gw, num = ref_conv_kernel_grad(x, taps, r), np.zeros_like(w)
    for i in np.ndindex(*w.shape):
        wp, wm = w.copy(), w.copy()
        wp[i] += 1e-6
        wm[i] -= 1e-6
        num[i] = (np.sum(ref_conv(x, wp, b, taps)[0] * r) - np.sum(ref_conv(x, wm, b, taps)[0] * r)) / 2e-6
    assert_allclose(gw, num, rtol=1e-5, atol=1e-6)
