"""Shard sources (keras.distributed._shards) and the gradient slicing of the collective
path (keras.distributed._collective), without Ray: every reader against numpy indexing
of the concatenated data, the row plan against model.fit's batch order, and the
slice-wise weighted sum against the whole-vector one, bit for bit."""

import numpy as np
import pytest

from keras.distributed import _collective, _shards


def _parts(seed=0, sizes=(7, 1, 12), sample=(3, 2), dtype="float32"):
    rng = np.random.RandomState(seed)
    return [rng.randn(n, *sample).astype(dtype) for n in sizes]


@pytest.fixture
def npy_parts(tmp_path):
    parts = _parts()
    paths = []
    for i, p in enumerate(parts):
        paths.append(str(tmp_path / ("part%d.npy" % i)))
        np.save(paths[-1], p)
    return paths, np.concatenate(parts)


def _rows_cases(n):
    rng = np.random.RandomState(3)
    return [
        np.arange(n),
        rng.permutation(n),
        rng.permutation(n)[: n // 2],
        np.array([n - 1, 0, 5, 6, 7, 8, 1], dtype=np.int64) % n,
        np.array([], dtype=np.int64),
    ]


def test_npy_files_read_the_rows_of_the_concatenation(npy_parts):
    paths, whole = npy_parts
    src = _shards.NpyFiles(paths)
    assert src.shape == whole.shape and src.dtype == whole.dtype and len(src) == len(whole)
    reader = src.open()
    for rows in _rows_cases(len(whole)):
        np.testing.assert_array_equal(reader.take(rows), whole[rows])
    np.testing.assert_array_equal(reader[3:15], whole[3:15])
    np.testing.assert_array_equal(reader[-1], whole[-1])


def test_npy_files_are_memory_mapped_not_loaded(npy_parts):
    paths, whole = npy_parts
    reader = _shards.NpyFiles(paths).open()
    assert all(isinstance(m, np.memmap) for m in reader.maps)


def test_hdf5_rows_read_the_rows_of_the_concatenation(tmp_path):
    h5py = pytest.importorskip("h5py")
    from keras.utils.io_utils import HDF5Matrix

    parts = _parts(1)
    path = str(tmp_path / "d.h5")
    with h5py.File(path, "w") as f:
        f["a"] = parts[0]
        f["b"] = np.concatenate(parts[1:])
    mats = [HDF5Matrix(path, "a"), HDF5Matrix(path, "b", start=1, end=13, normalizer=lambda v: v * 2)]
    whole = np.concatenate([parts[0], 2 * np.concatenate(parts[1:])[1:13]])
    src = _shards.HDF5Rows(mats)
    assert src.shape == whole.shape
    reader = src.open()
    for rows in _rows_cases(len(whole)):
        np.testing.assert_array_equal(reader.take(rows), whole[rows])


def test_row_function_is_called_once_per_run_of_rows():
    whole = np.arange(40, dtype=np.float32).reshape(20, 2)
    calls = []

    def fn(a, b):
        calls.append((a, b))
        return whole[a:b]

    src = _shards.RowFunction(fn, 20)
    assert src.shape == (20, 2) and src.dtype == np.float32
    calls.clear()
    got = src.open().take([9, 3, 4, 5, 10, 17])
    np.testing.assert_array_equal(got, whole[[9, 3, 4, 5, 10, 17]])
    assert sorted(calls) == [(3, 6), (9, 11), (17, 18)]


def test_row_range_and_cast(npy_parts):
    paths, whole = npy_parts
    src = _shards.RowRange(_shards.NpyFiles(paths), 4, 15)
    np.testing.assert_array_equal(src.open()[:], whole[4:15])
    cast = _shards.Cast(src, "float64")
    got = cast.open().take([10, 0])
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, whole[[14, 4]].astype(np.float64))


def test_bad_sources_are_clear_errors(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((3, 2), "float32"))
    np.save(tmp_path / "b.npy", np.zeros((3, 3), "float32"))
    np.save(tmp_path / "c.npy", np.zeros((3, 2), "float64"))
    with pytest.raises(ValueError, match="sample shape"):
        _shards.NpyFiles([str(tmp_path / "a.npy"), str(tmp_path / "b.npy")])
    with pytest.raises(ValueError, match="dtype"):
        _shards.NpyFiles([str(tmp_path / "a.npy"), str(tmp_path / "c.npy")])
    with pytest.raises(IndexError, match="out of range"):
        _shards.NpyFiles(str(tmp_path / "a.npy")).open().take([3])
    with pytest.raises(ValueError, match="one row"):
        _shards.RowFunction(lambda a, b: np.zeros((2, 3)), 5)
    with pytest.raises(ValueError, match="expected shape"):
        _shards.RowFunction(lambda a, b: np.zeros((1, 3)), 5).open().take([1, 2])
    with pytest.raises(ValueError, match="out of range"):
        _shards.RowRange(_shards.NpyFiles(str(tmp_path / "a.npy")), 2, 4)


def test_shards_cover_each_batch_of_the_seeded_order_in_order():
    """The rows the workers read (`order[s:e]` for fit's split of each batch), joined in
    rank order, are model.fit's batches."""
    from keras.distributed import _split
    from keras.engine.training import make_batches

    n, bs = 103, 16
    np.random.seed(7)
    index = np.arange(n)
    np.random.shuffle(index)
    for workers in (1, 3, 5):
        for b0, b1 in make_batches(n, bs):
            parts = [index[s:e] for s, e in _split(b0, b1, workers)]
            assert len(parts) == workers
            np.testing.assert_array_equal(np.concatenate(parts), index[b0:b1])
            sizes = [len(p) for p in parts]
            assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)
    assert _split(10, 17, 2) == [(10, 14), (14, 17)]
    assert _split(5, 7, 3) == [(5, 6), (6, 7), (7, 7)]  # an empty shard still runs


