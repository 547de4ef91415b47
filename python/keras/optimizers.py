"""Optimizers (``keras.optimizers``), Keras 1.2.2.

``optimizer.get_updates(params, constraints, loss)`` returns the updates of one
training step, to be passed to ``K.function(..., updates=...)``. The built-in
optimizers return ONE fused native update (the engine computes the step of every
parameter and its slots in place, with gradient clipping and the built-in constraints,
see ``keras.constraints``) for all parameters whose constraint is None or built in. A
parameter with a user-defined constraint gets Keras 1's symbolic update instead (the
same equations written with backend ops, the constraint applied to the new value), as
``(variable, new_value)`` pairs in the same list.

Hyper-parameters that Keras keeps as backend variables (``lr``, ``momentum``, ``decay``,
``rho``, ``beta_1``, ``beta_2``, ``iterations``, Nadam's ``m_schedule``) are variables
read at every step, so ``K.set_value(optimizer.lr, 0.001)`` changes training from the
next step on. ``epsilon`` (and Nadam's ``schedule_decay``) are constants.

Why the equations exist twice (the engine's in ``rust/ferrokeras/src/optim``, Keras 1's
in each class's ``_param_step``): a user-defined constraint is a Python function of the
parameter's NEW value, built from backend ops, so that value must be a graph tensor
before it is written. The fused update computes and writes it in place inside the
engine, where no Python function can run on it; moving user constraints into the
engine would take a two-phase update (new values into temporaries, the constraint's
subgraph, then the writes), which costs the in-place step its memory and speed for a
rare case. So the Python copy stays, only for parameters with such a constraint, and
the tests run every optimizer in 'fused', 'symbolic' and 'mixed' modes against one
numpy reference, which keeps the two copies equal.
"""

import textwrap

import numpy as np

from . import backend as K
from .utils.generic_utils import get_from_module, shared_docs


def clip_norm(g, c, n):
    """Scales gradient ``g`` by ``c / n`` when the global norm ``n >= c`` (``c > 0``)."""
    if c > 0:
        g = K.switch(K.greater_equal(n, c), g * c / n, g)
    return g


def optimizer_from_config(config, custom_objects=None):
    """Builds an optimizer from ``{'class_name': ..., 'config': {...}}``.

    # Arguments
        config: the dict (as saved in a model's ``training_config``).
        custom_objects: optional dict of custom optimizer classes, by class name.

    # Raises
        ValueError: for an unknown class name (the match is case-insensitive).
    """
    all_classes = {
        "sgd": SGD,
        "rmsprop": RMSprop,
        "adagrad": Adagrad,
        "adadelta": Adadelta,
        "adam": Adam,
        "adamax": Adamax,
        "nadam": Nadam,
    }
    class_name = config["class_name"]
    if custom_objects and class_name in custom_objects:
        cls = custom_objects[class_name]
    else:
        if class_name.lower() not in all_classes:
            raise ValueError("Optimizer class not found: " + str(class_name))
        cls = all_classes[class_name.lower()]
    return cls.from_config(config["config"])


def _positive(v):
    return v is not None and v > 0


def _constraint_list(constraints, params):
    """One entry (None or a constraint) per parameter, from Keras' ``{param: c}`` dict
    (or a list in ``params`` order, or None)."""
    if constraints is None:
        return [None] * len(params)
    if isinstance(constraints, dict):
        return [constraints.get(p) for p in params]
    constraints = list(constraints)
    if len(constraints) != len(params):
        raise ValueError(
            f"get_updates: {len(constraints)} constraint(s) given for {len(params)} parameter(s)"
        )
    return constraints


def _engine_constraint(c):
    """``(True, spec)`` when the engine can apply constraint ``c`` (spec None = no
    constraint), ``(False, None)`` when it must be applied symbolically."""
    from . import constraints as constraints_module

    if c is None or type(c) is constraints_module.Constraint:
        return True, None
    spec_fn = getattr(c, "native_spec", None)
    if spec_fn is None:
        return False, None
    spec = spec_fn()
    if spec is None:
        return False, None
    return True, spec


