"""Convolutional layers: layer_test in both orderings, numpy references (the flip rule:
'th' is a true convolution, 'tf' a cross-correlation), border modes, strides, padding,
cropping, upsampling, bad inputs."""

import numpy as np
import pytest
from layer_checks import (
    assert_predicts,
    assert_trains_with_every_weight_arg,
    image_shape,
    model_with_random_weights,
)
from numpy.testing import assert_allclose

from conv_reference import np_xcorr as np_xcorr_nchw
from keras import backend as K
from keras.layers.convolutional import (
    AtrousConvolution1D,
    AtrousConvolution2D,
    Conv2D,
    Convolution1D,
    Convolution2D,
    Cropping1D,
    Cropping2D,
    UpSampling1D,
    UpSampling2D,
    ZeroPadding1D,
    ZeroPadding2D,
)
from keras.models import Sequential
from keras.utils.test_utils import layer_test

pytestmark = pytest.mark.usefixtures("fresh_session")


def np_conv2d(x, W, b, ordering, stride=(1, 1), mode="valid", dil=(1, 1)):
    """The Keras 1 layer as ferrokeras defines it: 'th' flips the kernel."""
    if ordering == "th":
        y = np_xcorr_nchw(x, W[:, :, ::-1, ::-1], stride, mode, dil)
        return y + b[None, :, None, None]
    y = np_xcorr_nchw(x.transpose(0, 3, 1, 2), W.transpose(3, 2, 0, 1), stride, mode, dil)
    return y.transpose(0, 2, 3, 1) + b


@pytest.mark.parametrize("ordering", ["th", "tf"])
@pytest.mark.parametrize("mode", ["valid", "same", "full"])
@pytest.mark.parametrize("subsample", [(1, 1), (2, 2), (2, 1)])
def test_convolution2d_layer_and_numpy(ordering, mode, subsample):
    nb_samples, nb_filter, stack, rows, cols = 2, 3, 2, 8, 7
    shape = image_shape(ordering, nb_samples, stack, rows, cols)
    x = np.random.random(shape).astype("float32")
    kwargs = dict(nb_filter=nb_filter, nb_row=3, nb_col=2, border_mode=mode, subsample=subsample)
    kwargs["dim_ordering"] = ordering
    model, (W, b) = model_with_random_weights(Convolution2D, kwargs, shape)
    assert_predicts(model, x, np_conv2d(x, W, b, ordering, subsample, mode))


@pytest.mark.parametrize("ordering", ["th", "tf"])
def test_flip_rule_with_an_asymmetric_kernel(ordering):
    # One 3x3 input with a single 1 in the middle: the output IS the kernel as the
    # layer applies it. 'th' (Theano) is a true convolution: the output is the kernel
    # itself; 'tf' (TensorFlow) a cross-correlation: the kernel rotated by 180 degrees.
    k = np.arange(1, 10, dtype="float32").reshape(3, 3)
    img = np.zeros((3, 3), "float32")
    img[1, 1] = 1.0
    if ordering == "th":
        x, W = img[None, None], k[None, None]
    else:
        x, W = img[None, :, :, None], k[:, :, None, None]
    model = Sequential(
        [Convolution2D(1, 3, 3, border_mode="same", dim_ordering=ordering, input_shape=x.shape[1:])]
    )
    model.layers[0].set_weights([W, np.zeros(1, "float32")])
    y = model.predict(x)
    y = y[0, 0] if ordering == "th" else y[0, :, :, 0]
    if ordering == "th":
        assert_allclose(y, k)
    else:
        assert_allclose(y, k[::-1, ::-1])
    # And a direct asymmetric check on random data against scipy-free numpy.
    x = np.random.random((1, 1, 5, 6) if ordering == "th" else (1, 5, 6, 1)).astype("float32")
    W = np.random.random((1, 1, 2, 3) if ordering == "th" else (2, 3, 1, 1)).astype("float32")
    model = Sequential([Convolution2D(1, 2, 3, dim_ordering=ordering, input_shape=x.shape[1:])])
    model.layers[0].set_weights([W, np.zeros(1, "float32")])
    y = model.predict(x)
    x2 = x[0, 0] if ordering == "th" else x[0, :, :, 0]
    k2 = W[0, 0] if ordering == "th" else W[:, :, 0, 0]
    applied = k2[::-1, ::-1] if ordering == "th" else k2
    ref = np.array([[np.sum(x2[i : i + 2, j : j + 3] * applied) for j in range(4)] for i in range(4)])
    assert_allclose(y.reshape(4, 4), ref, rtol=1e-5)


