"""What travels from the driver to a replica: the model's config, the seeds of its
random nodes (by layer and node), its compile arguments, its weights and optimizer
state."""

import numpy as np

from .. import backend as K

# The walk over layers and layer calls lives in keras.engine (exact resume uses it too).
from ..engine.layer_walk import (  # noqa: F401 (re-exported for the replicas)
    get_counters,
    inner,
    seed_plan,
    set_counters,
    stateful_layers,
    walk_layers,
)

_HYPER = ("lr", "momentum", "decay", "rho", "beta_1", "beta_2")


def _key(v):
    return getattr(v, "node", None) if getattr(v, "node", None) is not None else id(v)


def state_rules(model):
    """How the workers' values of the variables that `model`'s state updates write
    (stateful RNN states aside) are combined after a step, in a fixed order:
    `("bn", running_mean, running_var, momentum)` for a BatchNormalization layer in
    mode 0 (the whole batch's moving mean and biased variance, see `combine_state`),
    `("avg", variable)` for any other state (average weighted by the shards' rows)."""
    m = inner(model)
    rnn = {_key(v) for layer in stateful_layers(m) for v in layer.states}
    rules, seen = [], set(rnn)
    for layer in walk_layers(m):
        if layer.__class__.__name__ == "BatchNormalization" and getattr(layer, "mode", None) == 0:
            if hasattr(layer, "running_mean") and _key(layer.running_mean) not in seen:
                rules.append(("bn", layer.running_mean, layer.running_std, float(layer.momentum)))
                seen.update((_key(layer.running_mean), _key(layer.running_std)))
    for u in m.updates:
        if isinstance(u, (tuple, list)) and len(u) == 2 and _key(u[0]) not in seen:
            rules.append(("avg", u[0]))
            seen.add(_key(u[0]))
    return rules


def state_variables(rules):
    out = []
    for r in rules:
        out.extend(r[1:3] if r[0] == "bn" else r[1:2])
    return out


def combine_state(rules, values, rows):
    """The driver's state after a step from the workers' (`values[k]`, per variable of
    `state_variables(rules)`; `rows[k]` the rows worker k computed on).

    A BatchNormalization moving mean is linear in the batch mean, so the row-weighted
    average of the workers' moving means is the whole batch's. The biased variance of
    the whole batch adds the spread of the shard means to the shards' variances: with
    momentum m, each worker's moving mean is m * mean0 + (1 - m) * mean_k, so
    `var' = sum_k w_k var'_k + sum_k w_k (mean'_k - mean')**2 / (1 - m)`."""
    ks = sorted(values)
    tot = float(sum(rows[k] for k in ks))
    w = [rows[k] / tot for k in ks]
    out, i = [], 0
    for r in rules:
        n = 2 if r[0] == "bn" else 1
        cols = [[np.asarray(values[k][i + j], dtype=np.float64) for k in ks] for j in range(n)]
        avg = [sum(wk * c for wk, c in zip(w, col)) for col in cols]
        if r[0] == "bn" and r[3] < 1.0 and len(ks) > 1:
            avg[1] = avg[1] + sum(wk * (c - avg[0]) ** 2 for wk, c in zip(w, cols[0])) / (1.0 - r[3])
        out.extend(a.astype(np.asarray(values[ks[0]][i + j]).dtype) for j, a in enumerate(avg))
        i += n
    return out


def custom_objects(model):
    """The model's layer classes that are not Keras' own, by class name."""
    objs = {}
    for layer in walk_layers(model):
        cls = layer.__class__
        if not cls.__module__.startswith("keras."):
            objs[cls.__name__] = cls
    opt = model.optimizer.__class__
    if not opt.__module__.startswith("keras."):
        objs[opt.__name__] = opt
    return objs


def get_hyper(optimizer):
    out = {}
    for name in _HYPER:
        v = getattr(optimizer, name, None)
        if v is not None and hasattr(v, "node"):
            out[name] = np.asarray(K.get_value(v)).copy()
    return out


def set_hyper(optimizer, hyper):
    for name, value in hyper.items():
        K.set_value(getattr(optimizer, name), value)


def get_state(model):
    opt = model.optimizer
    return {
        "weights": [np.asarray(w) for w in model.get_weights()],
        "optimizer": [np.asarray(w) for w in opt.get_weights()],
        "iterations": np.asarray(K.get_value(opt.iterations)).copy(),
    }


def load_state(model, state):
    model.set_weights(state["weights"])
    opt = model.optimizer
    if state["optimizer"]:
        opt.set_weights(state["optimizer"])
    K.set_value(opt.iterations, state["iterations"])


def make_spec(outer, model):
    """Everything a replica needs to rebuild `outer` (the user's model; `model` is the
    Model it trains through, already holding the split step)."""
    config = {"class_name": outer.__class__.__name__, "config": outer.get_config()}
    opt = model.optimizer
    return {
        "config": config,
        "seed_plan": seed_plan(outer),
        "custom_objects": custom_objects(outer),
        "compile": {
            "optimizer": {"class_name": opt.__class__.__name__, "config": opt.get_config()},
            "loss": model.loss,
            "metrics": model.metrics,
            "loss_weights": model.loss_weights,
            "sample_weight_mode": model.sample_weight_mode,
        },
        "state": get_state(model),
        "hyper": get_hyper(opt),
        "counters": get_counters(outer),
    }


def _set_batch_size(config, batch, share):
    """A stateful replica's config: every `batch_input_shape` of the global batch size
    `batch` gets the replica's share of rows."""
    if isinstance(config, dict):
        shape = config.get("batch_input_shape")
        if isinstance(shape, (list, tuple)) and shape and shape[0] == batch:
            config["batch_input_shape"] = [share] + list(shape[1:])
        for v in config.values():
            _set_batch_size(v, batch, share)
    elif isinstance(config, list):
        for v in config:
            _set_batch_size(v, batch, share)


def build_model(spec, rank):
    """The replica of rank `rank`: the driver's model rebuilt, compiled, its split
    step compiled (state not loaded yet)."""
    import copy

    from ..models import model_from_config
    from ..optimizers import optimizer_from_config

    config = copy.deepcopy(spec["config"])
    rows = spec.get("stateful_rows")
    if rows:
        r0, r1 = rows[rank]
        _set_batch_size(config, spec["stateful_batch"], r1 - r0)
    custom = spec["custom_objects"]
    # Random nodes made by layer calls take the driver's seeds (the plan); other draws
    # (initial weights, replaced just after; random nodes of a custom loss or metric)
    # come from one fixed stream, the same on every rank.
    np.random.seed(1)
    with K.SeedPlan(spec["seed_plan"]):
        # The config is the driver's own model: its Lambda bytecode is trusted.
        model = model_from_config(config, custom_objects=custom, safe_mode=False)
        c = spec["compile"]
        optimizer = optimizer_from_config(c["optimizer"], custom_objects=custom)
        model.compile(
            optimizer,
            c["loss"],
            metrics=c["metrics"],
            loss_weights=c["loss_weights"],
            sample_weight_mode=c["sample_weight_mode"],
        )
    return model
