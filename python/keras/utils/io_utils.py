"""HDF5 helpers: atomic writes, the overwrite prompt, array save/load, `HDF5Matrix`."""

import contextlib
import os
import sys
import tempfile

import numpy as np


def ask_to_proceed_with_overwrite(filepath):
    """Asks on stdin whether to overwrite `filepath`; False when there is no terminal."""
    if not sys.stdin or not sys.stdin.isatty():
        return False
    get_input = input
    overwrite = get_input("[WARNING] %s already exists - overwrite? [y/n]" % (filepath))
    while overwrite not in ["y", "n"]:
        overwrite = get_input('Enter "y" (overwrite) or "n" (cancel).')
    if overwrite == "n":
        return False
    print("[TIP] Next time specify overwrite=True!")
    return True


@contextlib.contextmanager
def atomic_h5(filepath):
    """Opens a temporary HDF5 file next to `filepath` for writing and moves it over
    `filepath` only when the block completes: a crash or an exception mid-save never
    destroys the previous good file."""
    import h5py

    directory = os.path.dirname(os.path.abspath(filepath)) or "."
    if not os.path.isdir(directory):
        raise OSError("Cannot save to %s: directory %s does not exist" % (filepath, directory))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-" + os.path.basename(filepath) + "-", suffix=".h5", dir=directory)
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as f:
            yield f
        os.replace(tmp, filepath)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def save_array(array, name):
    """Saves one array to an HDF5 file (dataset 'data')."""
    with atomic_h5(name) as f:
        f.create_dataset("data", data=array)


def load_array(name):
    """Loads an array saved by `save_array`."""
    import h5py

    with h5py.File(name, "r") as f:
        return f["data"][()]


class HDF5Matrix:
    """Representation of HDF5 dataset to be used instead of a Numpy array.

    # Example

    ```python
        X_data = HDF5Matrix('input/file.hdf5', 'data')
        model.predict(X_data)
    ```

    Providing `start` and `end` allows use of a slice of the dataset.

    Optionally, a normalizer function (or lambda) can be given. This will
    be called on every slice of data retrieved.

    # Arguments
        datapath: string, path to a HDF5 file
        dataset: string, name of the HDF5 dataset in the file specified
            in datapath
        start: int, start of desired slice of the specified dataset
        end: int, end of desired slice of the specified dataset
        normalizer: function to be called on data when retrieved

    Files are opened read-only and shared between instances (`HDF5Matrix.refs`). Rows
    are read on indexing; `model.fit`/`evaluate`/`predict` convert their inputs to
    contiguous arrays once per call, so they read the rows [start, end) into memory
    once (through `__array__`) rather than per batch.
    """

    refs = {}

    def __init__(self, datapath, dataset, start=0, end=None, normalizer=None):
        import h5py

        f = self.refs.get(datapath)
        if f is None or not f.id.valid:
            f = h5py.File(datapath, "r")
            self.refs[datapath] = f
        if dataset not in f:
            raise KeyError("HDF5Matrix: no dataset %r in %s" % (dataset, datapath))
        self.data = f[dataset]
        n = self.data.shape[0]
        self.start = start
        self.end = n if end is None else end
        if not 0 <= self.start <= self.end <= n:
            raise ValueError(
                "HDF5Matrix: start=%s, end=%s out of range for dataset %r with %d rows"
                % (start, end, dataset, n)
            )
        self.normalizer = normalizer

    def __len__(self):
        return self.end - self.start

    def _read(self, idx):
        data = self.data[idx]
        return self.normalizer(data) if self.normalizer is not None else data

    def __getitem__(self, key):
        n = self.end - self.start
        if isinstance(key, slice):
            start, stop, step = key.indices(n)
            if step == 1:
                return self._read(slice(start + self.start, max(start, stop) + self.start))
            key = np.arange(start, stop, step)
        if isinstance(key, (int, np.integer)):
            if key < 0:
                key += n
            if not 0 <= key < n:
                raise IndexError("HDF5Matrix index %d out of range for %d rows" % (key, n))
            return self._read(int(key) + self.start)
        if isinstance(key, (list, tuple, np.ndarray)):
            key = np.asarray(key, dtype=np.int64).ravel()
            if key.size and (key.min() < 0 or key.max() >= n):
                raise IndexError("HDF5Matrix indices out of range for %d rows" % n)
            # h5py reads only strictly increasing index lists: read the sorted unique rows,
            # then put them back in the requested order.
            uniq, inverse = np.unique(key, return_inverse=True)
            rows = (
                self.data[(uniq + self.start).tolist()] if uniq.size else self.data[self.start : self.start]
            )
            rows = rows[inverse]
            return self.normalizer(rows) if self.normalizer is not None else rows
        raise IndexError("HDF5Matrix cannot be indexed with %r" % (key,))

    def __array__(self, dtype=None, copy=None):
        a = self[0 : len(self)]
        return np.asarray(a, dtype=dtype) if dtype is not None else np.asarray(a)

    @property
    def shape(self):
        return (self.end - self.start,) + tuple(self.data.shape[1:])

    @property
    def dtype(self):
        if self.normalizer is not None:
            return np.asarray(self[0:1]).dtype
        return self.data.dtype

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return int(np.prod(self.shape))
