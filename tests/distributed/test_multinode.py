"""keras.distributed.fit on a multi-node Ray cluster on this host (three raylets with one
CPU each, see multinode.py): sharded input (npy files, HDF5Matrix, a row function, a
ray.data.Dataset) equals model.fit on the concatenated data, the collective reduction
equals the driver's bit for bit, and a lost node is either a clear error or, with
`max_failures`, absorbed to the same result.

Tolerances as in test_distributed_fit.py: with several workers the only difference from
model.fit is the float32 rounding of the weighted gradient sum (WTOL, LTOL)."""

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
    """At batch `at` of the first epoch: adds a fresh node (optional), then removes the
    first worker node with the worker on it."""

    def __init__(self, cluster, at, replace):
        self.cluster, self.at, self.replace, self.done = cluster, at, replace, False

    def on_batch_end(self, batch, logs=None):
        if self.done or batch != self.at:
            return
        self.done = True
        if self.replace:
            self.cluster.worker_nodes_list.append(self.cluster.add_node(**self.cluster.node_args))
            self.cluster.wait_for_nodes()
        self.cluster.remove_node(self.cluster.worker_nodes_list.pop(0), allow_graceful=False)


def _all_cpus_free(ray, want, timeout=30):
    import time

    deadline = time.time() + timeout
    while time.time() < deadline:
        if ray.available_resources().get("CPU", 0) == want:
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
    ray_cluster.worker_nodes_list.append(ray_cluster.add_node(**ray_cluster.node_args))
    ray_cluster.wait_for_nodes()
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
