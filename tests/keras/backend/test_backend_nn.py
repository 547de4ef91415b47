"""keras.backend NN functions against numpy: activations, cross-entropies with Keras 1
numerics, dropout, random tensors and batch normalisation."""

import numpy as np
import pytest
from kbackend_helpers import apply_np, f32, run

from keras import backend as K


def setup_function(function):
    K.clear_session()


def teardown_function(function):
    K.clear_session()


RNG = np.random.RandomState(5)
EPS = 1e-7
# the clip interval [eps, 1 - eps] as the float32 engine (like Keras 1 in float32) sees it
LO, HI = float(np.float32(EPS)), float(np.float32(1 - EPS))


def rand(*shape, low=-3.0, high=3.0):
    return f32(RNG.uniform(low, high, size=shape))


# ---------------------------------------------------------------------------------
# activations


def np_relu(x, alpha=0.0, max_value=None):
    pos = np.maximum(x, 0)
    if max_value is not None:
        pos = np.minimum(pos, max_value)
    return pos - alpha * np.maximum(-x, 0)


@pytest.mark.parametrize("alpha,max_value", [(0.0, None), (0.1, None), (0.0, 1.5), (0.3, 2.0)])
def test_relu(alpha, max_value):
    x = rand(4, 6)
    out = apply_np(lambda t: K.relu(t, alpha=alpha, max_value=max_value), x)
    np.testing.assert_allclose(out, np_relu(x.astype(np.float64), alpha, max_value), rtol=1e-6, atol=1e-7)


def test_relu_defaults():
    x = f32([-2.0, -0.0, 0.0, 0.5, 7.0])
    np.testing.assert_array_equal(apply_np(K.relu, x), [0, 0, 0, 0.5, 7.0])


@pytest.mark.parametrize("alpha", [1.0, 0.5, 2.0])
def test_elu(alpha):
    x = rand(4, 6)
    x64 = x.astype(np.float64)
    expected = np.where(x64 > 0, x64, alpha * (np.exp(x64) - 1))
    np.testing.assert_allclose(apply_np(lambda t: K.elu(t, alpha), x), expected, rtol=1e-5, atol=1e-6)
    if alpha == 1.0:
        np.testing.assert_allclose(apply_np(K.elu, x), expected, rtol=1e-5, atol=1e-6)


def np_softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 5), (1, 1)])
def test_softmax(shape):
    x = rand(*shape)
    out = apply_np(K.softmax, x)
    np.testing.assert_allclose(out, np_softmax(x.astype(np.float64)), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(out.sum(-1), 1.0, rtol=1e-5)


def test_softmax_is_stable_for_large_inputs():
    x = f32([[1000.0, 1001.0, 999.0], [-1000.0, -1000.0, -1000.0]])
    out = apply_np(K.softmax, x)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, np_softmax(x.astype(np.float64)), rtol=1e-5, atol=1e-7)


SIMPLE_ACTIVATIONS = [
    ("softplus", lambda x: np.log1p(np.exp(x))),
    ("softsign", lambda x: x / (1 + np.abs(x))),
    ("sigmoid", lambda x: 1 / (1 + np.exp(-x))),
    ("hard_sigmoid", lambda x: np.clip(0.2 * x + 0.5, 0, 1)),
    ("tanh", np.tanh),
]


@pytest.mark.parametrize("name,ref", SIMPLE_ACTIVATIONS)
def test_simple_activations(name, ref):
    x = np.concatenate([rand(30), f32([-10, -2.5, -2.4, 0, 2.4, 2.5, 10])])
    out = apply_np(getattr(K, name), x)
    np.testing.assert_allclose(out, ref(x.astype(np.float64)), rtol=1e-5, atol=1e-6)


def test_hard_sigmoid_is_clip_02x_plus_05():
    x = f32([-3.0, -2.5, -1.0, 0.0, 1.0, 2.5, 3.0])
    np.testing.assert_allclose(apply_np(K.hard_sigmoid, x), [0, 0, 0.3, 0.5, 0.7, 1, 1], rtol=1e-6, atol=1e-7)


