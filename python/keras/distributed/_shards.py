"""Training data that stays outside the driver: shard sources a worker opens itself.

A *shard source* stands for one input or target array of `n` rows that is never loaded
whole by the driver. It is a small picklable description (file paths, a function,
object refs), and a worker turns it into a *reader* (`source.open()`) that reads any
set of rows. The driver only needs the number of rows, so `keras.distributed.fit`
keeps `model.fit`'s order exactly: each epoch's order is `np.random.shuffle` of
`arange(n)` as in `model.fit`, global batch `b` is the rows `index[b*bs:(b+1)*bs]`,
and worker `k` reads only its contiguous part of that batch
(`index[s_k:e_k]`, the split of `_collective.slices`). On data that fits one machine the result is
therefore `model.fit` on the concatenated arrays.

Sources (global row order = the order written here):
- `NpyFiles(paths)`: `.npy` files concatenated along the first axis, memory-mapped
  (`np.load(mmap_mode='r')`), so a worker pages in only the rows it reads.
- `HDF5Rows(matrices)`: `HDF5Matrix` objects (file, dataset, start/end, normalizer),
  concatenated; each worker reopens the files read-only.
- `RowFunction(fn, n)`: `fn(start, stop)` returns the rows `start:stop` as an array;
  a worker calls it once per run of consecutive rows it needs.
- `ray_dataset(ds, columns)`: one source per column of a `ray.data.Dataset`. The
  dataset is executed once, on the cluster, with `preserve_order=True`, into numpy
  blocks held in the object store (`to_numpy_refs`); row `i` is row `i` of the
  concatenation of those blocks in their order. The driver holds only the block refs
  and the block lengths; a worker fetches only the blocks that hold its rows.

Sample weights are small (one number per row) and stay ordinary arrays.
"""

import numpy as np

__all__ = ["ShardSource", "NpyFiles", "HDF5Rows", "RowFunction", "ray_dataset", "RowRange"]


class ShardSource:
    """Base class: `shape` (rows first), `dtype`, the first row of each piece
    (`offsets`, then the total; None for one piece), and `open()` -> a `reader`."""

    shape = None
    dtype = None
    offsets = None
    reader = None  # the Reader subclass a worker reads this source with

    def __len__(self):
        return self.shape[0]

    @property
    def ndim(self):
        return len(self.shape)

    def open(self):
        return self.reader(self)


