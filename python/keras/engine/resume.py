"""The state beyond weights and optimizer slots that an exact resume needs, kept in a
`ModelCheckpoint` file's `ferrokeras_resume` group.

A resumed `fit(..., initial_epoch=k)` redoes what an uninterrupted run would only if it
draws the same noise and starts from the same recurrent states. The group holds:

- attr `seed_plan`: JSON `{layer name: {node index: [seed, ...]}}`, the seeds of the
  random nodes (Dropout, noise layers, recurrent dropout) each layer call drew when the
  model was built; `load_model` rebuilds the model under it (`K.SeedPlan`);
- attr `random_counters`: JSON, the same keys, each random node's call counter
  (`K.get_random_counter`): with the seed it fixes the noise of the next call;
- group `states/<layer name>`: datasets `state_0`, `state_1`, ... the current states of
  each stateful recurrent layer;
- group `numpy_rng`: numpy's global MT19937 state (dataset `keys`, attrs `pos`,
  `has_gauss`, `cached_gaussian`), which Keras 1's epoch shuffle draws from. It is
  process-global, so `load_model` restores it only when asked (`restore_rng=True`);
- dataset `data_order`: the order of the training rows `fit` had reached (`DataOrder`),
  written by `ModelCheckpoint` when it could follow it (`keras.models.load_data_order`).

`model.save` writes none of this (its file keeps Keras 1's layout exactly);
`ModelCheckpoint(..., save_resume_state=True)`, the default, does.

Keras 1 readers open only the root attrs and the `model_weights` / `optimizer_weights`
groups, so a file with this group stays a valid Keras 1 file.
"""

import json

import numpy as np

from .. import backend as K
from . import layer_walk

GROUP = "ferrokeras_resume"


def write(model, f):
    """Writes `model`'s resume state (and numpy's global RNG state) into group
    `ferrokeras_resume` of the open HDF5 file `f`."""
    group = f.create_group(GROUP)
    group.attrs["seed_plan"] = json.dumps(layer_walk.seed_plan(model)).encode("utf8")
    group.attrs["random_counters"] = json.dumps(layer_walk.get_counters(model)).encode("utf8")
    states = group.create_group("states")
    for layer in layer_walk.stateful_layers(model):
        g = states.create_group(layer.name)
        for i, value in enumerate(K.batch_get_value(list(layer.states))):
            g.create_dataset("state_%d" % i, data=value)
    name, keys, pos, has_gauss, cached = np.random.get_state()
    if name != "MT19937":
        raise ValueError("Cannot save numpy's random state of kind %r (only MT19937)" % name)
    rng = group.create_group("numpy_rng")
    rng.create_dataset("keys", data=np.asarray(keys, dtype=np.uint32))
    rng.attrs["pos"] = int(pos)
    rng.attrs["has_gauss"] = int(has_gauss)
    rng.attrs["cached_gaussian"] = float(cached)


def _json(group, key, filepath):
    value = group.attrs.get(key)
    if value is None:
        raise ValueError("%s is corrupt: '%s' has no '%s' attribute" % (filepath, GROUP, key))
    if isinstance(value, (bytes, np.bytes_)):
        value = value.decode("utf8")
    try:
        out = json.loads(value)
    except ValueError as e:
        raise ValueError("%s is corrupt: '%s/%s' is not JSON (%s)" % (filepath, GROUP, key, e)) from e
    if not isinstance(out, dict) or not all(
        isinstance(by_node, dict)
        and all(isinstance(v, list) and all(isinstance(s, int) for s in v) for v in by_node.values())
        for by_node in out.values()
    ):
        raise ValueError("%s is corrupt: '%s/%s' is not {layer: {node: [int, ...]}}" % (filepath, GROUP, key))
    try:
        # JSON object keys are strings; the node indices are ints.
        return {name: {int(i): v for i, v in by_node.items()} for name, by_node in out.items()}
    except ValueError as e:
        raise ValueError(
            "%s is corrupt: '%s/%s' has a non-integer node index" % (filepath, GROUP, key)
        ) from e


def read_seed_plan(f, filepath):
    """The `K.SeedPlan` stored in `f`, or None when the file has no resume group."""
    if GROUP not in f:
        return None
    return K.SeedPlan(_json(f[GROUP], "seed_plan", filepath))