class Optimizer:
    """Abstract optimizer base class.

    All Keras optimizers accept the keyword arguments:

    # Arguments
        clipnorm: float >= 0. When the global L2 norm of all gradients reaches
            ``clipnorm``, every gradient is scaled by ``clipnorm / norm``.
        clipvalue: float >= 0. Gradients are clipped elementwise to
            ``[-clipvalue, clipvalue]`` (after ``clipnorm``).

    # Raises
        TypeError: for any other keyword argument.
    """

    # Native description of the built-in optimizers (None for a user subclass).
    _kind = None
    _slot_names = ()
    _always_counts = False
    _iterations_in_weights = True
    # Constructor arguments ``get_config`` returns, in Keras 1's order.
    _config_keys = ()
    # Variables the engine's update reads besides lr, iterations and decay.
    _hyper_names = ()

    def __init__(self, **kwargs):
        allowed_kwargs = {"clipnorm", "clipvalue"}
        for k in kwargs:
            if k not in allowed_kwargs:
                raise TypeError("Unexpected keyword argument passed to optimizer: " + str(k))
        self.__dict__.update(kwargs)
        self.updates = []
        self.weights = []

    def get_updates(self, params, constraints, loss):
        """The updates of one step of ``params`` towards lower ``loss``.

        # Arguments
            params: the trainable variables, in the order their optimizer state is kept.
            constraints: ``{param: constraint}`` (missing / None: unconstrained).
            loss: the scalar loss tensor.

        # Returns
            A list of updates for ``K.function(..., updates=...)``.
        """
        if self._kind is None:
            raise NotImplementedError
        return self._fused_get_updates(params, constraints, loss)

    def get_gradients(self, loss, params):
        """The gradients of ``loss`` with respect to ``params``, clipped per ``clipnorm``
        / ``clipvalue`` (as symbolic tensors)."""
        grads = K.gradients(loss, params)
        return self._clip_symbolic(grads, grads)

    def _clip_symbolic(self, grads, all_grads):
        """Clips ``grads``; the ``clipnorm`` norm is taken over ``all_grads``."""
        clipnorm = getattr(self, "clipnorm", None)
        clipvalue = getattr(self, "clipvalue", None)
        if _positive(clipnorm) and grads:
            norm = K.sqrt(sum([K.sum(K.square(g)) for g in all_grads]))
            grads = [clip_norm(g, clipnorm, norm) for g in grads]
        if _positive(clipvalue):
            grads = [K.clip(g, -clipvalue, clipvalue) for g in grads]
        return grads

    def set_weights(self, weights):
        """Sets the optimizer state (``self.weights`` order) from numpy arrays.

        # Raises
            ValueError: when the number of arrays or a shape does not match.
        """
        params = self.weights
        if len(params) != len(weights):
            raise ValueError(
                f"Length of the specified weight list ({len(weights)}) does not match the number of "
                f"weights of the optimizer ({len(params)})"
            )
        weight_value_tuples = []
        param_values = K.batch_get_value(params)
        for pv, p, w in zip(param_values, params, weights):
            w = np.asarray(w)
            if pv.shape != w.shape:
                raise ValueError(
                    "Optimizer weight shape "
                    + str(pv.shape)
                    + " not compatible with provided weight shape "
                    + str(w.shape)
                )
            weight_value_tuples.append((p, w))
        K.batch_set_value(weight_value_tuples)

    def get_weights(self):
        """The optimizer state (``self.weights``) as a list of numpy arrays."""
        return K.batch_get_value(self.weights)

    def get_config(self):
        config = {}
        if hasattr(self, "clipnorm"):
            config["clipnorm"] = self.clipnorm
        if hasattr(self, "clipvalue"):
            config["clipvalue"] = self.clipvalue
        for name in self._config_keys:
            value = getattr(self, name)
            # a hyper-parameter kept in a variable is read back as a Python float
            config[name] = _scalar_float(value) if K.is_variable(value) else value
        return config

    def _variables(self, **values):
        """Makes each hyper-parameter a backend variable, in the order given (``decay``
        also keeps its initial value: a decay of 0 leaves the decay out of the step)."""
        for name, value in values.items():
            setattr(self, name, K.variable(value))
        if "decay" in values:
            self.initial_decay = values["decay"]

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    # -----------------------------------------------------------------------------------
    # The built-in optimizers' step: one fused native update, plus symbolic updates for
    # parameters whose constraint only exists in Python.

    def _decays(self):
        return _positive(getattr(self, "initial_decay", 0))

    def _increments_iterations(self):
        return self._always_counts or self._decays()

    def _hyper(self):
        """Hyper-parameter variables by engine name (``decay`` None when it is 0)."""
        hyper = {"lr": self.lr, "iterations": self.iterations}
        hyper.update((name, getattr(self, name)) for name in self._hyper_names)
        if hasattr(self, "decay"):
            hyper["decay"] = self.decay if self._decays() else None
        return hyper

    def _fused_options(self):
        return {}

    def _step_values(self):
        """Step-level symbolic values shared by every parameter (decayed lr, ...), plus
        the updates of the optimizer's own counters."""
        return {"lr": self._decayed_lr()}, []

    def _decayed_lr(self):
        lr = self.lr
        if self._decays():
            lr = lr * (1.0 / (1.0 + self.decay * self.iterations))
        return lr

    def _param_step(self, p, g, slots, st):
        """Symbolic new value of ``p`` and of its slots (Keras 1's equations)."""
        raise NotImplementedError

    def _fused_get_updates(self, params, constraints, loss):
        params = list(params)
        cons = _constraint_list(constraints, params)
        grads = K.gradients(loss, params) if params else []
        shapes = [K.get_variable_shape(p) for p in params]
        slots = [[K.zeros(shape) for shape in shapes] for _ in self._slot_names]
        self.weights = ([self.iterations] if self._iterations_in_weights else []) + [
            v for kind in slots for v in kind
        ]

        native, specs, python = [], [], []
        for i, c in enumerate(cons):
            ok, spec = _engine_constraint(c)
            if ok:
                native.append(i)
                specs.append(spec)
            else:
                python.append(i)

        clipnorm = getattr(self, "clipnorm", None)
        clipvalue = getattr(self, "clipvalue", None)
        updates = []
        if python and _positive(clipnorm):
            # The clipnorm norm is global over every gradient: clip all of them here.
            grads = self._clip_symbolic(grads, grads)
            native_clipnorm, native_clipvalue = None, None
        else:
            native_clipnorm = float(clipnorm) if _positive(clipnorm) else None
            native_clipvalue = float(clipvalue) if _positive(clipvalue) else None
            if python:
                py_grads = self._clip_symbolic([grads[i] for i in python], grads)
                grads = list(grads)
                for i, g in zip(python, py_grads):
                    grads[i] = g

        if native or not python:
            updates.append(
                K.fused_optimizer_update(
                    self._kind,
                    [params[i] for i in native],
                    [grads[i] for i in native],
                    [[kind[i] for i in native] for kind in slots],
                    self._hyper(),
                    float(getattr(self, "epsilon", 1e-8)),
                    native_clipnorm,
                    native_clipvalue,
                    specs,
                    **self._fused_options(),
                )
            )

        if python:
            st, counter_updates = self._step_values()
            if not native:
                # No fused update counts the steps: do it here.
                updates.extend(counter_updates)
                if self._increments_iterations():
                    updates.append(K.update_add(self.iterations, 1))
            for i in python:
                p = params[i]
                new_p, new_slots = self._param_step(p, grads[i], [kind[i] for kind in slots], st)
                for kind, new in zip(slots, new_slots):
                    updates.append(K.update(kind[i], new))
                new_p = cons[i](new_p)
                updates.append(K.update(p, new_p))
        self.updates = updates
        return updates