class Reader:
    """Reads rows of a source (made from its `offsets`, `shape` and `dtype`) by global
    row index. `_read(piece, local_rows)` reads sorted, unique rows of one piece; `take`
    maps any rows onto the pieces."""

    def __init__(self, src):
        offsets = [0, src.shape[0]] if src.offsets is None else src.offsets
        self.offsets = np.asarray(offsets, dtype=np.int64)  # piece starts, then the total
        self.shape = tuple(src.shape)
        self.dtype = np.dtype(src.dtype)

    def __len__(self):
        return self.shape[0]

    def _read(self, piece, local_rows):
        raise NotImplementedError

    def take(self, rows):
        """Rows `rows` (integers in any order) as one array, in that order."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        n = self.shape[0]
        if rows.size and (rows.min() < 0 or rows.max() >= n):
            raise IndexError("rows out of range for a shard source of %d rows" % n)
        out = np.empty((rows.size,) + self.shape[1:], dtype=self.dtype)
        if not rows.size:
            return out
        piece = np.searchsorted(self.offsets, rows, side="right") - 1
        for p in np.unique(piece):
            at = np.nonzero(piece == p)[0]
            local = rows[at] - self.offsets[p]
            uniq, inverse = np.unique(local, return_inverse=True)
            got = np.asarray(self._read(int(p), uniq))
            if got.shape != (uniq.size,) + self.shape[1:]:
                raise ValueError(
                    "shard source: read %d rows of shape %s, expected shape %s"
                    % (uniq.size, got.shape, (uniq.size,) + self.shape[1:])
                )
            out[at] = got[inverse]
        return out

    def __getitem__(self, key):
        """Array-like access (slices, integer arrays): what the batch loops need."""
        n = self.shape[0]
        if isinstance(key, slice):
            return self.take(np.arange(n)[key])
        if isinstance(key, (int, np.integer)):
            return self.take([key if key >= 0 else key + n])[0]
        return self.take(key)


def _runs(rows):
    """(start, stop) of each run of consecutive integers in sorted `rows`."""
    if not rows.size:
        return []
    cut = np.nonzero(np.diff(rows) != 1)[0] + 1
    starts = np.concatenate([[0], cut])
    stops = np.concatenate([cut, [rows.size]])
    return [(int(rows[a]), int(rows[b - 1]) + 1) for a, b in zip(starts, stops)]


def _set_layout(source, shapes, dtypes, what, pieces):
    """Sets ``source``'s ``offsets`` (of each piece's first row), ``shape`` and ``dtype``
    from its pieces' ``shapes`` and set of ``dtypes``; a ValueError (``what: the
    <pieces> disagree ...``) when they disagree on the dtype or the sample shape."""
    if len(dtypes) != 1:
        raise ValueError("%s: the %s disagree on the dtype (%s)" % (what, pieces, sorted(map(str, dtypes))))
    first = tuple(shapes[0][1:])
    for s in shapes[1:]:
        if tuple(s[1:]) != first:
            raise ValueError(
                "%s: the %s disagree on the sample shape (%s vs %s)" % (what, pieces, first, s[1:])
            )
    source.offsets = np.concatenate([[0], np.cumsum([s[0] for s in shapes])]).astype(np.int64)
    source.shape = (int(source.offsets[-1]),) + first
    source.dtype = next(iter(dtypes))


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


class _NpyReader(Reader):
    def __init__(self, src):
        super().__init__(src)
        self.maps = [np.load(p, mmap_mode="r") for p in src.paths]

    def _read(self, piece, local_rows):
        return self.maps[piece][local_rows]


class NpyFiles(ShardSource):
    """`.npy` files (one path or a list), concatenated along the first axis."""

    reader = _NpyReader

    def __init__(self, paths):
        self.paths = [str(p) for p in _as_list(paths)]
        if not self.paths:
            raise ValueError("NpyFiles: no files given")
        shapes, dtypes = [], set()
        for p in self.paths:
            m = np.load(p, mmap_mode="r")  # reads the header only
            if m.ndim < 1:
                raise ValueError("NpyFiles: %s holds a scalar, not rows" % p)
            shapes.append(m.shape)
            dtypes.add(m.dtype)
        _set_layout(self, shapes, dtypes, "NpyFiles", "files")


class _HDF5Reader(Reader):
    def __init__(self, src):
        from ..utils.io_utils import HDF5Matrix

        super().__init__(src)
        self.mats = [HDF5Matrix(path, name, start, end, norm) for path, name, start, end, norm in src.parts]

    def _read(self, piece, local_rows):
        m = self.mats[piece]
        # one h5py read per run of consecutive rows (h5py's fancy indexing is slow)
        return np.concatenate([np.asarray(m[a:b]) for a, b in _runs(local_rows)], axis=0)


class HDF5Rows(ShardSource):
    """`HDF5Matrix` objects (one or a list), concatenated along the first axis."""

    reader = _HDF5Reader

    def __init__(self, matrices):
        from ..utils.io_utils import HDF5Matrix

        self.parts = []
        shapes, dtypes = [], set()
        for m in _as_list(matrices):
            if not isinstance(m, HDF5Matrix):
                raise TypeError("HDF5Rows takes HDF5Matrix objects, got %s" % type(m).__name__)
            self.parts.append((m.data.file.filename, m.data.name, m.start, m.end, m.normalizer))
            sample = np.asarray(m[0:1])  # the normalizer may change shape or dtype
            shapes.append((len(m),) + sample.shape[1:])
            dtypes.add(sample.dtype)
        if not self.parts:
            raise ValueError("HDF5Rows: no HDF5Matrix given")
        _set_layout(self, shapes, dtypes, "HDF5Rows", "matrices")


class _FunctionReader(Reader):
    def __init__(self, src):
        super().__init__(src)
        self.fn = src.fn

    def _read(self, piece, local_rows):
        return np.concatenate([np.asarray(self.fn(a, b)) for a, b in _runs(local_rows)], axis=0)


class RowFunction(ShardSource):
    """Rows from a user function: `fn(start, stop)` returns rows start:stop of an
    array of `n_rows` rows. The function must be picklable (cloudpickle: a lambda or a
    closure will do) and deterministic; it is called once on the driver for row 0, to
    learn the sample shape and dtype."""

    reader = _FunctionReader

    def __init__(self, fn, n_rows):
        if not callable(fn):
            raise TypeError("RowFunction: fn must be callable, got %s" % type(fn).__name__)
        n_rows = int(n_rows)
        if n_rows < 1:
            raise ValueError("RowFunction: n_rows must be >= 1, got %d" % n_rows)
        self.fn = fn
        first = np.asarray(fn(0, 1))
        if first.ndim < 1 or first.shape[0] != 1:
            raise ValueError("RowFunction: fn(0, 1) must return one row, got shape %s" % (first.shape,))
        self.shape = (n_rows,) + first.shape[1:]
        self.dtype = first.dtype


class _RangeReader(Reader):
    def __init__(self, src):
        super().__init__(src)
        self.inner, self.start = src.source.open(), src.start

    def _read(self, piece, local_rows):
        return self.inner.take(local_rows + self.start)


class RowRange(ShardSource):
    """Rows `start:stop` of another source (what `validation_split` makes of one)."""

    reader = _RangeReader

    def __init__(self, source, start, stop):
        n = source.shape[0]
        if not 0 <= start <= stop <= n:
            raise ValueError("RowRange: %d:%d out of range for %d rows" % (start, stop, n))
        self.source, self.start = source, int(start)
        self.shape = (int(stop) - int(start),) + tuple(source.shape[1:])
        self.dtype = source.dtype


class _CastReader(Reader):
    def __init__(self, src):
        super().__init__(src)
        self.inner = src.source.open()

    def _read(self, piece, local_rows):
        return self.inner.take(local_rows).astype(self.dtype)


class Cast(ShardSource):
    """Another source's rows converted to `dtype` (the dtype the model's inputs take)."""

    reader = _CastReader

    def __init__(self, source, dtype):
        self.source, self.shape, self.dtype = source, tuple(source.shape), np.dtype(dtype)


class _Blocks:
    """A `ray.data.Dataset` executed once into ordered numpy blocks in the object store."""

    def __init__(self, ds):
        import ray
        from ray.data import DataContext

        ctx = DataContext.get_current()
        before = ctx.execution_options.preserve_order
        ctx.execution_options.preserve_order = True
        try:
            self.refs = list(ds.to_numpy_refs())
        finally:
            ctx.execution_options.preserve_order = before

        @ray.remote(num_cpus=0)
        def describe(block):
            if not isinstance(block, dict):
                block = {"data": block}
            return {c: (v.shape, v.dtype) for c, v in block.items()}

        # the block lengths and column shapes, computed where the blocks are
        self.meta = ray.get([describe.remote(r) for r in self.refs])
        if not self.meta:
            raise ValueError("ray_dataset: the dataset has no blocks")


def ray_dataset(ds, columns):
    """One `ShardSource` per column name of the `ray.data.Dataset` `ds` (a list in,
    a list out; a string in, one source out), sharing one execution of the dataset."""
    blocks = _Blocks(ds)
    one = isinstance(columns, str)
    out = [RayDatasetColumn(blocks, c) for c in ([columns] if one else list(columns))]
    return out[0] if one else out


class _DatasetReader(Reader):
    def __init__(self, src):
        super().__init__(src)
        self.refs, self.column = src.refs, src.column

    def _read(self, piece, local_rows):
        import ray

        block = ray.get(self.refs[piece])  # from this node's object store once pulled
        col = block[self.column] if isinstance(block, dict) else block
        return col[local_rows]


class RayDatasetColumn(ShardSource):
    reader = _DatasetReader

    def __init__(self, blocks, column):
        shapes, dtypes = [], set()
        for m in blocks.meta:
            if column not in m:
                raise KeyError("ray_dataset: no column %r (columns: %s)" % (column, sorted(m)))
            shapes.append(m[column][0])
            dtypes.add(m[column][1])
        _set_layout(self, shapes, dtypes, "ray_dataset column %r" % column, "blocks")
        self.refs, self.column = blocks.refs, column


def is_source(a):
    return isinstance(a, ShardSource)


def any_source(*groups):
    """True when an input, target or validation array among `groups` is a source."""
    for g in groups:
        if isinstance(g, dict):
            g = list(g.values())
        if any(is_source(a) for a in _as_list(g)):
            return True
    return False


def open_input(a):
    """What a worker holds for one entry of `ins`: a reader for a source, else the array."""
    return a.open() if is_source(a) else a


class EpochView:
    """Rows of a reader in an epoch's order (`index` None: the source's own order);
    slicing reads only the rows asked for (`Replica._batch` slices batches of it)."""

    def __init__(self, reader, index):
        self.reader, self.index = reader, index

    def __getitem__(self, key):
        if not isinstance(key, slice):
            raise TypeError("EpochView takes slices")
        if self.index is None:
            return self.reader[key]
        return self.reader.take(self.index[key])


class ShardedInput:
    """Mixin for `Replica`: entries of the data that are shard sources are opened on
    the worker, and an epoch's order is applied lazily, batch by batch."""

    def __init__(self, spec, data, rank, threads):
        super().__init__(spec, data, rank, threads)
        self.data = [open_input(a) for a in self.data]
        self.epoch_ins = self.data

    def set_epoch(self, index_array):
        self.epoch_ins = [
            EpochView(a, index_array)
            if isinstance(a, Reader)
            else (a if index_array is None else a[index_array])
            for a in self.data
        ]
        return True


