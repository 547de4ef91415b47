"""Finite-difference gradient checks of every differentiable K function, through
K.function and K.gradients (float64 central differences of the float32 engine), and
proof that the checker itself catches a wrong gradient."""

import numpy as np
import pytest
from kbackend_helpers import GradCheckError, away_from, check_grad, distinct, f32, run, uniform

from keras import backend as K


def setup_function(function):
    K.clear_session()


def teardown_function(function):
    K.clear_session()


POS = uniform(0.2, 2.0)
PROB = uniform(0.05, 0.95)
NONZERO = away_from([0.0])

GATHER_IDX = np.array([1, 1, 4, 0], dtype=np.int32)
ONE_HOT_T = f32(np.eye(4)[[0, 3, 1]])
SPARSE_T = f32([[0], [3], [1]])

# (id, fn, shapes, options)
CASES = [
    # elementwise unary
    ("square", K.square, [(3, 4)], {}),
    ("abs", K.abs, [(3, 4)], {"gen": NONZERO}),
    ("sqrt", K.sqrt, [(3, 4)], {"gen": POS}),
    ("exp", K.exp, [(3, 4)], {}),
    ("log", K.log, [(3, 4)], {"gen": POS}),
    ("sin", K.sin, [(3, 4)], {"gen": uniform(-3, 3)}),
    ("cos", K.cos, [(3, 4)], {"gen": uniform(-3, 3)}),
    ("neg", lambda x: -x, [(3, 4)], {}),
    ("pow2", lambda x: K.pow(x, 2), [(3, 4)], {}),
    ("pow3", lambda x: K.pow(x, 3), [(3, 4)], {}),
    ("pow0.5", lambda x: K.pow(x, 0.5), [(3, 4)], {"gen": POS}),
    ("pow-1.5", lambda x: K.pow(x, -1.5), [(3, 4)], {"gen": uniform(0.5, 2)}),
    ("op_pow_scalar", lambda x: x**2.5, [(3, 4)], {"gen": POS}),
    ("clip", lambda x: K.clip(x, -0.5, 0.7), [(3, 4)], {"gen": away_from([-0.5, 0.7])}),
    ("clip_none", lambda x: K.clip(x, None, 0.3), [(3, 4)], {"gen": away_from([0.3])}),
    # activations
    ("relu", K.relu, [(3, 4)], {"gen": NONZERO}),
    ("relu_alpha", lambda x: K.relu(x, alpha=0.2), [(3, 4)], {"gen": NONZERO}),
    (
        "relu_alpha_max",
        lambda x: K.relu(x, alpha=0.3, max_value=0.8),
        [(3, 4)],
        {"gen": away_from([0.0, 0.8])},
    ),
    ("elu", K.elu, [(3, 4)], {"gen": NONZERO}),
    ("elu_alpha", lambda x: K.elu(x, 0.5), [(3, 4)], {"gen": NONZERO}),
    ("tanh", K.tanh, [(3, 4)], {}),
    ("sigmoid", K.sigmoid, [(3, 4)], {"gen": uniform(-4, 4)}),
    ("hard_sigmoid", K.hard_sigmoid, [(3, 4)], {"gen": away_from([-2.5, 2.5], -4, 4)}),
    ("softplus", K.softplus, [(3, 4)], {"gen": uniform(-4, 4)}),
    ("softsign", K.softsign, [(3, 4)], {"gen": uniform(-4, 4)}),
    ("softmax_2d", K.softmax, [(3, 4)], {"gen": uniform(-2, 2)}),
    ("softmax_3d", K.softmax, [(2, 2, 3)], {"gen": uniform(-2, 2)}),
    ("l2_normalize_1", lambda x: K.l2_normalize(x, 1), [(3, 4)], {"gen": NONZERO}),
    ("l2_normalize_0", lambda x: K.l2_normalize(x, 0), [(3, 4)], {"gen": NONZERO}),
    # binary and operators
    ("add", lambda x, y: x + y, [(3, 4), (3, 4)], {}),
    ("add_broadcast", lambda x, y: x + y, [(3, 4), (4,)], {}),
    ("sub", lambda x, y: x - y, [(3, 4), (3, 4)], {}),
    ("rsub_scalar", lambda x: 2.0 - x, [(3, 4)], {}),
    ("mul", lambda x, y: x * y, [(3, 4), (3, 4)], {}),
    ("mul_broadcast", lambda x, y: x * y, [(3, 4), (3, 1)], {}),
    ("div", lambda x, y: x / y, [(3, 4), (3, 4)], {"gen": away_from([0.0], margin=0.3)}),
    ("rdiv_scalar", lambda x: 1.0 / x, [(3, 4)], {"gen": uniform(0.5, 2)}),
    ("pow_tensor", lambda x, y: x**y, [(3, 4), (3, 4)], {"gen": uniform(0.5, 2)}),
    ("rpow_scalar", lambda x: 2.0**x, [(3, 4)], {}),
    ("maximum", K.maximum, [(3, 4), (3, 4)], {"values": None}),
    ("minimum", K.minimum, [(3, 4), (3, 4)], {"values": None}),
    ("maximum_scalar", lambda x: K.maximum(x, 0.1), [(3, 4)], {"gen": away_from([0.1])}),
    # reductions
    ("sum_all", K.sum, [(3, 4)], {}),
    ("sum_axis", lambda x: K.sum(x, axis=1), [(2, 3, 4)], {}),
    ("sum_list_keep", lambda x: K.sum(x, axis=[0, -1], keepdims=True), [(2, 3, 4)], {}),
    ("mean_all", K.mean, [(3, 4)], {}),
    ("mean_axis_neg", lambda x: K.mean(x, axis=-1), [(2, 3, 4)], {}),
    ("max_all", K.max, [(3, 4)], {"gen": distinct()}),
    ("max_axis", lambda x: K.max(x, axis=1, keepdims=True), [(3, 4)], {"gen": distinct()}),
    ("max_list", lambda x: K.max(x, axis=[0, 2]), [(2, 3, 2)], {"gen": distinct()}),
    ("min_axis", lambda x: K.min(x, axis=0), [(3, 4)], {"gen": distinct()}),
    ("prod_axis", lambda x: K.prod(x, axis=1), [(3, 4)], {"gen": away_from([0.0], margin=0.3)}),
    ("prod_all", K.prod, [(2, 3)], {"gen": away_from([0.0], margin=0.3)}),
    ("var_axis", lambda x: K.var(x, axis=1), [(3, 4)], {}),
    ("var_all", K.var, [(3, 4)], {}),
    ("std_axis", lambda x: K.std(x, axis=0, keepdims=True), [(3, 4)], {}),
    # linear algebra
    ("dot_2d", K.dot, [(3, 4), (4, 2)], {}),
    ("dot_3d_2d", K.dot, [(2, 3, 4), (4, 2)], {}),
    ("dot_2d_3d", K.dot, [(2, 3), (2, 3, 2)], {}),
    ("batch_dot_2d", lambda x, y: K.batch_dot(x, y, axes=1), [(3, 4), (3, 4)], {}),
    ("batch_dot_3d", K.batch_dot, [(2, 3, 4), (2, 4, 2)], {}),
    ("batch_dot_3d_11", lambda x, y: K.batch_dot(x, y, axes=(1, 1)), [(2, 3, 4), (2, 3, 2)], {}),
    ("batch_dot_3d_22", lambda x, y: K.batch_dot(x, y, axes=(2, 2)), [(2, 3, 4), (2, 2, 4)], {}),
    ("transpose", K.transpose, [(3, 4)], {}),
    ("gather", lambda r: K.gather(r, K.constant(GATHER_IDX, dtype="int32")), [(5, 3)], {}),
    # shapes
    ("concatenate", lambda x, y: K.concatenate([x, y, x], axis=1), [(2, 3), (2, 2)], {}),
    ("concatenate_0", lambda x, y: K.concatenate([x, y], axis=0), [(2, 3), (1, 3)], {}),
    ("reshape", lambda x: K.reshape(x, (4, -1)), [(2, 3, 2)], {}),
    ("permute", lambda x: K.permute_dimensions(x, (2, 0, 1)), [(2, 3, 2)], {}),
    ("repeat", lambda x: K.repeat(x, 3), [(2, 3)], {}),
    ("repeat_elements", lambda x: K.repeat_elements(x, 3, 1), [(2, 2, 2)], {}),
    ("tile", lambda x: K.tile(x, [2, 3]), [(2, 2)], {}),
    ("flatten", K.flatten, [(2, 3, 2)], {}),
    ("batch_flatten", K.batch_flatten, [(2, 3, 2)], {}),
    ("expand_dims", lambda x: K.expand_dims(x, 1), [(2, 3)], {}),
    ("squeeze", lambda x: K.squeeze(x, 1), [(2, 1, 3)], {}),
    ("stack", lambda x, y: K.stack([x, y, x]), [(2, 3), (2, 3)], {}),
    ("reverse", lambda x: K.reverse(x, [0, 2]), [(2, 3, 2)], {}),
    ("temporal_padding", K.temporal_padding, [(2, 3, 2)], {}),
    ("asym_temporal_padding", lambda x: K.asymmetric_temporal_padding(x, 0, 2), [(2, 3, 2)], {}),
    ("spatial_2d_padding_th", lambda x: K.spatial_2d_padding(x, (1, 2), "th"), [(1, 2, 2, 3)], {}),
    ("spatial_2d_padding_tf", lambda x: K.spatial_2d_padding(x, (2, 1), "tf"), [(1, 2, 3, 2)], {}),
    (
        "asym_spatial_2d_padding",
        lambda x: K.asymmetric_spatial_2d_padding(x, 0, 1, 2, 0, "th"),
        [(1, 2, 2, 2)],
        {},
    ),
    ("spatial_3d_padding_th", lambda x: K.spatial_3d_padding(x, (1, 0, 1), "th"), [(1, 1, 2, 2, 2)], {}),
    ("spatial_3d_padding_tf", lambda x: K.spatial_3d_padding(x, (0, 1, 1), "tf"), [(1, 2, 2, 2, 1)], {}),
    ("resize_images_th", lambda x: K.resize_images(x, 2, 3, "th"), [(1, 2, 2, 2)], {}),
    ("resize_images_tf", lambda x: K.resize_images(x, 3, 2, "tf"), [(1, 2, 2, 2)], {}),
    ("resize_volumes_th", lambda x: K.resize_volumes(x, 2, 1, 2, "th"), [(1, 1, 2, 2, 2)], {}),
    ("resize_volumes_tf", lambda x: K.resize_volumes(x, 1, 2, 2, "tf"), [(1, 2, 2, 2, 1)], {}),
    ("slice_cols", lambda x: x[:, 1:3], [(3, 4)], {}),
    ("slice_last", lambda x: x[:, -1], [(3, 4)], {}),
    ("slice_ellipsis", lambda x: x[..., 0], [(2, 3, 2)], {}),
    ("slice_neg_step", lambda x: x[::-1, ::-2], [(3, 4)], {}),
    ("slice_twice", lambda x: x[1:, :2] * x[:2, 2:], [(3, 4)], {}),
    # losses (wrt output and target)
    ("cce", K.categorical_crossentropy, [(3, 4), (3, 4)], {"gen": PROB}),
    (
        "cce_logits",
        lambda o, t: K.categorical_crossentropy(o, t, from_logits=True),
        [(3, 4), (3, 4)],
        {"gen": uniform(-2, 2)},
    ),
    ("cce_onehot", lambda o: K.categorical_crossentropy(o, K.constant(ONE_HOT_T)), [(3, 4)], {"gen": PROB}),
    (
        "sparse_cce",
        lambda o: K.sparse_categorical_crossentropy(o, K.constant(SPARSE_T)),
        [(3, 4)],
        {"gen": PROB},
    ),
    (
        "sparse_cce_logits",
        lambda o: K.sparse_categorical_crossentropy(o, K.constant(SPARSE_T), from_logits=True),
        [(3, 4)],
        {"gen": uniform(-2, 2)},
    ),
    ("bce", K.binary_crossentropy, [(3, 4), (3, 4)], {"gen": PROB}),
    (
        "bce_logits",
        lambda o, t: K.binary_crossentropy(o, t, from_logits=True),
        [(3, 4), (3, 4)],
        {"gen": uniform(-2, 2)},
    ),
    # batch normalisation
    (
        "normalize_batch_in_training",
        lambda x, g, b: K.normalize_batch_in_training(x, g, b, [0])[0],
        [(5, 3), (3,), (3,)],
        {},
    ),
    (
        "normalize_batch_in_training_stats",
        lambda x, g, b: K.concatenate(K.normalize_batch_in_training(x, g, b, [0, 2])[1:], axis=0),
        [(4, 2, 3), (2,), (2,)],
        {},
    ),
    (
        "batch_normalization",
        K.batch_normalization,
        [(4, 3), (3,), (3,), (3,), (3,)],
        {"gen": uniform(0.3, 1.5)},
    ),
    # control flow
    ("switch_true", lambda x, y: K.switch(K.constant(1.0), x * 2, y * y), [(3, 4), (3, 4)], {}),
    ("switch_false", lambda x, y: K.switch(K.constant(0.0), x * 2, y * y), [(3, 4), (3, 4)], {}),
    (
        "switch_elementwise",
        lambda x, y: K.switch(K.greater(x, 0.0), x * y, y),
        [(3, 4), (3, 4)],
        {"gen": NONZERO},
    ),
    ("in_train_phase_default_test", lambda x: K.in_train_phase(x * 2, K.square(x)), [(3, 4)], {}),
    ("in_test_phase_default_test", lambda x: K.in_test_phase(K.exp(x), x * 3), [(3, 4)], {}),
    ("print_tensor", lambda x: K.print_tensor(x, "") * x, [(2, 2)], {}),
    # zero-gradient functions (piecewise constant)
    ("round", lambda x: K.round(x) + x, [(3, 4)], {"gen": away_from([-1.5, -0.5, 0.5, 1.5])}),
    ("sign", lambda x: K.sign(x) * 3 + x, [(3, 4)], {"gen": NONZERO}),
    ("zeros_like", lambda x: K.zeros_like(x) + K.ones_like(x) * 2 + x, [(3, 4)], {}),
    # a chain
    (
        "mlp_chain",
        lambda x, w, b: K.mean(K.softmax(K.tanh(K.dot(x, w) + b)) * 3, axis=0),
        [(4, 3), (3, 5), (5,)],
        {},
    ),
]