def restore(model, f, filepath, restore_rng=False):
    """Restores the random counters and stateful RNN states stored in `f` into `model`
    (built under `read_seed_plan`), and numpy's global RNG state when `restore_rng`.
    A file without the group (Keras 1's, or a weights-only one) restores nothing."""
    import h5py

    if GROUP not in f:
        if restore_rng:
            raise ValueError(
                "%s holds no resume state (no '%s' group): numpy's random state cannot be restored"
                % (filepath, GROUP)
            )
        return
    group = f[GROUP]
    layer_walk.set_counters(model, _json(group, "random_counters", filepath))
    states = group.get("states")
    if states is not None:
        by_name = {layer.name: layer for layer in layer_walk.stateful_layers(model)}
        tuples = []
        for name in states:
            layer = by_name.get(name)
            stored = states[name]
            if layer is None or not isinstance(stored, h5py.Group) or len(stored) != len(layer.states):
                raise ValueError(
                    "%s: the stored states of layer %s do not fit the model (no such stateful layer, "
                    "or another number of states)" % (filepath, name)
                )
            for i, variable in enumerate(layer.states):
                value = np.asarray(stored["state_%d" % i])
                expected = tuple(K.get_value(variable).shape)
                if value.shape != expected:
                    raise ValueError(
                        "%s: state %d of layer %s has shape %s, the model's has %s"
                        % (filepath, i, name, value.shape, expected)
                    )
                tuples.append((variable, value))
        K.batch_set_value(tuples)
    if restore_rng:
        rng = group.get("numpy_rng")
        if rng is None or "keys" not in rng:
            raise ValueError("%s is corrupt: '%s' has no 'numpy_rng/keys'" % (filepath, GROUP))
        keys = np.asarray(rng["keys"], dtype=np.uint32)
        if keys.shape != (624,):
            raise ValueError(
                "%s is corrupt: numpy_rng/keys has shape %s, not (624,)" % (filepath, keys.shape)
            )
        np.random.set_state(
            (
                "MT19937",
                keys,
                int(rng.attrs["pos"]),
                int(rng.attrs["has_gauss"]),
                float(rng.attrs["cached_gaussian"]),
            )
        )


def _same_state(a, b):
    return a[0] == b[0] and np.array_equal(a[1], b[1]) and tuple(a[2:]) == tuple(b[2:])


class DataOrder:
    """Follows the order of the training rows across `fit`'s epochs, for a checkpoint.

    Keras 1's `fit` shuffles the *previous* epoch's order in place (`np.random.shuffle`,
    or `batch_shuffle` for `shuffle='batch'`), so the order of epoch k depends on every
    earlier shuffle, and restoring numpy's state alone does not restore it. This class
    replays the shuffle the loop just made: it takes numpy's state when an epoch begins
    (`begin`, before the loop shuffles) and when its first batch begins
    (`first_batch`), and finds the shuffle that turns one into the other. A change
    that no shuffle explains makes the order unknown (`order` None) for the rest of
    the run. Another draw from `np.random` in between (a callback listed after
    `ModelCheckpoint` drawing in `on_epoch_begin`, or one listed before it drawing in
    `on_batch_begin`) breaks the replay; it is caught only when it changes the number
    of 32-bit words drawn, which numpy's rejection sampling sometimes hides, so such
    callbacks must not be combined with a resumable checkpoint.

    # Arguments
        nb_sample: number of training rows.
        batch_size: `fit`'s batch size.
        base: the order of the rows given to `fit` in the original data (a resumed run
            trains on `x[base]`), so `order` always indexes the original data.
    """

    def __init__(self, nb_sample, batch_size, base=None):
        self.batch_size = int(batch_size)
        self.order = np.arange(nb_sample)
        self.base = None if base is None else np.asarray(base)
        self._before = None

    def begin(self):
        self._before = np.random.get_state()

    def first_batch(self):
        before, self._before = self._before, None
        if before is None or self.order is None:
            return
        after = np.random.get_state()
        if _same_state(before, after):
            return
        from .training import batch_shuffle

        def shuffled(order):
            order = order.copy()
            np.random.shuffle(order)
            return order

        try:
            for replay in (shuffled, lambda order: batch_shuffle(order, self.batch_size)):
                np.random.set_state(before)
                candidate = replay(self.order)
                if _same_state(np.random.get_state(), after):
                    self.order = candidate
                    return
            self.order = None
        finally:
            np.random.set_state(after)

    def absolute(self):
        """The current order as indices into the original data (None: unknown)."""
        if self.order is None:
            return None
        return self.order if self.base is None else self.base[self.order]


def write_order(f, order):
    """Stores the training rows' order in the open file's resume group."""
    f[GROUP].create_dataset("data_order", data=np.asarray(order, dtype=np.int64))


def read_order(filepath):
    """The order of the training rows stored by `ModelCheckpoint` in `filepath`."""
    import h5py

    try:
        f = h5py.File(filepath, mode="r")
    except OSError as e:
        raise OSError("Unable to open model file %s: %s" % (filepath, e)) from e
    with f:
        group = f.get(GROUP)
        if group is None or "data_order" not in group:
            raise ValueError(
                "%s holds no data order: it was not written by ModelCheckpoint during fit, or "
                "the order could not be followed (another np.random draw between an epoch's "
                "start and its shuffle)" % filepath
            )
        order = np.asarray(group["data_order"])
    if (
        order.ndim != 1
        or order.dtype.kind != "i"
        or not np.array_equal(np.sort(order), np.arange(len(order)))
    ):
        raise ValueError("%s is corrupt: its data order is not a permutation" % filepath)
    return order
