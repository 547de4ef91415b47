"""LocallyConnected1D/2D: Keras 1.2.2's own algorithm written out in numpy (slice each
patch, flatten it in Keras 1's order, one matrix per location, Keras 1's bias reshape)
as the reference, layer_test in both orderings, weights, training, bad inputs."""

import numpy as np
import pytest
from layer_checks import assert_learns_teacher, assert_predicts, image_shape, model_with_random_weights

from keras import backend as K
from keras.engine.topology import Input
from keras.layers.core import Flatten
from keras.layers.local import LocallyConnected1D, LocallyConnected2D
from keras.models import Sequential

pytestmark = pytest.mark.usefixtures("fresh_session")


def np_local1d(x, W, b, filter_length, stride):
    n = x.shape[0]
    out_len, _, nb_filter = W.shape
    y = np.zeros((n, out_len, nb_filter))
    for i in range(out_len):
        patch = x[:, i * stride : i * stride + filter_length, :].reshape(n, -1)
        y[:, i, :] = patch @ W[i]
    if b is not None:
        y += b[None]
    return y


def np_local2d(x, W, b, nb_row, nb_col, stride, ordering, out_row, out_col):
    n = x.shape[0]
    nb_filter = W.shape[2]
    y = np.zeros((out_row, out_col, n, nb_filter))
    for i in range(out_row):
        for j in range(out_col):
            rs = slice(i * stride[0], i * stride[0] + nb_row)
            cs = slice(j * stride[1], j * stride[1] + nb_col)
            patch = x[:, :, rs, cs] if ordering == "th" else x[:, rs, cs, :]
            y[i, j] = patch.reshape(n, -1) @ W[i * out_col + j]
    if ordering == "th":
        y = y.transpose(2, 3, 0, 1)
        if b is not None:
            y += b.reshape(1, nb_filter, out_row, out_col)  # Keras 1.2.2: a reshape, not a transpose
    else:
        y = y.transpose(2, 0, 1, 3)
        if b is not None:
            y += b.reshape(1, out_row, out_col, nb_filter)
    return y


@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("bias", [True, False])
def test_locally_connected_1d(stride, bias):
    nb_samples, steps, input_dim, filter_length, nb_filter = 2, 10, 3, 3, 4
    kwargs = {
        "nb_filter": nb_filter,
        "filter_length": filter_length,
        "subsample_length": stride,
        "bias": bias,
    }
    model, ws = model_with_random_weights(LocallyConnected1D, kwargs, (nb_samples, steps, input_dim))
    out_len = (steps - filter_length) // stride + 1
    assert model.layers[0].W_shape == (out_len, filter_length * input_dim, nb_filter)
    x = np.random.uniform(-1, 1, (nb_samples, steps, input_dim)).astype("float32")
    want = np_local1d(x, ws[0], ws[1] if bias else None, filter_length, stride)
    assert model.output_shape == (None, out_len, nb_filter)
    assert_predicts(model, x, want, atol=1e-5)


@pytest.mark.parametrize("ordering", ["th", "tf"])
@pytest.mark.parametrize("subsample", [(1, 1), (2, 2), (2, 1)])
def test_locally_connected_2d(ordering, subsample):
    nb_samples, nb_filter, stack, rows, cols, nb_row, nb_col = 2, 3, 2, 7, 6, 3, 2
    shape = image_shape(ordering, nb_samples, stack, rows, cols)
    kwargs = dict(
        nb_filter=nb_filter, nb_row=nb_row, nb_col=nb_col, subsample=subsample, dim_ordering=ordering
    )
    model, ws = model_with_random_weights(LocallyConnected2D, kwargs, shape)
    layer = model.layers[0]
    out_row = (rows - nb_row) // subsample[0] + 1
    out_col = (cols - nb_col) // subsample[1] + 1
    assert [K.int_shape(w) for w in layer.weights] == [
        (out_row * out_col, nb_row * nb_col * stack, nb_filter),
        (out_row, out_col, nb_filter),
    ]
    x = np.random.uniform(-1, 1, shape).astype("float32")
    want = np_local2d(x, ws[0], ws[1], nb_row, nb_col, subsample, ordering, out_row, out_col)
    assert_predicts(model, x, want, atol=1e-5)


def test_local_weights_names_and_config():
    layer = LocallyConnected1D(4, 3, input_dim=5, input_length=9, name="l1")
    Sequential([layer])
    assert [w.name for w in layer.weights] == ["l1_W", "l1_b"]
    cfg = layer.get_config()
    assert cfg["input_dim"] == 5 and cfg["input_length"] == 9 and cfg["border_mode"] == "valid"
    layer = LocallyConnected2D(4, 3, 3, dim_ordering="tf", input_shape=(6, 6, 2), name="l2")
    Sequential([layer])
    assert [w.name for w in layer.weights] == ["l2_W", "l2_b"]
    assert layer.get_config()["subsample"] == (1, 1)


@pytest.mark.parametrize("ordering", ["th", "tf"])
def test_locally_connected_trains(ordering):
    np.random.seed(11)
    shape = (2, 6, 6) if ordering == "th" else (6, 6, 2)

    assert_learns_teacher(
        lambda: Sequential(
            [LocallyConnected2D(3, 3, 3, dim_ordering=ordering, input_shape=shape), Flatten()]
        ),
        np.random.random((32,) + shape).astype("float32"),
    )
    assert_learns_teacher(
        lambda: Sequential([LocallyConnected1D(2, 3, input_shape=(8, 3)), Flatten()]),
        np.random.random((32, 8, 3)).astype("float32"),
    )


def test_local_bad_inputs():
    with pytest.raises(ValueError, match="only 'valid'"):
        LocallyConnected1D(2, 3, border_mode="same")
    with pytest.raises(ValueError, match="only 'valid'"):
        LocallyConnected2D(2, 3, 3, border_mode="full")
    with pytest.raises(ValueError, match=r"lc_a.*ndim=3.*\(None, 4, 4, 4\)"):
        LocallyConnected1D(2, 3, name="lc_a")(Input(shape=(4, 4, 4)))
    with pytest.raises(ValueError, match=r"lc_b.*ndim=4.*\(None, 5, 5\)"):
        LocallyConnected2D(2, 3, 3, dim_ordering="th", name="lc_b")(Input(shape=(5, 5)))
    with pytest.raises(ValueError, match=r"lc_c.*5.*\(None, 4, 3\)"):
        LocallyConnected1D(2, 5, name="lc_c")(Input(shape=(4, 3)))
    with pytest.raises(ValueError, match=r"lc_d.*5.*\(None, 1, 4, 4\)"):
        LocallyConnected2D(2, 5, 5, dim_ordering="th", name="lc_d")(Input(shape=(1, 4, 4)))
    with pytest.raises(ValueError, match=r"lc_e.*fully known.*\(None, None, 3\)"):
        LocallyConnected1D(2, 2, name="lc_e")(Input(shape=(None, 3)))
    model = Sequential([LocallyConnected2D(2, 3, 3, dim_ordering="th", input_shape=(1, 5, 5))])
    with pytest.raises(ValueError):
        model.predict(np.zeros((1, 1, 6, 6), "float32"))
    assert model.predict(np.zeros((1, 1, 5, 5), "float32")).shape == (1, 2, 3, 3)
