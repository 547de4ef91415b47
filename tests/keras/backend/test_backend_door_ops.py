"""The backend functions that layers, optimizers, training and keras.distributed use
instead of the engine's private parts (ARCHITECTURE.md, "The backend door"), each
against a numpy reference or its documented contract."""

import threading

import numpy as np
import pytest

from keras import backend as K


def setup_function(function):
    K.clear_session()


def teardown_function(function):
    K.clear_session()


RNG = np.random.RandomState(18)


def f32(a):
    return np.asarray(a, dtype=np.float32)


def evaluate(outputs, feeds=()):
    """Values of `outputs` with `feeds` = [(placeholder, array), ...]."""
    ins = [p for p, _ in feeds]
    return K.function(ins, list(outputs))([v for _, v in feeds])


# ---------------------------------------------------------------------------------------
# ops


@pytest.mark.parametrize("axis", [None, -1, 1])
def test_bias_add_matches_numpy(axis):
    x = f32(RNG.randn(2, 3, 4))
    along = 4 if axis in (None, -1) else 3
    b = f32(RNG.randn(along))
    shape = (1, 1, along) if along == 4 else (1, along, 1)
    (out,) = evaluate([K.bias_add(K.variable(x), K.variable(b), axis=axis)])
    np.testing.assert_allclose(out, x + b.reshape(shape), rtol=1e-6)


@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_batch_matmul_matches_numpy(ta, tb):
    a = f32(RNG.randn(3, 4, 5) if ta else RNG.randn(3, 5, 4))
    b = f32(RNG.randn(3, 6, 4) if tb else RNG.randn(3, 4, 6))
    (out,) = evaluate([K.batch_matmul(K.variable(a), K.variable(b), transpose_a=ta, transpose_b=tb)])
    ref = np.matmul(a.transpose(0, 2, 1) if ta else a, b.transpose(0, 2, 1) if tb else b)
    assert out.shape == (3, 5, 6)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


def test_identity_and_is_variable():
    v = K.variable(f32([[1.0, -2.0]]))
    i = K.placeholder(shape=(2,), dtype="int32")
    assert K.is_variable(v) and not K.is_variable(v * 1.0) and not K.is_variable(np.ones(2))
    fv, fi = K.identity(v), K.identity(i)
    assert fv.node != v.node and fi.node != i.node and fi.dtype == "int32"
    out_v, out_i = evaluate([fv, fi], [(i, np.array([3, -4], dtype=np.int32))])
    np.testing.assert_array_equal(out_v, [[1.0, -2.0]])
    np.testing.assert_array_equal(out_i, [3, -4])
    assert not K.is_variable(fv)


def test_flat_concat_and_flat_slice_round_trip():
    a, b = f32(RNG.randn(2, 3)), f32(RNG.randn(4))
    va = K.variable(a)  # a variable is read through an identity node
    flat = K.flat_concat([va, K.variable(b) * 2.0])
    back_a, back_b = K.flat_slice(flat, 0, (2, 3)), K.flat_slice(flat, 6, (4,))
    out, ra, rb = evaluate([flat, back_a, back_b])
    np.testing.assert_array_equal(out, np.concatenate([a.ravel(), 2.0 * b]))
    np.testing.assert_array_equal(ra, a)
    np.testing.assert_array_equal(rb, 2.0 * b)


def _np_simple_rnn(x, W, U, b, h0, go_backwards=False):
    steps = range(x.shape[1])[::-1] if go_backwards else range(x.shape[1])
    h, out = h0, []
    for t in steps:
        h = np.tanh(x[:, t] @ W + h @ U + b)
        out.append(h)
    return np.stack(out, axis=1)


@pytest.mark.parametrize("go_backwards", [False, True])
def test_rnn_sequence_simple_rnn_matches_numpy(go_backwards):
    x = f32(RNG.randn(2, 5, 3))
    W, U, b, h0 = (
        f32(RNG.randn(3, 4) * 0.5),
        f32(RNG.randn(4, 4) * 0.5),
        f32(RNG.randn(4)),
        f32(RNG.randn(2, 4)),
    )
    seq = K.rnn_sequence(
        "simple_rnn",
        K.variable(x),
        K.variable(W),
        K.variable(U),
        K.variable(b),
        [K.variable(h0)],
        go_backwards=go_backwards,
    )
    (out,) = evaluate([seq])
    np.testing.assert_allclose(out, _np_simple_rnn(x, W, U, b, h0, go_backwards), rtol=1e-5, atol=1e-5)