def split_rows(arrays, start, stop=None):
    """Rows start:stop of each array or source (`validation_split` on sharded data)."""
    return [
        RowRange(a, start, len(a) if stop is None else stop) if is_source(a) else a[start:stop]
        for a in arrays
    ]


def standardize(model, x, y, sample_weight, class_weight, batch_size):
    """`model._standardize_user_data` for data that may hold shard sources: the checks
    run on one-row stand-ins (no source is read beyond its header), arrays pass as
    they are. Returns (x, y, sample_weights) lists in the model's order."""
    from ..engine.training import standardize_input_data, standardize_weights

    x = (
        standardize_input_data(
            x, model.input_names, None, check_batch_dim=False, exception_prefix="model input"
        )
        if not any_source(x)
        else _listed(x, model.input_names, "model input")
    )
    y = (
        standardize_input_data(
            y, model.output_names, None, check_batch_dim=False, exception_prefix="model target"
        )
        if not any_source(y)
        else _listed(y, model.output_names, "model target")
    )
    if class_weight and any(is_source(a) for a in y):
        raise NotImplementedError(
            "keras.distributed.fit: class_weight with targets given as shard sources (the driver "
            "would have to read every label); pass sample_weight instead"
        )
    n = {len(a) for a in x + y}
    if len(n) != 1:
        raise ValueError(
            "keras.distributed.fit: all inputs and targets must have the same number of rows, got %s"
            % sorted(n)
        )
    (n,) = n
    one = lambda arrays: [np.zeros((1,) + tuple(a.shape[1:]), dtype=a.dtype) for a in arrays]  # noqa: E731
    # the model's own checks (shapes, loss/target compatibility) on one row
    x1, y1, sw1 = model._standardize_user_data(one(x), one(y), check_batch_dim=False)
    if model.stateful and batch_size and n % batch_size != 0:
        raise ValueError(
            "In a stateful network, you should only pass inputs with a number of samples that can be divided by "
            "the batch size. Found: " + str(n) + " samples"
        )
    if sample_weight is None and not class_weight:
        sws = [np.ones((n,) + w.shape[1:], dtype=w.dtype) for w in sw1]
    else:
        from ..engine.training import standardize_class_weights, standardize_sample_weights

        sws = []
        given = standardize_sample_weights(sample_weight, model.output_names)
        cws = standardize_class_weights(class_weight, model.output_names)
        for ref, sw, cw, mode, w1 in zip(y, given, cws, model.sample_weight_modes, sw1):
            if is_source(ref):
                # only the shape of the targets matters here (class_weight was refused)
                ref = np.broadcast_to(np.zeros((), dtype=ref.dtype), ref.shape)
            sws.append(np.asarray(standardize_weights(ref, sw, cw, mode), dtype=w1.dtype))
    return _converted(x, x1), _converted(y, y1), sws


