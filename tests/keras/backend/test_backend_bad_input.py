"""Bad input gives a clear Python exception, the function keeps working afterwards, and
the interpreter never aborts."""

import numpy as np
import pytest
from kbackend_helpers import f32, run, run_script

from keras import backend as K


def setup_function(function):
    K.clear_session()


def teardown_function(function):
    K.clear_session()


def _model():
    x = K.placeholder(shape=(None, 3), name="x")
    w = K.variable(np.arange(6).reshape(3, 2) / 6.0)
    f = K.function([x], [K.dot(x, w), K.mean(x)])
    return x, w, f


def _still_works(f):
    out = f([np.ones((2, 3), "f")])
    np.testing.assert_allclose(out[0], np.ones((2, 3)) @ (np.arange(6).reshape(3, 2) / 6.0), rtol=1e-6)
    assert float(out[1]) == 1.0


def test_wrong_number_of_inputs():
    x, w, f = _model()
    with pytest.raises(ValueError, match="1 input"):
        f([])
    with pytest.raises(ValueError, match="1 input"):
        f([np.ones((2, 3), "f"), np.ones((2, 3), "f")])
    _still_works(f)


def test_inputs_not_a_list():
    x, w, f = _model()
    with pytest.raises(TypeError):
        f(np.ones((2, 3), "f"))
    with pytest.raises(TypeError):
        f(None)
    _still_works(f)


@pytest.mark.parametrize("shape", [(2, 4), (2,), (2, 3, 1), (), (1, 1)])
def test_wrong_shapes(shape):
    x, w, f = _model()
    with pytest.raises(ValueError, match="x"):
        f([np.ones(shape, "f")])
    _still_works(f)


def test_fixed_dimension_mismatch():
    x = K.placeholder(shape=(4, 3))
    f = K.function([x], [x * 2])
    with pytest.raises(ValueError):
        f([np.ones((5, 3), "f")])
    np.testing.assert_array_equal(f([np.ones((4, 3), "f")])[0], np.full((4, 3), 2.0))


@pytest.mark.parametrize(
    "bad",
    [
        np.array([["a", "b", "c"]]),
        np.array([[1, None, 3]], dtype=object),
        "abc",
        None,
        np.zeros((1, 3), dtype=complex),
        [["1", "2", "3"]],
        {"a": 1},
    ],
    ids=["str_array", "object_array", "str", "none", "complex", "str_list", "dict"],
)
def test_wrong_dtypes_are_type_errors(bad):
    x, w, f = _model()
    with pytest.raises(TypeError):
        f([bad])
    _still_works(f)


def test_nan_and_inf_propagate_for_float_inputs():
    x = K.placeholder(shape=(None, 3))
    w = K.variable(np.ones((3, 2)))
    outs = [
        K.exp(x),
        K.dot(x, w),
        K.sum(x, axis=1),
        K.mean(x),
        K.max(x, axis=1),
        K.softmax(x),
        K.sigmoid(x),
        K.tanh(x),
        K.relu(x),
        K.abs(x),
        x * 2 + 1,
        K.square(x),
        K.categorical_crossentropy(K.softmax(x), K.ones_like(x) / 3.0),
    ]
    f = K.function([x], outs)
    res = f([f32([[np.nan, 1, 2], [0, 1, 2]])])
    for t, r in zip(outs, res):
        r = np.asarray(r, np.float64)
        assert np.isnan(r.reshape(-1)[0] if r.ndim < 2 else r[0]).any(), (t, r)
        if r.ndim >= 1 and r.shape[0] == 2:
            assert np.all(np.isfinite(r[1])), (t, r)
    inf = f([f32([[np.inf, 1, 2], [0, 1, 2]])])
    assert np.isinf(inf[0][0, 0]) and np.all(np.isfinite(inf[0][1]))
    _ = f([f32([[0, 1, 2], [0, 1, 2]])])


