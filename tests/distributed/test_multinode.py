"""keras.distributed.fit on a multi-node Ray cluster on this host (three raylets with one
CPU each, see multinode.py): sharded input (npy files, HDF5Matrix, a row function, a
ray.data.Dataset) equals model.fit on the concatenated data, the collective reduction
equals the driver's bit for bit, and a lost node is either a clear error or, with
`max_failures`, absorbed to the same result.

Tolerances as in test_distributed_fit.py: with several workers the only difference from
model.fit is the float32 rounding of the weighted gradient sum (WTOL, LTOL)."""

import time

import numpy as np
import pytest
from multinode import start_cluster
from test_distributed_fit import LTOL, WTOL, _data, _max_diff, _mlp, _same_optimizer_state

import keras.distributed as kd
from keras.callbacks import Callback

EPOCHS = 2
BATCH = 32


@pytest.fixture(scope="module")
def ray_cluster():
    yield from start_cluster()


def _reference(x, y, seed=1, dropout=0.0, **kw):
    m = _mlp(seed, dropout=dropout)
    np.random.seed(5)
    h = m.fit(x, y, batch_size=BATCH, nb_epoch=EPOCHS, verbose=0, **kw)
    return m, h


def _distributed(x, y, seed=1, dropout=0.0, **kw):
    m = _mlp(seed, dropout=dropout)
    np.random.seed(5)
    h = kd.fit(m, x, y, batch_size=BATCH, nb_epoch=EPOCHS, verbose=0, **kw)
    return m, h


def _close_history(ha, hb):
    assert sorted(ha.history) == sorted(hb.history)
    for key in ha.history:
        np.testing.assert_allclose(ha.history[key], hb.history[key], rtol=LTOL, err_msg=key)


def _files(tmp_path, x, y):
    import h5py

    from keras.utils.io_utils import HDF5Matrix

    cut = 90
    np.save(tmp_path / "x0.npy", x[:cut].astype("float64"))  # converted to float32 by the workers
    np.save(tmp_path / "x1.npy", x[cut:].astype("float64"))
    with h5py.File(tmp_path / "y.h5", "w") as f:
        f["y"] = y
    return kd.NpyFiles([str(tmp_path / "x0.npy"), str(tmp_path / "x1.npy")]), kd.HDF5Rows(
        HDF5Matrix(str(tmp_path / "y.h5"), "y")
    )


def test_sharded_files_equal_model_fit_on_the_concatenation(ray_cluster, tmp_path):
    x, y, _ = _data()
    xv, yv, _ = _data(n=41, seed=9)
    sw = np.linspace(0.0, 2.0, len(x)).astype("float32")
    ref, href = _reference(x, y, dropout=0.3, sample_weight=sw, validation_data=(xv, yv))
    xs, ys = _files(tmp_path, x, y)
    yv_src = kd.RowFunction(lambda a, b, yv=yv: yv[a:b], len(yv))
    m, h = _distributed(
        xs, ys, dropout=0.3, sample_weight=sw, validation_data=(xv, yv_src), workers=3, reduce="driver"
    )
    assert _max_diff(ref.get_weights(), m.get_weights()) < WTOL
    _close_history(href, h)
    assert h.worker_samples == [[70, 70, 63]] * EPOCHS  # 6 batches of 11+11+10 rows, then 4+4+3
    # one worker: bitwise model.fit, reading the same files
    m1, h1 = _distributed(xs, ys, dropout=0.3, sample_weight=sw, validation_data=(xv, yv_src), workers=1)
    assert all(np.array_equal(a, b) for a, b in zip(ref.get_weights(), m1.get_weights()))
    assert _same_optimizer_state(ref, m1)
    assert h1.history == href.history


def test_ray_dataset_columns_equal_model_fit(ray_cluster):
    import ray

    x, y, _ = _data()
    ds = ray.data.from_items([{"x": x[i], "y": y[i]} for i in range(len(x))], override_num_blocks=4)
    xs, ys = kd.ray_dataset(ds, ["x", "y"])
    assert xs.shape == x.shape and ys.shape == y.shape and len(xs.refs) == 4
    np.testing.assert_array_equal(xs.open().take(np.arange(len(x))[::-1]), x[::-1])
    ref, href = _reference(x, y, validation_split=0.2)
    m, h = _distributed(xs, ys, validation_split=0.2, workers=3)
    assert _max_diff(ref.get_weights(), m.get_weights()) < WTOL
    _close_history(href, h)