def _model():
    from keras.layers import Dense
    from keras.models import Sequential

    m = Sequential([Dense(3, input_shape=(6,), activation="softmax")])
    m.compile("sgd", "categorical_crossentropy")
    from keras.distributed import _spec

    return _spec.inner(m)  # what fit standardises with


def test_standardize_checks_sources_without_reading_them(tmp_path):
    x = np.random.RandomState(0).randn(9, 6)  # float64 on disk
    y = np.eye(3, dtype="float32")[np.arange(9) % 3]
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "bad.npy", x[:, :5])
    m = _model()
    src = _shards.NpyFiles(str(tmp_path / "x.npy"))
    xs, ys, sws = _shards.standardize(m, src, y, None, None, 4)
    assert isinstance(xs[0], _shards.Cast) and xs[0].dtype == np.float32
    np.testing.assert_array_equal(ys[0], y)
    np.testing.assert_array_equal(sws[0], np.ones(9, dtype=np.float32))
    _, _, sws = _shards.standardize(m, src, y, np.arange(9.0), None, 4)
    np.testing.assert_array_equal(sws[0], np.arange(9.0, dtype=np.float32))
    with pytest.raises(ValueError, match="model input"):
        _shards.standardize(m, _shards.NpyFiles(str(tmp_path / "bad.npy")), y, None, None, 4)
    with pytest.raises(ValueError, match="same number of rows"):
        _shards.standardize(m, src, y[:8], None, None, 4)
    with pytest.raises(NotImplementedError, match="class_weight"):
        _shards.standardize(m, src, _shards.RowFunction(lambda a, b: y[a:b], 9), None, {0: 2.0}, 4)


class _FakeReplica:
    """What ShardedInput needs of Replica: data in, `epoch_ins` and `_batch` out."""

    def __init__(self, spec, data, rank, threads):
        self.data = list(data)

    def set_epoch(self, index_array):
        raise AssertionError("ShardedInput.set_epoch must replace Replica's")

    def _batch(self, start, end):
        return [a[start:end] for a in self.epoch_ins]


class _Worker(_shards.ShardedInput, _FakeReplica):
    pass


def test_a_worker_reads_its_batch_rows_in_the_epoch_order(npy_parts):
    paths, whole = npy_parts
    weights = np.linspace(0.5, 1.5, len(whole)).astype("float32")
    w = _Worker(None, [_shards.NpyFiles(paths), weights], 0, 1)
    index = np.random.RandomState(2).permutation(len(whole))
    w.set_epoch(index)
    got_x, got_w = w._batch(5, 11)
    np.testing.assert_array_equal(got_x, whole[index][5:11])
    np.testing.assert_array_equal(got_w, weights[index][5:11])
    w.set_epoch(None)
    np.testing.assert_array_equal(w._batch(2, 4)[0], whole[2:4])


def test_slices_partition_the_vector():
    for p, workers in [(10, 3), (2, 4), (1000, 8), (0, 2)]:
        s = _collective.slices(p, workers)
        assert len(s) == workers and s[0][0] == 0 and s[-1][1] == p
        assert all(a[1] == b[0] for a, b in zip(s, s[1:]))


def test_auto_takes_the_collective_for_large_gradients_on_several_nodes():
    from keras.layers import Dense
    from keras.models import Sequential

    small = Sequential([Dense(10, input_dim=20)])
    big = Sequential([Dense(1250, input_dim=1000)])  # 1,251,250 floats
    assert _collective.worthwhile(3, 2, big)
    assert not _collective.worthwhile(2, 2, big)  # the driver path is as fast with 2
    assert not _collective.worthwhile(8, 1, big)  # one node: the driver's copies are in memory
    assert not _collective.worthwhile(8, 4, small)


def _float32_fold(grads, shares):
    """`sum_k shares[k] * grads[k]`, each product rounded to float32, added left to right
    in float32: the arithmetic both reduction paths promise (`_collective.weighted_sum`)."""
    acc = grads[0] * np.float32(shares[0])
    for g, a in zip(grads[1:], shares[1:]):
        acc = acc + g * np.float32(a)
    return acc


@pytest.mark.parametrize("workers", [1, 2, 3, 7])
def test_reduce_scatter_then_gather_is_bitwise_the_driver_sum(workers):
    rng = np.random.RandomState(workers)
    p = 1013
    grads = [(rng.randn(p) * 10 ** rng.uniform(-6, 3, p)).astype(np.float32) for _ in range(workers)]
    shares = [float(v) for v in rng.dirichlet(np.ones(workers))] if workers > 1 else [0.37]
    whole = _float32_fold(grads, shares)
    assert _collective.weighted_sum(grads, shares).tobytes() == whole.tobytes()
    bounds = _collective.slices(p, workers)
    # worker j reduces slice j of every worker's gradient; the gather concatenates
    reduced = [_collective.weighted_sum([g[s:e] for g in grads], shares) for s, e in bounds]
    gathered = np.concatenate(reduced)
    assert gathered.dtype == np.float32
    assert gathered.tobytes() == whole.tobytes()
    # a float64 sum would differ: the test can tell orders and precisions apart
    assert (
        workers == 1
        or np.sum([np.float64(a) * g for a, g in zip(shares, grads)], axis=0).astype(np.float32).tobytes()
        != whole.tobytes()
    )
