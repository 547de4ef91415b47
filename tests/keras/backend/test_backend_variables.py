"""Variables, placeholders, constants and their introspection: values, shapes, dtypes,
cast and eval."""

import numpy as np
import pytest
from kbackend_helpers import f32, run

from keras import backend as K


def setup_function(function):
    K.clear_session()


def test_variable_roundtrip_and_name():
    val = np.arange(6, dtype=np.float64).reshape(2, 3) / 7
    v = K.variable(val, name="my_var")
    assert isinstance(v, K.Variable)
    assert v.name == "my_var"
    assert K.dtype(v) == "float32"
    out = K.get_value(v)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, val, rtol=1e-6)
    np.testing.assert_allclose(K.eval(v), val, rtol=1e-6)
    np.testing.assert_allclose(v.eval(), val, rtol=1e-6)


def test_variable_from_scalar_and_list():
    s = K.variable(3.5)
    assert K.int_shape(s) == ()
    assert K.eval(s) == pytest.approx(3.5)
    lst = K.variable([1, 2, 3])
    assert K.int_shape(lst) == (3,)
    assert K.dtype(lst) == "float32"
    np.testing.assert_array_equal(K.eval(lst), [1.0, 2.0, 3.0])


def test_int32_variable():
    v = K.variable(np.array([1, 2, 3]), dtype="int32")
    assert K.dtype(v) == "int32"
    out = K.get_value(v)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, [1, 2, 3])


def test_variable_auto_names_are_unique():
    a, b = K.variable(0.0), K.variable(0.0)
    assert a.name != b.name


def test_placeholder_shapes_and_ndim():
    p = K.placeholder(shape=(None, 3, 4), name="inp")
    assert p.name == "inp"
    assert K.int_shape(p) == (None, 3, 4)
    assert K.ndim(p) == 3
    assert K.dtype(p) == "float32"
    q = K.placeholder(ndim=2)
    assert K.int_shape(q) == (None, None)
    assert K.ndim(q) == 2
    r = K.placeholder(shape=(5,), dtype="int32")
    assert K.dtype(r) == "int32"
    with pytest.raises(ValueError):
        K.placeholder()
    f = K.function([p], [p * 2])
    np.testing.assert_array_equal(f([np.ones((7, 3, 4), "f")])[0], 2 * np.ones((7, 3, 4)))


def test_placeholder_get_shape_as_list():
    p = K.placeholder(shape=(None, 3))
    assert p.get_shape().as_list() == [None, 3]
    assert tuple(p.get_shape()) == (None, 3)


def test_constant():
    c = K.constant([[1, 2], [3, 4]])
    assert K.dtype(c) == "float32"
    np.testing.assert_array_equal(K.eval(c), [[1, 2], [3, 4]])
    c2 = K.constant(2.0, shape=(2, 3))
    np.testing.assert_array_equal(K.eval(c2), np.full((2, 3), 2.0))
    c3 = K.constant([1, 2], dtype="int32")
    assert K.dtype(c3) == "int32"


def test_zeros_ones_eye():
    z = K.zeros((2, 3))
    o = K.ones((3,), dtype="int32")
    e = K.eye(3)
    assert isinstance(z, K.Variable) and isinstance(e, K.Variable)
    np.testing.assert_array_equal(K.eval(z), np.zeros((2, 3)))
    np.testing.assert_array_equal(K.eval(o), np.ones(3))
    assert K.dtype(o) == "int32"
    np.testing.assert_array_equal(K.eval(e), np.eye(3))
    named = K.zeros((1,), name="zz")
    assert named.name == "zz"


def test_zeros_like_ones_like():
    x = K.placeholder(shape=(None, 3))
    feed = np.random.randn(4, 3).astype("f")
    z, o = run([K.zeros_like(x), K.ones_like(x)], [(x, feed)])
    np.testing.assert_array_equal(z, np.zeros((4, 3)))
    np.testing.assert_array_equal(o, np.ones((4, 3)))
    assert K.int_shape(K.zeros_like(x)) == (None, 3)


def test_random_variables_follow_np_random_seed():
    np.random.seed(42)
    u1 = K.get_value(K.random_uniform_variable((20, 30), -2.0, 3.0))
    n1 = K.get_value(K.random_normal_variable((40, 50), 1.5, 0.5))
    np.random.seed(42)
    u2 = K.get_value(K.random_uniform_variable((20, 30), -2.0, 3.0))
    n2 = K.get_value(K.random_normal_variable((40, 50), 1.5, 0.5))
    np.testing.assert_array_equal(u1, u2)
    np.testing.assert_array_equal(n1, n2)
    np.random.seed(43)
    u3 = K.get_value(K.random_uniform_variable((20, 30), -2.0, 3.0))
    assert not np.array_equal(u1, u3)
    assert u1.min() >= -2.0 and u1.max() < 3.0
    assert abs(u1.mean() - 0.5) < 0.2
    assert abs(n1.mean() - 1.5) < 0.05
    assert abs(n1.std() - 0.5) < 0.05
    # exactly numpy's draws
    np.random.seed(7)
    ref = np.random.uniform(low=0, high=1, size=(3, 4)).astype("f")
    np.random.seed(7)
    np.testing.assert_array_equal(K.get_value(K.random_uniform_variable((3, 4), 0, 1)), ref)


