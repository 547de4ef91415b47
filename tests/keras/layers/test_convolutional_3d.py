"""3-D convolutional layers: Convolution3D, UpSampling3D, ZeroPadding3D, Cropping3D.

layer_test in both orderings, numpy references (the flip rule: 'th' is a true
convolution, 'tf' a cross-correlation), border modes, strides, weights, training, the
backend functions and bad inputs."""

import numpy as np
import pytest
from layer_checks import (
    WEIGHT_ARG_KEYS,
    assert_predicts,
    assert_trains_with_every_weight_arg,
    channels_back,
    channels_first,
    image_shape,
    model_with_random_weights,
)
from numpy.testing import assert_allclose

from conv_reference import np_xcorr as np_xcorr_ncdhw
from keras import backend as K
from keras.layers import Conv3D, Convolution3D, Cropping3D, Dense, Flatten, UpSampling3D, ZeroPadding3D
from keras.models import Sequential
from keras.optimizers import Adam
from keras.utils.np_utils import convert_kernel
from keras.utils.test_utils import layer_test

pytestmark = pytest.mark.usefixtures("fresh_session")


def np_direct_conv3d(x, w, flip):
    """Seven nested loops over (sample, filter, 3 output axes) x (channel, 3 taps):
    'valid' mode, stride 1, true convolution when `flip`."""
    n, c, d, h, wd = x.shape
    o, _, k1, k2, k3 = w.shape
    y = np.zeros((n, o, d - k1 + 1, h - k2 + 1, wd - k3 + 1))
    for b in range(n):
        for f in range(o):
            for z in range(y.shape[2]):
                for r in range(y.shape[3]):
                    for q in range(y.shape[4]):
                        s = 0.0
                        for i in range(k1):
                            for j in range(k2):
                                for m in range(k3):
                                    tap = (
                                        w[f, :, k1 - 1 - i, k2 - 1 - j, k3 - 1 - m]
                                        if flip
                                        else w[f, :, i, j, m]
                                    )
                                    s += float(np.dot(x[b, :, z + i, r + j, q + m], tap))
                        y[b, f, z, r, q] = s
    return y


def np_conv3d(x, W, b, ordering, stride=(1, 1, 1), mode="valid"):
    """The Keras 1 layer as ferrokeras defines it: 'th' flips the kernel."""
    if ordering == "th":
        return np_xcorr_ncdhw(x, W[:, :, ::-1, ::-1, ::-1], stride, mode) + b[None, :, None, None, None]
    y = np_xcorr_ncdhw(x.transpose(0, 4, 1, 2, 3), W.transpose(4, 3, 0, 1, 2), stride, mode)
    return y.transpose(0, 2, 3, 4, 1) + b


@pytest.mark.parametrize("ordering", ["th", "tf"])
@pytest.mark.parametrize("mode", ["valid", "same", "full"])
@pytest.mark.parametrize("subsample", [(1, 1, 1), (2, 2, 2), (2, 1, 3)])
def test_convolution3d_layer_and_numpy(ordering, mode, subsample):
    shape = image_shape(ordering, 2, 2, 5, 6, 7)
    x = np.random.random(shape).astype("float32")
    # odd and even kernel sides: 'same' pads one more after than before on the even one
    kwargs = dict(nb_filter=3, kernel_dim1=3, kernel_dim2=2, kernel_dim3=3, border_mode=mode)
    kwargs.update(subsample=subsample, dim_ordering=ordering)
    model, (W, b) = model_with_random_weights(Convolution3D, kwargs, shape)
    assert_predicts(model, x, np_conv3d(x, W, b, ordering, subsample, mode))


