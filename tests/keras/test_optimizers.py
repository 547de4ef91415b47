"""keras.optimizers: three steps of every optimizer against a numpy transcription of
keras1-formats.md §7, through K.function(updates=opt.get_updates(...)).

Each case runs in three modes: 'fused' (one native update), 'symbolic' (every parameter
has a user-defined Python constraint, so Keras 1's symbolic equations are used) and
'mixed' (W symbolic, b fused).
"""

import numpy as np
import pytest

from keras import backend as K
from keras import constraints, optimizers

# ---------------------------------------------------------------------------------------
# The problem: a linear least-squares fit, gradients known in closed form.

RNG = np.random.RandomState(2024)
X = RNG.randn(5, 3).astype(np.float32)
Y = RNG.randn(5, 2).astype(np.float32)
W0 = RNG.randn(3, 2).astype(np.float32)
B0 = RNG.randn(2).astype(np.float32)


def np_grads(W, b):
    x, y = X.astype(np.float64), Y.astype(np.float64)
    d = 2.0 * (x @ W + b - y) / y.size
    return [x.T @ d, d.sum(0)]


def f32(v):
    """A hyper-parameter as the float32 variable holds it."""
    return float(np.float32(v))


class NpOptimizer:
    """Keras 1.2.2 update rules in float64 (hyper-parameters rounded to float32)."""

    SLOTS = {"SGD": 1, "RMSprop": 1, "Adagrad": 1, "Adadelta": 2, "Adam": 2, "Adamax": 2, "Nadam": 2}
    DEFAULTS = {
        "SGD": dict(lr=0.01, momentum=0.0, decay=0.0, nesterov=False),
        "RMSprop": dict(lr=0.001, rho=0.9, epsilon=1e-8, decay=0.0),
        "Adagrad": dict(lr=0.01, epsilon=1e-8, decay=0.0),
        "Adadelta": dict(lr=1.0, rho=0.95, epsilon=1e-8, decay=0.0),
        "Adam": dict(lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8, decay=0.0),
        "Adamax": dict(lr=0.002, beta_1=0.9, beta_2=0.999, epsilon=1e-8, decay=0.0),
        "Nadam": dict(lr=0.002, beta_1=0.9, beta_2=0.999, epsilon=1e-8, schedule_decay=0.004),
    }

    def __init__(self, name, shapes, clipnorm=None, clipvalue=None, **kwargs):
        self.name = name
        h = dict(self.DEFAULTS[name])
        h.update(kwargs)
        self.h = h
        for k in ("lr", "momentum", "decay", "beta_1", "beta_2"):
            if k in h:
                h[k] = f32(h[k])
        if name in ("RMSprop",):
            h["rho"] = f32(h["rho"])
        self.clipnorm, self.clipvalue = clipnorm, clipvalue
        self.slots = [[np.zeros(s) for s in shapes] for _ in range(self.SLOTS[name])]
        self.k = 0.0
        self.m_schedule = 1.0

    def counts(self):
        return self.name in ("Adam", "Adamax", "Nadam") or self.h.get("decay", 0) > 0

    def clip(self, grads):
        if self.clipnorm:
            n = np.sqrt(sum(np.sum(g * g) for g in grads))
            if n >= self.clipnorm:
                grads = [g * self.clipnorm / n for g in grads]
        if self.clipvalue:
            grads = [np.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        return grads

    def step(self, params, grads, cons):
        h, k = self.h, self.k
        grads = self.clip(grads)
        lr = h["lr"]
        if h.get("decay", 0) > 0:
            lr = lr / (1.0 + h["decay"] * k)
        t = k + 1
        eps = h.get("epsilon")
        new = []
        if self.name == "Nadam":
            sd = h["schedule_decay"]
            mu_t = h["beta_1"] * (1 - 0.5 * 0.96 ** (t * sd))
            mu_t1 = h["beta_1"] * (1 - 0.5 * 0.96 ** ((t + 1) * sd))
            s_new = self.m_schedule * mu_t
            s_next = s_new * mu_t1
        for i, (p, g) in enumerate(zip(params, grads)):
            if self.name == "SGD":
                v = h["momentum"] * self.slots[0][i] - lr * g
                self.slots[0][i] = v
                p = p + h["momentum"] * v - lr * g if h["nesterov"] else p + v
            elif self.name == "RMSprop":
                a = h["rho"] * self.slots[0][i] + (1 - h["rho"]) * g * g
                self.slots[0][i] = a
                p = p - lr * g / (np.sqrt(a) + eps)
            elif self.name == "Adagrad":
                a = self.slots[0][i] + g * g
                self.slots[0][i] = a
                p = p - lr * g / (np.sqrt(a) + eps)
            elif self.name == "Adadelta":
                rho = h["rho"]
                a = rho * self.slots[0][i] + (1 - rho) * g * g
                d = self.slots[1][i]
                u = g * np.sqrt(d + eps) / np.sqrt(a + eps)
                p = p - lr * u
                self.slots[0][i] = a
                self.slots[1][i] = rho * d + (1 - rho) * u * u
            elif self.name == "Adam":
                b1, b2 = h["beta_1"], h["beta_2"]
                alpha = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
                m = b1 * self.slots[0][i] + (1 - b1) * g
                v = b2 * self.slots[1][i] + (1 - b2) * g * g
                self.slots[0][i], self.slots[1][i] = m, v
                p = p - alpha * m / (np.sqrt(v) + eps)
            elif self.name == "Adamax":
                b1, b2 = h["beta_1"], h["beta_2"]
                alpha = lr / (1 - b1**t)
                m = b1 * self.slots[0][i] + (1 - b1) * g
                u = np.maximum(b2 * self.slots[1][i], np.abs(g))
                self.slots[0][i], self.slots[1][i] = m, u
                p = p - alpha * m / (u + eps)
            elif self.name == "Nadam":
                b1, b2 = h["beta_1"], h["beta_2"]
                g_hat = g / (1 - s_new)
                m = b1 * self.slots[0][i] + (1 - b1) * g
                v = b2 * self.slots[1][i] + (1 - b2) * g * g
                self.slots[0][i], self.slots[1][i] = m, v
                m_hat = m / (1 - s_next)
                v_hat = v / (1 - b2**t)
                m_bar = (1 - mu_t) * g_hat + mu_t1 * m_hat
                p = p - h["lr"] * m_bar / (np.sqrt(v_hat) + eps)
            if cons[i] is not None:
                p = cons[i](p)
            new.append(p)
        if self.counts():
            self.k += 1
        if self.name == "Nadam":
            self.m_schedule = s_new
        return new


# ---------------------------------------------------------------------------------------
# Harness


class PyIdentity(constraints.Constraint):
    """A user-defined constraint (no native spec): applied symbolically."""

    def __call__(self, p):
        return p * 1.0


class PyClip(constraints.Constraint):
    """A user-defined constraint that changes the values."""

    def __init__(self, c):
        self.c = c

    def __call__(self, p):
        return K.clip(p, -self.c, self.c)


def np_maxnorm(p, m, axis=0):
    n = np.sqrt(np.sum(p * p, axis=axis, keepdims=True))
    return p * (np.clip(n, 0, m) / (1e-7 + n))


MODES = ("fused", "symbolic", "mixed")


def _mode_constraints(mode, W, b):
    if mode == "fused":
        return {}, [None, None]
    if mode == "symbolic":
        return {W: PyIdentity(), b: PyIdentity()}, [None, None]
    return {W: PyIdentity()}, [None, None]


def build(opt, cons_dict, W0_=W0, B0_=B0):
    x = K.placeholder(shape=(None, 3))
    y = K.placeholder(shape=(None, 2))
    W = K.variable(W0_, name="W")
    b = K.variable(B0_, name="b")
    loss = K.mean(K.square(K.dot(x, W) + b - y))
    cons = cons_dict(W, b) if callable(cons_dict) else cons_dict
    updates = opt.get_updates([W, b], cons, loss)
    f = K.function([x, y], [loss], updates=updates)
    return f, W, b, updates


def run_steps(opt, ref, cons_dict, np_cons=(None, None), n=3, between=None, rtol=1e-4, atol=1e-6):
    f, W, b, updates = build(opt, cons_dict)
    params = [W0.astype(np.float64), B0.astype(np.float64)]
    for step in range(n):
        if between is not None:
            between(step, opt, ref)
        loss = f([X, Y])[0]
        ref_loss = np.mean((X.astype(np.float64) @ params[0] + params[1] - Y) ** 2)
        np.testing.assert_allclose(loss, ref_loss, rtol=1e-5, err_msg=f"loss before step {step}")
        params = ref.step(params, np_grads(*params), list(np_cons))
        np.testing.assert_allclose(
            K.get_value(W), params[0], rtol=rtol, atol=atol, err_msg=f"W after step {step}"
        )
        np.testing.assert_allclose(
            K.get_value(b), params[1], rtol=rtol, atol=atol, err_msg=f"b after step {step}"
        )
    return W, b, updates


CASES = [
    ("SGD", {}),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.1, momentum=0.5, decay=0.3)),
    ("SGD", dict(lr=0.1, clipnorm=0.5)),
    ("SGD", dict(lr=0.1, momentum=0.9, clipvalue=0.05)),
    ("RMSprop", {}),
    ("RMSprop", dict(lr=0.01, rho=0.8, decay=0.5)),
    ("RMSprop", dict(lr=0.01, clipnorm=0.3, clipvalue=0.02)),
    ("Adagrad", {}),
    ("Adagrad", dict(lr=0.1, decay=0.25, epsilon=1e-6)),
    ("Adagrad", dict(clipvalue=0.1)),
    ("Adadelta", {}),
    ("Adadelta", dict(lr=0.5, rho=0.9, decay=0.2)),
    ("Adadelta", dict(clipnorm=0.4)),
    ("Adam", {}),
    ("Adam", dict(lr=0.01, beta_1=0.8, beta_2=0.99, decay=0.5)),
    ("Adam", dict(lr=0.01, clipnorm=0.2)),
    ("Adamax", {}),
    ("Adamax", dict(lr=0.01, beta_1=0.7, beta_2=0.9, decay=0.1)),
    ("Adamax", dict(clipvalue=0.01)),
    ("Nadam", {}),
    ("Nadam", dict(lr=0.01, beta_1=0.8, beta_2=0.95, schedule_decay=0.1)),
    ("Nadam", dict(clipnorm=0.3)),
]