def test_sigmoid_softplus_extremes_are_finite():
    x = f32([-100.0, -50.0, 50.0, 100.0])
    s = apply_np(K.sigmoid, x)
    sp = apply_np(K.softplus, x)
    assert np.all(np.isfinite(s)) and np.all(np.isfinite(sp))
    np.testing.assert_allclose(s, [0, 0, 1, 1], atol=1e-7)
    np.testing.assert_allclose(sp, [0, 0, 50, 100], rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------------------------
# cross-entropies (keras1-formats.md §6.1)


def np_cce(output, target, from_logits=False):
    o = output.astype(np.float64)
    t = target.astype(np.float64)
    if from_logits:
        m = o.max(-1, keepdims=True)
        logp = o - m - np.log(np.exp(o - m).sum(-1, keepdims=True))
        return -(t * logp).sum(-1)
    p = o / o.sum(-1, keepdims=True)
    p = np.clip(p, LO, HI)
    return -(t * np.log(p)).sum(-1)


def np_bce(output, target, from_logits=False):
    o = output.astype(np.float64)
    t = target.astype(np.float64)
    if from_logits:
        return np.maximum(o, 0) - o * t + np.log1p(np.exp(-np.abs(o)))
    p = np.clip(o, LO, HI)
    return -(t * np.log(p) + (1 - t) * np.log(1 - p))


def test_categorical_crossentropy_normalised():
    out = np_softmax(rand(6, 4).astype(np.float64)).astype("f")
    tgt = np.eye(4, dtype="f")[RNG.randint(0, 4, 6)]
    res = apply_np(K.categorical_crossentropy, out, tgt)
    assert res.shape == (6,)
    np.testing.assert_allclose(res, np_cce(out, tgt), rtol=1e-5)


def test_categorical_crossentropy_renormalises_unnormalised_output():
    out = f32([[1.0, 2.0, 1.0], [0.2, 0.2, 0.6], [5.0, 0.0, 5.0]])
    tgt = f32([[0, 1, 0], [0, 0, 1], [0, 1, 0]])
    res = apply_np(K.categorical_crossentropy, out, tgt)
    np.testing.assert_allclose(res, np_cce(out, tgt), rtol=1e-5)
    np.testing.assert_allclose(res[0], -np.log(0.5), rtol=1e-6)
    # 0 probability after renormalisation is clipped at eps: -log(1e-7) ~= 16.118
    np.testing.assert_allclose(res[2], -np.log(1e-7), rtol=1e-5)


def test_categorical_crossentropy_soft_targets_and_3d():
    out = f32(RNG.uniform(0.01, 1, size=(2, 3, 5)))
    tgt = np_softmax(rand(2, 3, 5).astype(np.float64)).astype("f")
    res = apply_np(K.categorical_crossentropy, out, tgt)
    assert res.shape == (2, 3)
    np.testing.assert_allclose(res, np_cce(out, tgt), rtol=1e-5)


def test_categorical_crossentropy_from_logits():
    logits = rand(5, 4, low=-20, high=20)
    tgt = np.eye(4, dtype="f")[RNG.randint(0, 4, 5)]
    res = apply_np(lambda o, t: K.categorical_crossentropy(o, t, from_logits=True), logits, tgt)
    np.testing.assert_allclose(res, np_cce(logits, tgt, from_logits=True), rtol=1e-5, atol=1e-5)


def test_single_unit_softmax_binary_crossentropy_numerics():
    # 1.0.x guide: Dense(1, activation='softmax') is identically 1, so label-0 samples cost
    # -log(eps) ~= 16.12 after clipping (keras1-formats.md §6.1)
    p = apply_np(K.softmax, f32([[0.3], [-2.0]]))
    np.testing.assert_array_equal(p, [[1.0], [1.0]])
    res = apply_np(K.binary_crossentropy, p, f32([[0.0], [1.0]]))
    # ~16.12 in exact arithmetic; 1 - float32(1 - 1e-7) = 1.19e-7 gives 15.94 in float32
    np.testing.assert_allclose(res[0, 0], -np.log(1.0 - HI), rtol=1e-5)
    assert 15.9 < res[0, 0] < 16.2
    np.testing.assert_allclose(res[1, 0], -np.log(HI), rtol=1e-2)


def np_sparse_cce(output, target, from_logits=False):
    t = target.reshape(output.shape[:-1]).astype(int)
    onehot = np.eye(output.shape[-1])[t]
    if from_logits:
        return np_cce(output, onehot, from_logits=True)
    # TensorFlow path: clip -> log -> softmax xent (renormalised after clipping)
    p = np.clip(output.astype(np.float64), LO, HI)
    p = p / p.sum(-1, keepdims=True)
    return -(onehot * np.log(p)).sum(-1)


@pytest.mark.parametrize("target_shape", ["N1", "N"])
def test_sparse_categorical_crossentropy(target_shape):
    out = np_softmax(rand(6, 5).astype(np.float64)).astype("f")
    labels = RNG.randint(0, 5, 6)
    tgt = labels.reshape(6, 1) if target_shape == "N1" else labels
    res = apply_np(K.sparse_categorical_crossentropy, out, f32(tgt))
    assert res.shape == (6,)
    np.testing.assert_allclose(res, np_sparse_cce(out, labels), rtol=1e-5)
    # equal to CCE against the one-hot target for normalised outputs
    cce = apply_np(K.categorical_crossentropy, out, np.eye(5, dtype="f")[labels])
    np.testing.assert_allclose(res, cce, rtol=1e-4)
    # int32 targets give the same numbers
    res_int = apply_np(K.sparse_categorical_crossentropy, out, tgt.astype(np.int32))
    np.testing.assert_allclose(res_int, res, rtol=1e-6)


def test_sparse_categorical_crossentropy_from_logits_and_3d():
    logits = rand(2, 3, 4)
    labels = RNG.randint(0, 4, (2, 3, 1))
    res = apply_np(
        lambda o, t: K.sparse_categorical_crossentropy(o, t, from_logits=True), logits, f32(labels)
    )
    assert res.shape == (2, 3)
    np.testing.assert_allclose(res, np_sparse_cce(logits, labels, from_logits=True), rtol=1e-5, atol=1e-6)


def test_sparse_categorical_crossentropy_clips_zero_probability():
    out = f32([[1.0, 0.0, 0.0]])
    res = apply_np(K.sparse_categorical_crossentropy, out, f32([[1]]))
    np.testing.assert_allclose(res, np_sparse_cce(out, np.array([1])), rtol=1e-4)
    assert 15.5 < res[0] < 16.5


def test_binary_crossentropy_elementwise_with_clipping():
    out = f32([[0.0, 1.0, 0.5, 0.9], [1e-9, 1 - 1e-9, 0.2, 0.7]])
    tgt = f32([[0, 1, 1, 0], [1, 0, 0.3, 1]])
    res = apply_np(K.binary_crossentropy, out, tgt)
    assert res.shape == (2, 4)
    # the clip bound 1 - eps is rounded to float32 first
    np.testing.assert_allclose(res, np_bce(out, tgt), rtol=1e-5, atol=1e-7)
    assert np.all(np.isfinite(res))
    np.testing.assert_allclose(res[0, 2], np.log(2), rtol=1e-6)
    np.testing.assert_allclose(res[1, 0], -np.log(1e-7), rtol=1e-5)


def test_binary_crossentropy_from_logits():
    logits = rand(3, 4, low=-30, high=30)
    tgt = f32(RNG.uniform(0, 1, (3, 4)))
    res = apply_np(lambda o, t: K.binary_crossentropy(o, t, from_logits=True), logits, tgt)
    np.testing.assert_allclose(res, np_bce(logits, tgt, from_logits=True), rtol=1e-5, atol=1e-5)


def test_crossentropy_shape_mismatch_is_value_error():
    o = K.placeholder(shape=(None, 3))
    with pytest.raises(ValueError):
        K.categorical_crossentropy(o, K.placeholder(shape=(None, 4)))
    with pytest.raises(ValueError):
        K.binary_crossentropy(o, K.placeholder(shape=(None, 2)))


# ---------------------------------------------------------------------------------
# dropout


def _dropout_fn(level, noise_shape=None, seed=None, shape=(None, 400)):
    x = K.placeholder(shape=shape)
    d = K.dropout_in_train_phase(x, level, noise_shape=noise_shape, seed=seed)
    return x, K.function([x, K.learning_phase()], [d])


def test_dropout_in_phase_train_vs_test():
    x, f = _dropout_fn(0.3)
    xv = f32(RNG.uniform(1, 2, (50, 400)))
    test_out = f([xv, np.float32(0)])[0]
    np.testing.assert_array_equal(test_out, xv)
    train_out = f([xv, np.float32(1)])[0]
    kept = train_out != 0
    # inverted dropout: kept units scaled by 1/(1-p)
    np.testing.assert_allclose(train_out[kept], xv[kept] / 0.7, rtol=1e-6)
    assert abs(kept.mean() - 0.7) < 0.02
    # a second call draws a new mask
    train_out2 = f([xv, np.float32(1)])[0]
    assert not np.array_equal(train_out2 != 0, kept)


def test_dropout_in_phase_learning_phase_int_feed():
    x, f = _dropout_fn(0.5)
    xv = np.ones((4, 400), "f")
    np.testing.assert_array_equal(f([xv, 0])[0], xv)
    assert (f([xv, 1])[0] == 0).any()


def test_dropout_in_phase_defaults_to_test_when_phase_not_fed():
    x = K.placeholder(shape=(None, 100))
    d = K.dropout_in_train_phase(x, 0.5)
    xv = np.ones((3, 100), "f")
    np.testing.assert_array_equal(K.function([x], [d])([xv])[0], xv)


def test_dropout_in_phase_with_set_learning_phase():
    xv = np.ones((8, 200), "f")
    K.set_learning_phase(1)
    x = K.placeholder(shape=(None, 200))
    out = K.function([x], [K.dropout_in_train_phase(x, 0.5)])([xv])[0]
    assert (out == 0).any() and (out == 2).any()
    K.set_learning_phase(0)
    x2 = K.placeholder(shape=(None, 200))
    d2 = K.dropout_in_train_phase(x2, 0.5)
    np.testing.assert_array_equal(K.function([x2], [d2])([xv])[0], xv)


def test_k_dropout_is_always_on():
    x = K.placeholder(shape=(None, 1000))
    d = K.dropout(x, 0.25)
    xv = f32(RNG.uniform(1, 2, (10, 1000)))
    out = K.function([x], [d])([xv])[0]
    kept = out != 0
    assert abs(kept.mean() - 0.75) < 0.02
    np.testing.assert_allclose(out[kept], xv[kept] / 0.75, rtol=1e-6)
    # also with the learning phase fed as "test"
    g = K.function([x, K.learning_phase()], [d])
    out0 = g([xv, np.float32(0)])[0]
    assert (out0 == 0).any()


def test_dropout_noise_shape_shares_mask():
    x = K.placeholder(shape=(None, 6, 50))
    d = K.dropout(x, 0.5, noise_shape=(None, 1, 50))
    xv = np.ones((20, 6, 50), "f")
    out = K.function([x], [d])([xv])[0]
    # identical mask along the broadcast axis
    np.testing.assert_array_equal(out, np.repeat(out[:, :1, :], 6, axis=1))
    assert set(np.unique(out)) == {0.0, 2.0}


def test_dropout_level_zero_is_identity_and_bad_level_is_error():
    x = K.placeholder(shape=(None, 10))
    xv = f32(RNG.randn(3, 10))
    np.testing.assert_array_equal(K.function([x], [K.dropout(x, 0.0)])([xv])[0], xv)
    for bad in (1.0, 1.5, -0.1):
        with pytest.raises(ValueError):
            K.dropout(x, bad)


def _dropout_mask_after_seed(np_seed, seed=None):
    np.random.seed(np_seed)
    x = K.placeholder(shape=(None, 300))
    d = K.dropout(x, 0.5, seed=seed)
    y = K.dropout_in_train_phase(x * 1.0, 0.5, seed=seed)
    f = K.function([x, K.learning_phase()], [d, y])
    return f([np.ones((4, 300), "f"), np.float32(1)])


def test_dropout_reproducible_with_np_random_seed_after_clear_session():
    a = _dropout_mask_after_seed(1337)
    K.clear_session()
    b = _dropout_mask_after_seed(1337)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], a[1])
    K.clear_session()
    c = _dropout_mask_after_seed(4242)
    assert not np.array_equal(a[0], c[0])