def test_rnn_sequence_mask_and_lstm_state():
    x = f32(RNG.randn(2, 4, 3))
    W, U, b = f32(RNG.randn(3, 8) * 0.3), f32(RNG.randn(2, 8) * 0.3), f32(RNG.randn(8))
    h0, c0 = K.variable(np.zeros((2, 2))), K.variable(np.zeros((2, 2)))
    mask = K.variable(f32([[1, 1, 0, 0], [1, 1, 1, 1]]))
    seq = K.rnn_sequence(
        "lstm",
        K.variable(x),
        K.variable(W),
        K.variable(U),
        K.variable(b),
        [h0, c0],
        mask=mask,
        return_state=True,
    )
    (out,) = evaluate([seq])
    assert out.shape == (2, 5, 2)  # one extra step: the final cell state
    # masked steps carry the hidden state forward
    np.testing.assert_array_equal(out[0, 2], out[0, 1])
    np.testing.assert_array_equal(out[0, 3], out[0, 1])


def test_rnn_sequence_rejects_unknown_cells_and_activations():
    x, W, U, b, h = (K.variable(np.zeros(s)) for s in [(1, 2, 3), (3, 4), (4, 4), (4,), (1, 4)])
    with pytest.raises(ValueError, match="unknown cell 'conv'"):
        K.rnn_sequence("conv", x, W, U, b, [h])
    with pytest.raises(ValueError):
        K.rnn_sequence("simple_rnn", x, W, U, b, [h], activation="softmax")


def test_fused_optimizer_update_sgd_step_matches_numpy():
    p0, x = f32(RNG.randn(3)), f32(RNG.randn(3))
    p, m = K.variable(p0), K.variable(np.zeros(3))
    loss = K.sum(p * K.variable(x))  # gradient: x
    hyper = {"lr": K.variable(0.1), "iterations": K.variable(0.0), "momentum": K.variable(0.9), "decay": None}
    upd = K.fused_optimizer_update("sgd", [p], K.gradients(loss, [p]), [[m]], hyper, 1e-8)
    assert isinstance(upd, K.FusedUpdate)
    step = K.function([], [loss], updates=[upd])
    step([])
    step([])
    v1 = -0.1 * x
    v2 = 0.9 * v1 - 0.1 * x
    np.testing.assert_allclose(K.get_value(p), p0 + v1 + v2, rtol=1e-6)
    np.testing.assert_allclose(K.get_value(m), v2, rtol=1e-6)
    with pytest.raises(ValueError, match="unknown optimizer kind"):
        K.fused_optimizer_update("lbfgs", [p], [p * 1.0], [], hyper, 1e-8)


# ---------------------------------------------------------------------------------------
# functions on prepared arrays


def test_as_engine_array_converts_once_and_checks():
    a = f32(RNG.randn(4, 2))
    assert K.as_engine_array(a, "float32") is a
    d = K.as_engine_array(np.arange(6.0).reshape(2, 3)[:, ::2], "float32")
    assert d.dtype == np.float32 and d.flags.c_contiguous
    assert K.as_engine_array([1, 2], "int32").dtype == np.int32
    with pytest.raises(ValueError, match="NaN"):
        K.as_engine_array([np.nan], "int32")
    with pytest.raises(ValueError, match="int32 range"):
        K.as_engine_array([2.0**40], "int32")
    with pytest.raises(TypeError, match="numeric"):
        K.as_engine_array(np.array(["a"]), "float32")


def test_function_run_equals_call_and_lists_its_ops():
    x = K.placeholder(shape=(None, 3))
    w = K.variable(f32(RNG.randn(3, 2)))
    f = K.function([x], [K.dot(x, w)])
    assert f.input_dtypes == ["float32"]
    xv = K.as_engine_array(RNG.randn(5, 3), "float32")
    np.testing.assert_array_equal(f.run([xv])[0], f([xv])[0])
    assert "matmul" in f.op_names()