def test_collective_reduction_is_bitwise_the_driver_path(ray_cluster):
    x, y, _ = _data()
    md, hd = _distributed(x, y, dropout=0.3, workers=3, reduce="driver")
    mc, hc = _distributed(x, y, dropout=0.3, workers=3, reduce="workers")
    assert hd.reduce == "driver" and hc.reduce == "workers"
    assert all(np.array_equal(a, b) for a, b in zip(md.get_weights(), mc.get_weights()))
    assert _same_optimizer_state(md, mc)
    assert hd.history == hc.history
    # every gradient went through the driver on its path, none on the workers'
    p = sum(w.size for w in md.get_weights()) * 4
    steps = EPOCHS * len(range(0, len(x), BATCH))
    assert all(b["out"] == steps * p for b in hd.worker_bytes)
    assert all(b["in"] == (steps - 1) * p for b in hd.worker_bytes)
    # with the collective, each worker sends 2/3 of its gradient and its reduced third twice
    third = [p // 4 // 3 + (1 if k < (p // 4) % 3 else 0) for k in range(3)]
    for k, b in enumerate(hc.worker_bytes):
        assert b["out"] == steps * (p - 4 * third[k]) + steps * 2 * 4 * third[k]


def test_auto_takes_the_collective_for_a_large_gradient_on_several_nodes(ray_cluster):
    """1.25M gradient floats on 3 workers, one per node: 'auto' reduces among the
    workers, and trains to the bits of the driver path."""
    from keras.layers import Dense
    from keras.models import Sequential
    from keras.optimizers import SGD

    rng = np.random.RandomState(4)
    x = rng.randn(70, 1000).astype("float32")
    y = np.eye(3, dtype="float32")[rng.randint(0, 3, 70)]
    out = {}
    for reduce in ("driver", "auto"):
        np.random.seed(2)
        m = Sequential([Dense(1250, input_dim=1000, activation="tanh"), Dense(3, activation="softmax")])
        m.compile(loss="categorical_crossentropy", optimizer=SGD(lr=0.01, momentum=0.9))
        np.random.seed(5)
        h = kd.fit(m, x, y, batch_size=32, nb_epoch=2, verbose=0, workers=3, reduce=reduce)
        out[reduce] = m, h
    (md, hd), (ma, ha) = out["driver"], out["auto"]
    assert hd.reduce == "driver" and ha.reduce == "workers"
    assert all(np.array_equal(a, b) for a, b in zip(md.get_weights(), ma.get_weights()))
    assert _same_optimizer_state(md, ma)
    assert hd.history == ha.history


class _RemoveNode(Callback):
    """At batch `at` of epoch `epoch`: adds a fresh node first (`replace`), then removes
    the first worker node with the worker on it; with `rejoin`, a `_Rejoin` thread then
    adds a node while the run waits for one."""

    def __init__(self, cluster, at, replace, epoch=0, rejoin=None):
        self.cluster, self.at, self.replace, self.epoch = cluster, at, replace, epoch
        self.rejoin = rejoin
        self.done, self.current = False, None

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_batch_end(self, batch, logs=None):
        if self.done or batch != self.at or self.current != self.epoch:
            return
        self.done = True
        if self.replace:
            _add_node(self.cluster)
        self.cluster.remove_node(self.cluster.worker_nodes_list.pop(0), allow_graceful=False)
        self.removed_at = time.monotonic()
        if self.rejoin is not None:
            self.rejoin.start()


class _Rejoin:
    """A thread that adds a node `after` seconds. The node's processes die with the
    thread that started them (Linux's parent-death signal, which Ray sets), so the thread
    lives until `retire`, which first puts a node started on the main thread in its
    place."""

    def __init__(self, cluster, after):
        import threading

        self.cluster, self.after = cluster, after
        self.node, self.joined_at = None, None
        self.release = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.thread.start()

    def _run(self):
        from unittest import mock

        time.sleep(self.after)
        # off the main thread Ray cannot install its SIGTERM handler (signal.signal);
        # the cluster's shutdown stops the node all the same
        with mock.patch("ray._private.utils.set_sigterm_handler", lambda handler: None):
            self.node = self.cluster.add_node(**self.cluster.node_args)
            self.cluster.wait_for_nodes()
        self.joined_at = time.monotonic()
        self.release.wait(120)

    def retire(self):
        _add_node(self.cluster)
        if self.node is not None:
            self.cluster.remove_node(self.node, allow_graceful=False)
        self.release.set()
        self.thread.join(30)


def _add_node(cluster):
    cluster.worker_nodes_list.append(cluster.add_node(**cluster.node_args))
    cluster.wait_for_nodes()


def _all_cpus_free(ray, want, timeout=60, free=None):
    """The cluster has `want` CPUs (a removed node declared dead), all free (or `free`)."""
    deadline = time.time() + timeout
    free = want if free is None else free
    while time.time() < deadline:
        if ray.cluster_resources().get("CPU", 0) == want and ray.available_resources().get("CPU", 0) == free:
            return True
        time.sleep(0.5)
    return False


def test_node_loss_is_absorbed_with_max_failures(ray_cluster):
    import ray

    x, y, _ = _data()
    ref, href = _reference(x, y, dropout=0.3)
    cb = _RemoveNode(ray_cluster, at=2, replace=True)
    m, h = _distributed(x, y, dropout=0.3, workers=3, max_failures=1, callbacks=[cb])
    assert cb.done and h.reduce == "driver"
    assert _max_diff(ref.get_weights(), m.get_weights()) < WTOL
    _close_history(href, h)
    assert _all_cpus_free(ray, 3)


def test_node_loss_with_min_workers_goes_on_with_the_survivors(ray_cluster):
    """No replacement: the step in progress is finished by a survivor computing the
    lost shard (its Dropout masks included), then 2 workers split each batch."""
    import ray

    x, y, _ = _data()
    ref, href = _reference(x, y, dropout=0.3)
    cb = _RemoveNode(ray_cluster, at=2, replace=False)
    m, h = _distributed(x, y, dropout=0.3, workers=3, min_workers=2, callbacks=[cb])
    assert cb.done
    assert _max_diff(ref.get_weights(), m.get_weights()) < WTOL
    _close_history(href, h)
    # epoch 0: batches 0-3 on three workers (the lost one's batch 3 computed for it),
    # then two; epoch 1: two
    first, second = h.worker_samples
    assert sum(first) == sum(second) == len(x) and len(first) == 3 and min(first) > 0 and len(second) == 2
    assert len(h.worker_bytes) == 2
    _add_node(ray_cluster)
    assert _all_cpus_free(ray, 3)


def test_node_loss_without_max_failures_is_a_worker_error(ray_cluster):
    import ray

    x, y, _ = _data()
    cb = _RemoveNode(ray_cluster, at=1, replace=False)
    with pytest.raises(kd.WorkerError, match="worker [0-2] failed at step 2") as err:
        _distributed(x, y, workers=3, reduce="workers", callbacks=[cb])
    assert err.value.worker in (0, 1, 2)
    # the node is gone with its CPU; the run's other actors are stopped
    assert _all_cpus_free(ray, 2)
    _add_node(ray_cluster)
    assert _all_cpus_free(ray, 3)


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"workers": 2, "min_workers": 3}, "min_workers=3, workers=2, max_workers=2"),
        ({"workers": 3, "max_workers": 2}, "min_workers=None, workers=3, max_workers=2"),
        ({"workers": 2, "min_workers": 0}, "min_workers=0"),
        ({"workers": 2, "min_workers": 1, "replacement_timeout": -1}, "replacement_timeout must be"),
        ({"workers": 2, "max_workers": 3, "sync_every": 2}, "need sync_every=1"),
    ],
)
def test_elastic_arguments_are_checked(ray_cluster, kw, message):
    x, y, _ = _data(n=20)
    with pytest.raises(ValueError, match=message):
        kd.fit(_mlp(1), x, y, nb_epoch=1, verbose=0, **kw)