def test_set_value_get_value_batch():
    a = K.variable(np.zeros((2, 2)))
    b = K.variable(np.zeros(3))
    K.set_value(a, np.array([[1, 2], [3, 4]]))
    np.testing.assert_array_equal(K.get_value(a), [[1, 2], [3, 4]])
    K.batch_set_value([(a, np.ones((2, 2))), (b, [5, 6, 7])])
    va, vb = K.batch_get_value([a, b])
    np.testing.assert_array_equal(va, np.ones((2, 2)))
    np.testing.assert_array_equal(vb, [5, 6, 7])
    # a function sees the new value
    np.testing.assert_array_equal(K.eval(b * 2), [10, 12, 14])


def test_set_value_shape_mismatch():
    a = K.variable(np.zeros((2, 2)))
    with pytest.raises(ValueError):
        K.set_value(a, np.zeros((3, 2)))
    with pytest.raises(ValueError):
        K.set_value(a, np.zeros(4))
    with pytest.raises(ValueError):
        K.batch_set_value([(a, np.zeros((2, 3)))])
    np.testing.assert_array_equal(K.get_value(a), np.zeros((2, 2)))
    K.set_value(a, np.ones((2, 2)))
    np.testing.assert_array_equal(K.get_value(a), np.ones((2, 2)))


def test_get_value_of_non_variable_is_type_error():
    p = K.placeholder(shape=(2,))
    with pytest.raises(TypeError):
        K.get_value(p)
    with pytest.raises(TypeError):
        K.set_value(K.exp(K.variable([1.0])), [1.0])


def test_get_value_returns_fresh_array():
    v = K.variable(np.ones(3))
    got = K.get_value(v)
    got[:] = 42
    np.testing.assert_array_equal(K.get_value(v), np.ones(3))
    src = np.zeros(3, dtype="f")
    K.set_value(v, src)
    src[:] = 9
    np.testing.assert_array_equal(K.get_value(v), np.zeros(3))


def test_int_shape_ndim_dtype_count_params_variable_shape():
    v = K.variable(np.zeros((3, 4, 5)))
    assert K.int_shape(v) == (3, 4, 5)
    assert K.ndim(v) == 3
    assert K.dtype(v) == "float32"
    assert K.count_params(v) == 60
    assert K.get_variable_shape(v) == (3, 4, 5)
    assert K.count_params(K.variable(2.0)) == 1
    x = K.placeholder(shape=(None, 4))
    y = K.dot(x, K.variable(np.zeros((4, 2))))
    assert K.int_shape(y) == (None, 2)
    assert K.ndim(y) == 2
    with pytest.raises(TypeError):
        K.get_variable_shape(x)


def test_shape_symbolic():
    v = K.variable(np.zeros((2, 3)))
    s = K.shape(v)
    assert K.dtype(s) == "int32"
    np.testing.assert_array_equal(K.eval(s), [2, 3])
    x = K.placeholder(shape=(None, 3, None))
    out = run(K.shape(x), [(x, np.zeros((5, 3, 2), "f"))])
    np.testing.assert_array_equal(out, [5, 3, 2])


def test_cast():
    x = K.variable([-1.7, -0.2, 0.0, 0.6, 2.9])
    i = K.cast(x, "int32")
    assert K.dtype(i) == "int32"
    np.testing.assert_array_equal(K.eval(i), np.array([-1.7, -0.2, 0.0, 0.6, 2.9]).astype(np.int32))
    back = K.cast(i, "float32")
    assert K.dtype(back) == "float32"
    np.testing.assert_array_equal(K.eval(back), [-1.0, 0.0, 0.0, 0.0, 2.0])
    b = K.cast(x, "bool")
    np.testing.assert_array_equal(K.eval(b), [True, True, False, True, True])
    assert K.dtype(K.cast(x, "int64")) == "int32"
    same = K.cast(x, "float32")
    np.testing.assert_array_equal(K.eval(same), K.get_value(x))


def test_eval_of_expression():
    a = K.variable(np.array([[1.0, 2.0], [3.0, 4.0]]))
    out = K.eval(K.exp(a) + 1)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, np.exp([[1, 2], [3, 4]]) + 1, rtol=1e-6)
    np.testing.assert_allclose(K.eval(K.constant(f32([3.0]))), [3.0])