def test_function_run_row_offset_draws_the_rows_of_the_larger_batch():
    x = K.placeholder(shape=(None, 64))
    f = K.function([x], [K.dropout(x, 0.5, seed=3)])
    xv = np.ones((8, 64), dtype=np.float32)
    whole = f.run([xv])[0]
    K.set_random_counter(f.outputs[0], 0)  # the dropout node: replay the same call
    shard = f.run([xv[5:]], row_offset=5)[0]
    np.testing.assert_array_equal(shard, whole[5:])


def test_function_run_rows_gathers_the_rows_of_every_batch_input():
    x = K.placeholder(shape=(None, 2, 3))
    k = K.placeholder(shape=(None,), dtype="int32")
    scale = K.placeholder(shape=())
    w = K.variable(f32(RNG.randn(3, 2)))
    f = K.function([x, k, scale], [K.dot(x, w) * scale, k])
    xv = K.as_engine_array(RNG.randn(6, 2, 3), "float32")
    kv = np.arange(10, 16, dtype=np.int32)
    two = np.asarray(2.0, dtype=np.float32)
    rows = np.array([4, 0, 4, 5])
    got = f.run([xv, kv, two], rows=rows)
    want = f.run([xv[rows], kv[rows], two])
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], [14, 10, 14, 15])
    with pytest.raises(ValueError, match="row 6 is out of range"):
        f.run([xv, kv, two], rows=np.array([0, 6]))
    with pytest.raises(ValueError, match="row -1 is out of range"):
        f.run([xv, kv, two], rows=np.array([-1]))
    with pytest.raises(ValueError, match="C-contiguous int64"):
        f.run([xv, kv, two], rows=np.arange(8)[::2])
    with pytest.raises(TypeError):
        f.run([xv, kv, two], rows=rows.astype(np.int32))


# ---------------------------------------------------------------------------------------
# learning-phase ops


def test_gaussian_noise_and_dropout_in_train_phase():
    x = K.placeholder(shape=(None, 2000))
    noisy = K.gaussian_noise_in_train_phase(x, 0.5, seed=1)
    scaled = K.gaussian_dropout_in_train_phase(x, 0.2, seed=2)
    f = K.function([x, K.learning_phase()], [noisy, scaled])
    xv = np.full((10, 2000), 2.0, dtype=np.float32)
    test_n, test_s = f([xv, np.float32(0)])
    np.testing.assert_array_equal(test_n, xv)
    np.testing.assert_array_equal(test_s, xv)
    train_n, train_s = f([xv, np.float32(1)])
    assert abs((train_n - xv).std() - 0.5) < 0.02 and abs((train_n - xv).mean()) < 0.02
    # multiplicative noise of mean 1 and std sqrt(p / (1 - p)) = 0.5
    assert abs((train_s / xv).mean() - 1.0) < 0.02 and abs((train_s / xv).std() - 0.5) < 0.02


