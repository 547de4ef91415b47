"""Walks over a model's layers and layer calls, keyed so that a model rebuilt from its
config finds the same entries: the seeds and call counters of the random nodes each
layer call made, and the stateful recurrent layers. Exact resume (`resume`) stores
them in a checkpoint; `keras.distributed` hands them to its replicas."""

from .. import backend as K


def inner(model):
    """The trained `Model` (a Sequential trains through its inner model)."""
    if model.__class__.__name__ == "Sequential" or getattr(model, "model", None) is not None:
        m = getattr(model, "model", None)
        if m is not None and hasattr(m, "_make_train_function"):
            return m
    return model


def walk_layers(layer):
    yield layer
    for sub in getattr(layer, "layers", None) or []:
        if sub is not layer:
            yield from walk_layers(sub)


def _per_node(model, attr):
    """{layer name: {node index in the rebuilt model: layer.<attr>[driver node index]}}
    for every layer call of `model` that recorded something under `attr`.

    A layer's nodes that belong to `model` are renumbered 0, 1, ... in order when the
    model is rebuilt from its config (Keras 1's `get_config` keeps only those), so the
    driver's node indices are mapped the same way."""
    out = {}

    def visit(container):
        container = inner(container)
        nodes = getattr(container, "container_nodes", None)
        for layer in getattr(container, "layers", None) or []:
            recorded = layer.__dict__.get(attr, {})
            if nodes is None:
                kept = list(range(len(layer.inbound_nodes)))
            else:
                kept = [i for i in range(len(layer.inbound_nodes)) if container._node_key(layer, i) in nodes]
            entry = {j: list(recorded[i]) for j, i in enumerate(kept) if i in recorded}
            if entry:
                out.setdefault(layer.name, {}).update(entry)
            if layer is not container and getattr(layer, "layers", None):
                visit(layer)

    visit(model)
    return out


def seed_plan(model):
    """{layer name: {node index in the rebuilt model: [seed, ...]}}: the seeds of the
    random nodes (Dropout, noise layers, recurrent dropout) each layer call of `model`
    created, for a replica rebuilt from `model.get_config()`."""
    return _per_node(model, "_node_seeds")


def get_counters(model):
    """The call counters of `model`'s random nodes, keyed as `seed_plan`."""
    return {
        name: {j: [K.get_random_counter(t) for t in tensors] for j, tensors in by_node.items()}
        for name, by_node in _per_node(model, "_node_random").items()
    }


def set_counters(model, counters):
    """Moves `model`'s random streams to `counters` (from `get_counters` of a model
    with the same config); nodes absent from either side are left alone."""
    for name, by_node in _per_node(model, "_node_random").items():
        for j, tensors in by_node.items():
            for t, c in zip(tensors, counters.get(name, {}).get(j, [])):
                K.set_random_counter(t, c)


def stateful_layers(model):
    """The stateful recurrent layers of `model`, in layer order."""
    return [
        layer
        for layer in walk_layers(inner(model))
        if getattr(layer, "stateful", False)
        and not getattr(layer, "layers", None)
        and getattr(layer, "states", None)
    ]