def _values_for(case_id, shapes):
    rng = np.random.RandomState(123)
    if case_id in ("maximum", "minimum"):
        x = rng.uniform(-1, 1, shapes[0])
        y = x + rng.choice([-1, 1], size=shapes[1]) * rng.uniform(0.1, 0.5, shapes[1])
        return [x, y]
    return None


@pytest.mark.parametrize("case_id,fn,shapes,opts", CASES, ids=[c[0] for c in CASES])
def test_gradient_matches_finite_differences(case_id, fn, shapes, opts, capfd):
    opts = dict(opts)
    if "values" in opts:
        opts["values"] = _values_for(case_id, shapes)
    check_grad(fn, *shapes, **opts)
    capfd.readouterr()  # print_tensor writes to stderr


def test_gradient_of_gather_accumulates_duplicate_indices():
    ref = K.variable(np.zeros((5, 2)))
    (g,) = K.gradients(K.sum(K.gather(ref, K.constant(GATHER_IDX, dtype="int32"))), [ref])
    np.testing.assert_array_equal(K.eval(g), [[1, 1], [2, 2], [0, 0], [0, 0], [1, 1]])


def test_dropout_gradient_is_the_scaled_mask():
    x = K.placeholder(shape=(20, 30))
    d = K.dropout(x, 0.4)
    (g,) = K.gradients(K.sum(d), [x])
    xv = f32(np.random.RandomState(0).uniform(1, 2, (20, 30)))
    out, grad = run([d, g], [(x, xv)])
    mask = out != 0
    assert 0 < mask.mean() < 1
    np.testing.assert_allclose(grad, mask / 0.6, rtol=1e-6)