def test_fewer_than_min_workers_wait_for_a_node_that_joins(ray_cluster):
    """min_workers=3 of 3: a node lost at step 3 leaves 2, so the run waits; a node
    added (from a thread) while it waits takes a fresh worker, which redoes step 3 from
    the driver's state, and the run ends as model.fit."""
    import ray

    x, y, _ = _data()
    ref, href = _reference(x, y, dropout=0.3)
    rejoin = _Rejoin(ray_cluster, after=1.0)
    cb = _RemoveNode(ray_cluster, at=2, replace=False, rejoin=rejoin)
    try:
        m, h = _distributed(
            x, y, dropout=0.3, workers=3, min_workers=3, replacement_timeout=120, callbacks=[cb]
        )
        done_at = time.monotonic()
    finally:
        rejoin.retire()
    # the run went on only once the node had joined (the thread adds it after 1 s)
    assert cb.done and rejoin.node is not None and done_at - cb.removed_at > 1.0
    assert _max_diff(ref.get_weights(), m.get_weights()) < WTOL
    _close_history(href, h)
    assert [len(s) for s in h.worker_samples] == [3, 3] and len(h.worker_bytes) == 3
    assert _all_cpus_free(ray, 3)


class _AddNodeAtEpochEnd(Callback):
    def __init__(self, cluster, epoch):
        self.cluster, self.epoch = cluster, epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            import ray

            _add_node(self.cluster)
            # the lost node declared dead, the new node's CPU free for the next epoch
            assert _all_cpus_free(ray, 3, free=1)


