"""keras.backend shape functions against numpy: concatenate, reshape, permute, repeat,
tile, flatten, padding, resize, one_hot, reverse, arange and Python slicing."""

import numpy as np
import pytest
from kbackend_helpers import apply_np, f32, run

from keras import backend as K


def setup_function(function):
    K.clear_session()


RNG = np.random.RandomState(99)


def rand(*shape):
    return f32(RNG.uniform(-1, 1, size=shape))


@pytest.mark.parametrize("axis", [0, 1, -1, 2])
def test_concatenate(axis):
    a, b, c = rand(2, 3, 4), rand(2, 3, 4), rand(2, 3, 4)
    out = apply_np(lambda x, y, z: K.concatenate([x, y, z], axis=axis), a, b, c)
    np.testing.assert_array_equal(out, np.concatenate([a, b, c], axis=axis))


def test_concatenate_default_axis_unknown_batch_and_mixed_dtypes():
    x = K.placeholder(shape=(None, 2))
    y = K.placeholder(shape=(None, 3))
    z = K.concatenate([x, y])
    assert K.int_shape(z) == (None, 5)
    xv, yv = rand(4, 2), rand(4, 3)
    np.testing.assert_array_equal(run(z, [(x, xv), (y, yv)]), np.concatenate([xv, yv], -1))
    i = K.variable(np.array([[1, 2]]), dtype="int32")
    f = K.variable(f32([[0.5]]))
    mixed = K.concatenate([i, f])
    assert K.dtype(mixed) == "float32"
    np.testing.assert_array_equal(K.eval(mixed), [[1, 2, 0.5]])
    ints = K.concatenate([i, i], axis=0)
    np.testing.assert_array_equal(K.eval(ints), [[1, 2], [1, 2]])


@pytest.mark.parametrize("shape", [(6, 4), (2, 12), (-1, 3), (4, -1, 2), (24,), (2, 3, 4)])
def test_reshape(shape):
    x = rand(2, 3, 4)
    out = apply_np(lambda t: K.reshape(t, shape), x)
    np.testing.assert_array_equal(out, x.reshape(shape))


def test_reshape_unknown_batch():
    x = K.placeholder(shape=(None, 3, 4))
    y = K.reshape(x, (-1, 12))
    xv = rand(5, 3, 4)
    np.testing.assert_array_equal(run(y, [(x, xv)]), xv.reshape(-1, 12))


@pytest.mark.parametrize("pattern", [(0, 1, 2), (2, 0, 1), (1, 0, 2), (0, 2, 1), (2, 1, 0)])
def test_permute_dimensions(pattern):
    x = rand(2, 3, 4)
    out = apply_np(lambda t: K.permute_dimensions(t, pattern), x)
    np.testing.assert_array_equal(out, np.transpose(x, pattern))


def test_repeat():
    x = rand(3, 4)
    out = apply_np(lambda t: K.repeat(t, 5), x)
    assert out.shape == (3, 5, 4)
    np.testing.assert_array_equal(out, np.repeat(x[:, None, :], 5, axis=1))


@pytest.mark.parametrize("axis,rep", [(0, 2), (1, 3), (2, 1), (-1, 2)])
def test_repeat_elements(axis, rep):
    x = rand(2, 3, 4)
    out = apply_np(lambda t: K.repeat_elements(t, rep, axis), x)
    np.testing.assert_array_equal(out, np.repeat(x, rep, axis=axis))


@pytest.mark.parametrize("n", [[2, 3], [1, 1], (3, 1)])
def test_tile(n):
    x = rand(2, 3)
    out = apply_np(lambda t: K.tile(t, n), x)
    np.testing.assert_array_equal(out, np.tile(x, n))


def test_tile_int_on_vector():
    x = rand(3)
    np.testing.assert_array_equal(apply_np(lambda t: K.tile(t, 3), x), np.tile(x, 3))


def test_flatten_batch_flatten():
    x = rand(2, 3, 4)
    np.testing.assert_array_equal(apply_np(K.flatten, x), x.reshape(-1))
    np.testing.assert_array_equal(apply_np(K.batch_flatten, x), x.reshape(2, -1))
    p = K.placeholder(shape=(None, 3, 4))
    assert K.int_shape(K.batch_flatten(p)) == (None, 12)
    np.testing.assert_array_equal(run(K.batch_flatten(p), [(p, x)]), x.reshape(2, 12))