# ---------------------------------------------------------------------------------
# the checker catches wrong gradients


def test_checker_fails_on_perturbed_gradient():
    with pytest.raises(GradCheckError):
        check_grad(K.tanh, (3, 4), perturb=lambda i, g: g * 1.1)
    with pytest.raises(GradCheckError):
        check_grad(lambda x, y: x * y, (3, 4), (3, 4), perturb=lambda i, g: g if i == 0 else g + 0.05)

    # one wrong element is enough
    def one_off(i, g):
        g = g.copy()
        g.flat[5] += 0.1
        return g

    with pytest.raises(GradCheckError):
        check_grad(K.exp, (3, 4), perturb=one_off)


def test_checker_fails_when_stop_gradient_hides_a_path():
    with pytest.raises(GradCheckError):
        check_grad(lambda x: K.stop_gradient(K.square(x)) + x, (3, 4))
    with pytest.raises(GradCheckError):
        check_grad(lambda x, y: K.stop_gradient(x) * y, (3, 4), (3, 4))


def test_checker_passes_unperturbed_and_returns_both_gradients():
    analytic, numeric = check_grad(lambda x: K.square(x) * 0.5, (2, 3))
    assert len(analytic) == len(numeric) == 1
    np.testing.assert_allclose(analytic[0], numeric[0], rtol=2e-2, atol=2e-3)