def test_batch_normalization_in_train_phase_matches_numpy():
    xv = f32(RNG.randn(16, 3) * 2 + 1)
    gamma, beta = f32([1.0, 2.0, 0.5]), f32([0.0, -1.0, 3.0])
    mm, mv = f32([0.5, 0.1, -0.2]), f32([2.0, 1.0, 0.5])
    x = K.placeholder(shape=(None, 3))
    normed, mean, var = K.batch_normalization_in_train_phase(
        x, K.variable(gamma), K.variable(beta), K.variable(mm), K.variable(mv), axis=1, epsilon=1e-3
    )
    f = K.function([x, K.learning_phase()], [normed, mean, var])
    out, m, v = f([xv, np.float32(1)])
    np.testing.assert_allclose(m, xv.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(v, xv.var(0), rtol=1e-4)
    ref = (xv - xv.mean(0)) / np.sqrt(xv.var(0) + 1e-3) * gamma + beta
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)
    out_test = f([xv, np.float32(0)])[0]
    np.testing.assert_allclose(out_test, (xv - mm) / np.sqrt(mv + 1e-3) * gamma + beta, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------------------
# gradients given by the caller


def test_given_gradients_answers_k_gradients_for_that_loss_only():
    w, u = K.variable(f32([1.0, 2.0])), K.variable(f32([3.0]))
    loss = K.sum(w * w) + K.sum(u)
    gw, gu = K.variable(f32([7.0, 8.0])), K.variable(f32([9.0]))
    with K.given_gradients(loss, [(w, gw), (u, gu)]):
        assert K.gradients(loss, [u, w]) == [gu, gw]
        assert K.gradients(loss, w) is gw
        with pytest.raises(ValueError, match="only the given loss"):
            K.gradients(K.sum(w), [w])
        with pytest.raises(ValueError, match="no gradient was given"):
            K.gradients(loss, [K.variable(f32([0.0]))])
    (real,) = evaluate(K.gradients(loss, [w]))
    np.testing.assert_allclose(real, [2.0, 4.0])


def test_given_gradients_is_per_thread():
    w = K.variable(f32([1.0, 2.0]))
    loss = K.sum(w * w)
    given = K.variable(f32([5.0, 5.0]))
    inside, outside = threading.Barrier(2), []

    def other_thread():
        inside.wait()  # the main thread is inside the context now
        outside.append(K.gradients(loss, [w])[0])
        inside.wait()

    t = threading.Thread(target=other_thread)
    t.start()
    with K.given_gradients(loss, [(w, given)]):
        inside.wait()
        inside.wait()
        assert K.gradients(loss, [w])[0] is given
    t.join()
    assert outside[0] is not given
    np.testing.assert_allclose(evaluate(outside)[0], [2.0, 4.0])


# ---------------------------------------------------------------------------------------
# seeds of layer calls


def test_random_scope_records_seeds_and_random_nodes():
    x = K.placeholder(shape=(None, 4))
    with K.random_scope("drop", 0) as record:
        a = K.dropout(x, 0.5, seed=11)
        b = K.random_normal((2, 2))
        K.relu(x)  # not random: not recorded
    assert record.seeds[0] == 11 and len(record.seeds) == 2
    assert [t.node for t in record.tensors] == [a.node, b.node]
    c = K.dropout(x, 0.5, seed=12)  # outside any scope: not recorded
    assert c.node not in [t.node for t in record.tensors]


def test_seed_plan_overrides_the_seeds_of_planned_calls():
    x = K.placeholder(shape=(None, 256))
    xv = np.ones((4, 256), dtype=np.float32)
    with K.random_scope("drop", 0) as first:
        f1 = K.function([x], [K.dropout(x, 0.5)])
    with K.SeedPlan({"drop": {0: first.seeds}}):
        with K.random_scope("drop", 0) as again:
            f2 = K.function([x], [K.dropout(x, 0.5, seed=999)])
        with K.random_scope("other", 0) as unplanned:
            K.dropout(x, 0.5, seed=5)
    assert again.seeds == first.seeds and unplanned.seeds == [5]
    np.testing.assert_array_equal(f1([xv])[0], f2([xv])[0])
    with K.random_scope("drop", 0) as after:  # the plan is gone outside its context
        K.dropout(x, 0.5, seed=999)
    assert after.seeds == [999]


def test_random_counters_move_a_stream():
    x = K.placeholder(shape=(None, 128))
    with K.random_scope("drop", 0) as record:
        y = K.dropout(x, 0.5, seed=4)
    f = K.function([x], [y])
    xv = np.ones((2, 128), dtype=np.float32)
    (node,) = record.tensors
    assert K.get_random_counter(node) == 0
    first = f([xv])[0]
    assert K.get_random_counter(node) == 1
    f([xv])
    K.set_random_counter(node, 1)
    second = f([xv])[0]
    K.set_random_counter(node, 0)
    np.testing.assert_array_equal(f([xv])[0], first)
    assert not np.array_equal(first, second)


def test_num_threads():
    n = K.num_threads()
    assert isinstance(n, int) and n >= 1
