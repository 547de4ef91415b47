"""Data-parallel training on a Ray cluster: `keras.distributed.fit`.

`fit(model, x, y, ..., workers=2)` trains `model` exactly as `model.fit` would, with
each global batch split across `workers` replicas (Ray actors). Ray is an optional
dependency (`pip install 'ferrokeras[distributed]'`), imported only when `fit` runs;
`import keras` never imports it.

# How a step runs

The driver keeps the model and runs `model.fit`'s own loop (`keras.engine.loop`:
argument checks, data preparation, epochs, shuffling, callbacks, the progress bar,
History and validation, once, on the driver); this module supplies only the step
(`_DistributedStep`). Each global batch `[start, end)` is split into one contiguous
shard per worker. A worker runs the model's *gradient function* on its shard (forward,
backward, every gradient in one flat float32 vector). Keras 1 normalises a weighted
loss by the count of samples with non-zero weight, so the driver averages the workers'
gradients weighted by each shard's count of non-zero-weight samples:
`g = sum_k nnz_k / nnz * g_k`, which is the gradient of the whole batch's loss
(regularisation terms included once). With several outputs whose non-zero counts
differ by shard, the shards' sample weights are rescaled per output so the same sum
holds. Every replica, and the driver, then runs the same *apply function* (clipping,
the optimizer step, constraints) on `g`, so all replicas hold the same weights; the
apply of step t travels with the request of step t+1 (one round trip per step).
Logged losses are averaged with the same weights, other metrics weighted by shard size.
A shard whose sample weights are all zero still runs (its metrics and moving statistics
count, as in `model.fit`), but its gradient (Keras 1's 0/0) is left out.

# Rules

- Equality: with `workers=1` the weights, losses and metrics are bitwise those of
  `model.fit` on an identically built model with the same `np.random` seed (the fused
  train step equals gradient + apply bit for bit). With more workers the result equals
  single-process training up to float32 rounding of the weighted sum (Dropout,
  GaussianNoise, GaussianDropout, recurrent dropout, masked losses and stateful RNNs
  included; BatchNormalization in the training phase is the exception, see State).
- Masked losses: Keras 1 divides a masked loss by the mask's mean over the whole batch
  and a weighted one by the share of non-zero weights, so a shard's loss is normalised
  differently from the batch's. For every step the driver evaluates the output masks
  on the batch (from its weights, which equal the replicas') and weights shard k by
  its rows `a_k = N_k / N`, with its sample weights of output o scaled by
  `c_k / a_k`, where `c_k = (N M_k nnz_k) / (N_k M nnz)` (M: mask sum, nnz: non-zero
  weights, N: rows; without a mask `c_k = nnz_k / nnz`): `sum_k a_k g_k` is then the
  gradient of the whole batch's loss, regularisation counted once.
- Randomness (the RNG rule): every replica's random nodes take the driver's seeds
  (each layer call's seeds are recorded by layer and node, and a replica rebuilt from
  the config takes them back), and a worker runs its shard of rows `r0..r1` of the
  global batch with a *row offset* `r0`: random ops whose noise follows the batch axis
  (Dropout, SpatialDropout, GaussianNoise, GaussianDropout, recurrent dropout) draw for
  local row j the Philox elements of global row `r0 + j`. Every worker runs every step
  (an empty shard still advances its streams; validation, in the test phase, draws
  nothing), so each stream's call counter advances exactly as in `model.fit`: the
  shards together draw exactly the single-process masks. A replacement worker
  (`max_failures`) advances its streams to the failed worker's counter before it
  resumes. Not covered: random nodes made outside layer calls (in a custom loss or
  metric) take seeds drawn on the workers; fixed-shape `K.random_*` tensors are drawn
  whole on every worker. The workers' streams start at the driver's call counters and
  the driver takes theirs at the end, so successive `fit` calls (distributed or not)
  continue the streams as successive `model.fit` calls do; the driver's own `evaluate`
  / `predict` calls during `fit` (in callbacks, say) are not replayed.
- State: BatchNormalization (mode 0) normalises each shard with the shard's own
  statistics in the training phase, as any data-parallel Keras did, so with
  `workers > 1` a model with it only approximates single-process training. Its moving
  statistics, though, are the whole batch's: after every step the driver combines the
  workers' moving means (row-weighted average, which is the moving average of the
  batch mean) and variances (the same, plus the spread of the shard means: the batch's
  biased variance), keeps them and sends them back with the next step. Other state
  updates (a custom layer's `add_update`) are combined by row-weighted averaging.
- Stateful RNNs: the global batch (`batch_input_shape[0]`, which must equal
  `batch_size`, as Keras requires) is split into fixed contiguous row ranges, one per
  worker; each replica is built with batch size = its share and keeps its rows'
  states from batch to batch, which is exactly what `model.fit` does with them
  (shuffle or not). A `reset_states()` on the driver (a callback's) resets the workers'
  states before the next step. At the end of every epoch the driver gathers the
  states; its validation carries them on, as `model.fit`'s does, and hands them back.
  A failed worker's states cannot be recovered, so `max_failures` must be 0.
- `sync_every=k > 1` is an approximation (local SGD): each worker applies its own
  shard's gradient every step, and every k steps (and at each epoch end) the weights
  and optimizer slots are averaged across workers, weighted by the samples each
  processed since the last average (BatchNormalization's moving statistics, being
  weights, with them). There is no asynchronous mode.
- Threads: each worker sets `RAYON_NUM_THREADS=cpus_per_worker` before the engine
  starts and asks Ray for `cpus_per_worker` CPUs.
- Faults: a worker that dies or raises ends `fit` with `WorkerError` naming the worker
  and the step, after every actor of the run is killed. With `max_failures=n`, up to n
  failures are absorbed: the step is retried on a fresh worker started from the
  driver's current weights and optimizer state (which equal the failed worker's), so
  training goes on to the same result. (With `sync_every > 1` the fresh worker starts
  from the last averaged state instead: not the undisturbed result.)
  With `min_workers=m`, a failure beyond those leaves the run going on without the
  lost worker while at least m remain: a survivor computes the lost shard of the
  step in progress as its worker would have (same random streams and state), and the
  following batches are split across the survivors (`_elastic`). A failure that
  would leave fewer than m instead waits up to `replacement_timeout` seconds (default
  60) for Ray to place a fresh worker (started from the driver's state, its streams
  advanced to the lost one's), which redoes the step; past the timeout the run stops
  with `ReplacementTimeout` (a `WorkerError`), the driver's model holding the weights
  and optimizer state of the last completed step.
- Growth (`max_workers`, default `workers`): at the start of every epoch, after the
  callbacks' `on_epoch_begin` and before the first step, a run with fewer workers than
  `max_workers` starts fresh ones where Ray has free CPUs (after a lost node came
  back, or more than `workers` fit from the start). They take the driver's weights
  and optimizer state and a worker's random streams, so the run goes on as it would
  have with that many workers; a worker count that changes changes nothing but the
  float32 rounding of the gradient sum.
- Limits: with several outputs, a shard whose sample weights (or mask) for one output
  are all zero while the batch has others, and not for the other outputs, raises
  NotImplementedError. Custom layer classes, losses and metrics travel by reference
  (cloudpickle): their modules must be importable on the workers; Lambda functions
  travel as Keras 1's bytecode in the config.
- Callbacks see the driver's model, updated after every step (with `sync_every > 1`,
  at every averaging). Ray is initialised with `ray.init(address=address)` when it is
  not yet; the cluster is left running.
- Data: in-memory arrays are sent once through the object store and every worker holds
  them whole. Inputs and targets given as shard sources (`NpyFiles`, `HDF5Rows`,
  `RowFunction`, `ray_dataset`; see `_shards`) stay outside the driver: each
  worker reads only its rows of each batch, in the same seeded order, so the result
  is the same as with the arrays. Validation on sources runs on the driver, reading
  one batch at a time. Not with sources: class_weight, masked losses (workers > 1).
- Reduction (`reduce`): 'driver' sums the gradients on the driver; 'workers'
  (`_collective`) reduce-scatters and all-gathers them among the workers, with the
  same arithmetic in the same order (bitwise the same training), the driver moving
  only object refs. 'auto' takes 'workers' where it is the faster path
  (`_collective.worthwhile`: more than 2 workers on several nodes and a gradient of at
  least 1.25M floats) and allowed (sync_every=1, max_failures=0, no masked loss).
  There the driver's model is updated at each epoch end (callbacks' on_batch_end see
  the weights of the epoch's start).
"""