def _scalar_float(v):
    # get_config reads hyper-parameters back from their float32 variables
    return float(np.asarray(K.get_value(v)).item())


class SGD(Optimizer):
    """Stochastic gradient descent, with optional momentum, learning-rate decay and
    Nesterov momentum.

    # Arguments
        lr: float >= 0. Learning rate.
        momentum: float >= 0. Momentum of the parameter updates.
        decay: float >= 0. Learning rate decay over each update:
            ``lr / (1 + decay * iterations)``.
        nesterov: boolean. Whether to apply Nesterov momentum.
    """

    _kind = "sgd"
    _hyper_names = ("momentum",)
    _slot_names = ("moments",)
    _config_keys = ("lr", "momentum", "decay", "nesterov")

    def __init__(self, lr=0.01, momentum=0.0, decay=0.0, nesterov=False, **kwargs):
        super().__init__(**kwargs)
        self._variables(iterations=0.0, lr=lr, momentum=momentum, decay=decay)
        self.nesterov = nesterov

    def _fused_options(self):
        return {"nesterov": bool(self.nesterov)}

    def _param_step(self, p, g, slots, st):
        (m,) = slots
        lr = st["lr"]
        v = self.momentum * m - lr * g  # velocity
        if self.nesterov:
            new_p = p + self.momentum * v - lr * g
        else:
            new_p = p + v
        return new_p, [v]