def _case_id(c):
    name, kw = c
    return name + ("-" + "-".join(f"{k}={v}" for k, v in sorted(kw.items())) if kw else "")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_three_steps_match_numpy(case, mode):
    name, kw = case
    opt = getattr(optimizers, name)(**kw)
    ref_kw = dict(kw)
    ref = NpOptimizer(name, [W0.shape, B0.shape], **ref_kw)
    W, b, updates = run_steps(opt, ref, lambda W, b: _mode_constraints(mode, W, b)[0])
    fused = [u for u in updates if isinstance(u, K.FusedUpdate)]
    assert len(fused) == (0 if mode == "symbolic" else 1)
    if mode == "fused":
        assert len(updates) == 1
    # optimizer state: slots in Keras' weights order, iterations, Nadam's m_schedule
    slots = opt.weights[1:] if opt.weights and opt.weights[0] is opt.iterations else opt.weights
    expect = [s for kind in ref.slots for s in kind]
    assert len(slots) == len(expect)
    for got, want in zip(slots, expect):
        np.testing.assert_allclose(K.get_value(got), want, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(K.get_value(opt.iterations), ref.k)
    if name == "Nadam":
        np.testing.assert_allclose(K.get_value(opt.m_schedule), ref.m_schedule, rtol=1e-6)


WEIGHT_LAYOUT = {
    # (iterations first?, number of slot kinds)
    "SGD": (True, 1),
    "RMSprop": (False, 1),
    "Adagrad": (False, 1),
    "Adadelta": (False, 2),
    "Adam": (True, 2),
    "Adamax": (True, 2),
    "Nadam": (True, 2),
}


@pytest.mark.parametrize("name", sorted(WEIGHT_LAYOUT))
def test_weights_order_and_count(name):
    opt = getattr(optimizers, name)()
    assert opt.weights == [] and opt.updates == []
    f, W, b, updates = build(opt, {})
    first, kinds = WEIGHT_LAYOUT[name]
    assert len(opt.weights) == int(first) + 2 * kinds
    if first:
        assert opt.weights[0] is opt.iterations
        assert K.get_variable_shape(opt.iterations) == ()
    slots = opt.weights[int(first) :]
    assert [K.get_variable_shape(s) for s in slots] == [(3, 2), (2,)] * kinds
    assert all(s is not W and s is not b for s in slots)
    assert opt.updates is updates
    # slots start at zero
    for w in opt.get_weights():
        assert not np.any(w)
    if name == "Nadam":
        assert all(w is not opt.m_schedule for w in opt.weights)


def test_params_order_is_kept():
    """The slots follow the given parameter order (Keras sorts in compile, not here)."""
    opt = optimizers.Adam()
    x = K.placeholder(shape=(None, 3))
    b = K.variable(np.zeros(2), name="b")
    W = K.variable(W0, name="W")
    loss = K.sum(K.dot(x, W) + b)
    opt.get_updates([b, W], {}, loss)
    assert [K.get_variable_shape(s) for s in opt.weights[1:]] == [(2,), (3, 2), (2,), (3, 2)]


def test_lr_set_mid_training():
    for name in ("SGD", "RMSprop", "Adagrad", "Adadelta", "Adam", "Adamax", "Nadam"):
        for mode in ("fused", "symbolic"):
            opt = getattr(optimizers, name)()
            ref = NpOptimizer(name, [W0.shape, B0.shape])

            def between(step, opt, ref):
                if step == 1:
                    K.set_value(opt.lr, 0.05)
                    ref.h["lr"] = f32(0.05)

            run_steps(opt, ref, lambda W, b, mode=mode: _mode_constraints(mode, W, b)[0], between=between)


def test_other_hyper_variables_set_mid_training():
    opt = optimizers.SGD(lr=0.1, momentum=0.9, decay=0.1)
    ref = NpOptimizer("SGD", [W0.shape, B0.shape], lr=0.1, momentum=0.9, decay=0.1)

    def between(step, opt, ref):
        if step == 1:
            K.set_value(opt.momentum, 0.5)
            K.set_value(opt.decay, 0.7)
            ref.h["momentum"], ref.h["decay"] = 0.5, f32(0.7)

    run_steps(opt, ref, {}, between=between)
    opt = optimizers.Adam(lr=0.01)
    ref = NpOptimizer("Adam", [W0.shape, B0.shape], lr=0.01)

    def between2(step, opt, ref):
        if step == 2:
            K.set_value(opt.beta_1, 0.5)
            ref.h["beta_1"] = 0.5

    run_steps(opt, ref, {}, between=between2)


def test_decay_needs_a_positive_constructor_decay():
    """As in Keras 1: decay is decided at construction; setting the variable later does
    nothing when the optimizer was built with decay=0 (and iterations never moves)."""
    for mode in ("fused", "symbolic"):
        opt = optimizers.SGD(lr=0.1)
        K.set_value(opt.decay, 0.5)
        ref = NpOptimizer("SGD", [W0.shape, B0.shape], lr=0.1)
        run_steps(opt, ref, lambda W, b, mode=mode: _mode_constraints(mode, W, b)[0])
        assert float(K.get_value(opt.iterations)) == 0.0


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop", "Nadam"])
@pytest.mark.parametrize("mode", ["fused", "mixed"])
def test_native_constraint(name, mode):
    opt = getattr(optimizers, name)(lr=0.05)
    ref = NpOptimizer(name, [W0.shape, B0.shape], lr=0.05)

    def cons(W, b):
        d = {W: constraints.MaxNorm(m=0.8, axis=0), b: constraints.NonNeg()}
        if mode == "mixed":
            d[W] = PyClip(1.2)
        return d

    w_con = (lambda p: np.clip(p, -1.2, 1.2)) if mode == "mixed" else (lambda p: np_maxnorm(p, 0.8, 0))
    W, b, updates = run_steps(opt, ref, cons, np_cons=(w_con, lambda p: p * (p >= 0)))
    assert sum(isinstance(u, K.FusedUpdate) for u in updates) == 1
    assert np.all(K.get_value(b) >= 0)


@pytest.mark.parametrize("name", ["SGD", "Adagrad", "Adadelta", "Adamax"])
def test_custom_python_constraint(name):
    opt = getattr(optimizers, name)(lr=0.2)
    ref = NpOptimizer(name, [W0.shape, B0.shape], lr=0.2)
    clip = lambda p: np.clip(p, -0.5, 0.5)  # noqa: E731
    W, b, updates = run_steps(opt, ref, lambda W, b: {W: PyClip(0.5), b: PyClip(0.5)}, np_cons=(clip, clip))
    assert not any(isinstance(u, K.FusedUpdate) for u in updates)
    assert np.abs(K.get_value(W)).max() <= 0.5 + 1e-7


def test_mixed_clipnorm_uses_the_global_norm():
    """W symbolic, b fused: the clipnorm scale comes from the norm of both gradients."""
    for name in ("SGD", "Adam"):
        opt = getattr(optimizers, name)(lr=0.1, clipnorm=0.05, clipvalue=0.02)
        ref = NpOptimizer(name, [W0.shape, B0.shape], lr=0.1, clipnorm=0.05, clipvalue=0.02)
        run_steps(opt, ref, lambda W, b: {W: PyIdentity()})


def test_updates_structure():
    opt = optimizers.SGD()
    f, W, b, updates = build(opt, lambda W, b: {W: PyIdentity()})
    fused = [u for u in updates if isinstance(u, K.FusedUpdate)]
    pairs = [u for u in updates if not isinstance(u, K.FusedUpdate)]
    assert len(fused) == 1
    # W and its momentum slot, symbolically
    assert {id(v) for v, _ in pairs} == {id(W), id(opt.weights[1])}


def test_get_gradients_clips_symbolically():
    W = K.variable(np.array([[3.0, 4.0]], np.float32))
    loss = K.sum(W * K.constant(np.array([[3.0, 4.0]], np.float32)))  # gradient [3, 4], norm 5
    (g,) = optimizers.SGD(clipnorm=1.0).get_gradients(loss, [W])
    np.testing.assert_allclose(K.eval(g), [[0.6, 0.8]], rtol=1e-6)
    (g,) = optimizers.SGD(clipvalue=3.5).get_gradients(loss, [W])
    np.testing.assert_allclose(K.eval(g), [[3.0, 3.5]], rtol=1e-6)
    (g,) = optimizers.SGD(clipnorm=10.0).get_gradients(loss, [W])
    np.testing.assert_allclose(K.eval(g), [[3.0, 4.0]], rtol=1e-6)
    (g,) = optimizers.SGD().get_gradients(loss, [W])
    np.testing.assert_allclose(K.eval(g), [[3.0, 4.0]], rtol=1e-6)


def test_no_params():
    for name in ("SGD", "Adam", "Nadam"):
        opt = getattr(optimizers, name)()
        x = K.placeholder(shape=(None, 1))
        updates = opt.get_updates([], {}, K.sum(x))
        K.function([x], [], updates=updates)([np.ones((1, 1), np.float32)])
        assert float(K.get_value(opt.iterations)) == (0.0 if name == "SGD" else 1.0)


# ---------------------------------------------------------------------------------------
# Configs


CONFIG_KEYS = {
    "SGD": {"lr", "momentum", "decay", "nesterov"},
    "RMSprop": {"lr", "rho", "decay", "epsilon"},
    "Adagrad": {"lr", "decay", "epsilon"},
    "Adadelta": {"lr", "rho", "decay", "epsilon"},
    "Adam": {"lr", "beta_1", "beta_2", "decay", "epsilon"},
    "Adamax": {"lr", "beta_1", "beta_2", "decay", "epsilon"},
    "Nadam": {"lr", "beta_1", "beta_2", "epsilon", "schedule_decay"},
}

DEFAULT_CONFIGS = {
    "SGD": {"lr": 0.009999999776482582, "momentum": 0.0, "decay": 0.0, "nesterov": False},
    "RMSprop": {"lr": 0.0010000000474974513, "rho": 0.8999999761581421, "decay": 0.0, "epsilon": 1e-08},
    "Adagrad": {"lr": 0.009999999776482582, "decay": 0.0, "epsilon": 1e-08},
    "Adadelta": {"lr": 1.0, "rho": 0.95, "decay": 0.0, "epsilon": 1e-08},
    "Adam": {
        "lr": 0.0010000000474974513,
        "beta_1": 0.8999999761581421,
        "beta_2": 0.9990000128746033,
        "decay": 0.0,
        "epsilon": 1e-08,
    },
    "Adamax": {
        "lr": 0.0020000000949949026,
        "beta_1": 0.8999999761581421,
        "beta_2": 0.9990000128746033,
        "decay": 0.0,
        "epsilon": 1e-08,
    },
    "Nadam": {
        "lr": 0.0020000000949949026,
        "beta_1": 0.8999999761581421,
        "beta_2": 0.9990000128746033,
        "epsilon": 1e-08,
        "schedule_decay": 0.004,
    },
}


@pytest.mark.parametrize("name", sorted(CONFIG_KEYS))
def test_default_config(name):
    opt = getattr(optimizers, name)()
    cfg = opt.get_config()
    assert set(cfg) == CONFIG_KEYS[name]
    assert cfg == DEFAULT_CONFIGS[name]
    assert isinstance(opt.lr, K.Variable) and isinstance(opt.iterations, K.Variable)


@pytest.mark.parametrize("name", sorted(CONFIG_KEYS))
def test_config_round_trip(name):
    opt = getattr(optimizers, name)(lr=0.123, clipnorm=1.5, clipvalue=0.25)
    cfg = opt.get_config()
    assert set(cfg) == CONFIG_KEYS[name] | {"clipnorm", "clipvalue"}
    assert cfg["lr"] == f32(0.123) and cfg["clipnorm"] == 1.5 and cfg["clipvalue"] == 0.25
    copy = type(opt).from_config(cfg)
    assert type(copy) is type(opt) and copy.get_config() == cfg
    full = {"class_name": name, "config": cfg}
    for cn in (name, name.lower(), name.upper()):
        copy = optimizers.optimizer_from_config(dict(full, class_name=cn))
        assert type(copy) is type(opt) and copy.get_config() == cfg


def test_config_values():
    cfg = optimizers.SGD(lr=0.5, momentum=0.9, decay=1e-4, nesterov=True).get_config()
    assert cfg == {"lr": 0.5, "momentum": f32(0.9), "decay": f32(1e-4), "nesterov": True}
    cfg = optimizers.Adadelta(rho=0.9).get_config()
    assert cfg["rho"] == 0.9
    cfg = optimizers.Nadam(schedule_decay=0.01).get_config()
    assert cfg["schedule_decay"] == 0.01
    opt = optimizers.Adam()
    K.set_value(opt.lr, 0.25)
    assert opt.get_config()["lr"] == 0.25


def test_optimizer_from_config_custom_objects_and_unknown():
    class MySGD(optimizers.SGD):
        pass

    opt = optimizers.optimizer_from_config({"class_name": "MySGD", "config": {"lr": 0.5}}, {"MySGD": MySGD})
    assert type(opt) is MySGD
    with pytest.raises(ValueError, match="Optimizer class not found: Foo"):
        optimizers.optimizer_from_config({"class_name": "Foo", "config": {}})


def test_unknown_kwarg_raises_type_error():
    for name in CONFIG_KEYS:
        with pytest.raises(TypeError, match="Unexpected keyword argument passed to optimizer: foo"):
            getattr(optimizers, name)(foo=1)
    with pytest.raises(TypeError, match="decay"):
        optimizers.Nadam(decay=0.1)  # Nadam has no decay in Keras 1.2.2
    with pytest.raises(TypeError):
        optimizers.Optimizer(lr=0.1)


def test_get():
    for alias, cls in [
        ("sgd", "SGD"),
        ("rmsprop", "RMSprop"),
        ("adagrad", "Adagrad"),
        ("adadelta", "Adadelta"),
        ("adam", "Adam"),
        ("adamax", "Adamax"),
        ("nadam", "Nadam"),
    ]:
        assert type(optimizers.get(alias)) is getattr(optimizers, cls)
        assert type(optimizers.get(cls)) is getattr(optimizers, cls)
        assert getattr(optimizers, alias) is getattr(optimizers, cls)
    opt = optimizers.get("sgd", kwargs={"lr": 0.5, "momentum": 0.9})
    assert opt.get_config()["lr"] == 0.5 and opt.get_config()["momentum"] == f32(0.9)
    inst = optimizers.Adam()
    assert optimizers.get(inst) is inst
    for bad in ("adamw", "Optimizer", "K", "clip_norm"):
        with pytest.raises(ValueError, match="Invalid optimizer: " + bad):
            optimizers.get(bad)


def test_base_optimizer():
    opt = optimizers.Optimizer(clipnorm=1.0)
    assert opt.get_config() == {"clipnorm": 1.0}
    assert optimizers.Optimizer().get_config() == {}
    with pytest.raises(NotImplementedError):
        opt.get_updates([], {}, None)


# ---------------------------------------------------------------------------------------
# get_weights / set_weights


def test_get_set_weights_round_trip():
    opt = optimizers.Adam(lr=0.01)
    f, W, b, _ = build(opt, {})
    for _ in range(2):
        f([X, Y])
    saved = opt.get_weights()
    assert len(saved) == 5 and float(saved[0]) == 2.0
    w_saved, b_saved = K.get_value(W), K.get_value(b)
    f([X, Y])
    after_one = K.get_value(W)
    # restore optimizer state and parameters: the next step is reproduced exactly
    opt.set_weights(saved)
    K.set_value(W, w_saved)
    K.set_value(b, b_saved)
    f([X, Y])
    np.testing.assert_array_equal(K.get_value(W), after_one)


def test_set_weights_errors():
    opt = optimizers.SGD(momentum=0.9)
    build(opt, {})
    with pytest.raises(ValueError, match="not compatible with provided weight shape"):
        opt.set_weights([np.zeros(()), np.zeros((2, 3)), np.zeros(2)])
    with pytest.raises(ValueError, match="Length of the specified weight list"):
        opt.set_weights([np.zeros(())])
    opt.set_weights([np.float32(4.0), np.ones((3, 2)), np.ones(2)])
    assert float(K.get_value(opt.iterations)) == 4.0
    np.testing.assert_array_equal(K.get_value(opt.weights[1]), np.ones((3, 2)))


def test_plain_function_constraint():
    """A constraint may be any callable (Keras 1 calls it on the new value)."""
    opt = optimizers.Adam(lr=0.1)
    ref = NpOptimizer("Adam", [W0.shape, B0.shape], lr=0.1)
    W, b, updates = run_steps(
        opt,
        ref,
        lambda W, b: {b: lambda p: K.clip(p, 0.0, 0.2)},
        np_cons=(None, lambda p: np.clip(p, 0.0, 0.2)),
    )
    assert sum(isinstance(u, K.FusedUpdate) for u in updates) == 1
    assert K.get_value(b).min() >= 0.0 and K.get_value(b).max() <= 0.2 + 1e-7