def test_dropout_explicit_seed_reproducible():
    a = _dropout_mask_after_seed(1, seed=77)
    K.clear_session()
    b = _dropout_mask_after_seed(2, seed=77)
    np.testing.assert_array_equal(a[0], b[0])


# ---------------------------------------------------------------------------------
# random tensors


def test_random_normal():
    t = K.random_normal((200, 100), mean=2.0, std=0.5)
    assert K.int_shape(t) == (200, 100)
    f = K.function([], [t])
    a = f([])[0]
    assert a.shape == (200, 100) and a.dtype == np.float32
    assert abs(a.mean() - 2.0) < 0.02
    assert abs(a.std() - 0.5) < 0.02
    b = f([])[0]
    assert not np.array_equal(a, b)  # a fresh draw per call


def test_random_uniform():
    t = K.random_uniform((300, 100), low=-1.0, high=3.0)
    a = K.eval(t)
    assert a.min() >= -1.0 and a.max() <= 3.0
    assert abs(a.mean() - 1.0) < 0.04
    assert abs(a.var() - 16 / 12) < 0.05


@pytest.mark.parametrize("p", [0.0, 0.2, 0.9])
def test_random_binomial(p):
    a = K.eval(K.random_binomial((200, 100), p=p))
    assert set(np.unique(a)) <= {0.0, 1.0}
    assert abs(a.mean() - p) < 0.02