def test_convolution2d_weights_names_init_and_config():
    layer = Convolution2D(4, 3, 2, dim_ordering="th", input_shape=(3, 9, 9), name="c")
    Sequential([layer])
    assert [w.name for w in layer.weights] == ["c_W", "c_b"]
    assert layer.get_weights()[0].shape == (4, 3, 3, 2)
    lim = np.sqrt(6.0 / (3 * 6 + 4 * 6))
    assert np.abs(layer.get_weights()[0]).max() <= lim
    layer_tf = Convolution2D(4, 3, 2, dim_ordering="tf", input_shape=(9, 9, 3))
    Sequential([layer_tf])
    assert layer_tf.get_weights()[0].shape == (3, 2, 3, 4)
    cfg = layer.get_config()
    for key in (
        "nb_filter",
        "nb_row",
        "nb_col",
        "init",
        "activation",
        "border_mode",
        "subsample",
        "dim_ordering",
        "bias",
    ):
        assert key in cfg
    assert Conv2D is Convolution2D
    nobias = Convolution2D(2, 3, 3, bias=False, dim_ordering="th", input_shape=(1, 5, 5))
    Sequential([nobias])
    assert len(nobias.get_weights()) == 1


def test_default_ordering_is_resolved_at_construction():
    old = K.image_dim_ordering()
    try:
        K.set_image_dim_ordering("tf")
        layer = Convolution2D(2, 3, 3)
        K.set_image_dim_ordering("th")
        assert layer.dim_ordering == "tf"
        assert Convolution2D(2, 3, 3).dim_ordering == "th"
    finally:
        K.set_image_dim_ordering(old)


def test_convolution2d_trains_with_regularizers_and_constraints():
    x = np.random.random((4, 2, 6, 6)).astype("float32")
    y = np.random.random((4, 3, 4, 4)).astype("float32")
    assert_trains_with_every_weight_arg(
        lambda **w: Convolution2D(3, 3, 3, activation="relu", dim_ordering="th", input_shape=(2, 6, 6), **w),
        x,
        y,
    )


@pytest.mark.parametrize("ordering", ["th", "tf"])
def test_atrous_convolution2d(ordering):
    shape = (2, 2, 9, 8) if ordering == "th" else (2, 9, 8, 2)
    kwargs = {"nb_filter": 2, "nb_row": 3, "nb_col": 2, "atrous_rate": (2, 2), "dim_ordering": ordering}
    layer_test(AtrousConvolution2D, kwargs=kwargs, input_shape=shape)
    x = np.random.random(shape).astype("float32")
    model = Sequential([AtrousConvolution2D(input_shape=shape[1:], **kwargs)])
    W, b = model.layers[0].get_weights()
    want = np_conv2d(x, W, b, ordering, dil=(2, 2))
    assert_allclose(model.predict(x), want, rtol=1e-4, atol=1e-4)
    assert model.layers[0].get_config()["atrous_rate"] == (2, 2)


@pytest.mark.parametrize("mode", ["valid", "same", "full"])
@pytest.mark.parametrize("stride", [1, 2])
def test_convolution1d(mode, stride):
    x = np.random.random((2, 9, 3)).astype("float32")
    kwargs = {"nb_filter": 4, "filter_length": 3, "border_mode": mode, "subsample_length": stride}
    layer_test(Convolution1D, kwargs=kwargs, input_shape=x.shape)
    model = Sequential([Convolution1D(input_dim=3, input_length=9, **kwargs)])
    W, b = model.layers[0].get_weights()
    assert W.shape == (3, 1, 3, 4)
    # cross-correlation along time: y[t, f] = sum_k,c x[t*s + k - pad, c] W[k, 0, c, f]
    want = np_xcorr_nchw(x.transpose(0, 2, 1)[:, :, :, None], W.transpose(3, 2, 0, 1), (stride, 1), mode)
    want = want[:, :, :, 0].transpose(0, 2, 1) + b
    assert_allclose(model.predict(x), want, rtol=1e-4, atol=1e-4)


def test_atrous_convolution1d():
    layer_test(
        AtrousConvolution1D,
        kwargs={"nb_filter": 2, "filter_length": 2, "atrous_rate": 2},
        input_shape=(2, 8, 3),
    )


@pytest.mark.parametrize("ordering", ["th", "tf"])
def test_zero_padding_2d(ordering):
    shape = (2, 3, 4, 5) if ordering == "th" else (2, 4, 5, 3)
    x = np.random.random(shape).astype("float32")
    out = layer_test(ZeroPadding2D, kwargs={"padding": (2, 1), "dim_ordering": ordering}, input_shape=shape)
    axes = ((0, 0), (0, 0), (2, 2), (1, 1)) if ordering == "th" else ((0, 0), (2, 2), (1, 1), (0, 0))
    layer_test(
        ZeroPadding2D,
        kwargs={"padding": (2, 1), "dim_ordering": ordering},
        input_data=x,
        expected_output=np.pad(x, axes),
    )
    assert out.shape == np.pad(np.zeros(out.shape[:1] + shape[1:]), axes).shape
    axes4 = ((0, 0), (0, 0), (1, 2), (3, 0)) if ordering == "th" else ((0, 0), (1, 2), (3, 0), (0, 0))
    layer_test(
        ZeroPadding2D,
        kwargs={"padding": {"top_pad": 1, "bottom_pad": 2, "left_pad": 3}, "dim_ordering": ordering},
        input_data=x,
        expected_output=np.pad(x, axes4),
    )
    layer_test(
        ZeroPadding2D,
        kwargs={"padding": (1, 2, 3, 0), "dim_ordering": ordering},
        input_data=x,
        expected_output=np.pad(x, axes4),
    )