class RMSprop(Optimizer):
    """RMSProp optimizer (Tieleman & Hinton). It is recommended to leave the parameters
    at their default values, except the learning rate; a good choice for recurrent
    networks.

    # Arguments
        lr: float >= 0. Learning rate.
        rho: float >= 0. Decay of the moving average of squared gradients.
        epsilon: float >= 0. Fuzz factor.
        decay: float >= 0. Learning rate decay over each update.
    """

    _kind = "rmsprop"
    _hyper_names = ("rho",)
    _slot_names = ("accumulators",)
    _iterations_in_weights = False
    _config_keys = ("lr", "rho", "decay", "epsilon")

    def __init__(self, lr=0.001, rho=0.9, epsilon=1e-8, decay=0.0, **kwargs):
        super().__init__(**kwargs)
        self._variables(lr=lr, rho=rho, decay=decay, iterations=0.0)
        self.epsilon = epsilon

    def _param_step(self, p, g, slots, st):
        (a,) = slots
        new_a = self.rho * a + (1.0 - self.rho) * K.square(g)
        new_p = p - st["lr"] * g / (K.sqrt(new_a) + self.epsilon)
        return new_p, [new_a]


class Adagrad(Optimizer):
    """Adagrad optimizer. It is recommended to leave the parameters at their default
    values.

    # Arguments
        lr: float >= 0. Learning rate.
        epsilon: float >= 0. Fuzz factor.
        decay: float >= 0. Learning rate decay over each update.

    # References
        - [Adaptive Subgradient Methods for Online Learning and Stochastic Optimization](http://www.jmlr.org/papers/volume12/duchi11a/duchi11a.pdf)
    """

    _kind = "adagrad"
    _slot_names = ("accumulators",)
    _iterations_in_weights = False
    _config_keys = ("lr", "decay", "epsilon")

    def __init__(self, lr=0.01, epsilon=1e-8, decay=0.0, **kwargs):
        super().__init__(**kwargs)
        self._variables(lr=lr, decay=decay, iterations=0.0)
        self.epsilon = epsilon

    def _param_step(self, p, g, slots, st):
        (a,) = slots
        new_a = a + K.square(g)
        new_p = p - st["lr"] * g / (K.sqrt(new_a) + self.epsilon)
        return new_p, [new_a]


class Adadelta(Optimizer):
    """Adadelta optimizer. It is recommended to leave the parameters at their default
    values.

    # Arguments
        lr: float >= 0. Learning rate (it is recommended to leave it at 1.0).
        rho: float >= 0. Decay of the moving averages.
        epsilon: float >= 0. Fuzz factor.
        decay: float >= 0. Learning rate decay over each update.

    # References
        - [Adadelta - an adaptive learning rate method](http://arxiv.org/abs/1212.5701)
    """

    _kind = "adadelta"
    _slot_names = ("accumulators", "delta_accumulators")
    _iterations_in_weights = False
    _config_keys = ("lr", "rho", "decay", "epsilon")

    def __init__(self, lr=1.0, rho=0.95, epsilon=1e-8, decay=0.0, **kwargs):
        super().__init__(**kwargs)
        self._variables(lr=lr, decay=decay, iterations=0.0)
        # A Python float in Keras 1 (so its config value is not float32-rounded); the
        # engine reads it from a variable made in get_updates.
        self.rho = rho
        self.epsilon = epsilon

    def _hyper(self):
        return dict(super()._hyper(), rho=K.variable(self.rho))

    def _param_step(self, p, g, slots, st):
        a, d_a = slots
        new_a = self.rho * a + (1.0 - self.rho) * K.square(g)
        update = g * K.sqrt(d_a + self.epsilon) / K.sqrt(new_a + self.epsilon)
        new_p = p - st["lr"] * update
        new_d_a = self.rho * d_a + (1 - self.rho) * K.square(update)
        return new_p, [new_a, new_d_a]


