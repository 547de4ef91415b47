"""Numpy references shared by the convolution, pooling and ``K.conv_padding`` tests:
Keras 1's border-mode padding ('same' as TensorFlow: the odd unit after), an n-D
cross-correlation and n-D max / average pooling, all channels-first (N, C, *spatial)."""

import itertools

import numpy as np


def pads(length, k, stride, mode, dil=1):
    """(before, after) padding of one axis of ``length`` for a window of ``k`` taps
    ``dil`` apart, by search rather than formula: 'same' is the least total padding that
    gives ceil(length / stride) outputs, the odd unit after."""
    span = dil * (k - 1) + 1
    if mode == "valid":
        return 0, 0
    if mode == "full":
        return span - 1, span - 1
    want = -(-length // stride)
    total = next(t for t in itertools.count() if (length + t - span) // stride + 1 == want)
    return total // 2, total - total // 2


def np_xcorr(x, w, stride=None, mode="valid", dil=None):
    """Cross-correlation of (N, C, *spatial) with (O, C, *kernel), in float64."""
    nd = x.ndim - 2
    stride = stride or (1,) * nd
    dil = dil or (1,) * nd
    kernel = w.shape[2:]
    widths = [pads(n, k, s, mode, d) for n, k, s, d in zip(x.shape[2:], kernel, stride, dil)]
    xp = np.pad(x.astype("float64"), ((0, 0), (0, 0)) + tuple(widths))
    out = [(n - d * (k - 1) - 1) // s + 1 for n, k, s, d in zip(xp.shape[2:], kernel, stride, dil)]
    y = np.zeros((x.shape[0], w.shape[0]) + tuple(out))
    for taps in itertools.product(*(range(k) for k in kernel)):
        window = tuple(slice(t * d, t * d + s * (o - 1) + 1, s) for t, d, s, o in zip(taps, dil, stride, out))
        patch = xp[(slice(None), slice(None)) + window]
        y += np.tensordot(patch, w[(slice(None), slice(None)) + taps], axes=([1], [1])).transpose(
            [0, nd + 1] + list(range(1, nd + 1))
        )
    return y


def np_pool(x, pool, strides, mode, kind):
    """Max ('max') or average ('avg') pooling of (N, C, *spatial); the padding of 'same'
    never wins a max and is not counted in an average."""
    before, outs = [], []
    for length, k, s in zip(x.shape[2:], pool, strides):
        if mode == "valid":
            outs.append((length - k) // s + 1)
            before.append(0)
        else:
            outs.append(-(-length // s))
            before.append(pads(length, k, s, mode)[0])
    axes = tuple(range(2, x.ndim))
    y = np.zeros(x.shape[:2] + tuple(outs))
    for index in itertools.product(*(range(o) for o in outs)):
        starts = [i * s - p for i, s, p in zip(index, strides, before)]
        win = x[(slice(None), slice(None)) + tuple(slice(max(a, 0), a + k) for a, k in zip(starts, pool))]
        y[(slice(None), slice(None)) + index] = win.max(axis=axes) if kind == "max" else win.mean(axis=axes)
    return y