def _converted(arrays, checked):
    """Arrays and sources in the dtype the one-row check converted them to."""
    out = []
    for a, c in zip(arrays, checked):
        dtype = np.asarray(c).dtype
        if is_source(a):
            out.append(a if a.dtype == dtype else Cast(a, dtype))
        else:
            out.append(np.ascontiguousarray(a, dtype=dtype))
    return out


def _listed(data, names, what):
    if isinstance(data, dict):
        missing = [n for n in names if n not in data]
        if missing:
            raise ValueError("Error when checking %s: no data provided for %s" % (what, missing))
        data = [data[n] for n in names]
    data = _as_list(data)
    if len(data) != len(names):
        raise ValueError(
            "Error when checking %s: the model expects %d arrays, got %d" % (what, len(names), len(data))
        )
    return [a if is_source(a) else np.asarray(a) for a in data]


class DriverArray:
    """A source opened on the driver as a read-only array (validation runs there,
    reading one batch at a time): `shape`, `len`, slicing and integer indexing."""

    def __init__(self, source):
        self.reader = source.open()
        self.shape, self.dtype = source.shape, source.dtype

    def __len__(self):
        return self.shape[0]

    @property
    def ndim(self):
        return len(self.shape)

    def __getitem__(self, key):
        if isinstance(key, list):
            key = np.asarray(key, dtype=np.int64)
        return self.reader[key]
