"""Pooling layers: layer_test in both orderings, numpy references for valid/same,
strides, global pooling, gradients through max pooling, bad inputs."""

import numpy as np
import pytest
from layer_checks import assert_pools_as_numpy, image_shape, parametrize_pooling
from numpy.testing import assert_allclose

from conv_reference import np_pool as np_pool_nchw
from keras import backend as K
from keras.layers.pooling import (
    AveragePooling1D,
    AveragePooling2D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    MaxPooling1D,
    MaxPooling2D,
)
from keras.models import Sequential
from keras.utils.test_utils import layer_test

pytestmark = pytest.mark.usefixtures("fresh_session")


@parametrize_pooling(MaxPooling2D, AveragePooling2D, [((2, 2), None), ((3, 2), (1, 2)), ((3, 3), (2, 2))])
def test_pooling_2d(ordering, mode, cls, kind, pool, strides):
    x = np.random.random(image_shape(ordering, 2, 3, 7, 6)).astype("float32")
    assert_pools_as_numpy(cls, kind, x, pool, strides, mode, ordering)


@pytest.mark.parametrize("cls,kind", [(MaxPooling1D, "max"), (AveragePooling1D, "avg")])
@pytest.mark.parametrize("mode", ["valid", "same"])
@pytest.mark.parametrize("stride", [None, 1, 2])
def test_pooling_1d(cls, kind, mode, stride):
    x = np.random.random((2, 7, 3)).astype("float32")
    st = stride or 3
    want = np_pool_nchw(x.transpose(0, 2, 1)[:, :, :, None], (3, 1), (st, 1), mode, kind)[
        :, :, :, 0
    ].transpose(0, 2, 1)
    layer_test(
        cls,
        kwargs={"pool_length": 3, "stride": stride, "border_mode": mode},
        input_data=x,
        expected_output=want,
    )


def test_global_pooling():
    x = np.random.random((2, 5, 3)).astype("float32")
    layer_test(GlobalMaxPooling1D, input_data=x, expected_output=x.max(axis=1))
    layer_test(GlobalAveragePooling1D, input_data=x, expected_output=x.mean(axis=1))
    for ordering, axes in (("th", (2, 3)), ("tf", (1, 2))):
        x = np.random.random((2, 3, 4, 5)).astype("float32")
        layer_test(
            GlobalMaxPooling2D,
            kwargs={"dim_ordering": ordering},
            input_data=x,
            expected_output=x.max(axis=axes),
        )
        layer_test(
            GlobalAveragePooling2D,
            kwargs={"dim_ordering": ordering},
            input_data=x,
            expected_output=x.mean(axis=axes),
        )


def test_max_pooling_gradient_goes_to_the_argmax():
    x = np.random.random((1, 1, 4, 4)).astype("float32")
    inp = K.placeholder(shape=(None, 1, 4, 4))
    y = K.pool2d(inp, (2, 2), strides=(2, 2), dim_ordering="th", pool_mode="max")
    g = K.gradients(K.sum(y), [inp])[0]
    f = K.function([inp], [g])
    got = f([x])[0]
    want = np.zeros_like(x)
    for i in range(2):
        for j in range(2):
            win = x[0, 0, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2]
            a, b = np.unravel_index(win.argmax(), (2, 2))
            want[0, 0, 2 * i + a, 2 * j + b] = 1
    assert_allclose(got, want)


def test_bad_inputs_raise_value_error_naming_layer_and_shapes():
    from keras.engine.topology import Input

    with pytest.raises(ValueError, match=r"pool_a.*ndim"):
        MaxPooling2D(name="pool_a", dim_ordering="th")(Input(shape=(4, 4)))
    with pytest.raises(ValueError, match=r"pool_b.*\(None, 1, 2, 2\)"):
        MaxPooling2D((3, 3), name="pool_b", dim_ordering="th")(Input(shape=(1, 2, 2)))
    # a 'th' layer on a channels-last image with one channel: the pool does not fit
    with pytest.raises(ValueError, match=r"pool_c.*\(None, 28, 28, 1\).*dim_ordering"):
        MaxPooling2D((2, 2), name="pool_c", dim_ordering="th")(Input(shape=(28, 28, 1)))
    with pytest.raises(ValueError, match=r"pool_d"):
        MaxPooling1D(4, name="pool_d")(Input(shape=(3, 2)))
    with pytest.raises(ValueError):
        MaxPooling2D(border_mode="full")


def test_sequential_conv_pool_flatten_trains():
    from keras.layers import Convolution2D, Dense, Flatten

    for ordering in ("th", "tf"):
        K.clear_session()
        shape = (1, 8, 8) if ordering == "th" else (8, 8, 1)
        model = Sequential(
            [
                Convolution2D(
                    4, 3, 3, activation="relu", border_mode="same", dim_ordering=ordering, input_shape=shape
                ),
                MaxPooling2D(dim_ordering=ordering),
                AveragePooling2D(dim_ordering=ordering, border_mode="same"),
                Flatten(),
                Dense(2, activation="softmax"),
            ]
        )
        model.compile("adam", "categorical_crossentropy")
        x = np.random.random((16,) + shape).astype("float32")
        y = np.eye(2)[np.random.randint(0, 2, 16)]
        h = model.fit(x, y, nb_epoch=2, verbose=0)
        assert np.isfinite(h.history["loss"]).all()
        assert model.output_shape == (None, 2)