def test_zero_padding_1d():
    x = np.random.random((2, 5, 3)).astype("float32")
    layer_test(
        ZeroPadding1D,
        kwargs={"padding": 2},
        input_data=x,
        expected_output=np.pad(x, ((0, 0), (2, 2), (0, 0))),
    )
    layer_test(
        ZeroPadding1D,
        kwargs={"padding": (1, 3)},
        input_data=x,
        expected_output=np.pad(x, ((0, 0), (1, 3), (0, 0))),
    )
    layer_test(
        ZeroPadding1D,
        kwargs={"padding": {"left_pad": 2}},
        input_data=x,
        expected_output=np.pad(x, ((0, 0), (2, 0), (0, 0))),
    )


@pytest.mark.parametrize("ordering", ["th", "tf"])
def test_upsampling_2d(ordering):
    shape = (2, 3, 4, 5) if ordering == "th" else (2, 4, 5, 3)
    x = np.random.random(shape).astype("float32")
    ax = (2, 3) if ordering == "th" else (1, 2)
    want = np.repeat(np.repeat(x, 2, axis=ax[0]), 3, axis=ax[1])
    layer_test(
        UpSampling2D, kwargs={"size": (2, 3), "dim_ordering": ordering}, input_data=x, expected_output=want
    )


def test_upsampling_1d():
    x = np.random.random((2, 5, 3)).astype("float32")
    layer_test(UpSampling1D, kwargs={"length": 2}, input_data=x, expected_output=np.repeat(x, 2, axis=1))


@pytest.mark.parametrize("ordering", ["th", "tf"])
def test_cropping_2d(ordering):
    shape = (2, 3, 8, 7) if ordering == "th" else (2, 8, 7, 3)
    x = np.random.random(shape).astype("float32")
    crop = ((1, 2), (0, 3))
    want = x[:, :, 1:-2, 0:-3] if ordering == "th" else x[:, 1:-2, 0:-3, :]
    layer_test(
        Cropping2D, kwargs={"cropping": crop, "dim_ordering": ordering}, input_data=x, expected_output=want
    )


def test_cropping_1d():
    x = np.random.random((2, 7, 3)).astype("float32")
    layer_test(Cropping1D, kwargs={"cropping": (2, 1)}, input_data=x, expected_output=x[:, 2:-1])
    layer_test(Cropping1D, kwargs={"cropping": (0, 2)}, input_data=x, expected_output=x[:, :-2])


def test_bad_inputs_raise_value_error_naming_layer_and_shapes():
    from keras.engine.topology import Input

    # wrong rank
    with pytest.raises(ValueError, match=r"conv_a.*ndim"):
        Convolution2D(2, 3, 3, dim_ordering="th", name="conv_a")(Input(shape=(5, 5)))
    # channels in the wrong place: a 'tf' image given to a 'th' layer
    with pytest.raises(ValueError, match=r"conv_b.*\(None, 28, 28, 1\).*dim_ordering"):
        Convolution2D(2, 3, 3, dim_ordering="th", name="conv_b")(Input(shape=(28, 28, 1)))
    # kernel larger than the input with 'valid'
    with pytest.raises(ValueError, match=r"conv_c.*5.*\(None, 1, 4, 4\)"):
        Convolution2D(2, 5, 5, dim_ordering="th", name="conv_c")(Input(shape=(1, 4, 4)))
    # cropping more than the axis holds (cropping all of it gives a zero-length axis)
    with pytest.raises(ValueError, match=r"crop_d.*\(None, 4, 3\)"):
        Cropping1D((3, 2), name="crop_d")(Input(shape=(4, 3)))
    with pytest.raises(ValueError, match=r"conv1_e"):
        Convolution1D(2, 6, name="conv1_e")(Input(shape=(4, 3)))
    # wrong channel count for an already built layer
    layer = Convolution2D(2, 3, 3, dim_ordering="th", name="conv_f")
    layer(Input(shape=(3, 6, 6)))
    with pytest.raises(ValueError, match=r"conv_f"):
        layer(Input(shape=(2, 6, 6)))
    with pytest.raises(ValueError):
        Convolution2D(2, 3, 3, border_mode="bogus")
    with pytest.raises(ValueError):
        Convolution2D(2, 3, 3, dim_ordering="xx")