# The `# Arguments` entries Adam, Adamax and Nadam share (see ``shared_docs``).
_ADAM_ARGS_DOC = """
lr: float >= 0. Learning rate.
beta_1: float, 0 < beta < 1. Generally close to 1.
beta_2: float, 0 < beta < 1. Generally close to 1.
epsilon: float >= 0. Fuzz factor.
"""
# Adam's and Adamax's `# Arguments` and `# References`.
_ADAM_FAMILY_DOC = (
    "# Arguments\n"
    + textwrap.indent(_ADAM_ARGS_DOC.strip("\n"), "    ")
    + """
    decay: float >= 0. Learning rate decay over each update.

# References
    - [Adam - A Method for Stochastic Optimization](http://arxiv.org/abs/1412.6980v8)
"""
)


class _AdamFamily(Optimizer):
    """Adam and Adamax: moment slots updated from ``beta_1`` and ``beta_2``, a decayed
    ``lr``, the ``epsilon`` fuzz factor; one update per step."""

    _hyper_names = ("beta_1", "beta_2")
    _always_counts = True
    _config_keys = ("lr", "beta_1", "beta_2", "decay", "epsilon")

    def __init__(self, lr, beta_1, beta_2, epsilon, decay, **kwargs):
        super().__init__(**kwargs)
        self._variables(iterations=0.0, lr=lr, beta_1=beta_1, beta_2=beta_2, decay=decay)
        self.epsilon = epsilon

    def _step_values(self):
        # _corrected_lr (each member's): the step's rate from the decayed lr at step t >= 1
        return {"lr_t": self._corrected_lr(self._decayed_lr(), self.iterations + 1)}, []

    def _first_moment(self, m, g):
        return (self.beta_1 * m) + (1.0 - self.beta_1) * g


@shared_docs(adam_family=_ADAM_FAMILY_DOC)
class Adam(_AdamFamily):
    """Adam optimizer, with the default parameters of the original paper.

    {adam_family}
    """

    _kind = "adam"
    _slot_names = ("m", "v")

    def __init__(self, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8, decay=0.0, **kwargs):
        super().__init__(lr, beta_1, beta_2, epsilon, decay, **kwargs)

    def _corrected_lr(self, lr, t):
        return lr * (K.sqrt(1.0 - self.beta_2**t) / (1.0 - self.beta_1**t))

    def _param_step(self, p, g, slots, st):
        m, v = slots
        m_t = self._first_moment(m, g)
        v_t = (self.beta_2 * v) + (1.0 - self.beta_2) * K.square(g)
        p_t = p - st["lr_t"] * m_t / (K.sqrt(v_t) + self.epsilon)
        return p_t, [m_t, v_t]


@shared_docs(adam_family=_ADAM_FAMILY_DOC)
class Adamax(_AdamFamily):
    """Adamax optimizer: the variant of Adam based on the infinity norm (section 7 of
    the Adam paper). Default parameters follow the paper.

    {adam_family}
    """

    _kind = "adamax"
    _slot_names = ("m", "u")

    def __init__(self, lr=0.002, beta_1=0.9, beta_2=0.999, epsilon=1e-8, decay=0.0, **kwargs):
        super().__init__(lr, beta_1, beta_2, epsilon, decay, **kwargs)

    def _corrected_lr(self, lr, t):
        return lr / (1.0 - self.beta_1**t)

    def _param_step(self, p, g, slots, st):
        m, u = slots
        m_t = self._first_moment(m, g)
        u_t = K.maximum(self.beta_2 * u, K.abs(g))
        p_t = p - st["lr_t"] * m_t / (u_t + self.epsilon)
        return p_t, [m_t, u_t]