@pytest.mark.parametrize(
    "name,fn",
    [
        ("clip", lambda x: K.clip(x, 0.0, 1.0)),
        ("maximum", lambda x: K.maximum(x, 0.0)),
        ("minimum", lambda x: K.minimum(x, 0.0)),
        ("relu_max_value", lambda x: K.relu(x, max_value=1.0)),
        ("hard_sigmoid", K.hard_sigmoid),
        ("binary_crossentropy", lambda x: K.binary_crossentropy(x, K.ones_like(x) * 0.5)),
    ],
    ids=["clip", "maximum", "minimum", "relu_max_value", "hard_sigmoid", "binary_crossentropy"],
)
def test_nan_propagates_through_clipping_ops(name, fn):
    # Keras 1 (TF clip_by_value/maximum, Theano clip) return NaN for a NaN input;
    # a clipping op must not silently turn a diverged value into a finite one
    x = K.placeholder(shape=(3,))
    out = run(fn(x), [(x, f32([np.nan, 0.5, 2.0]))])
    assert np.isnan(out[0]), out
    assert np.all(np.isfinite(out[1:])), out


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_to_int32_placeholder_is_value_error(bad):
    i = K.placeholder(shape=(None,), dtype="int32")
    f = K.function([i], [i * 2])
    with pytest.raises(ValueError):
        f([np.array([1.0, bad])])
    with pytest.raises(ValueError):
        f([np.array([2**40])])
    np.testing.assert_array_equal(f([np.array([1, 2])])[0], [2, 4])


def test_empty_batch_is_value_error():
    x, w, f = _model()
    with pytest.raises(ValueError, match="empty"):
        f([np.zeros((0, 3), "f")])
    _still_works(f)


def test_gradients_of_non_scalar():
    x = K.placeholder(shape=(None, 3))
    w = K.variable(np.ones((3, 2)))
    with pytest.raises(ValueError, match="scalar"):
        K.gradients(K.dot(x, w), [w])
    (g,) = K.gradients(K.sum(K.dot(x, w)), [w])
    np.testing.assert_array_equal(run(g, [(x, np.ones((2, 3), "f"))]), np.full((3, 2), 2.0))


def test_gradients_wrt_int_tensor_is_type_error():
    i = K.placeholder(shape=(None,), dtype="int32")
    with pytest.raises(TypeError):
        K.gradients(K.sum(K.cast(i, "float32")), [i])


def test_unknown_op_arguments_are_type_errors():
    x = K.placeholder(shape=(None, 3))
    g = K.ferrokeras_backend._graph()
    with pytest.raises(TypeError, match="bogus"):
        g.op("add", [x.node, x.node], {"bogus": 1})
    with pytest.raises(TypeError, match="alpha"):
        g.op("relu", [x.node], {"alpha": "a"})
    with pytest.raises(TypeError):
        g.op("relu", [x.node], {"alpha": object()})
    with pytest.raises(ValueError, match="nope"):
        g.op("nope", [x.node], {})
    # the graph is still usable
    np.testing.assert_array_equal(run(K.relu(x), [(x, f32([[-1, 0, 2]]))]), [[0, 0, 2]])


@pytest.mark.parametrize(
    "make_update",
    [
        lambda w, x: (w,),
        lambda w, x: w,
        lambda w, x: (w, w, w),
        lambda w, x: "w",
        lambda w, x: {"var": w},
        lambda w, x: (x, x * 2),  # not a variable
        lambda w, x: (np.zeros((3, 2)), w),
    ],
    ids=["1-tuple", "bare_variable", "3-tuple", "str", "dict", "placeholder_target", "array_target"],
)
def test_unknown_update_form_is_type_error(make_update):
    x, w, f = _model()
    with pytest.raises(TypeError):
        K.function([x], [K.sum(x)], updates=[make_update(w, x)])
    _still_works(f)


def test_update_with_wrong_shape():
    x, w, f = _model()
    before = K.get_value(w)
    with pytest.raises(ValueError):
        g = K.function([x], [K.sum(x)], updates=[(w, K.ones((3, 3)))])
        g([np.ones((2, 3), "f")])
    with pytest.raises(ValueError):
        K.function([x], [K.sum(x)], updates=[(w, K.ones((6,)))])
    np.testing.assert_array_equal(K.get_value(w), before)
    _still_works(f)