import time
import uuid

import numpy as np

from ._shards import HDF5Rows, NpyFiles, RowFunction, ray_dataset

__all__ = ["fit", "WorkerError", "ReplacementTimeout", "NpyFiles", "HDF5Rows", "RowFunction", "ray_dataset"]


class WorkerError(RuntimeError):
    """A worker of `keras.distributed.fit` died or raised."""

    def __init__(self, message, worker=None, step=None):
        super().__init__(message)
        self.worker = worker
        self.step = step


class ReplacementTimeout(WorkerError):
    """No fresh worker could start within `replacement_timeout` seconds where one was
    needed: to keep `min_workers` running after a loss, or to retry a step
    (`max_failures`). Every worker of the run is stopped; the driver's model holds the
    weights and optimizer state of the last completed step."""

    def __init__(self, message, worker=None, step=None, survivors=(), min_workers=None, timeout=None):
        super().__init__(message, worker=worker, step=step)
        self.survivors = list(survivors)
        self.min_workers = min_workers
        self.timeout = timeout


def _import_ray():
    try:
        import ray
    except ImportError as e:
        raise ImportError(
            "keras.distributed.fit needs Ray, which is not installed. Install it with "
            "`pip install 'ferrokeras[distributed]'` (from a checkout: `pip install '.[distributed]'`) "
            "or `pip install ray`."
        ) from e
    return ray


def _nnz(w):
    """Non-zero weight count of a (sub)batch of sample weights."""
    return int(np.count_nonzero(w))


def _split(start, end, workers):
    """Contiguous shards `[(s, e)]` of rows start:end, sizes differing by at most one."""
    from ._collective import slices

    return [(start + s, start + e) for s, e in slices(end - start, workers)]


