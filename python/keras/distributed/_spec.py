"""What travels from the driver to a replica: the model's config (with its random
streams' seeds), its compile arguments, its weights and optimizer state."""

import numpy as np

from .. import backend as K

_HYPER = ("lr", "momentum", "decay", "rho", "beta_1", "beta_2")

# Replica `rank > 0` draws its dropout masks from the stream `seed + rank * _STRIDE`
# (mod 2**31 - 1); rank 0 keeps the driver's seed.
_STRIDE = 0x9E3779B1


def inner(model):
    """The trained `Model` (a Sequential trains through its inner model)."""
    if model.__class__.__name__ == "Sequential" or getattr(model, "model", None) is not None:
        m = getattr(model, "model", None)
        if m is not None and hasattr(m, "_make_train_function"):
            return m
    return model


def replica_seed(seed, rank):
    if rank == 0:
        return int(seed)
    return int((int(seed) + rank * _STRIDE) % (2**31 - 1))


def _walk_layers(layer):
    yield layer
    for sub in getattr(layer, "layers", None) or []:
        if sub is not layer:
            yield from _walk_layers(sub)


def dropout_seeds(model):
    """{layer name: seed} of the Dropout nodes the model's graph holds."""
    seeds = {}
    for layer in _walk_layers(model):
        if not hasattr(layer, "seed"):
            continue
        found = set()
        for node in getattr(layer, "inbound_nodes", []):
            for t in node.output_tensors:
                s = getattr(t, "_random_seed", None)
                if s is not None:
                    found.add(int(s))
        if len(found) > 1:
            raise NotImplementedError(
                "keras.distributed.fit: layer %s is called several times with different random "
                "seeds; give it an explicit `seed`" % layer.name
            )
        if found:
            seeds[layer.name] = found.pop()
    return seeds


def _inject_seeds(config, seeds, rank):
    if isinstance(config, dict):
        inner = config.get("config")
        if "class_name" in config and isinstance(inner, dict) and inner.get("name") in seeds:
            inner["seed"] = replica_seed(seeds[inner["name"]], rank)
        for v in config.values():
            _inject_seeds(v, seeds, rank)
    elif isinstance(config, list):
        for v in config:
            _inject_seeds(v, seeds, rank)


def custom_objects(model):
    """The model's layer classes that are not Keras' own, by class name."""
    objs = {}
    for layer in _walk_layers(model):
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
        "seeds": dropout_seeds(outer),
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
    }


def build_model(spec, rank):
    """The replica of rank `rank`: the driver's model rebuilt, compiled, its split
    step compiled (state not loaded yet)."""
    import copy

    from ..models import model_from_config
    from ..optimizers import optimizer_from_config

    config = copy.deepcopy(spec["config"])
    _inject_seeds(config, spec["seeds"], rank)
    custom = spec["custom_objects"]
    # Other random draws made while building (initial weights, replaced just after, and
    # any random node without a layer seed) come from a fixed stream per rank.
    np.random.seed(1 + rank)
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