def test_lost_node_comes_back_and_the_run_grows_to_max_workers(ray_cluster):
    """3 workers, min_workers=2, max_workers=3: a node lost in epoch 0 leaves 2; a node
    added at the end of epoch 0 gets a third worker at the start of epoch 1, and the
    result is model.fit's (within the float32 rounding of the sum, as for any count)."""
    import ray

    x, y, _ = _data()
    ref, href = _reference(x, y, dropout=0.3)
    lose = _RemoveNode(ray_cluster, at=2, replace=False)
    m, h = _distributed(
        x,
        y,
        dropout=0.3,
        workers=3,
        min_workers=2,
        max_workers=3,
        callbacks=[lose, _AddNodeAtEpochEnd(ray_cluster, 0)],
    )
    assert lose.done
    assert _max_diff(ref.get_weights(), m.get_weights()) < WTOL
    _close_history(href, h)
    first, second = h.worker_samples
    # epoch 0: 3 workers until batch 3, then 2; epoch 1: 3 again (rows 11, 11, 10 of 32)
    assert sum(first) == sum(second) == len(x)
    assert second == [70, 70, 63] and len(h.worker_bytes) == 3
    assert _all_cpus_free(ray, 3)


def test_a_run_grows_from_workers_to_max_workers_where_ray_has_room(ray_cluster):
    import ray

    assert _all_cpus_free(ray, 3)  # the previous run's actors are gone
    x, y, _ = _data()
    ref, href = _reference(x, y)
    m, h = _distributed(x, y, workers=2, max_workers=3)
    assert h.worker_samples == [[70, 70, 63]] * EPOCHS
    assert _max_diff(ref.get_weights(), m.get_weights()) < WTOL
    _close_history(href, h)


class _Weights(Callback):
    def on_batch_end(self, batch, logs=None):
        self.last = [w.copy() for w in self.model.get_weights()]


def test_resume_after_the_replacement_timeout_equals_the_uninterrupted_run(ray_cluster, tmp_path):
    """A 3-worker run with min_workers=3 checkpoints every epoch; a node lost in epoch 1
    is not replaced within the timeout, so the run stops with ReplacementTimeout (the
    model holding the last completed step's weights). Resumed from the epoch-0
    checkpoint on a cluster with the node back, it ends bitwise as the uninterrupted
    3-worker run (which equals model.fit within WTOL)."""
    import ray

    from keras import backend as K
    from keras.callbacks import ModelCheckpoint
    from keras.models import load_data_order, load_model

    nb_epoch = 3
    x, y, _ = _data()
    uninterrupted = _mlp(1, dropout=0.3)
    np.random.seed(5)
    hu = kd.fit(uninterrupted, x, y, batch_size=BATCH, nb_epoch=nb_epoch, verbose=0, workers=3)
    expected = uninterrupted.get_weights()
    expected_opt = uninterrupted.optimizer.get_weights()
    reference = _mlp(1, dropout=0.3)
    np.random.seed(5)
    href = reference.fit(x, y, batch_size=BATCH, nb_epoch=nb_epoch, verbose=0)
    assert _max_diff(reference.get_weights(), expected) < WTOL
    _close_history(href, hu)

    path = str(tmp_path / "ckpt.h5")
    model = _mlp(1, dropout=0.3)
    weights = _Weights()
    lose = _RemoveNode(ray_cluster, at=2, replace=False, epoch=1)
    np.random.seed(5)
    t0 = time.monotonic()
    with pytest.raises(
        kd.ReplacementTimeout, match=r"2 surviving worker\(s\).*min_workers=3.*replacement_timeout=1s"
    ) as e:
        kd.fit(
            model,
            x,
            y,
            batch_size=BATCH,
            nb_epoch=nb_epoch,
            verbose=0,
            workers=3,
            min_workers=3,
            replacement_timeout=1.0,
            callbacks=[ModelCheckpoint(path), weights, lose],
        )
    assert time.monotonic() - t0 > 1.0
    assert len(e.value.survivors) == 2 and e.value.min_workers == 3 and e.value.timeout == 1.0
    assert isinstance(e.value, kd.WorkerError) and "epoch 1, batch 3" in e.value.step
    # the model is usable, with the weights of the last completed step
    assert all(np.array_equal(a, b) for a, b in zip(weights.last, model.get_weights()))
    assert np.isfinite(model.evaluate(x, y, verbose=0)).all()
    assert _all_cpus_free(ray, 2)
    _add_node(ray_cluster)
    assert _all_cpus_free(ray, 3)

    K.clear_session()
    np.random.seed(999)
    resumed = load_model(path, restore_rng=True)
    order = load_data_order(path)
    hr = kd.fit(
        resumed,
        x[order],
        y[order],
        batch_size=BATCH,
        nb_epoch=nb_epoch,
        verbose=0,
        initial_epoch=1,
        workers=3,
    )
    assert all(np.array_equal(a, b) for a, b in zip(expected, resumed.get_weights()))
    assert all(np.array_equal(a, b) for a, b in zip(expected_opt, resumed.optimizer.get_weights()))
    assert hr.history == {k: v[1:] for k, v in hu.history.items()}