def test_tensor_from_cleared_session():
    x, w, f = _model()
    K.clear_session()
    with pytest.raises(ValueError, match="clear_session"):
        K.function([x], [x * 2])
    with pytest.raises(ValueError, match="clear_session"):
        K.dot(x, K.variable(np.ones((3, 1))))
    with pytest.raises(ValueError, match="clear_session"):
        x + 1
    y = K.placeholder(shape=(None, 3))
    with pytest.raises(ValueError, match="clear_session"):
        K.concatenate([x, y])
    _still_works(f)


def test_function_definition_errors():
    x = K.placeholder(shape=(None, 3))
    y = K.placeholder(shape=(None, 3))
    with pytest.raises(ValueError, match="not among"):
        K.function([x], [x + y])
    with pytest.raises(TypeError):
        K.function([x * 2], [x])
    with pytest.raises(TypeError):
        K.function([x], [np.ones(3)])
    with pytest.raises(ValueError):
        K.function([x, x], [x])


def test_build_time_shape_errors():
    x = K.placeholder(shape=(None, 3))
    with pytest.raises(ValueError):
        K.dot(x, K.ones((4, 2)))
    with pytest.raises(ValueError):
        x + K.ones((4,))
    with pytest.raises(ValueError):
        K.sum(x, axis=5)
    with pytest.raises(ValueError):
        K.permute_dimensions(x, (0, 0))
    with pytest.raises(ValueError):
        K.reshape(x, (2, 2))  # 3 does not divide into a fixed (2, 2)
    np.testing.assert_array_equal(run(x * 1, [(x, f32([[1, 2, 3]]))]), [[1, 2, 3]])


def test_run_time_errors_leave_function_usable():
    i = K.placeholder(shape=(None,), dtype="int32")
    x = K.placeholder(shape=(None, 3))
    ref = K.variable(np.arange(12).reshape(4, 3))
    f = K.function([i, x], [K.gather(ref, i) + x, K.one_hot(i, 4), K.reshape(x, (-1, 3))])
    with pytest.raises(ValueError):
        f([np.array([5]), np.ones((1, 3), "f")])
    with pytest.raises(ValueError):
        f([np.array([-1]), np.ones((1, 3), "f")])
    with pytest.raises(ValueError):
        f([np.array([0, 1]), np.ones((3, 3), "f")])
    out = f([np.array([3]), np.ones((1, 3), "f")])
    np.testing.assert_array_equal(out[0], [[10, 11, 12]])
    np.testing.assert_array_equal(out[1], [[0, 0, 0, 1]])