@pytest.mark.parametrize("ordering", ["th", "tf"])
def test_convolution3d_matches_a_direct_seven_loop_convolution(ordering):
    x = np.random.uniform(-1, 1, (2, 3, 4, 5, 3)).astype("float32")  # (N, C, D, H, W)
    W = np.random.uniform(-1, 1, (2, 3, 2, 3, 2)).astype("float32")  # (O, C, k1, k2, k3)
    want = np_direct_conv3d(x.astype("float64"), W.astype("float64"), flip=ordering == "th")
    if ordering == "tf":
        x, W = x.transpose(0, 2, 3, 4, 1), W.transpose(2, 3, 4, 1, 0)
        want = want.transpose(0, 2, 3, 4, 1)
    model = Sequential([Convolution3D(2, 2, 3, 2, dim_ordering=ordering, input_shape=x.shape[1:])])
    model.layers[0].set_weights([W, np.zeros(2, "float32")])
    assert_allclose(model.predict(x), want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("ordering", ["th", "tf"])
def test_flip_rule_with_an_asymmetric_kernel(ordering):
    # A 3x3x3 volume with a single 1 in the middle: with 'same' the output IS the
    # kernel as the layer applies it. 'th' (Theano) is a true convolution: the output is
    # the kernel itself; 'tf' (TensorFlow) a cross-correlation: the kernel reversed
    # along all three axes.
    k = np.arange(1, 28, dtype="float32").reshape(3, 3, 3)
    vol = np.zeros((3, 3, 3), "float32")
    vol[1, 1, 1] = 1.0
    if ordering == "th":
        x, W = vol[None, None], k[None, None]
    else:
        x, W = vol[None, :, :, :, None], k[:, :, :, None, None]
    model = Sequential(
        [Convolution3D(1, 3, 3, 3, border_mode="same", dim_ordering=ordering, input_shape=x.shape[1:])]
    )
    model.layers[0].set_weights([W, np.zeros(1, "float32")])
    y = model.predict(x)
    y = y[0, 0] if ordering == "th" else y[0, :, :, :, 0]
    if ordering == "th":
        assert_allclose(y, k)
    else:
        assert_allclose(y, k[::-1, ::-1, ::-1])
    # convert_kernel turns one world's 5-D kernel into the other's: the 'th' layer with
    # the converted kernel computes the cross-correlation of the original.
    Wc = convert_kernel(W, dim_ordering=ordering)
    assert Wc.shape == W.shape
    model.layers[0].set_weights([Wc, np.zeros(1, "float32")])
    y2 = model.predict(x)
    y2 = y2[0, 0] if ordering == "th" else y2[0, :, :, :, 0]
    assert_allclose(y2, k[::-1, ::-1, ::-1] if ordering == "th" else k)


def test_convert_kernel_handles_5d_kernels():
    w = np.random.random((2, 3, 2, 3, 4)).astype("float32")
    th = convert_kernel(w, dim_ordering="th")
    assert_allclose(th, w[:, :, ::-1, ::-1, ::-1])
    tf = convert_kernel(w, dim_ordering="tf")
    assert_allclose(tf, w[::-1, ::-1, ::-1, :, :])
    assert_allclose(convert_kernel(th, dim_ordering="th"), w)
    with pytest.raises(ValueError):
        convert_kernel(np.zeros((2, 2, 2, 2, 2, 2)), dim_ordering="th")


def test_convolution3d_weights_names_shapes_init_and_config():
    layer = Convolution3D(4, 3, 2, 1, dim_ordering="th", input_shape=(3, 6, 6, 6), name="c3")
    Sequential([layer])
    assert [w.name for w in layer.weights] == ["c3_W", "c3_b"]
    W, b = layer.get_weights()
    assert W.shape == (4, 3, 3, 2, 1) and b.shape == (4,)
    # glorot_uniform with Keras 1's fans for a 'th' 5-D kernel
    lim = np.sqrt(6.0 / (3 * 6 + 4 * 6))
    assert np.abs(W).max() <= lim
    assert not (b != 0).any()
    layer_tf = Convolution3D(4, 3, 2, 1, dim_ordering="tf", input_shape=(6, 6, 6, 3))
    Sequential([layer_tf])
    assert layer_tf.get_weights()[0].shape == (3, 2, 1, 3, 4)
    cfg = layer.get_config()
    for key in (
        "nb_filter",
        "kernel_dim1",
        "kernel_dim2",
        "kernel_dim3",
        "init",
        "activation",
        "border_mode",
        "subsample",
        "dim_ordering",
    ) + WEIGHT_ARG_KEYS:
        assert key in cfg
    assert cfg["subsample"] == (1, 1, 1) and cfg["border_mode"] == "valid"
    assert cfg["init"] == "glorot_uniform" and cfg["activation"] == "linear"
    assert Conv3D is Convolution3D
    nobias = Convolution3D(2, 1, 1, 1, bias=False, dim_ordering="th", input_shape=(1, 2, 2, 2))
    Sequential([nobias])
    assert len(nobias.get_weights()) == 1
    assert nobias.get_weights()[0].shape == (2, 1, 1, 1, 1)


def test_default_ordering_is_resolved_at_construction():
    old = K.image_dim_ordering()
    try:
        K.set_image_dim_ordering("tf")
        layers = [Convolution3D(2, 3, 3, 3), UpSampling3D(), ZeroPadding3D(), Cropping3D()]
        K.set_image_dim_ordering("th")
        assert all(layer.dim_ordering == "tf" for layer in layers)
        assert Convolution3D(2, 3, 3, 3).dim_ordering == "th"
        assert UpSampling3D().dim_ordering == "th"
    finally:
        K.set_image_dim_ordering(old)


@pytest.mark.parametrize("ordering", ["th", "tf"])
def test_tiny_convolution3d_model_trains(ordering):
    np.random.seed(3)
    shape = image_shape(ordering, 32, 1, 4, 4, 4)
    x = np.random.random(shape).astype("float32")
    # target: a fixed linear function of the volume
    y = x.reshape(32, -1) @ np.random.uniform(-1, 1, (64, 2)).astype("float32")
    model = Sequential(
        [
            Convolution3D(4, 2, 2, 2, activation="relu", dim_ordering=ordering, input_shape=shape[1:]),
            Flatten(),
            Dense(2),
        ]
    )
    model.compile(Adam(lr=0.01), "mse")
    h = model.fit(x, y, nb_epoch=30, batch_size=8, verbose=0)
    loss = h.history["loss"]
    assert np.isfinite(loss).all()
    assert loss[-1] < 0.5 * loss[0], loss


def test_convolution3d_trains_with_regularizers_and_constraints():
    def make_layer(**weight_args):
        return Convolution3D(
            3,
            2,
            2,
            2,
            activation="relu",
            dim_ordering="th",
            border_mode="same",
            subsample=(2, 2, 2),
            input_shape=(2, 5, 4, 4),
            **weight_args,
        )

    x = np.random.random((4, 2, 5, 4, 4)).astype("float32")
    y = np.random.random((4, 3, 3, 2, 2)).astype("float32")
    model = assert_trains_with_every_weight_arg(make_layer, x, y)
    assert model.output_shape == (None, 3, 3, 2, 2)


# (layer, its arguments, the input's spatial shape, the numpy reference on channels-first
# data, a default argument and its value)
RESHAPING_3D = [
    (
        UpSampling3D,
        {"size": (2, 1, 3)},
        (2, 3, 4),
        lambda x: np.repeat(np.repeat(x, 2, 2), 3, 4),
        "size",
        (2, 2, 2),
    ),
    (
        ZeroPadding3D,
        {"padding": (2, 0, 1)},
        (2, 3, 4),
        lambda x: np.pad(x, ((0, 0), (0, 0), (2, 2), (0, 0), (1, 1))),
        "padding",
        (1, 1, 1),
    ),
    (
        Cropping3D,
        {"cropping": ((1, 2), (0, 3), (2, 0))},
        (5, 6, 7),
        lambda x: x[:, :, 1:-2, 0:-3, 2:],
        "cropping",
        ((1, 1), (1, 1), (1, 1)),
    ),
]


@pytest.mark.parametrize("ordering", ["th", "tf"])
@pytest.mark.parametrize(
    "cls,kwargs,spatial,reference,key,default", RESHAPING_3D, ids=[c[0].__name__ for c in RESHAPING_3D]
)
def test_reshaping_3d(ordering, cls, kwargs, spatial, reference, key, default):
    shape = image_shape(ordering, 2, 3, *spatial)
    x = np.random.random(shape).astype("float32")
    want = channels_back(reference(channels_first(x, ordering)), ordering)
    layer_test(cls, kwargs=dict(kwargs, dim_ordering=ordering), input_data=x, expected_output=want)
    layer_test(cls, kwargs={"dim_ordering": ordering}, input_shape=shape)
    assert cls().get_config()[key] == default


@pytest.mark.parametrize("ordering", ["th", "tf"])
def test_backend_conv3d_gradients_match_numpy(ordering):
    # dL/dx and dL/dW of L = sum(R * conv3d(x, W)) through the engine's backward,
    # against the numpy forward by central differences on a few entries.
    xs = image_shape(ordering, 2, 2, 4, 3, 5)
    ws = (3, 2, 2, 2, 3) if ordering == "th" else (2, 2, 3, 2, 3)
    x = np.random.uniform(-1, 1, xs).astype("float32")
    W = np.random.uniform(-1, 1, ws).astype("float32")
    xt = K.placeholder(shape=xs)
    wt = K.placeholder(shape=ws)
    y = K.conv3d(xt, wt, strides=(1, 2, 1), border_mode="same", dim_ordering=ordering)
    zero = np.zeros(3)
    R = np.random.uniform(-1, 1, np_conv3d(x, W, zero, ordering, (1, 2, 1), "same").shape)
    loss = K.sum(y * K.constant(R.astype("float32")))
    f = K.function([xt, wt], [y] + K.gradients(loss, [xt, wt]))
    out, gx, gw = f([x, W])
    assert_allclose(out, np_conv3d(x, W, zero, ordering, (1, 2, 1), "same"), rtol=1e-4, atol=1e-4)

    def num_loss(x_, w_):
        return float(np.sum(R * np_conv3d(x_, w_, zero, ordering, (1, 2, 1), "same")))

    rng = np.random.RandomState(0)
    eps = 1e-3
    for arr, grad, which in ((x, gx, 0), (W, gw, 1)):
        for idx in zip(*[rng.randint(0, s, 6) for s in arr.shape]):
            p, m = [x.astype("float64"), W.astype("float64")], [x.astype("float64"), W.astype("float64")]
            p[which][idx] += eps
            m[which][idx] -= eps
            num = (num_loss(*p) - num_loss(*m)) / (2 * eps)
            assert abs(num - grad[idx]) < 1e-3 * (1 + abs(num)), (which, idx, num, grad[idx])


def test_backend_conv3d_argument_errors():
    x = K.placeholder(shape=(1, 2, 4, 4, 4))
    with pytest.raises(ValueError, match="5-D"):
        K.conv3d(K.placeholder(shape=(1, 2, 4, 4)), K.placeholder(shape=(1, 2, 2, 2, 2)), dim_ordering="th")
    with pytest.raises(ValueError, match="border mode"):
        K.conv3d(x, K.placeholder(shape=(1, 2, 2, 2, 2)), border_mode="bogus", dim_ordering="th")
    with pytest.raises(ValueError, match="strides"):
        K.conv3d(x, K.placeholder(shape=(1, 2, 2, 2, 2)), strides=(1, 1), dim_ordering="th")
    with pytest.raises(ValueError, match=r"\(4, 2, 5, 5, 5\)"):
        K.conv3d(x, K.placeholder(shape=(4, 2, 5, 5, 5)), dim_ordering="th")


def test_bad_inputs_raise_value_error_naming_layer_and_shapes():
    from keras.engine.topology import Input

    # wrong rank
    with pytest.raises(ValueError, match=r"conv3_a"):
        Convolution3D(2, 3, 3, 3, dim_ordering="th", name="conv3_a")(Input(shape=(5, 5, 5)))
    # kernel larger than the input with 'valid'
    with pytest.raises(ValueError, match=r"conv3_b.*5.*\(None, 1, 4, 6, 6\)"):
        Convolution3D(2, 5, 3, 3, dim_ordering="th", name="conv3_b")(Input(shape=(1, 4, 6, 6)))
    with pytest.raises(ValueError, match=r"conv3_c.*\(None, 6, 2, 6, 1\)"):
        Convolution3D(2, 3, 3, 3, dim_ordering="tf", name="conv3_c")(Input(shape=(6, 2, 6, 1)))
    # cropping more than the axis holds
    with pytest.raises(ValueError, match=r"crop3_d.*\(None, 1, 4, 3, 3\)"):
        Cropping3D(((2, 3), (0, 0), (0, 0)), dim_ordering="th", name="crop3_d")(Input(shape=(1, 4, 3, 3)))
    # wrong channel count for an already built layer
    layer = Convolution3D(2, 2, 2, 2, dim_ordering="th", name="conv3_e")
    layer(Input(shape=(3, 4, 4, 4)))
    with pytest.raises(ValueError, match=r"conv3_e"):
        layer(Input(shape=(2, 4, 4, 4)))
    # wrong rank for the other layers
    for cls, name in ((UpSampling3D, "up3_f"), (ZeroPadding3D, "pad3_g"), (Cropping3D, "crop3_h")):
        with pytest.raises(ValueError, match=name):
            cls(dim_ordering="th", name=name)(Input(shape=(4, 4, 4)))
    # bad constructor arguments
    with pytest.raises(ValueError):
        Convolution3D(2, 3, 3, 3, border_mode="bogus")
    with pytest.raises(ValueError):
        Convolution3D(2, 3, 3, 3, dim_ordering="xx")
    with pytest.raises(ValueError):
        Convolution3D(2, 3, 3, 3, subsample=(1, 1))
    with pytest.raises(ValueError):
        Cropping3D(((1, 1), (1, 1)))
    # the model stays usable after a failed call
    model = Sequential([Convolution3D(2, 2, 2, 2, dim_ordering="th", input_shape=(1, 3, 3, 3))])
    model.compile("sgd", "mse")
    x = np.random.random((2, 1, 3, 3, 3)).astype("float32")
    with pytest.raises(ValueError):
        model.predict(np.random.random((2, 1, 3, 3)).astype("float32"))
    assert model.predict(x).shape == (2, 2, 2, 2, 2)


def test_convert_all_kernels_in_model_flips_convolution3d():
    from keras.utils.layer_utils import convert_all_kernels_in_model

    model = Sequential([Convolution3D(2, 2, 3, 2, dim_ordering="th", input_shape=(1, 3, 4, 3))])
    W, b = model.layers[0].get_weights()
    convert_all_kernels_in_model(model)
    assert_allclose(model.layers[0].get_weights()[0], W[:, :, ::-1, ::-1, ::-1])
    # the 'th' layer with the flipped kernel computes the cross-correlation of W
    x = np.random.random((2, 1, 3, 4, 3)).astype("float32")
    want = np_xcorr_ncdhw(x, W) + b[None, :, None, None, None]
    assert_allclose(model.predict(x), want, rtol=1e-4, atol=1e-4)