@pytest.mark.parametrize("dim", [0, 1, 2, -1, -2])
def test_expand_dims(dim):
    x = rand(2, 3)
    out = apply_np(lambda t: K.expand_dims(t, dim), x)
    np.testing.assert_array_equal(out, np.expand_dims(x, dim))


def test_expand_dims_default_is_last():
    x = rand(2, 3)
    assert apply_np(K.expand_dims, x).shape == (2, 3, 1)


@pytest.mark.parametrize("axis", [0, 2, -1])
def test_squeeze(axis):
    shape = [2, 3, 4]
    shape[axis] = 1
    x = rand(*shape)
    out = apply_np(lambda t: K.squeeze(t, axis), x)
    np.testing.assert_array_equal(out, np.squeeze(x, axis))


def test_squeeze_non_unit_axis_is_error():
    with pytest.raises(ValueError):
        K.squeeze(K.placeholder(shape=(2, 3)), 1)


def test_stack():
    a, b, c = rand(2, 3), rand(2, 3), rand(2, 3)
    out = apply_np(lambda x, y, z: K.stack([x, y, z]), a, b, c)
    np.testing.assert_array_equal(out, np.stack([a, b, c]))


def test_one_hot():
    idx = np.array([[0, 2], [3, 1], [1, 1]], dtype=np.int32)
    out = apply_np(lambda t: K.one_hot(t, 4), idx)
    assert out.shape == (3, 2, 4)
    np.testing.assert_array_equal(out, np.eye(4)[idx])
    # float indices are cast
    fidx = K.placeholder(shape=(None,))
    np.testing.assert_array_equal(run(K.one_hot(fidx, 3), [(fidx, f32([2, 0]))]), np.eye(3)[[2, 0]])


@pytest.mark.parametrize("axes", [0, 1, -1, [0, 2], (1, 2), [0, 1, 2]])
def test_reverse(axes):
    x = rand(2, 3, 4)
    out = apply_np(lambda t: K.reverse(t, axes), x)
    np.testing.assert_array_equal(out, np.flip(x, axis=axes if isinstance(axes, int) else tuple(axes)))


@pytest.mark.parametrize("args", [(5,), (2, 7), (1, 10, 3), (10, 2, -2)])
def test_arange(args):
    t = K.arange(*args)
    assert K.dtype(t) == "int32"
    np.testing.assert_array_equal(K.eval(t), np.arange(*args))


def test_arange_float_dtype():
    t = K.arange(0, 3, dtype="float32")
    assert K.dtype(t) == "float32"
    np.testing.assert_array_equal(K.eval(t), [0.0, 1.0, 2.0])


def test_temporal_padding():
    x = rand(2, 3, 4)
    np.testing.assert_array_equal(apply_np(K.temporal_padding, x), np.pad(x, ((0, 0), (1, 1), (0, 0))))
    out = apply_np(lambda t: K.temporal_padding(t, 2), x)
    np.testing.assert_array_equal(out, np.pad(x, ((0, 0), (2, 2), (0, 0))))


def test_asymmetric_temporal_padding():
    x = rand(2, 3, 4)
    out = apply_np(lambda t: K.asymmetric_temporal_padding(t, 0, 3), x)
    np.testing.assert_array_equal(out, np.pad(x, ((0, 0), (0, 3), (0, 0))))
    out = apply_np(K.asymmetric_temporal_padding, x)
    np.testing.assert_array_equal(out, np.pad(x, ((0, 0), (1, 1), (0, 0))))


# (name, the padding call for an ordering, input shape, (before, after) per spatial axis)
PADDINGS = [
    (
        "spatial_2d_padding",
        lambda t, o: K.spatial_2d_padding(t, (1, 2), dim_ordering=o),
        (2, 3, 4, 5),
        ((1, 1), (2, 2)),
    ),
    (
        "asymmetric_spatial_2d_padding",
        lambda t, o: K.asymmetric_spatial_2d_padding(t, 1, 2, 0, 3, dim_ordering=o),
        (2, 3, 4, 5),
        ((1, 2), (0, 3)),
    ),
    (
        "spatial_3d_padding",
        lambda t, o: K.spatial_3d_padding(t, (1, 0, 2), dim_ordering=o),
        (2, 2, 3, 4, 2),
        ((1, 1), (0, 0), (2, 2)),
    ),
]


