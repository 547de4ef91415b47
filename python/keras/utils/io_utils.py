"""HDF5 helpers: atomic writes, the overwrite prompt, and array save/load."""

import contextlib
import os
import sys
import tempfile


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