_ADVERSARIAL = """
import numpy as np
from keras import backend as K

x = K.placeholder(shape=(None, 3))
i = K.placeholder(shape=(None,), dtype="int32")
w = K.variable(np.ones((3, 2)))
ref = K.variable(np.ones((4, 3)))
f = K.function([x], [K.dot(x, w), K.softmax(x), K.sum(x)])
g = K.function([i, x], [K.gather(ref, i), K.one_hot(i, 3), K.sparse_categorical_crossentropy(x, i)])
attempts = [
    lambda: f([]),
    lambda: f([np.zeros((0, 3), "f")]),
    lambda: f([np.zeros((2, 4), "f")]),
    lambda: f([np.array([["a", "b", "c"]])]),
    lambda: f([np.array([[None, 1, 2]], dtype=object)]),
    lambda: f(["x"]),
    lambda: f([None]),
    lambda: f(None),
    lambda: g([np.array([9]), np.ones((1, 3), "f")]),
    lambda: g([np.array([-5]), np.ones((1, 3), "f")]),
    lambda: g([np.array([2**40]), np.ones((1, 3), "f")]),
    lambda: g([np.array([np.nan]), np.ones((1, 3), "f")]),
    lambda: g([np.array([0, 1]), np.ones((1, 3), "f")]),
    lambda: K.function([x], [K.reshape(x, (-1, 2))])([np.ones((3, 3), "f")]),
    lambda: K.function([x], [x[:, 7]]),
    lambda: K.function([x], [x[7]])([np.ones((3, 3), "f")]),
    lambda: K.gradients(K.dot(x, w), [w]),
    lambda: K.gradients(K.sum(K.cast(i, "float32")), [i]),
    lambda: K.ferrokeras_backend._graph().op("add", [x.node, x.node], {"bogus": 1}),
    lambda: K.ferrokeras_backend._graph().op("nope", [x.node], {}),
    lambda: K.ferrokeras_backend._graph().op("add", [x.node], {}),
    lambda: K.ferrokeras_backend._graph().op("add", [10**6, 10**7], {}),
    lambda: K.ferrokeras_backend._graph().gradients(10**6, [0]),
    lambda: K.ferrokeras_backend._graph().info(10**9),
    lambda: K.ferrokeras_backend._graph().get_value(x.node),
    lambda: K.ferrokeras_backend._graph().set_value(w.node, np.ones((2, 2), "f")),
    lambda: K.ferrokeras_backend._graph().set_value(w.node, np.ones((3, 2), "f8")),
    lambda: K.ferrokeras_backend._graph().compile([10**6], [0]),
    lambda: K.ferrokeras_backend._graph().placeholder("float32", [3], "p") and K.ferrokeras_backend._graph().compile([], [10**5]),
    lambda: K.function([x], [x], updates=[(w,)]),
    lambda: K.function([x], [x], updates=[(x, x)]),
    lambda: K.function([x], [K.sum(x)], updates=[(w, K.ones((3, 3)))])([np.ones((1, 3), "f")]),
    lambda: K.dropout(x, 1.5),
    lambda: K.function([x], [K.dropout(x, 0.5, noise_shape=(5, 3))])([np.ones((3, 3), "f")]),
    lambda: K.random_normal((-1, 3)),
    lambda: K.repeat_elements(x, -1, 1),
    lambda: K.tile(x, [-1, 2]),
    lambda: K.permute_dimensions(x, (0, 5)),
    lambda: K.squeeze(x, 9),
    lambda: K.one_hot(i, 0),
    lambda: K.variable("abc"),
    lambda: K.placeholder(shape=(-1, 3)),
    lambda: K.placeholder(shape=(1, 3), dtype="complex64"),
    lambda: K.cast(x, "string"),
    lambda: K.set_value(w, np.ones((9,))),
    lambda: K.batch_dot(x, K.placeholder(shape=(None, 3, 3, 3))),
    lambda: K.conv2d(x, w),
]
n_errors = 0
for k, attempt in enumerate(attempts):
    try:
        attempt()
    except (ValueError, TypeError, NotImplementedError, IndexError, OverflowError, MemoryError) as e:
        n_errors += 1
        assert str(e), "exception without a message at attempt %d" % k
out = f([np.ones((2, 3), "f")])
assert np.allclose(out[0], 3.0) and float(out[2]) == 6.0
print("errors:", n_errors, "of", len(attempts))
print("OK")
"""


def test_adversarial_batch_never_aborts_the_interpreter():
    proc = run_script(_ADVERSARIAL, timeout=60)
    n, total = proc.stdout.split("errors:")[1].split("OK")[0].split("of")
    # every attempt is rejected with a Python exception
    assert int(n) == int(total), proc.stdout


_IMPOSSIBLE_ALLOCATION = """
import numpy as np
from keras import backend as K

x = K.placeholder(shape=(None, 2))
tries = [
    lambda: K.eval(K.random_normal((2**30, 2**30))),
    lambda: K.function([x], [K.tile(x, [2**20, 2**20])])([np.ones((2, 2), "f")]),
]
for t in tries:
    try:
        t()
    except (MemoryError, ValueError, RuntimeError) as e:
        assert str(e)
    else:
        raise AssertionError("an impossible allocation succeeded")
print("OK")
"""


def test_impossible_allocation_is_a_python_exception_not_an_abort():
    # 2**60 floats (4 EiB) can never be allocated: the engine must raise, not abort
    run_script(_IMPOSSIBLE_ALLOCATION, timeout=60)
