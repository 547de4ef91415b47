"""Going on with fewer workers after one is lost (`keras.distributed.fit(min_workers=)`),
and the checks of the elastic arguments (`min_workers <= workers <= max_workers`).

Waiting for a replacement (fewer than `min_workers` left) and growing back to
`max_workers` happen on the driver (`_Run.restart`, `_Run.grow`): a fresh worker is
started from the driver's state, which is current on the driver's reduction path.

When a worker dies during a step, the step is finished exactly as it would have been:
a surviving worker computes the lost worker's shard gradient as the lost worker would
have (`Recompute.regrad`: its random streams and state variables are put back where
they were when the step began, the gradient is computed with the lost shard's rows
and row offset, and they are restored), so that step's average is the undisturbed
one. From the next step on, each global batch is split across the survivors, which
changes nothing but the float32 rounding of the weighted gradient sum (the same
difference as between any two worker counts).

`StandIn` answers the lost worker's calls of the step in progress: its gradient
through `regrad` on a survivor, calls that only read replica state (identical on every
replica) from the survivor, and calls that would change the lost replica's own state
(an idle step's `apply`, `skip`, `set_epoch`) with nothing, since that replica is gone.
"""

import numpy as np

__all__ = ["Recompute", "StandIn", "check_arguments"]

_READS = ("get_counters", "get_state", "get_state_values", "traffic", "info")


class Recompute:
    """Mixin for `Replica`: remembers where its random streams and state variables
    stood at the start of each step, to compute another shard of that step."""

    _snapshot = None

    def __init__(self, spec, data, rank, threads):
        super().__init__(spec, data, rank, threads)
        self.elastic = bool(spec.get("elastic"))

    def _begin(self, pending, hyper, reset):
        super()._begin(pending, hyper, reset)
        if self.elastic:
            self._snapshot = (self._counters(), self._state_values())

    def _counters(self):
        from . import _spec

        return _spec.get_counters(self.outer)

    def _state_values(self):
        from .. import backend as K
        from . import _spec

        return [np.array(K.get_value(v)) for v in _spec.state_variables(_spec.state_rules(self.model))]

    def _restore(self, counters, values):
        from .. import backend as K
        from . import _spec

        _spec.set_counters(self.outer, counters)
        for v, value in zip(_spec.state_variables(_spec.state_rules(self.model)), values):
            K.set_value(v, value)

    def regrad(self, start, end, scales, row0):
        """What `step` returned on the worker that held rows start:end of this step:
        (outs, flat gradient, state values), this replica's streams and state left
        as they were."""
        if self._snapshot is None:
            raise RuntimeError("regrad before any step")
        now = (self._counters(), self._state_values())
        calls = self.calls
        self._restore(*self._snapshot)
        try:
            return self._grad(start, end, scales, row0)
        finally:
            self._restore(*now)
            self.calls = calls


class _Done:
    def __init__(self, ray):
        self.ray = ray

    def remote(self, *args, **kwargs):
        return self.ray.put(True)


class _Regrad:
    def __init__(self, actor):
        self.actor = actor

    def remote(self, pending, hyper, start, end, scales, row0, reset=False):
        return self.actor.regrad.remote(start, end, scales, row0)


class StandIn:
    """The lost worker's actor handle for the rest of the step in progress."""

    def __init__(self, ray, survivor):
        self.ray, self.survivor = ray, survivor

    def __getattr__(self, name):
        if name == "step":
            return _Regrad(self.survivor)
        if name in _READS:
            return getattr(self.survivor, name)
        return _Done(self.ray)


def check_arguments(workers, min_workers, max_workers, replacement_timeout, sync_every, stateful):
    """(min_workers or None, max_workers, replacement_timeout) as numbers, or ValueError."""
    min_workers = None if min_workers is None else int(min_workers)
    max_workers = workers if max_workers is None else int(max_workers)
    lowest = 1 if min_workers is None else min_workers
    if not 1 <= lowest <= workers <= max_workers:
        raise ValueError(
            "keras.distributed.fit: need 1 <= min_workers <= workers <= max_workers; got min_workers=%r, "
            "workers=%r, max_workers=%r" % (min_workers, workers, max_workers)
        )
    replacement_timeout = float(replacement_timeout)
    if not replacement_timeout >= 0.0:
        raise ValueError(
            "keras.distributed.fit: replacement_timeout must be a number of seconds >= 0; got %r"
            % (replacement_timeout,)
        )
    if (min_workers is not None or max_workers > workers) and (sync_every != 1 or stateful):
        raise ValueError(
            "keras.distributed.fit: min_workers and max_workers need sync_every=1 and a model that is not "
            "stateful (got sync_every=%d, stateful=%s)" % (sync_every, bool(stateful))
        )
    return min_workers, max_workers, replacement_timeout
