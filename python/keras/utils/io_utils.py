"""HDF5 helpers: atomic writes, the overwrite prompt, array save/load, `HDF5Matrix`."""

import contextlib
import errno
import itertools
import os
import secrets
import stat
import sys

import numpy as np


def ask_to_proceed_with_overwrite(filepath):
    """Asks on the terminal whether to overwrite `filepath` (Keras 1's prompt).

    # Returns
        True to overwrite, False when the user answers "n".

    # Raises
        FileExistsError: there is no terminal to ask on (stdin is not a tty): saving
            with `overwrite=False` over an existing file is refused loudly rather than
            silently saving nothing.
    """
    try:
        interactive = bool(sys.stdin) and sys.stdin.isatty()
    except (ValueError, AttributeError):  # a closed or replaced stdin
        interactive = False
    if not interactive:
        raise FileExistsError(
            "%s already exists and overwrite=False, but there is no terminal to ask whether to "
            "overwrite it: nothing was saved. Pass overwrite=True, or remove or rename the file." % filepath
        )
    get_input = input
    overwrite = get_input("[WARNING] %s already exists - overwrite? [y/n]" % (filepath))
    while overwrite not in ["y", "n"]:
        overwrite = get_input('Enter "y" (overwrite) or "n" (cancel).')
    if overwrite == "n":
        return False
    print("[TIP] Next time specify overwrite=True!")
    return True


def _fsync_directory(directory):
    """Flushes a directory entry change (a rename) to disk, where the platform can."""
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as e:
        # Some file systems cannot fsync a directory (EINVAL / ENOTSUP): nothing more to do.
        if e.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF, errno.EACCES):
            raise
    finally:
        os.close(fd)


def atomic_write_bytes(filepath, data):
    """Writes `data` to `filepath` atomically and durably.

    The bytes go to a new temporary file in the target's directory, which is fsynced,
    renamed over the target (`os.replace`), and the directory is fsynced. A failure at
    any point (a full disk: ENOSPC / EFBIG) raises `OSError`, leaves the previous file
    untouched and removes the temporary file.

    - A symbolic link is written through: the file it points to is replaced, the link
      stays (the path is resolved with `os.path.realpath`).
    - The replaced file's permission bits are kept (and its owner and group where this
      process may set them); a new file gets the default mode of the umask (0644 under
      umask 022), as `open(path, 'wb')` would give.

    Returns the path written (the symlink's target for a link).
    """
    target = os.path.realpath(os.fspath(filepath))
    directory = os.path.dirname(target)
    if not os.path.isdir(directory):
        raise FileNotFoundError(
            errno.ENOENT, "Cannot save to %s: directory %s does not exist" % (filepath, directory)
        )
    if os.path.isdir(target):
        raise IsADirectoryError(errno.EISDIR, "Cannot save to %s: it is a directory" % filepath)
    try:
        old = os.stat(target)
    except FileNotFoundError:
        old = None
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    base = os.path.basename(target)
    for _ in range(100):
        tmp = os.path.join(directory, ".tmp-%s-%s" % (base, secrets.token_hex(6)))
        try:
            # 0o666 filtered by the umask: a new file gets the default mode.
            fd = os.open(tmp, flags, 0o666)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(errno.EEXIST, "Cannot create a temporary file next to %s" % filepath)
    try:
        try:
            if old is not None:
                if hasattr(os, "fchmod"):
                    os.fchmod(fd, stat.S_IMODE(old.st_mode))
                else:
                    os.chmod(tmp, stat.S_IMODE(old.st_mode))
                if hasattr(os, "fchown"):
                    st = os.fstat(fd)
                    if (st.st_uid, st.st_gid) != (old.st_uid, old.st_gid):
                        with contextlib.suppress(OSError):
                            os.fchown(fd, old.st_uid, old.st_gid)
                        # A set-id bit is cleared by a change of owner: set the mode again.
                        with contextlib.suppress(OSError):
                            os.fchmod(fd, stat.S_IMODE(old.st_mode))
            view = memoryview(data).cast("B")
            try:
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fsync(fd)
            except OSError as e:
                # os.write names no file: say which save failed (ENOSPC, EFBIG, EIO).
                raise OSError(
                    e.errno, "Cannot save %s: %s (the previous file is unchanged)" % (filepath, e.strerror)
                ) from e
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    _fsync_directory(directory)
    return target


_memory_files = itertools.count()


@contextlib.contextmanager
def atomic_h5(filepath):
    """Builds an HDF5 file in memory and writes it over `filepath` only when the block
    completes (`atomic_write_bytes`): an exception mid-save, a full disk or a crash
    never destroys the previous good file, and no temporary file is left behind.

    The file is built with h5py's `core` driver without a backing store, so HDF5 itself
    never writes to disk (HDF5 does not recover from a failed write when it closes a
    file); its image is then written with ordinary I/O. The whole file is held in
    memory while it is saved.
    """
    import h5py

    target = os.path.realpath(os.fspath(filepath))
    if not os.path.isdir(os.path.dirname(target)):
        raise FileNotFoundError(
            errno.ENOENT,
            "Cannot save to %s: directory %s does not exist" % (filepath, os.path.dirname(target)),
        )
    # A unique name: the core driver tells open files apart by name; nothing is created.
    name = "keras-in-memory-%d-%d-%s.h5" % (os.getpid(), next(_memory_files), os.path.basename(target))
    f = h5py.File(name, "w", driver="core", backing_store=False)
    try:
        yield f
        f.flush()
        image = f.id.get_file_image()
    finally:
        f.close()
    atomic_write_bytes(target, image)


def open_h5(filepath, what, unreadable="not an HDF5 file"):
    """``filepath`` opened read-only with h5py; an OSError naming the ``what`` file
    ('weight', 'model') when it is missing or h5py cannot read it (``unreadable`` says
    so)."""
    import h5py

    if not os.path.isfile(filepath):
        raise OSError("Unable to open %s file %s: no such file" % (what, filepath))
    try:
        return h5py.File(filepath, mode="r")
    except OSError as e:
        raise OSError("Unable to open %s file %s: %s (%s)" % (what, filepath, unreadable, e)) from e


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