def test_random_tensors_reproducible():
    def draw(np_seed, seed=None):
        K.clear_session()
        np.random.seed(np_seed)
        ts = [K.random_normal((5, 5), seed=seed), K.random_uniform((5, 5), seed=seed)]
        ts.append(K.random_binomial((5, 5), p=0.5, seed=seed))
        return K.function([], ts)([])

    a, b, c = draw(3), draw(3), draw(4)
    for u, v, w in zip(a, b, c):
        np.testing.assert_array_equal(u, v)
        assert not np.array_equal(u, w) or np.all(u == 0) or np.all(u == 1)
    s1, s2 = draw(10, seed=5), draw(11, seed=5)
    for u, v in zip(s1, s2):
        np.testing.assert_array_equal(u, v)


def test_random_with_symbolic_shape_not_implemented():
    x = K.placeholder(shape=(None, 3))
    with pytest.raises(NotImplementedError):
        K.random_normal(K.constant([2, 3], dtype="int32"))
    with pytest.raises(NotImplementedError):
        K.random_uniform(K.variable([2, 3]))
    assert K.int_shape(x) == (None, 3)


# ---------------------------------------------------------------------------------
# batch normalisation


@pytest.mark.parametrize("axes", [[0], [0, 2, 3], [0, 1]])
def test_normalize_batch_in_training(axes):
    shape = (6, 3, 4, 5)
    x = rand(*shape)
    keep = [i for i in range(4) if i not in axes]
    pshape = tuple(shape[i] for i in keep)
    gamma = f32(RNG.uniform(0.5, 2, pshape))
    beta = f32(RNG.uniform(-1, 1, pshape))
    xp = K.placeholder(shape=shape)
    normed, mean, var = K.normalize_batch_in_training(
        xp, K.variable(gamma), K.variable(beta), axes, epsilon=1e-3
    )
    n, m, v = run([normed, mean, var], [(xp, x)])
    x64 = x.astype(np.float64)
    m_ref = x64.mean(axis=tuple(axes), keepdims=True)
    v_ref = x64.var(axis=tuple(axes), keepdims=True)
    bshape = [1] * 4
    for i in keep:
        bshape[i] = shape[i]
    n_ref = (x64 - m_ref) / np.sqrt(v_ref + 1e-3) * gamma.reshape(bshape) + beta.reshape(bshape)
    np.testing.assert_allclose(n, n_ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(m, m_ref.reshape(pshape), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(v, v_ref.reshape(pshape), rtol=1e-4, atol=1e-6)


def test_normalize_batch_in_training_unknown_batch():
    xp = K.placeholder(shape=(None, 4))
    normed, mean, var = K.normalize_batch_in_training(xp, K.ones((4,)), K.zeros((4,)), [0])
    x = rand(10, 4)
    n, m, v = run([normed, mean, var], [(xp, x)])
    np.testing.assert_allclose(n, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-3), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(m, x.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(v, x.var(0), rtol=1e-4, atol=1e-6)


def test_batch_normalization():
    x = rand(5, 3)
    mean, var = rand(3), f32(RNG.uniform(0.1, 2, 3))
    beta, gamma = rand(3), rand(3)
    out = apply_np(lambda *a: K.batch_normalization(*a, epsilon=1e-3), x, mean, var, beta, gamma)
    expected = (x - mean) / np.sqrt(var.astype(np.float64) + 1e-3) * gamma + beta
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    out_default = apply_np(K.batch_normalization, x, mean, var, beta, gamma)
    np.testing.assert_allclose(out_default, expected, rtol=1e-5, atol=1e-5)
