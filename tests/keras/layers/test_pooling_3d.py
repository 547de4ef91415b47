"""3-D pooling layers: MaxPooling3D, AveragePooling3D, GlobalMax/GlobalAveragePooling3D.

layer_test in both orderings against numpy references ('valid' and 'same', strides, odd
sizes), gradients through K.pool3d, a small model that trains, and bad inputs."""

import numpy as np
import pytest
from layer_checks import assert_pools_as_numpy, image_shape, parametrize_pooling
from numpy.testing import assert_allclose

from conv_reference import np_pool as np_pool_ncdhw
from keras import backend as K
from keras.layers import (
    AveragePooling3D,
    Convolution3D,
    Dense,
    Flatten,
    GlobalAveragePooling3D,
    GlobalMaxPooling3D,
    MaxPooling3D,
)
from keras.models import Sequential
from keras.utils.test_utils import layer_test

pytestmark = pytest.mark.usefixtures("fresh_session")


@parametrize_pooling(
    MaxPooling3D, AveragePooling3D, [((2, 2, 2), None), ((3, 2, 1), (1, 2, 1)), ((3, 3, 2), (2, 2, 3))]
)
def test_pooling_3d(ordering, mode, cls, kind, pool, strides):
    x = np.random.random(image_shape(ordering, 2, 3, 5, 6, 7)).astype("float32")
    assert_pools_as_numpy(cls, kind, x, pool, strides, mode, ordering)


def test_pooling_3d_defaults_and_config():
    layer = MaxPooling3D(dim_ordering="th")
    cfg = layer.get_config()
    assert cfg["pool_size"] == (2, 2, 2) and cfg["strides"] == (2, 2, 2)
    assert cfg["border_mode"] == "valid" and cfg["dim_ordering"] == "th"
    assert AveragePooling3D(pool_size=(3, 1, 2), dim_ordering="tf").get_config()["strides"] == (3, 1, 2)
    old = K.image_dim_ordering()
    try:
        K.set_image_dim_ordering("tf")
        layers = [MaxPooling3D(), AveragePooling3D(), GlobalMaxPooling3D(), GlobalAveragePooling3D()]
        K.set_image_dim_ordering("th")
        assert all(la.dim_ordering == "tf" for la in layers)
        assert MaxPooling3D().dim_ordering == "th"
    finally:
        K.set_image_dim_ordering(old)


@pytest.mark.parametrize("ordering", ["th", "tf"])
@pytest.mark.parametrize("cls,fn", [(GlobalMaxPooling3D, np.max), (GlobalAveragePooling3D, np.mean)])
def test_global_pooling_3d(ordering, cls, fn):
    shape = image_shape(ordering, 2, 3, 4, 5, 2)
    x = np.random.random(shape).astype("float32")
    axes = (2, 3, 4) if ordering == "th" else (1, 2, 3)
    out = layer_test(cls, kwargs={"dim_ordering": ordering}, input_data=x, expected_output=fn(x, axis=axes))
    assert out.shape == (2, 3)
    assert cls(dim_ordering=ordering).get_config()["dim_ordering"] == ordering


@pytest.mark.parametrize("ordering", ["th", "tf"])
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_backend_pool3d_forward_and_gradient(ordering, mode):
    # Distinct values keep max pooling away from ties.
    shape = image_shape(ordering, 2, 2, 5, 4, 3)
    x = np.random.permutation(np.prod(shape)).reshape(shape).astype("float32") / 10.0
    xt = K.placeholder(shape=shape)
    y = K.pool3d(xt, (2, 2, 2), strides=(2, 1, 2), border_mode="same", dim_ordering=ordering, pool_mode=mode)
    xn = x if ordering == "th" else x.transpose(0, 4, 1, 2, 3)
    want = np_pool_ncdhw(xn, (2, 2, 2), (2, 1, 2), "same", mode)
    if ordering == "tf":
        want = want.transpose(0, 2, 3, 4, 1)
    R = np.random.uniform(-1, 1, want.shape).astype("float32")
    g = K.gradients(K.sum(y * K.constant(R)), [xt])[0]
    out, gx = K.function([xt], [y, g])([x])
    assert_allclose(out, want, rtol=1e-5)
    eps = 1e-2
    rng = np.random.RandomState(1)
    for idx in zip(*[rng.randint(0, s, 10) for s in shape]):
        p, m = x.astype("float64"), x.astype("float64")
        p[idx] += eps
        m[idx] -= eps

        def f(v):
            vn = v if ordering == "th" else v.transpose(0, 4, 1, 2, 3)
            r = np_pool_ncdhw(vn, (2, 2, 2), (2, 1, 2), "same", mode)
            return float(np.sum((r if ordering == "th" else r.transpose(0, 2, 3, 4, 1)) * R))

        num = (f(p) - f(m)) / (2 * eps)
        assert abs(num - gx[idx]) < 1e-3 * (1 + abs(num)), (idx, num, gx[idx])


