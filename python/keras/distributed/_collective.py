"""Gradient reduction among the workers: reduce-scatter, then all-gather, over Ray
object refs (Ray Core only), with the driver coordinating and moving refs only.

With `W` workers the flat gradient of `P` floats is cut into `W` contiguous slices
(`slices(P, W)`, sizes differing by at most one). A step runs in two calls per worker:

1. `step`: the worker applies the previous step's averaged gradient (fetching the `W`
   reduced slices from their owners), computes its shard's gradient, puts its `W`
   slices into the object store, and returns the ref of one more object, its
   *bundle*: the list of its `W` slice refs (with its logged outputs).
2. `reduce(ranks, bundles, shares)`: the driver puts the contributing workers' bundle
   refs into one object and passes that to every worker; worker `j` fetches the
   bundles, then slice `j` of every contributing worker straight from the others'
   object stores, forms `sum_k a_k g_k[j]`, puts it and returns its ref. The driver
   puts the `W` reduced refs into one object, passed with the next `step` call.

Each worker sends and receives about `2 P (W-1) / W` floats per step; the driver
handles `O(W)` refs per step (a ref crossing the driver costs it a few messages of
Ray's ownership protocol), whatever `P` is.

Summation order: `weighted_sum` is the arithmetic of the driver path
(`keras.distributed.fit` without the collective): `g = a_0 g_0`, then `g += a_k g_k`
for the contributing workers in rank order, in float32. Every operation is
element-wise, so summing slice `j` gives bit for bit slice `j` of the driver's sum:
both paths train to the same bits.

The driver's model is not updated per step on this path (its weights would cost `P`
floats per step): after each epoch's last step every worker applies the pending
gradient and the driver takes worker 0's weights and optimizer state.
"""

import numpy as np

__all__ = ["slices", "weighted_sum", "worthwhile", "CollectiveReduce", "Reduced", "ref_bytes"]

# Gradient floats from which the collective path is the faster one, on more than 2
# workers spread over several nodes: the cost model of
# benches/python/distributed_overhead.py (`--scaling`) puts the collective's extra
# coordination at ~8 ms per worker and step (its driver handles ~5 ms of Ray's
# ownership messages per worker where the driver path needs ~1, measured on a 2-core
# host), while the driver path's link moves 2 x 4P bytes per worker, 6.4 ns x P on a
# 10 Gb/s network: they break even at P ~ 1.25e6.
MIN_FLOATS = 1_250_000


def worthwhile(workers, nodes, model):
    """True when `reduce='auto'` should take the collective path: more than 2 workers,
    on more than one node (on one node the driver path's copies are memory copies),
    and a gradient of at least `MIN_FLOATS` floats."""
    from .. import backend as K

    floats = sum(K.count_params(w) for w in model.trainable_weights)
    return workers > 2 and nodes > 1 and floats >= MIN_FLOATS


def slices(p, workers):
    """`[(s, e)]`: the contiguous slice of a `p`-vector each of `workers` reduces (and
    the rows of a batch of `p` each worker computes on), sizes differing by at most one."""
    sizes = [p // workers + (1 if k < p % workers else 0) for k in range(workers)]
    bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    return [(int(bounds[k]), int(bounds[k + 1])) for k in range(workers)]


def weighted_sum(grads, shares):
    """`sum_k shares[k] * grads[k]` in float32, in the given order: the driver path's
    arithmetic (a single gradient with share 1.0 is returned as it is)."""
    if len(grads) == 1:
        g, a = grads[0], shares[0]
        return g if a == 1.0 else (g * np.float32(a)).astype(np.float32)
    flat, term = None, None
    for g, a in zip(grads, shares):
        if flat is None:
            flat = np.multiply(g, np.float32(a))
            term = np.empty_like(flat)
        else:
            np.multiply(g, np.float32(a), out=term)
            flat += term
    return flat


class Reduced:
    """The previous step's averaged gradient: `table`, the ref of the list of the `W`
    reduced slices' refs (and the driver's combined state, or None), in place of the
    driver path's `(flat, state)`."""

    def __init__(self, table, state):
        self.table, self.state = table, state


class CollectiveReduce:
    """Mixin for `Replica`: the worker side of the collective path. `workers` is set by
    the driver (`set_workers`); with it 0 the replica behaves as on the driver path."""

    workers = 0
    # gradient bytes this worker received from / sent to the driver or other workers
    bytes_in = 0
    bytes_out = 0

    def info(self):
        import ray

        return dict(super().info(), node=ray.get_runtime_context().get_node_id())

    def set_workers(self, workers):
        self.workers = int(workers)
        return True

    def traffic(self):
        return {"in": self.bytes_in, "out": self.bytes_out}

    def _begin(self, pending, hyper, reset):
        if isinstance(pending, Reduced):
            import ray

            parts = ray.get(ray.get(pending.table))
            self.bytes_in += sum(p.nbytes for j, p in enumerate(parts) if j != self.rank)
            pending = (np.concatenate(parts) if len(parts) > 1 else parts[0], pending.state)
        elif pending is not None:
            self.bytes_in += pending[0].nbytes
        super()._begin(pending, hyper, reset)

    def _grad(self, start, end, scales, row0):
        outs, flat, state = super()._grad(start, end, scales, row0)
        if not self.workers:
            self.bytes_out += flat.nbytes
            return outs, flat, state
        import ray

        bounds = slices(flat.size, self.workers)
        bundle = ray.put([ray.put(flat[s:e]) for s, e in bounds])
        s, e = bounds[self.rank]
        self.bytes_out += flat.nbytes - (e - s) * flat.itemsize  # the other reducers fetch theirs
        return outs, bundle, state

    def reduce(self, ranks, bundles, shares):
        """Slice `self.rank` of `sum_k shares[k] * g_k` from the bundles (lists of
        slice refs) of the contributing workers `ranks` (rank order), put into the
        object store; returns `[ref]` (a list, so that the driver receives the ref,
        not the value)."""
        import ray

        parts = ray.get([b[self.rank] for b in ray.get(list(bundles))])
        self.bytes_in += sum(p.nbytes for k, p in zip(ranks, parts) if k != self.rank)
        out = weighted_sum(parts, shares)
        self.bytes_out += (self.workers - 1) * out.nbytes  # every other worker fetches it
        return [ray.put(out)]


def ref_bytes(obj):
    """Bytes the driver sends or receives for `obj` (a call's argument or result), as
    Ray serialises it: arrays by their buffers, and each object ref inside by the size
    of the ref alone (its id and owner address), an upper bound of what it adds."""
    from ray import ObjectRef
    from ray._private.worker import global_worker

    ctx = global_worker.get_serialization_context()
    refs = []

    def walk(o):
        if isinstance(o, ObjectRef):
            refs.append(o)
        elif isinstance(o, (list, tuple)):
            for v in o:
                walk(v)
        elif isinstance(o, dict):
            for v in o.values():
                walk(v)
        elif isinstance(o, Reduced):
            walk(o.table)
            walk(o.state)

    walk(obj)
    return int(ctx.serialize(obj).total_bytes) + sum(int(ctx.serialize(r).total_bytes) for r in refs)