@shared_docs(adam_args=_ADAM_ARGS_DOC)
class Nadam(Optimizer):
    """Nesterov Adam optimizer: Adam with Nesterov momentum (Dozat). It is recommended
    to leave the parameters at their default values.

    # Arguments
        {adam_args}
        schedule_decay: float, the decay of the momentum schedule.

    # References
        - [Nadam report](http://cs229.stanford.edu/proj2015/054_report.pdf)
        - [On the importance of initialization and momentum in deep learning](http://www.cs.toronto.edu/~fritz/absps/momentum.pdf)
    """

    _kind = "nadam"
    _hyper_names = ("beta_1", "beta_2", "m_schedule")
    _slot_names = ("m", "v")
    _always_counts = True
    _config_keys = ("lr", "beta_1", "beta_2", "epsilon", "schedule_decay")

    def __init__(self, lr=0.002, beta_1=0.9, beta_2=0.999, epsilon=1e-8, schedule_decay=0.004, **kwargs):
        super().__init__(**kwargs)
        self._variables(iterations=0.0, m_schedule=1.0, lr=lr, beta_1=beta_1, beta_2=beta_2)
        self.epsilon = epsilon
        self.schedule_decay = schedule_decay

    def _fused_options(self):
        return {"schedule_decay": float(self.schedule_decay)}

    def _step_values(self):
        t = self.iterations + 1
        # warming momentum schedule
        momentum_cache_t = self.beta_1 * (1.0 - 0.5 * (0.96 ** (t * self.schedule_decay)))
        momentum_cache_t_1 = self.beta_1 * (1.0 - 0.5 * (0.96 ** ((t + 1) * self.schedule_decay)))
        m_schedule_new = self.m_schedule * momentum_cache_t
        m_schedule_next = self.m_schedule * momentum_cache_t * momentum_cache_t_1
        st = {
            "t": t,
            "mu_t": momentum_cache_t,
            "mu_t_1": momentum_cache_t_1,
            "m_schedule_new": m_schedule_new,
            "m_schedule_next": m_schedule_next,
        }
        return st, [K.update(self.m_schedule, m_schedule_new)]

    def _param_step(self, p, g, slots, st):
        m, v = slots
        g_prime = g / (1.0 - st["m_schedule_new"])
        m_t = self.beta_1 * m + (1.0 - self.beta_1) * g
        m_t_prime = m_t / (1.0 - st["m_schedule_next"])
        v_t = self.beta_2 * v + (1.0 - self.beta_2) * K.square(g)
        v_t_prime = v_t / (1.0 - self.beta_2 ** st["t"])
        m_t_bar = (1.0 - st["mu_t"]) * g_prime + st["mu_t_1"] * m_t_prime
        p_t = p - self.lr * m_t_bar / (K.sqrt(v_t_prime) + self.epsilon)
        return p_t, [m_t, v_t]


# Aliases.
sgd = SGD
rmsprop = RMSprop
adagrad = Adagrad
adadelta = Adadelta
adam = Adam
adamax = Adamax
nadam = Nadam

_OPTIMIZERS = (
    "SGD",
    "RMSprop",
    "Adagrad",
    "Adadelta",
    "Adam",
    "Adamax",
    "Nadam",
    "sgd",
    "rmsprop",
    "adagrad",
    "adadelta",
    "adam",
    "adamax",
    "nadam",
)


def get(identifier, kwargs=None):
    """Returns an optimizer instance.

    # Arguments
        identifier: a name (``'sgd'``, ``'Adam'``, ...: instantiated with its defaults,
            or with ``kwargs``), a config dict, or an optimizer instance (returned as
            is).
        kwargs: keyword arguments for the constructor when ``identifier`` is a name.

    # Raises
        ValueError: for an unknown name.
    """
    table = {k: globals()[k] for k in _OPTIMIZERS}
    return get_from_module(identifier, table, "optimizer", instantiate=True, kwargs=kwargs)