def test_backend_pool3d_argument_errors():
    x = K.placeholder(shape=(1, 2, 4, 4, 4))
    with pytest.raises(ValueError, match="pooling mode"):
        K.pool3d(x, (2, 2, 2), pool_mode="median", dim_ordering="th")
    with pytest.raises(ValueError, match="border mode"):
        K.pool3d(x, (2, 2, 2), border_mode="full", dim_ordering="th")
    with pytest.raises(ValueError, match="5-D"):
        K.pool3d(K.placeholder(shape=(1, 2, 4, 4)), (2, 2, 2), dim_ordering="th")
    with pytest.raises(ValueError, match=r"\(1, 2, 4, 4, 4\)"):
        K.pool3d(x, (5, 2, 2), dim_ordering="th")


@pytest.mark.parametrize("ordering", ["th", "tf"])
def test_conv3d_pool3d_model_trains(ordering):
    np.random.seed(5)
    shape = image_shape(ordering, 32, 2, 4, 6, 6)
    x = np.random.random(shape).astype("float32")
    y = np.eye(2)[(x.reshape(32, -1).mean(axis=1) > 0.5).astype(int)]
    model = Sequential(
        [
            Convolution3D(
                4,
                3,
                3,
                3,
                border_mode="same",
                activation="relu",
                dim_ordering=ordering,
                input_shape=shape[1:],
            ),
            MaxPooling3D(dim_ordering=ordering),
            AveragePooling3D(pool_size=(1, 3, 3), dim_ordering=ordering),
            Flatten(),
            Dense(2, activation="softmax"),
        ]
    )
    assert model.output_shape == (None, 2)
    model.compile("adam", "categorical_crossentropy")
    h = model.fit(x, y, nb_epoch=15, batch_size=8, verbose=0)
    loss = h.history["loss"]
    assert np.isfinite(loss).all()
    assert loss[-1] < loss[0], loss


def test_bad_inputs_raise_value_error_naming_layer_and_shapes():
    from keras.engine.topology import Input

    with pytest.raises(ValueError, match=r"pool3_a.*\(None, 1, 1, 4, 4\)"):
        MaxPooling3D(dim_ordering="th", name="pool3_a")(Input(shape=(1, 1, 4, 4)))
    with pytest.raises(ValueError, match=r"pool3_b.*\(None, 4, 4, 1, 3\)"):
        AveragePooling3D(pool_size=(2, 2, 3), dim_ordering="tf", name="pool3_b")(Input(shape=(4, 4, 1, 3)))
    for cls, name in (
        (MaxPooling3D, "pool3_c"),
        (AveragePooling3D, "pool3_d"),
        (GlobalMaxPooling3D, "gpool3_e"),
        (GlobalAveragePooling3D, "gpool3_f"),
    ):
        with pytest.raises(ValueError, match=name):
            cls(dim_ordering="th", name=name)(Input(shape=(4, 4, 4)))
    with pytest.raises(ValueError):
        MaxPooling3D(border_mode="full")
    with pytest.raises(ValueError):
        MaxPooling3D(pool_size=(2, 2))
    # the model stays usable after a failed call
    model = Sequential([MaxPooling3D(dim_ordering="th", input_shape=(1, 4, 4, 4))])
    model.compile("sgd", "mse")
    with pytest.raises(ValueError):
        model.predict(np.zeros((1, 1, 4, 4), "float32"))
    assert model.predict(np.ones((1, 1, 4, 4, 4), "float32")).shape == (1, 1, 2, 2, 2)
