"""SeparableConvolution2D / K.separable_conv2d: a direct-loop numpy reference (depthwise
cross-correlation, output channel c * depth_multiplier + m, then a 1x1 mix), layer_test
in both orderings, weights, training, bad inputs."""

import numpy as np
import pytest
from layer_checks import assert_learns_teacher, assert_predicts, image_shape, model_with_random_weights
from numpy.testing import assert_allclose

from conv_reference import pads as _pads
from keras import backend as K
from keras.engine.topology import Input
from keras.layers.convolutional import SeparableConv2D, SeparableConvolution2D
from keras.layers.core import Flatten
from keras.models import Sequential

pytestmark = pytest.mark.usefixtures("fresh_session")


def np_separable(x, dk, pk, b, ordering, stride=(1, 1), mode="valid"):
    """x NHWC / NCHW; kernels in Keras 1's layout for ``ordering``. Direct loops."""
    if ordering == "th":
        x = x.transpose(0, 2, 3, 1)
        dk = dk.transpose(2, 3, 1, 0)  # (dm, C, r, c) -> (r, c, C, dm)
        pk = pk.transpose(2, 3, 1, 0)  # (F, C*dm, 1, 1) -> (1, 1, C*dm, F)
    n, h, w, c = x.shape
    kh, kw, _, dm = dk.shape
    pt, pb = _pads(h, kh, stride[0], mode)
    pl, pr = _pads(w, kw, stride[1], mode)
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    oh = (h + pt + pb - kh) // stride[0] + 1
    ow = (w + pl + pr - kw) // stride[1] + 1
    d = np.zeros((n, oh, ow, c * dm))
    for oy in range(oh):
        for ox in range(ow):
            for ch in range(c):
                for m in range(dm):
                    patch = xp[
                        :, oy * stride[0] : oy * stride[0] + kh, ox * stride[1] : ox * stride[1] + kw, ch
                    ]
                    d[:, oy, ox, ch * dm + m] = np.sum(patch * dk[:, :, ch, m], axis=(1, 2))
    y = d @ pk[0, 0] + b
    return y.transpose(0, 3, 1, 2) if ordering == "th" else y


@pytest.mark.parametrize("ordering", ["th", "tf"])
@pytest.mark.parametrize("mode", ["valid", "same"])
@pytest.mark.parametrize("subsample", [(1, 1), (2, 2), (1, 2)])
@pytest.mark.parametrize("multiplier", [1, 2])
def test_separable_layer_and_numpy(ordering, mode, subsample, multiplier):
    nb_samples, nb_filter, stack, rows, cols = 2, 3, 2, 7, 8
    shape = image_shape(ordering, nb_samples, stack, rows, cols)
    kwargs = dict(nb_filter=nb_filter, nb_row=3, nb_col=2, border_mode=mode, subsample=subsample)
    kwargs.update(depth_multiplier=multiplier, dim_ordering=ordering)
    model, ws = model_with_random_weights(SeparableConvolution2D, kwargs, shape)
    x = np.random.uniform(-1, 1, shape).astype("float32")
    assert_predicts(model, x, np_separable(x, ws[0], ws[1], ws[2], ordering, subsample, mode))


def test_separable_weights_names_shapes_and_config():
    layer = SeparableConvolution2D(
        5, 3, 2, depth_multiplier=2, dim_ordering="th", input_shape=(3, 8, 8), name="s"
    )
    Sequential([layer])
    assert [w.name for w in layer.weights] == ["s_depthwise_kernel", "s_pointwise_kernel", "s_b"]
    assert [K.int_shape(w) for w in layer.weights] == [(2, 3, 3, 2), (5, 6, 1, 1), (5,)]
    layer = SeparableConv2D(5, 3, 2, depth_multiplier=2, dim_ordering="tf", input_shape=(8, 8, 3), name="t")
    Sequential([layer])
    assert [K.int_shape(w) for w in layer.weights] == [(3, 2, 3, 2), (1, 1, 6, 5), (5,)]
    cfg = layer.get_config()
    for key in (
        "depth_multiplier",
        "depthwise_regularizer",
        "pointwise_regularizer",
        "depthwise_constraint",
        "pointwise_constraint",
    ):
        assert key in cfg
    assert cfg["depth_multiplier"] == 2


def test_separable_trains_with_regularizers_and_constraints():
    from keras import constraints, regularizers

    np.random.seed(5)

    def make():
        return Sequential(
            [
                SeparableConvolution2D(
                    4,
                    3,
                    3,
                    depth_multiplier=2,
                    border_mode="same",
                    dim_ordering="tf",
                    depthwise_regularizer=regularizers.l2(0.001),
                    pointwise_constraint=constraints.maxnorm(2.0),
                    input_shape=(6, 6, 3),
                ),
                Flatten(),
            ]
        )

    x = np.random.random((32, 6, 6, 3)).astype("float32")
    assert_learns_teacher(make, x)


def test_separable_bad_inputs():
    with pytest.raises(ValueError, match=r"sep_a.*ndim=4.*\(None, 5, 5\)"):
        SeparableConvolution2D(2, 3, 3, dim_ordering="th", name="sep_a")(Input(shape=(5, 5)))
    with pytest.raises(ValueError, match=r"sep_b.*5.*\(None, 1, 4, 4\)"):
        SeparableConvolution2D(2, 5, 5, dim_ordering="th", name="sep_b")(Input(shape=(1, 4, 4)))
    with pytest.raises(ValueError, match="border mode"):
        SeparableConvolution2D(2, 3, 3, border_mode="full")
    model = Sequential([SeparableConvolution2D(2, 3, 3, dim_ordering="th", input_shape=(1, 5, 5))])
    with pytest.raises(ValueError):
        model.predict(np.zeros((1, 2, 5, 5), "float32"))
    assert model.predict(np.zeros((1, 1, 5, 5), "float32")).shape == (1, 2, 3, 3)


def test_separable_conv2d_backend_matches_numpy():
    x = np.random.uniform(-1, 1, (2, 6, 5, 3)).astype("float32")
    dk = np.random.uniform(-1, 1, (2, 3, 3, 2)).astype("float32")
    pk = np.random.uniform(-1, 1, (1, 1, 6, 4)).astype("float32")
    got = K.eval(K.separable_conv2d(K.variable(x), K.variable(dk), K.variable(pk), dim_ordering="tf"))
    assert_allclose(got, np_separable(x, dk, pk, 0.0, "tf"), rtol=1e-4, atol=1e-5)


def test_separable_weights_round_trip_through_hdf5(tmp_path):
    def make():
        return Sequential(
            [SeparableConvolution2D(3, 3, 3, depth_multiplier=2, dim_ordering="th", input_shape=(2, 5, 5))]
        )

    a = make()
    a.layers[0].set_weights(
        [np.random.uniform(-1, 1, K.int_shape(w)).astype("float32") for w in a.layers[0].weights]
    )
    path = str(tmp_path / "sep.h5")
    a.save_weights(path)
    b = make()
    b.load_weights(path)
    x = np.random.random((2, 2, 5, 5)).astype("float32")
    assert_allclose(b.predict(x), a.predict(x), rtol=1e-6)
