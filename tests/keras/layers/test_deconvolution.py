"""Deconvolution2D / K.deconv2d and K.atrous_conv2d: a direct-loop numpy reference (every
input pixel scattered through the kernel; 'th' transposes a true convolution, 'tf' a
cross-correlation), layer_test in both orderings, weights, training, bad inputs."""

import numpy as np
import pytest
from layer_checks import assert_learns_teacher, assert_predicts, image_shape, model_with_random_weights
from numpy.testing import assert_allclose

from conv_reference import pads as _pads
from keras import backend as K
from keras.engine.topology import Input
from keras.layers.convolutional import Deconv2D, Deconvolution2D
from keras.layers.core import Flatten
from keras.models import Sequential

pytestmark = pytest.mark.usefixtures("fresh_session")


def np_deconv(x, W, out_rows, out_cols, ordering, stride=(1, 1), mode="valid"):
    """Direct loops: y[f, iy*s + i - pad, ix*s + j - pad] += x[c, iy, ix] * tap(f, c, i, j)."""
    if ordering == "tf":
        x = x.transpose(0, 3, 1, 2)
        taps = W.transpose(3, 2, 0, 1)  # (kh, kw, stack, F) -> (F, stack, kh, kw)
    else:
        taps = W[:, :, ::-1, ::-1]  # the transpose of a true convolution
    n, c, h, w = x.shape
    f, _, kh, kw = taps.shape
    pt, pb = _pads(out_rows, kh, stride[0], mode)
    pl, pr = _pads(out_cols, kw, stride[1], mode)
    y = np.zeros((n, f, out_rows + pt + pb, out_cols + pl + pr))
    for iy in range(h):
        for ix in range(w):
            for i in range(kh):
                for j in range(kw):
                    yy, yx = iy * stride[0] + i, ix * stride[1] + j
                    if yy < y.shape[2] and yx < y.shape[3]:
                        y[:, :, yy, yx] += x[:, :, iy, ix] @ taps[:, :, i, j].T
    y = y[:, :, pt : pt + out_rows, pl : pl + out_cols]
    return y.transpose(0, 2, 3, 1) if ordering == "tf" else y


def _in_len(out, k, mode, s):
    n = {"valid": out - k + 1, "same": out, "full": out + k - 1}[mode]
    return (n + s - 1) // s


CASES = [
    # (out_rows, out_cols, nb_row, nb_col, mode, subsample)
    (14, 14, 3, 3, "valid", (1, 1)),  # Keras 1's docstring example: 12x12 -> 14x14
    (25, 25, 3, 3, "valid", (2, 2)),  # ... and its stride-2 example: 12x12 -> 25x25
    (8, 7, 3, 2, "valid", (2, 2)),  # slack: the last output row only gets padding
    (6, 7, 3, 3, "same", (1, 1)),
    (8, 6, 2, 3, "same", (2, 2)),
    (4, 5, 3, 2, "full", (1, 1)),
    (5, 6, 3, 3, "valid", (2, 1)),
]


@pytest.mark.parametrize("ordering", ["th", "tf"])
@pytest.mark.parametrize("case", CASES)
def test_deconvolution2d_layer_and_numpy(ordering, case):
    out_rows, out_cols, kr, kc, mode, sub = case
    nb_samples, nb_filter, stack = 2, 3, 2
    rows, cols = _in_len(out_rows, kr, mode, sub[0]), _in_len(out_cols, kc, mode, sub[1])
    shape = image_shape(ordering, nb_samples, stack, rows, cols)
    out_shape = (None,) + image_shape(ordering, 1, nb_filter, out_rows, out_cols)[1:]
    kwargs = dict(nb_filter=nb_filter, nb_row=kr, nb_col=kc, output_shape=out_shape, border_mode=mode)
    kwargs.update(subsample=sub, dim_ordering=ordering)
    model, (W, b) = model_with_random_weights(Deconvolution2D, kwargs, shape)
    x = np.random.uniform(-1, 1, shape).astype("float32")
    want = np_deconv(x, W, out_rows, out_cols, ordering, sub, mode)
    assert_predicts(model, x, want + (b[None, :, None, None] if ordering == "th" else b))


@pytest.mark.parametrize("ordering", ["th", "tf"])
def test_deconv2d_is_the_adjoint_of_conv2d(ordering):
    # <deconv(x), y> == <x, conv(y)> with the same kernel, strides and border mode
    out_rows, out_cols, stride = 9, 10, (2, 2)
    W = np.random.uniform(-1, 1, (3, 2, 3, 3) if ordering == "th" else (3, 3, 2, 3)).astype("float32")
    if ordering == "th":
        xshape, yshape = (2, 2, 4, 4), (2, 3, out_rows, out_cols)
    else:
        xshape, yshape = (2, 4, 4, 2), (2, out_rows, out_cols, 3)
    x = np.random.uniform(-1, 1, xshape).astype("float32")
    y = np.random.uniform(-1, 1, yshape).astype("float32")
    # conv2d's kernel maps 3 channels -> 2: the deconv kernel read as (O=stack, I=nb_filter)
    Wc = W.transpose(1, 0, 2, 3) if ordering == "th" else W.transpose(0, 1, 3, 2)
    d = K.eval(K.deconv2d(K.variable(x), K.variable(W), (None,) + yshape[1:], stride, dim_ordering=ordering))
    c = K.eval(K.conv2d(K.variable(y), K.variable(Wc), stride, dim_ordering=ordering))
    assert d.shape == yshape and c.shape == xshape
    assert_allclose(np.sum(d * y), np.sum(x * c), rtol=1e-4)