@pytest.mark.parametrize("ordering", ["th", "tf"])
@pytest.mark.parametrize("pad,shape,spatial", [c[1:] for c in PADDINGS], ids=[c[0] for c in PADDINGS])
def test_spatial_padding(ordering, pad, shape, spatial):
    x = rand(*shape)
    out = apply_np(lambda t: pad(t, ordering), x)
    pads = ((0, 0), (0, 0)) + spatial if ordering == "th" else ((0, 0),) + spatial + ((0, 0),)
    np.testing.assert_array_equal(out, np.pad(x, pads))


def test_padding_default_ordering_follows_config():
    x = rand(1, 2, 3, 4)
    th = apply_np(K.spatial_2d_padding, x)
    np.testing.assert_array_equal(th, np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))))
    try:
        K.set_image_dim_ordering("tf")
        tf = apply_np(K.spatial_2d_padding, x)
    finally:
        K.set_image_dim_ordering("th")
    np.testing.assert_array_equal(tf, np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0))))
    with pytest.raises(ValueError):
        K.spatial_2d_padding(K.placeholder(shape=(1, 2, 3, 4)), dim_ordering="xy")


@pytest.mark.parametrize("ordering", ["th", "tf"])
def test_resize_images(ordering):
    x = rand(2, 3, 4, 5)
    out = apply_np(lambda t: K.resize_images(t, 2, 3, ordering), x)
    ax = (2, 3) if ordering == "th" else (1, 2)
    np.testing.assert_array_equal(out, np.repeat(np.repeat(x, 2, axis=ax[0]), 3, axis=ax[1]))
    with pytest.raises(ValueError):
        K.resize_images(K.placeholder(shape=(1, 2, 3, 4)), 2, 2, "xy")


@pytest.mark.parametrize("ordering", ["th", "tf"])
def test_resize_volumes(ordering):
    x = rand(1, 2, 3, 2, 2)
    out = apply_np(lambda t: K.resize_volumes(t, 2, 1, 3, ordering), x)
    ax = (2, 3, 4) if ordering == "th" else (1, 2, 3)
    ref = np.repeat(np.repeat(np.repeat(x, 2, axis=ax[0]), 1, axis=ax[1]), 3, axis=ax[2])
    np.testing.assert_array_equal(out, ref)
    with pytest.raises(ValueError):
        K.resize_volumes(K.placeholder(shape=(1, 2, 3, 4, 5)), 2, 2, 2, "xy")


# ---------------------------------------------------------------------------------
# Python slicing

SLICES = [
    (slice(None), slice(1, 3)),
    (slice(None), -1),
    (Ellipsis, 0),
    (0,),
    (-1,),
    (slice(None, None, -1),),
    (slice(None), slice(None, None, -2)),
    (slice(3, 0, -1), slice(None)),
    (slice(None), slice(-1, None)),
    (slice(None), slice(None, -1)),
    (1, 2),
    (slice(1, None, 2), Ellipsis),
    (Ellipsis, slice(None, None, -1)),
    (slice(-2, None), slice(4, 1, -2)),
    (slice(None), 1, Ellipsis),
    (slice(10, None),),
    (slice(-100, 100),),
]


@pytest.mark.parametrize("key", SLICES, ids=[repr(k) for k in SLICES])
def test_python_slicing(key):
    x = rand(4, 5, 3)
    out = apply_np(lambda t: t[key], x)
    expected = x[key]
    assert out.shape == expected.shape
    np.testing.assert_array_equal(out, expected)


def test_slicing_with_unknown_batch_and_static_shape():
    x = K.placeholder(shape=(None, 5))
    a, b, c = x[:, 1:3], x[:, -1], x[..., 0]
    assert K.int_shape(a) == (None, 2)
    assert K.int_shape(b) == (None,)
    assert K.int_shape(c) == (None,)
    xv = rand(3, 5)
    ra, rb, rc = run([a, b, c], [(x, xv)])
    np.testing.assert_array_equal(ra, xv[:, 1:3])
    np.testing.assert_array_equal(rb, xv[:, -1])
    np.testing.assert_array_equal(rc, xv[..., 0])


def test_slicing_errors():
    x = K.placeholder(shape=(3, 4))
    with pytest.raises(ValueError):
        x[::0]
    with pytest.raises(TypeError):
        x["a"]
    with pytest.raises((TypeError, ValueError, IndexError)):
        x[0, 0, 0]
