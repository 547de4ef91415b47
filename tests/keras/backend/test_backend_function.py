"""K.function (inputs, outputs, updates), K.gradients, control flow and the learning
phase, stop_gradient, print_tensor, clear_session, fresh outputs and thread safety."""

import numpy as np
import pytest
from kbackend_helpers import f32, run, run_script

from keras import backend as K


def setup_function(function):
    K.clear_session()


def teardown_function(function):
    K.clear_session()


RNG = np.random.RandomState(11)


def rand(*shape, low=-1.0, high=1.0):
    return f32(RNG.uniform(low, high, size=shape))


# ---------------------------------------------------------------------------------
# function


def test_function_takes_and_returns_lists():
    x = K.placeholder(shape=(None, 2))
    y = K.placeholder(shape=(None, 2))
    f = K.function([x, y], [x + y, x * y])
    xv, yv = rand(3, 2), rand(3, 2)
    out = f([xv, yv])
    assert isinstance(out, list) and len(out) == 2
    np.testing.assert_allclose(out[0], xv + yv, rtol=1e-6)
    np.testing.assert_allclose(out[1], xv * yv, rtol=1e-6)
    out_t = f((xv, yv))
    np.testing.assert_allclose(out_t[0], xv + yv, rtol=1e-6)


def test_function_accepts_non_float32_arrays_and_lists():
    x = K.placeholder(shape=(None, 2))
    f = K.function([x], [x * 2])
    np.testing.assert_array_equal(f([np.array([[1, 2]], dtype=np.float64)])[0], [[2, 4]])
    np.testing.assert_array_equal(f([np.array([[1, 2]], dtype=np.int64)])[0], [[2, 4]])
    np.testing.assert_array_equal(f([[[1.0, 2.0]]])[0], [[2, 4]])
    np.testing.assert_array_equal(f([np.asfortranarray(np.ones((3, 2)))])[0], np.full((3, 2), 2.0))
    big = np.arange(12, dtype="f").reshape(2, 6)
    np.testing.assert_array_equal(f([big[:, ::3]])[0], big[:, ::3] * 2)


def test_function_with_int_placeholder():
    idx = K.placeholder(shape=(None,), dtype="int32")
    emb = K.variable(np.arange(12).reshape(4, 3))
    f = K.function([idx], [K.gather(emb, idx)])
    np.testing.assert_array_equal(f([np.array([3, 0])])[0], [[9, 10, 11], [0, 1, 2]])


def test_function_with_no_inputs_and_repeated_outputs():
    v = K.variable(f32([1, 2]))
    f = K.function([], [v, v * 3, v])
    a, b, c = f([])
    np.testing.assert_array_equal(a, [1, 2])
    np.testing.assert_array_equal(b, [3, 6])
    np.testing.assert_array_equal(c, [1, 2])


def test_function_invalid_kwarg():
    x = K.placeholder(shape=(2,))
    with pytest.raises(ValueError):
        K.function([x], [x], bogus=True)
    K.function([x], [x], name="ok", mode=None)


def test_outputs_are_fresh_arrays():
    x = K.placeholder(shape=(None, 3))
    v = K.variable(f32([1, 2, 3]))
    f = K.function([x], [x + v, v])
    xv = np.ones((2, 3), "f")
    a, b = f([xv])
    a[:] = -100
    b[:] = -100
    a2, b2 = f([xv])
    np.testing.assert_array_equal(a2, xv + [1, 2, 3])
    np.testing.assert_array_equal(b2, [1, 2, 3])
    np.testing.assert_array_equal(K.get_value(v), [1, 2, 3])
    assert not np.shares_memory(a, a2)
    # the input array is not aliased either
    xv[:] = 5
    np.testing.assert_array_equal(f([np.ones((2, 3), "f")])[0], np.ones((2, 3)) + [1, 2, 3])