class _Run:
    """The driver side of one `fit` call: the actors and the step protocol."""

    def __init__(
        self,
        ray,
        model,
        spec,
        data_ref,
        workers,
        cpus_per_worker,
        max_failures,
        collective=False,
        elastic=(None, None, 60.0),
    ):
        self.ray = ray
        self.model = model
        self.spec = spec
        self.data_ref = data_ref
        self.workers = workers
        self.cpus = cpus_per_worker
        self.max_failures = max_failures
        self.failures = 0
        # min_workers (None: none), max_workers (None: workers), replacement timeout (s)
        self.min_workers, max_workers, self.timeout = elastic
        self.max_workers = workers if max_workers is None else max_workers
        self.fresh = set()  # ranks started from the driver's state since the last step
        self.lost = []  # ranks lost in the call in progress (min_workers), dropped after it
        self.tag = uuid.uuid4().hex[:8]
        self.generation = 0
        self.remote_cls = ray.remote(_worker_class())
        self.actors = [None] * workers
        self.names = [None] * workers
        self.calls = [0] * workers
        self.index_ref = None
        self.reset_pending = False
        for k in range(workers):
            self.actors[k] = self._start(k, spec)
        try:
            self.info = self._gather({k: a.info.remote() for k, a in enumerate(self.actors)}, "start-up")
            if collective == "auto":
                from . import _collective

                nodes = {i["node"] for i in self.info.values()}
                collective = _collective.worthwhile(workers, len(nodes), model)
            self.collective = bool(collective)
            if self.collective:
                self._gather(
                    {k: a.set_workers.remote(workers) for k, a in enumerate(self.actors)}, "start-up"
                )
        except _Failure as f:
            self.fail(f.worker, f.where, f.error)

    def _start(self, k, spec):
        self.generation += 1
        name = "ferrokeras-worker-%s-%d-%d" % (self.tag, k, self.generation)
        self.names[k] = name
        return self.remote_cls.options(
            name=name, num_cpus=self.cpus, max_restarts=0, max_task_retries=0
        ).remote(spec, self.data_ref, k, self.cpus)

    def _kill(self, actor):
        try:
            self.ray.kill(actor, no_restart=True)
        except Exception:  # already gone
            pass

    def kill_all(self):
        for a in self.actors:
            if a is not None:
                self._kill(a)
        self.actors = [None] * self.workers

    def _start_ready(self, k, spec):
        """A fresh worker k that answered, or None when Ray could not place one within
        `timeout` seconds (a start that dies, on a node going away, is tried again)."""
        ray = self.ray
        deadline = time.monotonic() + self.timeout
        while True:
            actor = self._start(k, spec)
            ref = actor.info.remote()
            ready, _ = ray.wait([ref], timeout=max(0.0, deadline - time.monotonic()))
            if ready:
                try:
                    ray.get(ref)
                    return actor
                except Exception:
                    pass
            self._kill(actor)
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.5)

    def _fresh_spec(self, counters=None):
        """The spec of a worker started now: the driver's weights, optimizer state and
        hyper-parameters (current on the driver's reduction path), and `counters` for its
        random streams (None: those of the start of `fit`, advanced by `skip`)."""
        from . import _spec

        spec = dict(self.spec)
        spec["state"] = _spec.get_state(self.model)
        spec["hyper"] = _spec.get_hyper(self.model.optimizer)
        if counters is not None:
            spec["counters"] = counters
        return spec

    def give_up(self, k, where, error, survivors):
        self.kill_all()
        detail = str(error).strip().splitlines()
        detail = detail[-1] if detail else type(error).__name__
        if self.min_workers is None:
            need = "a replacement (max_failures=%d)" % self.max_failures
        else:
            need = "%d surviving worker(s) %s, fewer than min_workers=%d" % (
                len(survivors),
                survivors,
                self.min_workers,
            )
        raise ReplacementTimeout(
            "keras.distributed.fit: worker %d failed at %s (%s: %s); %s, and Ray had no room for a new "
            "worker within replacement_timeout=%gs; all workers were stopped (the model holds the weights "
            "and optimizer state of the last completed step)"
            % (k, where, type(error).__name__, detail, need, self.timeout),
            worker=k,
            step=where,
            survivors=survivors,
            min_workers=self.min_workers,
            timeout=self.timeout,
        ) from error

    def _gather(self, refs, where):
        """Results by worker; the first failure raises `_Failure` at once."""
        ray = self.ray
        by_ref = {r: k for k, r in refs.items()}
        pending = list(refs.values())
        results = {}
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for r in ready:
                k = by_ref[r]
                try:
                    results[k] = ray.get(r)
                except Exception as e:
                    raise _Failure(k, where, e) from e
        return results

    def fail(self, k, where, error):
        self.kill_all()
        detail = str(error).strip().splitlines()
        detail = detail[-1] if detail else type(error).__name__
        raise WorkerError(
            "keras.distributed.fit: worker %d failed at %s (%s: %s); all workers were stopped"
            % (k, where, type(error).__name__, detail),
            worker=k,
            step=where,
        ) from error

    def replace(self, k, where, error):
        """A fresh worker k from the driver's current state, or WorkerError."""
        self.failures += 1
        if self.failures > self.max_failures:
            self.fail(k, where, error)
        self.restart(k, where, error)

    def restart(self, k, where, error):
        """Worker k anew from the driver's current state, its random streams advanced to
        the lost worker's; waits up to `timeout` for Ray to have room, else
        `ReplacementTimeout`."""
        old = self.actors[k]
        if not isinstance(error, self.ray.exceptions.RayActorError):
            self._kill(old)  # alive (it raised): its CPUs are needed
        # A dead actor is killed only once its successor runs: until Ray declares a
        # lost node dead, the actor's CPUs there count as taken, so the successor
        # cannot be placed on that node.
        actor = self._start_ready(k, self._fresh_spec())
        self._kill(old)
        if actor is None:
            survivors = [j for j in range(self.workers) if j != k and j not in self.lost]
            self.give_up(k, where, error, survivors)
        self.actors[k] = actor
        self._gather({k: actor.set_epoch.remote(self.index_ref)}, where)
        self._gather({k: actor.skip.remote(self.calls[k])}, where)

    def grow(self, where):
        """Up to `max_workers`: fresh workers where Ray has room now (at an epoch's
        start), from the driver's state and a worker's random streams; a start Ray does
        not place within `timeout` is given up (the run goes on as it is)."""
        want = self.max_workers - self.workers
        room = int(self.ray.available_resources().get("CPU", 0) // self.cpus) if want > 0 else 0
        if min(want, room) <= 0:
            return
        counters = self._gather({0: self.actors[0].get_counters.remote()}, where)[0]
        spec = self._fresh_spec(counters)
        for _ in range(min(want, room)):
            k = self.workers
            self.actors.append(None)
            self.names.append(None)
            self.calls.append(self.calls[0])
            actor = self._start_ready(k, spec)
            if actor is None:
                for column in (self.actors, self.names, self.calls):
                    column.pop()
                return
            self.actors[k] = actor
            self.workers += 1
            self.fresh.add(k)

    def drop(self, k, where, error):
        """With `min_workers`: worker k is lost; a survivor stands in for it until the
        call in progress ends (see `_elastic`), then the run goes on without it. Were
        fewer than `min_workers` left, worker k is started anew instead (`restart`)."""
        from ._elastic import StandIn

        alive = [j for j in range(self.workers) if j != k and j not in self.lost]
        if self.min_workers is None:
            self.fail(k, where, error)
        if len(alive) < self.min_workers:
            # wait for room for a new worker k, which then redoes the step
            self.restart(k, where, error)
            return
        self._kill(self.actors[k])
        self.lost.append(k)
        self.actors[k] = StandIn(self.ray, self.actors[alive[0]])

    def shrink(self):
        for k in sorted(self.lost, reverse=True):
            for column in (self.actors, self.names, self.calls):
                del column[k]
        self.workers -= len(self.lost)
        self.lost = []

    def call(self, make, where):
        """Runs `make(k, actor) -> ref or None` on every worker and gathers; failed
        workers are replaced (`max_failures`) or dropped (`min_workers`) and their call
        redone (`make(k, actor, retry=True)`)."""
        refs = {}
        for k, a in enumerate(self.actors):
            r = make(k, a, False)
            if r is not None:
                refs[k] = r
        results = {}
        while True:
            try:
                results.update(self._gather({k: r for k, r in refs.items() if k not in results}, where))
                return results
            except _Failure as f:
                if self.failures < self.max_failures:
                    self.replace(f.worker, where, f.error)
                else:
                    self.drop(f.worker, where, f.error)
                refs[f.worker] = make(f.worker, self.actors[f.worker], True)
            finally:
                if self.lost and len(results) == len(refs):
                    self.shrink()


def _reset_hook(run, layer):
    cls_reset = type(layer).reset_states

    def reset_states(states=None):
        if states is not None:
            raise NotImplementedError(
                "keras.distributed.fit: reset_states(states) with given values during training is not supported"
            )
        cls_reset(layer)
        run.reset_pending = True

    return reset_states


def _worker_class():
    """The worker actor's class: a `Replica` that opens shard sources itself and can
    reduce gradients with the other workers."""
    from ._collective import CollectiveReduce
    from ._elastic import Recompute
    from ._replica import Replica
    from ._shards import ShardedInput

    class Worker(ShardedInput, Recompute, CollectiveReduce, Replica):
        pass

    return Worker


class _Failure(Exception):
    def __init__(self, worker, where, error):
        super().__init__(str(error))
        self.worker = worker
        self.where = where
        self.error = error


def fit(
    model,
    x,
    y,
    batch_size=32,
    nb_epoch=10,
    verbose=1,
    callbacks=[],  # noqa: B006 (Keras 1's signature; never mutated)
    validation_split=0.0,
    validation_data=None,
    shuffle=True,
    class_weight=None,
    sample_weight=None,
    initial_epoch=0,
    *,
    workers=2,
    address=None,
    cpus_per_worker=1,
    sync_every=1,
    max_failures=0,
    reduce="auto",
    min_workers=None,
    max_workers=None,
    replacement_timeout=60.0,
):
    """Trains a compiled `model` data-parallel on Ray; returns a `History`, as
    `model.fit`. See the module docstring for the rules.

    # Arguments
        model: a compiled Sequential or functional `Model`.
        x, y, batch_size, nb_epoch, verbose, callbacks, validation_split,
        validation_data, shuffle, class_weight, sample_weight, initial_epoch:
            as in `model.fit`; `batch_size` is the global batch.
        workers: number of worker actors (replicas).
        address: Ray cluster address (`'auto'`, `'ray://host:10001'`), used when Ray is
            not initialised yet; None starts a local cluster.
        cpus_per_worker: CPUs reserved per worker; also its engine thread count.
        sync_every: 1 for exact synchronous training; k > 1 averages weights and
            optimizer slots every k steps (an approximation).
        max_failures: how many worker failures to absorb by retrying on a fresh worker.
        min_workers: after those, go on without a lost worker as long as this many
            remain (see `_elastic`); with fewer, wait up to `replacement_timeout` for
            Ray to have room for a new worker, which takes the lost one's place. None:
            a failure beyond `max_failures` raises `WorkerError`.
        max_workers: the most workers the run grows to (None: `workers`). At the start
            of every epoch (after the callbacks' `on_epoch_begin`, before its first
            step) the run adds fresh workers, from the driver's state, while it has
            fewer than `max_workers` and Ray has free CPUs for them.
        replacement_timeout: seconds to wait for Ray to place a new worker (one that
            replaces a lost worker, or one `max_workers` adds); a replacement not
            started by then raises `ReplacementTimeout`, a growth is given up.
        reduce: `'driver'` (the driver sums the gradients), `'workers'` (reduce-scatter
            and all-gather among the workers; see `_collective`) or `'auto'`: the
            workers where the path allows it and it is the faster one
            (`_collective.worthwhile`: more than 2 workers on several nodes, a large
            gradient).

    # Returns
        A `History`; `history.worker_samples` lists, per epoch, the samples each
        worker computed gradients on.

    # Raises
        ImportError: Ray is not installed.
        WorkerError: a worker died or raised (more than `max_failures` times, and
            `min_workers` not given).
        ReplacementTimeout: (a `WorkerError`) a new worker was needed and Ray had no
            room for it within `replacement_timeout` seconds.
        ValueError: as `model.fit` (`batch_size`, `nb_epoch` / `initial_epoch`,
            `validation_split`, mismatched arrays).
        ValueError: the cluster has fewer CPUs than `workers * cpus_per_worker`.
        ValueError: not `1 <= min_workers <= workers <= max_workers`, a negative
            `replacement_timeout`, or `min_workers` / `max_workers > workers` with
            `sync_every > 1` or a stateful model.
        ValueError: a stateful model trained with another batch size than the one it
            was built for, with more workers than rows, or with `max_failures > 0`.
    """
    from .. import backend as K
    from ..engine import loop
    from ..engine.training import dedupe_labels
    from . import _elastic, _spec

    ray = _import_ray()
    outer, model = model, _spec.inner(model)
    if not hasattr(model, "train_function"):
        raise RuntimeError("You must compile your model before using it.")
    workers, cpus_per_worker, sync_every = int(workers), int(cpus_per_worker), int(sync_every)
    if workers < 1 or cpus_per_worker < 1 or sync_every < 1 or int(max_failures) < 0:
        raise ValueError(
            "keras.distributed.fit: workers, cpus_per_worker and sync_every must be >= 1 and "
            "max_failures >= 0; got workers=%r, cpus_per_worker=%r, sync_every=%r, max_failures=%r"
            % (workers, cpus_per_worker, sync_every, max_failures)
        )
    min_workers, max_workers, replacement_timeout = _elastic.check_arguments(
        workers, min_workers, max_workers, replacement_timeout, sync_every, model.stateful
    )
    stateful_rows = None
    if model.stateful:
        stateful_batch = {layer._state_batch() for layer in _spec.stateful_layers(model)}
        if len(stateful_batch) != 1:
            raise ValueError(
                "keras.distributed.fit: the stateful layers disagree on the batch size (%s)"
                % sorted(stateful_batch)
            )
        (stateful_batch,) = stateful_batch
        if batch_size != stateful_batch:
            raise ValueError(
                "keras.distributed.fit: a stateful model built for batches of %d must be trained with "
                "batch_size=%d (got %d)" % (stateful_batch, stateful_batch, batch_size)
            )
        if workers > stateful_batch:
            raise ValueError(
                "keras.distributed.fit: a stateful model's batch of %d rows cannot be split across %d workers"
                % (stateful_batch, workers)
            )
        if int(max_failures) > 0:
            raise ValueError(
                "keras.distributed.fit: max_failures must be 0 for a stateful model (a failed worker's "
                "recurrent states would be lost)"
            )
        stateful_rows = _split(0, stateful_batch, workers)

    from . import _shards

    sharded = _shards.any_source(x, y, *(validation_data or ()))
    # Data, checked and prepared by model.fit's own code (sources: by `_shards`).
    ins, val_ins = model._fit_data(
        "keras.distributed.fit",
        x,
        y,
        batch_size,
        nb_epoch,
        initial_epoch,
        validation_split,
        validation_data,
        sample_weight,
        class_weight,
        keep_sparse=False,
        standardize=(lambda *a: _shards.standardize(model, *a, batch_size)) if sharded else None,
        cut_rows=_shards.split_rows if sharded else None,
    )
    if sharded and val_ins is not None:
        # validation runs on the driver, reading the sources one batch at a time
        val_ins = [_shards.DriverArray(a) if _shards.is_source(a) else a for a in val_ins]
    n_out = len(model.outputs)
    sw_at = len(model.inputs) + len(model.targets)

    if not ray.is_initialized():
        ray.init(address=address)
    have = ray.cluster_resources().get("CPU", 0)
    if have < workers * cpus_per_worker:
        # Ray would otherwise wait for the missing CPUs without end.
        raise ValueError(
            "keras.distributed.fit: workers=%d x cpus_per_worker=%d needs %d CPUs, the Ray cluster has %g"
            % (workers, cpus_per_worker, workers * cpus_per_worker, have)
        )

    # The driver is a replica too: it applies every averaged gradient.
    opt = model.optimizer
    had_train = model.train_function is not None
    old_opt = opt.get_weights() if had_train else None
    model.apply_function = None
    model._make_apply_function()
    if old_opt:
        opt.set_weights(old_opt)
    apply_program = model.apply_function.run

    # Losses combine with the non-zero-weight shares, other metrics with shard sizes.
    n_losses = 1 + (n_out if n_out > 1 else 0)

    mask = _mask_function(model)
    if reduce not in ("auto", "driver", "workers"):
        raise ValueError(
            "keras.distributed.fit: reduce must be 'auto', 'driver' or 'workers', got %r" % (reduce,)
        )
    if sharded and mask[0] is not None and workers > 1:
        raise NotImplementedError(
            "keras.distributed.fit: a masked loss with inputs given as shard sources (the driver "
            "would have to read every batch to weight the shards)"
        )
    # The collective path leaves the driver's model behind during an epoch, so it
    # cannot restart a worker from it or evaluate masks on it.
    elastic = min_workers is not None or max_workers > workers
    can_collect = sync_every == 1 and int(max_failures) == 0 and mask[0] is None and not elastic
    if reduce == "workers" and not can_collect:
        raise ValueError(
            "keras.distributed.fit: reduce='workers' needs sync_every=1, max_failures=0 and no masked loss"
        )
    collective = "auto" if reduce == "auto" and can_collect else reduce == "workers"

    run = None
    data_ref = ray.put(ins)
    try:
        spec = _spec.make_spec(outer, model)
        # combine state (moving statistics) on the driver after every step
        spec["sync_state"] = max_workers > 1 and sync_every == 1 and bool(_spec.state_rules(model))
        if stateful_rows is not None:
            spec["stateful_rows"] = stateful_rows
            spec["stateful_batch"] = batch_size
            spec["rnn_states"] = [
                np.asarray(K.get_value(v)) for layer in _spec.stateful_layers(model) for v in layer.states
            ]
        spec["elastic"] = min_workers is not None
        limits = (min_workers, max_workers, replacement_timeout)
        run = _Run(
            ray, model, spec, data_ref, workers, cpus_per_worker, int(max_failures), collective, limits
        )
        for layer in _spec.stateful_layers(model):
            # a reset_states() on the driver (a callback's) reaches the workers at the next step
            layer.reset_states = _reset_hook(run, layer)
        step = _DistributedStep(
            run, model, ins, val_ins, sw_at, n_out, n_losses, apply_program, batch_size, sync_every, mask
        )
        try:
            history = loop.fit_arrays(
                model,
                step,
                ins,
                val_ins,
                dedupe_labels(model.metrics_names),
                batch_size,
                nb_epoch,
                verbose,
                callbacks,
                shuffle,
                initial_epoch,
            )
        except _Failure as f:  # only from paths without retry
            run.fail(f.worker, f.where, f.error)
    finally:
        for layer in _spec.stateful_layers(model):
            layer.__dict__.pop("reset_states", None)
        if run is not None:
            run.kill_all()
            run.index_ref = None
            run.data_ref = None
        del data_ref
        # Keep the model's own train step consistent with the optimizer state reached.
        state = opt.get_weights()
        model.apply_function = None
        model.train_function = None
        model._make_train_function()
        opt.set_weights(state)
    return history


def _mask_function(model):
    """(function, outputs): a function of the model's inputs (and learning phase)
    returning, for each output whose loss is masked, each sample's mask sum; (None, [])
    when no loss is masked."""
    from .. import backend as K

    masks = getattr(model, "_loss_masks", None) or []
    outputs = [o for o, m in enumerate(masks) if m is not None]
    if not outputs:
        return None, []
    sums = []
    for o in outputs:
        m = K.cast(masks[o], K.floatx())
        nd = K.ndim(m)
        sums.append(K.sum(m, axis=list(range(1, nd))) if nd > 1 else m)
    return K.function(model.inputs + model._learning_phase_inputs(), sums), outputs


def _shares(ins, sw_at, n_out, shards, mask_sums=None):
    """(a_k, per-output sample-weight scales or None) per shard, such that
    `sum_k a_k * g_k` is the gradient of the whole batch's loss, where g_k is the
    gradient of shard k's loss with its sample weights of output o multiplied by
    `scales[k][o]`; a_k = 0 leaves a shard out (empty, or all its weights zero).

    Keras 1's loss of output o over a set of rows is S / nnz without a mask and
    N / (M * nnz) * S with one, where S sums weight x mask x element loss, N counts the
    rows, nnz the non-zero weights and M the mask. So the batch's loss is
    sum_k c_k L_k with c_k = nnz_k / nnz, resp. (N M_k nnz_k) / (N_k M nnz): the
    masked coefficients do not sum to one, so the shards are weighted by their row
    share a_k = N_k / N (regularisation terms, present once in every g_k, then count
    once) and their weights rescaled by c_k / a_k. `mask_sums[o]` holds the per-row
    mask sums of the batch for each masked output o. Ratios are exact fractions, so
    a scale is exactly 1.0 where nothing needs rescaling (workers=1 stays bitwise)."""
    from fractions import Fraction

    mask_sums = mask_sums or {}
    bs = shards[0][0]
    rows = [e - s for s, e in shards]
    n = sum(rows)
    coef, dead, live = {}, {}, []
    for o in range(n_out):
        w = ins[sw_at + o]
        nnz_k = [_nnz(w[s:e]) for s, e in shards]
        nnz = sum(nnz_k)
        if o in mask_sums:
            m_k = [
                Fraction(float(np.sum(mask_sums[o][s - bs : e - bs], dtype=np.float64))) for s, e in shards
            ]
            m = sum(m_k)
        else:
            m_k, m = None, None
        dead[o] = [
            rows[k] == 0 or nnz_k[k] == 0 or (m_k is not None and m_k[k] == 0) for k in range(len(shards))
        ]
        if nnz == 0 or m == 0:
            continue  # Keras 1's loss of this output is 0/0 on this batch
        live.append(o)
        if m_k is None:
            coef[o] = [Fraction(v, nnz) for v in nnz_k]
        else:
            coef[o] = [
                Fraction(n, r) * (mk / m) * Fraction(v, nnz) if r else Fraction(0)
                for r, mk, v in zip(rows, m_k, nnz_k)
            ]
    if not live:
        # The first shard reproduces Keras 1's 0/0 for the whole batch.
        return [1.0] + [0.0] * (len(shards) - 1), [None] * len(shards)
    kept = []
    for k in range(len(shards)):
        d = [dead[o][k] for o in live]
        if all(d):
            continue
        if any(d):
            o = live[d.index(True)]
            raise NotImplementedError(
                "keras.distributed.fit: a worker's shard has only zero sample weights (or an all-zero "
                "mask) for output %d while the batch has others (use fewer workers or spread them)" % o
            )
        kept.append(k)
    if n_out == 1 and not mask_sums:
        return [float(c) for c in coef[0]], [None] * len(shards)
    n_kept = sum(rows[k] for k in kept)
    a = [Fraction(rows[k], n_kept) if k in kept else Fraction(0) for k in range(len(shards))]
    scales = []
    for k in range(len(shards)):
        if k not in kept:
            scales.append(None)
            continue
        row = [float(coef[o][k] / a[k]) if o in coef else 1.0 for o in range(n_out)]
        scales.append(None if all(r == 1.0 for r in row) else row)
    return [float(v) for v in a], scales


def _combine(outs_by_k, weights_loss, weights_n, n_losses):
    k0 = min(outs_by_k)
    n = len(outs_by_k[k0])
    if len(outs_by_k) == 1:
        return list(outs_by_k[k0])
    # Shards that did not run (no rows; sync_every > 1: all weights zero) leave the metrics.
    kept = float(sum(weights_n[k] for k in outs_by_k))
    weights_n = {k: weights_n[k] / kept for k in outs_by_k}
    res = []
    for i in range(n):
        wts = weights_loss if i < n_losses else weights_n
        # a shard left out of the loss (weight 0) has a 0/0 loss: skip it, not 0 * nan
        res.append(float(sum(wts[k] * outs_by_k[k][i] for k in outs_by_k if wts[k] != 0.0)))
    return res


class _DistributedStep:
    """`keras.distributed.fit`'s step for the one loop (`keras.engine.loop.fit_arrays`,
    which owns the order, batching, callbacks and validation as for `model.fit`): a
    global batch `[start, end)` of the epoch order is split into one shard per worker,
    the workers' gradients are averaged and applied (see the module docstring)."""

    def __init__(
        self, run, model, ins, val_ins, sw_at, n_out, n_losses, apply_program, batch_size, sync_every, mask
    ):
        from . import _spec

        self.driver = run
        self.model = model
        self.ins = ins
        self.val_ins = val_ins
        self.sw_at = sw_at
        self.n_out = n_out
        self.n_losses = n_losses
        self.apply_program = apply_program
        self.batch_size = batch_size
        self.sync_every = sync_every
        self.has_state_updates = bool(model.updates)
        self.mask_fn, self.mask_outputs = mask
        self.n_x = len(model.inputs)
        self.lp = [np.asarray(1.0, dtype=np.float32)] if model._learning_phase_inputs() else []
        self.hyper_sent = _spec.get_hyper(model.optimizer)
        self.pending = None  # (averaged gradient, combined state) every worker still has to apply
        self.step = 0
        # Moving statistics and other state: combined on the driver after every step.
        self.rules = _spec.state_rules(model) if run.spec.get("sync_state") else []
        self.state_vars = _spec.state_variables(self.rules)
        self.rnn = bool(_spec.stateful_layers(model))
        self.history = None

    def train_begin(self, history):
        self.history = history
        history.worker_samples = []
        history.worker_threads = [i["threads"] for _, i in sorted(self.driver.info.items())]

    def take_reset(self):
        """True once after a `reset_states()` on the driver (by a callback, say)."""
        r, self.driver.reset_pending = self.driver.reset_pending, False
        return r

    def gather_rnn_states(self, where):
        """The workers' rows of the stateful RNN states, into the driver's model."""
        from .. import backend as K
        from . import _spec

        run = self.driver
        if self.take_reset():
            run.call(lambda k, a_, retry: a_.reset_states.remote(), where)
        got = run.call(lambda k, a_, retry: a_.get_rnn_states.remote(), where)
        variables = [v for layer in _spec.stateful_layers(self.model) for v in layer.states]
        for i, v in enumerate(variables):
            K.set_value(v, np.concatenate([got[k][i] for k in range(run.workers)], axis=0))

    def hyper_changes(self):
        from . import _spec

        now = _spec.get_hyper(self.model.optimizer)
        changed = {k: v for k, v in now.items() if not np.array_equal(v, self.hyper_sent.get(k))}
        self.hyper_sent = now
        return changed or None

    def sync_state(self, counts):
        """sync_every > 1: weighted average of every replica's state, sent to all."""
        from . import _spec

        run, step = self.driver, self.step
        states = run.call(lambda k, a, retry: a.get_state.remote(), "weight averaging (step %d)" % step)
        ks = sorted(states)
        if len(ks) == 1:
            avg = states[ks[0]]
        else:
            tot = float(sum(counts[k] for k in ks)) or 1.0
            wts = [counts[k] / tot if tot else 1.0 / len(ks) for k in ks]

            def mean(arrays):
                acc = np.zeros(arrays[0].shape, dtype=np.float64)
                for w, a in zip(wts, arrays):
                    acc += w * a
                return acc.astype(arrays[0].dtype)

            avg = {
                "weights": [
                    mean([states[k]["weights"][i] for k in ks]) for i in range(len(states[ks[0]]["weights"]))
                ],
                "optimizer": [
                    mean([states[k]["optimizer"][i] for k in ks])
                    for i in range(len(states[ks[0]]["optimizer"]))
                ],
                "iterations": states[ks[0]]["iterations"],
            }
            ref = run.ray.put(avg)
            run.call(lambda k, a, retry: a.set_state.remote(ref), "weight averaging (step %d)" % step)
            del ref
        _spec.load_state(self.model, avg)

    def begin_epoch(self, epoch, order, batches):
        run, sw_at = self.driver, self.sw_at
        self.epoch = epoch
        self.order = order
        self.nb_batches = len(batches)
        # the driver only needs the epoch's sample weights (for the shares)
        sws = self.ins[sw_at:] if order is None else [w[order] for w in self.ins[sw_at:]]
        self.epoch_ins = [None] * sw_at + sws
        run.grow("epoch %d start" % epoch)
        run.index_ref = None if order is None else run.ray.put(order)
        idx = run.index_ref
        run.call(lambda k, a, retry, idx=idx: a.set_epoch.remote(idx), "epoch %d start" % epoch)
        self.samples = [0] * run.workers
        self.since_sync = [0] * run.workers

    def run(self, batch_index, batch):
        from . import _collective, _spec

        run, model, ray = self.driver, self.model, self.driver.ray
        bs, be = batch.start, batch.stop
        shards = _split(bs, be, run.workers)
        mask_sums = None
        if self.mask_fn is not None and run.workers > 1:
            # masked losses: each shard's mask sums, from the driver's weights
            # (equal to every replica's at this step)
            rows = self.order[bs:be] if self.order is not None else np.arange(bs, be)
            sums = self.mask_fn.run([np.ascontiguousarray(v[rows]) for v in self.ins[: self.n_x]] + self.lp)
            mask_sums = dict(zip(self.mask_outputs, sums))
        a, scales = _shares(self.epoch_ins, self.sw_at, self.n_out, shards, mask_sums)
        weights_n = [(e - s) / float(be - bs) for s, e in shards]
        hyper = self.hyper_changes()
        where = "step %d (epoch %d, batch %d)" % (self.step, self.epoch, batch_index)
        if self.sync_every == 1:
            pending = self.pending
            pend_ref = ray.put(pending) if isinstance(pending, tuple) and run.workers > 1 else pending
            reset = self.take_reset()

            def make(k, actor, retry):
                s, e = shards[k]
                # a worker started from the driver's state has the pending update already
                retry = retry or k in run.fresh
                pend = None if retry else pend_ref
                hyp = _spec.get_hyper(model.optimizer) if retry else hyper
                if e == s:
                    # no rows, but the random streams advance as everywhere
                    return actor.apply.remote(pend, hyp, 1, reset)
                # (a shard whose weights are all zero runs too, for the metrics
                # and the moving statistics; its gradient is left out)
                return actor.step.remote(pend, hyp, s, e, scales[k], s - bs, reset)

            results = run.call(make, where)
            run.fresh.clear()
            computed = {k: r for k, r in results.items() if isinstance(r, tuple)}
            grads = {k: r for k, r in computed.items() if a[k] != 0.0}
            run.calls = [c + 1 for c in run.calls]
            if run.collective:
                ranks = sorted(grads)
                bundles = ray.put([grads[r][1] for r in ranks])

                def reduce_call(k, actor, retry):
                    return actor.reduce.remote(ranks, bundles, [a[r] for r in ranks])

                reduced = run.call(reduce_call, where)
                flat = ray.put([reduced[k][0] for k in range(run.workers)])
                del bundles
            else:
                # sum_k a_k g_k in float32, in worker order (the same on every run)
                ranks = sorted(grads)
                flat = _collective.weighted_sum([grads[k][1] for k in ranks], [a[k] for k in ranks])
            outs_by_k = {k: r[0] for k, r in computed.items()}
            if not run.collective:
                self.apply_program([flat])
            state = None
            if self.rules:
                from .. import backend as K

                state = _spec.combine_state(
                    self.rules,
                    {k: r[2] for k, r in computed.items()},
                    {k: shards[k][1] - shards[k][0] for k in computed},
                )
                for v, value in zip(self.state_vars, state):
                    K.set_value(v, value)
            self.pending = _collective.Reduced(flat, state) if run.collective else (flat, state)
            del pend_ref
        else:
            reset = self.take_reset()

            def make(k, actor, retry):
                s, e = shards[k]
                hyp = _spec.get_hyper(model.optimizer) if retry else hyper
                if a[k] == 0.0:
                    return actor.apply.remote(None, hyp, 1, reset)
                return actor.local_step.remote(hyp, s, e, scales[k], s - bs, reset)

            outs_by_k = {k: r for k, r in run.call(make, where).items() if isinstance(r, list)}
            run.calls = [c + 1 for c in run.calls]
            for k, (s, e) in enumerate(shards):
                self.since_sync[k] += e - s
            if (self.step + 1) % self.sync_every == 0 or batch_index == self.nb_batches - 1:
                self.sync_state(self.since_sync)
                self.since_sync = [0] * run.workers
        for k, (s, e) in enumerate(shards):
            self.samples[k] += e - s
        self.step += 1
        return _combine(outs_by_k, a, weights_n, self.n_losses)

    def end_epoch(self, epoch):
        from .. import backend as K
        from . import _spec

        if self.driver.collective:
            # the driver's model takes the workers' state once per epoch
            pending, self.pending = self.pending, None
            self.driver.call(lambda k, a_, retry: a_.apply.remote(pending, None, 0), "epoch %d end" % epoch)
            got = self.driver.call(
                lambda k, a_, retry: a_.get_state.remote() if k == 0 else None, "epoch %d end" % epoch
            )
            _spec.load_state(self.model, got[0])
        if self.rnn:
            self.gather_rnn_states("epoch %d end" % epoch)
        if self.has_state_updates and not self.rules:
            # (not combined per step: one worker, or sync_every > 1) the state
            # variables of worker 0; its weights still lack the last update
            st = self.driver.call(
                lambda k, a_, retry: a_.get_state_values.remote() if k == 0 else None,
                "epoch %d end" % epoch,
            )
            for v, value in zip(_spec.state_variables(_spec.state_rules(self.model)), st[0]):
                K.set_value(v, value)

    def after_validation(self, epoch, validated):
        from .. import backend as K
        from . import _spec

        run = self.driver
        # (model.fit's validation runs the test program, compiled for the test phase:
        # it draws no random numbers, so the workers' streams stay where they are.)
        if validated:
            if self.rnn:
                # model.fit's validation carries the states on (Keras 1's test
                # function updates them): the workers take the driver's.
                full = [
                    np.asarray(K.get_value(v))
                    for layer in _spec.stateful_layers(self.model)
                    for v in layer.states
                ]
                ref = run.ray.put(full)
                run.call(lambda k, a_, retry, r=ref: a_.set_rnn_states.remote(r), "epoch %d end" % epoch)
                del ref
        # The driver's random streams take the workers' counters before `on_epoch_end`,
        # so a ModelCheckpoint written now holds the counters model.fit would have there
        # (an exact resume from it, tests/keras/test_resume.py).
        counters = run.call(
            lambda k, a_, retry: a_.get_counters.remote() if k == 0 else None, "epoch %d end" % epoch
        )
        _spec.set_counters(self.model, counters[0])
        self.history.worker_samples.append(self.samples)

    def train_end(self):
        # The driver's random streams go on from where training left them (as after
        # model.fit), so a later fit, evaluate or predict continues the same streams.
        from . import _spec

        counters = self.driver.call(
            lambda k, a_, retry: a_.get_counters.remote() if k == 0 else None, "the end of training"
        )
        _spec.set_counters(self.model, counters[0])
        traffic = self.driver.call(lambda k, a_, retry: a_.traffic.remote(), "the end of training")
        self.history.worker_bytes = [traffic[k] for k in range(self.driver.workers)]
        self.history.reduce = "workers" if self.driver.collective else "driver"