def test_deconvolution2d_weights_names_and_config():
    layer = Deconvolution2D(4, 3, 2, (None, 4, 7, 6), dim_ordering="th", input_shape=(3, 5, 5), name="dc")
    Sequential([layer])
    assert [w.name for w in layer.weights] == ["dc_W", "dc_b"]
    assert [K.int_shape(w) for w in layer.weights] == [(4, 3, 3, 2), (4,)]
    cfg = layer.get_config()
    assert cfg["output_shape"] == (None, 4, 7, 6) and cfg["nb_filter"] == 4 and "atrous_rate" not in cfg
    layer = Deconv2D(
        4, 3, 2, (None, 7, 6, 4), dim_ordering="tf", input_shape=(5, 5, 3), bias=False, name="dt"
    )
    Sequential([layer])
    assert [w.name for w in layer.weights] == ["dt_W"]
    assert K.int_shape(layer.W) == (3, 2, 3, 4)


def test_deconvolution2d_trains():
    np.random.seed(3)

    def make():
        return Sequential(
            [
                Deconvolution2D(
                    2, 3, 3, (None, 2, 9, 9), subsample=(2, 2), dim_ordering="th", input_shape=(3, 4, 4)
                ),
                Flatten(),
            ]
        )

    x = np.random.random((32, 3, 4, 4)).astype("float32")
    assert_learns_teacher(make, x)


def test_deconvolution2d_bad_inputs():
    # wrong rank
    with pytest.raises(ValueError, match=r"dc_a.*ndim=4.*\(None, 5, 5\)"):
        Deconvolution2D(2, 3, 3, (None, 2, 7, 7), dim_ordering="th", name="dc_a")(Input(shape=(5, 5)))
    # output_shape inconsistent with the input: a valid 3x3 convolution of 8 rows gives 6, not 5
    with pytest.raises(ValueError, match=r"dc_b.*\(None, 2, 8, 7\).*\(None, 1, 5, 5\)"):
        Deconvolution2D(2, 3, 3, (None, 2, 8, 7), dim_ordering="th", name="dc_b")(Input(shape=(1, 5, 5)))
    # kernel larger than the output with 'valid'
    with pytest.raises(ValueError, match=r"dc_c.*\(None, 2, 2, 2\)"):
        Deconvolution2D(2, 3, 3, (None, 2, 2, 2), dim_ordering="th", name="dc_c")(Input(shape=(1, 1, 1)))
    # channel count of output_shape against nb_filter
    with pytest.raises(ValueError, match=r"dc_d.*channels"):
        Deconvolution2D(2, 3, 3, (None, 7, 7, 5), dim_ordering="tf", name="dc_d")(Input(shape=(5, 5, 1)))
    with pytest.raises(ValueError, match="output_shape"):
        Deconvolution2D(2, 3, 3, (2, 7, 7))
    with pytest.raises(ValueError):
        Deconvolution2D(2, 3, 3, (None, 2, 7, 7), border_mode="bogus")
    # the model stays usable after a refused call
    model = Sequential([Deconvolution2D(2, 3, 3, (None, 2, 7, 7), dim_ordering="th", input_shape=(1, 5, 5))])
    with pytest.raises(ValueError):
        model.predict(np.zeros((1, 1, 6, 6), "float32"))
    assert model.predict(np.zeros((1, 1, 5, 5), "float32")).shape == (1, 2, 7, 7)


@pytest.mark.parametrize("ordering", ["th", "tf"])
def test_atrous_conv2d_backend(ordering):
    x = np.random.uniform(-1, 1, (2, 2, 9, 8) if ordering == "th" else (2, 9, 8, 2)).astype("float32")
    W = np.random.uniform(-1, 1, (3, 2, 3, 2) if ordering == "th" else (3, 2, 2, 3)).astype("float32")
    got = K.eval(
        K.atrous_conv2d(K.variable(x), K.variable(W), rate=2, border_mode="same", dim_ordering=ordering)
    )
    want = K.eval(
        K.conv2d(
            K.variable(x), K.variable(W), border_mode="same", dim_ordering=ordering, filter_dilation=(2, 2)
        )
    )
    assert_allclose(got, want, rtol=1e-6)
    # and against numpy: a dilated kernel is the kernel with zeros between the taps
    if ordering == "tf":
        xt, Wt = x.transpose(0, 3, 1, 2), W.transpose(3, 2, 0, 1)
    else:
        xt, Wt = x, W[:, :, ::-1, ::-1]
    Wd = np.zeros(Wt.shape[:2] + (5, 3), "float32")
    Wd[:, :, ::2, ::2] = Wt
    xp = np.pad(xt, ((0, 0), (0, 0), (2, 2), (1, 1)))
    ref = np.zeros((2, 3, 9, 8))
    for i in range(5):
        for j in range(3):
            ref += np.einsum("nchw,oc->nohw", xp[:, :, i : i + 9, j : j + 8], Wd[:, :, i, j])
    if ordering == "tf":
        ref = ref.transpose(0, 2, 3, 1)
    assert_allclose(got, ref, rtol=1e-4, atol=1e-5)