def test_function_shapes_can_change_between_calls():
    x = K.placeholder(shape=(None, 3))
    f = K.function([x], [K.sum(x, axis=0), x * 2])
    for n in (1, 5, 2, 5, 100):
        xv = rand(n, 3)
        s, d = f([xv])
        np.testing.assert_allclose(s, xv.sum(0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(d, xv * 2, rtol=1e-6)


# ---------------------------------------------------------------------------------
# updates


def test_update_update_add_update_sub():
    a = K.variable(f32([1.0, 2.0]))
    b = K.variable(f32([10.0, 20.0]))
    c = K.variable(f32([5.0]))
    x = K.placeholder(shape=(2,))
    f = K.function([x], [a], updates=[K.update(a, x), K.update_add(b, x), K.update_sub(c, 1.5)])
    out = f([f32([7, 8])])[0]
    np.testing.assert_array_equal(out, [1, 2])  # outputs see the pre-step value
    np.testing.assert_array_equal(K.get_value(a), [7, 8])
    np.testing.assert_array_equal(K.get_value(b), [17, 28])
    np.testing.assert_array_equal(K.get_value(c), [3.5])
    f([f32([0, 1])])
    np.testing.assert_array_equal(K.get_value(b), [17, 29])
    np.testing.assert_array_equal(K.get_value(c), [2.0])


def test_updates_see_pre_step_values():
    a = K.variable(1.0)
    b = K.variable(0.0)
    # both updates read the old value of a, in either order
    f = K.function([], [a, b], updates=[(a, a + 1), (b, b + a * 10)])
    g = K.function([], [], updates=[(b, b + a * 10), (a, a + 1)])
    out = f([])
    assert float(np.ravel(out[0])[0]) == 1.0 and float(np.ravel(out[1])[0]) == 0.0
    assert float(np.ravel(K.get_value(a))[0]) == 2.0
    assert float(np.ravel(K.get_value(b))[0]) == 10.0
    g([])
    assert float(np.ravel(K.get_value(a))[0]) == 3.0
    assert float(np.ravel(K.get_value(b))[0]) == 30.0


def test_swap_update_uses_old_values():
    a = K.variable(f32([1.0]))
    b = K.variable(f32([2.0]))
    K.function([], [], updates=[(a, b), (b, a)])([])
    np.testing.assert_array_equal(K.get_value(a), [2.0])
    np.testing.assert_array_equal(K.get_value(b), [1.0])


def test_moving_average_update():
    v = K.variable(f32([0.0, 10.0]))
    x = K.placeholder(shape=(2,))
    f = K.function([x], [], updates=[K.moving_average_update(v, x, 0.9)])
    ref = np.array([0.0, 10.0])
    for val in ([1.0, 2.0], [3.0, -4.0], [0.5, 0.5]):
        f([f32(val)])
        ref = ref * 0.9 + np.array(val) * 0.1
    np.testing.assert_allclose(K.get_value(v), ref, rtol=1e-5)


def test_update_is_cast_to_variable_dtype():
    counter = K.variable(np.array([0]), dtype="int32")
    f = K.function([], [], updates=[K.update_add(counter, 1)])
    for _ in range(3):
        f([])
    np.testing.assert_array_equal(K.get_value(counter), [3])
    assert K.get_value(counter).dtype == np.int32


def test_updates_shared_between_functions():
    w = K.variable(f32([0.0]))
    inc = K.function([], [], updates=[K.update_add(w, 1.0)])
    read = K.function([], [w * 2])
    inc([])
    inc([])
    np.testing.assert_array_equal(read([])[0], [4.0])
    K.set_value(w, f32([10.0]))
    inc([])
    np.testing.assert_array_equal(read([])[0], [22.0])


def test_sgd_step_with_updates_and_gradients():
    x = K.placeholder(shape=(None, 3))
    y = K.placeholder(shape=(None, 1))
    w = K.variable(np.zeros((3, 1)))
    loss = K.mean(K.square(K.dot(x, w) - y))
    (g,) = K.gradients(loss, [w])
    step = K.function([x, y], [loss], updates=[K.update(w, w - 0.1 * g)])
    xv = rand(64, 3)
    true_w = f32([[1.0], [-2.0], [0.5]])
    yv = xv @ true_w
    losses = [float(step([xv, yv])[0]) for _ in range(300)]
    assert losses[-1] < 1e-3 * losses[0]
    np.testing.assert_allclose(K.get_value(w), true_w, atol=2e-2)


# ---------------------------------------------------------------------------------
# gradients


def test_gradients_through_a_chain_of_ops():
    x = K.placeholder(shape=(4, 3))
    w = K.variable(rand(3, 2))
    b = K.variable(rand(2))
    h = K.tanh(K.dot(x, w) + b)
    loss = K.sum(K.square(K.softmax(h * 2.0) - 0.25)) + K.mean(K.exp(-h))
    gx, gw, gb = K.gradients(loss, [x, w, b])
    xv = rand(4, 3)
    got = K.function([x], [gx, gw, gb])([xv])

    W, B = K.get_value(w).astype(np.float64), K.get_value(b).astype(np.float64)

    def np_loss(xx, ww, bb):
        hh = np.tanh(xx @ ww + bb)
        e = np.exp(2 * hh - (2 * hh).max(-1, keepdims=True))
        s = e / e.sum(-1, keepdims=True)
        return np.sum((s - 0.25) ** 2) + np.mean(np.exp(-hh))

    args = [xv.astype(np.float64), W, B]
    for k, g in enumerate(got):
        num = np.zeros_like(args[k])
        for j in np.ndindex(*args[k].shape):
            p = [a.copy() for a in args]
            m = [a.copy() for a in args]
            p[k][j] += 1e-6
            m[k][j] -= 1e-6
            num[j] = (np_loss(*p) - np_loss(*m)) / 2e-6
        np.testing.assert_allclose(g, num, rtol=1e-3, atol=1e-5)


def test_gradient_accumulates_over_several_consumers():
    x = K.placeholder(shape=(3,))
    a = x * 2.0
    # x feeds four consumers directly, a feeds three
    loss = K.sum(x * x + 3.0 * x + a * a + K.sin(a) + x * a)
    (g,) = K.gradients(loss, [x])
    xv = f32([0.3, -1.2, 2.0])
    x64 = xv.astype(np.float64)
    expected = 2 * x64 + 3 + 8 * x64 + 2 * np.cos(2 * x64) + 4 * x64
    np.testing.assert_allclose(run(g, [(x, xv)]), expected, rtol=1e-5)


def test_gradient_of_same_tensor_used_twice_in_one_op():
    x = K.placeholder(shape=(2, 2))
    (g,) = K.gradients(K.sum(K.dot(x, x)), [x])
    xv = rand(2, 2)
    ones = np.ones((2, 2))
    # d/dx sum(x @ x) = ones @ x.T + x.T @ ones
    np.testing.assert_allclose(run(g, [(x, xv)]), ones @ xv.T + xv.T @ ones, rtol=1e-5, atol=1e-6)


def test_gradients_wrt_variable_and_unused_variable():
    w = K.variable(f32([1.0, 2.0]))
    u = K.variable(f32([[5.0]]))
    loss = K.sum(w * w)
    gw, gu = K.gradients(loss, [w, u])
    a, b = K.function([], [gw, gu])([])
    np.testing.assert_allclose(a, [2.0, 4.0])
    np.testing.assert_array_equal(b, [[0.0]])
    assert b.shape == (1, 1)


def test_gradients_of_two_losses_in_one_function():
    w = K.variable(f32([3.0]))
    (g1,) = K.gradients(K.sum(w * w), [w])
    (g2,) = K.gradients(K.sum(w * w * w), [w])
    a, b = K.function([], [g1, g2])([])
    np.testing.assert_allclose(a, [6.0])
    np.testing.assert_allclose(b, [27.0])


def test_second_order_gradient_is_correct_or_not_implemented():
    # Keras 1's backends differentiate gradients; an engine that cannot must say so
    # (NotImplementedError) rather than silently return zeros
    x = K.variable(f32([2.0]))
    (g,) = K.gradients(K.sum(x * x * x), [x])
    try:
        (gg,) = K.gradients(K.sum(g), [x])
        value = K.eval(gg)
    except NotImplementedError as e:
        assert "gradient" in str(e)
        return
    np.testing.assert_allclose(value, [12.0], rtol=1e-5)


def test_stop_gradient():
    x = K.placeholder(shape=(3,))
    y = K.stop_gradient(x * 3.0)
    loss = K.sum(y * x)
    (g,) = K.gradients(loss, [x])
    xv = f32([1.0, -2.0, 0.5])
    out_y, out_g = run([y, g], [(x, xv)])
    np.testing.assert_allclose(out_y, xv * 3)
    # only the direct path: d/dx (stop(3x) * x) = 3x
    np.testing.assert_allclose(out_g, 3 * xv, rtol=1e-6)
    (g_only,) = K.gradients(K.sum(K.stop_gradient(x) * 2.0), [x])
    np.testing.assert_array_equal(run(g_only, [(x, xv)]), [0, 0, 0])


def test_stop_gradient_list():
    a, b = K.variable(f32([1.0])), K.variable(f32([2.0]))
    sa, sb = K.stop_gradient([a, b])
    ga, gb = K.gradients(K.sum(sa * sb + a), [a, b])
    r = K.function([], [sa, sb, ga, gb])([])
    np.testing.assert_array_equal(r[0], [1.0])
    np.testing.assert_array_equal(r[1], [2.0])
    np.testing.assert_array_equal(r[2], [1.0])
    np.testing.assert_array_equal(r[3], [0.0])


# ---------------------------------------------------------------------------------
# control flow and the learning phase


def test_switch_scalar_and_elementwise():
    c = K.placeholder(shape=())
    x = K.placeholder(shape=(None, 3))
    s = K.switch(c, x * 2, x * 3)
    f = K.function([c, x], [s])
    xv = rand(2, 3)
    np.testing.assert_allclose(f([f32(1), xv])[0], xv * 2, rtol=1e-6)
    np.testing.assert_allclose(f([f32(0), xv])[0], xv * 3, rtol=1e-6)
    cond = K.greater(x, 0.0)
    e = K.function([x], [K.switch(cond, x, K.zeros_like(x))])([xv])[0]
    np.testing.assert_allclose(e, np.where(xv > 0, xv, 0))


def test_switch_python_condition():
    a, b = K.variable(1.0), K.variable(2.0)
    assert K.switch(True, a, b) is a
    assert K.switch(0, a, b) is b


def test_switch_gradient_goes_to_selected_branch():
    c = K.placeholder(shape=())
    a = K.placeholder(shape=(2,))
    b = K.placeholder(shape=(2,))
    ga, gb = K.gradients(K.sum(K.switch(c, a * 2.0, b * 3.0)), [a, b])
    f = K.function([c, a, b], [ga, gb])
    r1 = f([f32(1), f32([1, 1]), f32([1, 1])])
    r0 = f([f32(0), f32([1, 1]), f32([1, 1])])
    np.testing.assert_array_equal(r1[0], [2, 2])
    np.testing.assert_array_equal(r1[1], [0, 0])
    np.testing.assert_array_equal(r0[0], [0, 0])
    np.testing.assert_array_equal(r0[1], [3, 3])


def test_in_train_phase_in_test_phase_fed():
    x = K.placeholder(shape=(None, 2))
    tr = K.in_train_phase(x * 2, x * 3)
    te = K.in_test_phase(x * 2, x * 3)
    assert tr._uses_learning_phase and te._uses_learning_phase
    f = K.function([x, K.learning_phase()], [tr, te])
    xv = rand(3, 2)
    a, b = f([xv, np.float32(1)])
    np.testing.assert_allclose(a, xv * 2, rtol=1e-6)
    np.testing.assert_allclose(b, xv * 3, rtol=1e-6)
    a, b = f([xv, np.float32(0)])
    np.testing.assert_allclose(a, xv * 3, rtol=1e-6)
    np.testing.assert_allclose(b, xv * 2, rtol=1e-6)
    a, b = f([xv, 1])
    np.testing.assert_allclose(a, xv * 2, rtol=1e-6)


def test_learning_phase_defaults_to_test_when_not_fed():
    x = K.placeholder(shape=(None, 2))
    f = K.function([x], [K.in_train_phase(x * 2, x * 3)])
    xv = rand(3, 2)
    np.testing.assert_allclose(f([xv])[0], xv * 3, rtol=1e-6)


def test_in_train_phase_with_set_learning_phase():
    x = K.variable(f32([1.0]))
    y = K.variable(f32([2.0]))
    K.set_learning_phase(1)
    assert K.in_train_phase(x, y) is x
    assert K.in_test_phase(x, y) is y
    K.set_learning_phase(0)
    assert K.in_train_phase(x, y) is y
    assert K.in_test_phase(x, y) is x


# ---------------------------------------------------------------------------------
# print_tensor, clear_session, uids


def test_print_tensor_prints_to_stderr(capfd):
    x = K.placeholder(shape=(3,))
    p = K.print_tensor(x * 2, message="value of x: ")
    assert K.int_shape(p) == (3,)
    f = K.function([x], [p + 1])
    out = f([f32([1, 2, 3])])[0]
    np.testing.assert_array_equal(out, [3, 5, 7])
    captured = capfd.readouterr()
    assert "value of x: " in captured.err
    assert "2" in captured.err and "6" in captured.err
    assert "value of x" not in captured.out
    f([f32([1, 2, 3])])
    assert captured.err.count("value of x") == 1
    assert capfd.readouterr().err.count("value of x") == 1


def test_print_tensor_gradient_passes_through(capfd):
    x = K.placeholder(shape=(2,))
    (g,) = K.gradients(K.sum(K.print_tensor(x, "p") * 3.0), [x])
    np.testing.assert_array_equal(run(g, [(x, f32([1, 2]))]), [3, 3])
    capfd.readouterr()


def test_clear_session_drops_graph():
    x = K.placeholder(shape=(2,))
    v = K.variable(f32([1, 2]))
    old = K.ferrokeras_backend._graph()
    K.clear_session()
    assert K.ferrokeras_backend._graph() is not old
    with pytest.raises(ValueError, match="clear_session"):
        K.function([x], [x * 2])
    with pytest.raises(ValueError, match="clear_session"):
        K.exp(v)
    # a function compiled before clear_session keeps working on its own graph
    # and new graph objects work
    y = K.placeholder(shape=(2,))
    np.testing.assert_array_equal(run(y * 2, [(y, f32([1, 2]))]), [2, 4])


def test_function_compiled_before_clear_session_still_runs():
    x = K.placeholder(shape=(2,))
    f = K.function([x], [x + 1])
    K.clear_session()
    np.testing.assert_array_equal(f([f32([1, 2])])[0], [2, 3])


# ---------------------------------------------------------------------------------
# threads (in a subprocess: a deadlock between the GIL and a Program's lock would freeze
# the whole interpreter, so it must fail the test instead of hanging the suite)

_TWO_THREADS_SAME_FUNCTION = """
import threading
import numpy as np
from keras import backend as K

rng = np.random.RandomState(0)
x = K.placeholder(shape=(None, 64))
w = K.variable(rng.uniform(-1, 1, (64, 64)))
f = K.function([x], [K.tanh(K.dot(x, w)), K.sum(x, axis=1)])
W = K.get_value(w).astype(np.float64)
errors = []
inputs = [rng.uniform(-1, 1, (16 + t, 64)).astype("f") for t in range(2)]

def worker(t):
    try:
        xv = inputs[t]
        for _ in range(200):
            a, s = f([xv])
            np.testing.assert_allclose(a, np.tanh(xv @ W), rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(s, xv.sum(1), rtol=1e-4, atol=1e-5)
    except BaseException as e:
        errors.append(e)

threads = [threading.Thread(target=worker, args=(t,)) for t in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert not errors, errors[0]
print("OK")
"""

_TWO_THREADS_UPDATES = """
import threading
import numpy as np
from keras import backend as K

c = K.variable(np.zeros(1, "f"))
inc = K.function([], [], updates=[K.update_add(c, 1.0)])

def worker():
    for _ in range(500):
        inc([])

threads = [threading.Thread(target=worker) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert K.get_value(c).tolist() == [1000.0], K.get_value(c)
print("OK")
"""


def test_two_threads_call_the_same_function():
    run_script(_TWO_THREADS_SAME_FUNCTION, timeout=10)


def test_threads_with_updates_do_not_lose_increments():
    run_script(_TWO_THREADS_UPDATES, timeout=10)
