"""Reading Keras 1's cached dataset files under Python 3.

Keras 1.2.2 wrote its pickles with Python 2's cPickle; numpy arrays and Python 2 `str`
inside them load under Python 3 with ``encoding='latin1'`` (numpy's documented choice for
its own arrays). Later Keras releases moved to ``.npz``/``.json`` files; a `path` with
those extensions is read in that format instead.

Every pickle (a ``.pkl``/``.pkl.gz`` file, a CIFAR batch, an object array in an ``.npz``)
is read with the restricted unpickler of `._safe_pickle`, which imports nothing and
accepts only tuples, lists, dicts, strings, numbers and numpy arrays/dtypes/scalars: a
file that names any other global raises `UnsafePickleError` (a `pickle.UnpicklingError`)
naming it and the file, whether or not the file's hash was verified (a file that matched
its pinned hash is what Keras published; it holds nothing more). There is no opt-in to a
general unpickler: Keras' own files never need one.
"""

import gzip
import json
import os
import zipfile

import numpy as np

from ..utils.data_utils import UnsafePickleError, get_dataset_file
from . import _safe_pickle


def _open(path):
    return gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")


def load_pickle(path, encoding="latin1"):
    """The object pickled in `path` (gzip-compressed when it ends with ``.gz``), read with
    the restricted unpickler."""
    with _open(path) as f:
        return _safe_pickle.load(f, path, encoding=encoding)


def _read_npy_header(f):
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(f)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(f)
    try:  # 3.0 (utf-8 field names): no public reader
        from numpy.lib._format_impl import _read_array_header
    except ImportError:  # NumPy 1
        _read_array_header = np.lib.format._read_array_header
    return _read_array_header(f, version)


def _read_npz_member(zf, name, source):
    with zf.open(name) as f:
        if f.read(len(np.lib.format.MAGIC_PREFIX)) != np.lib.format.MAGIC_PREFIX:
            return zf.read(name)  # not an array (np.load returns such members as bytes)
    with zf.open(name) as f:
        shape, _, dtype = _read_npy_header(f)
        if dtype.hasobject:  # the rest of the member is a pickle of the array
            array = _safe_pickle.load(f, source, encoding="latin1")
            if not isinstance(array, np.ndarray) or array.shape != tuple(shape) or array.dtype != dtype:
                raise UnsafePickleError(
                    "Refusing to read %s: its pickle is not the %s array of shape %s its header declares"
                    % (source, dtype, tuple(shape))
                )
            return array
    with zf.open(name) as f:
        return np.lib.format.read_array(f, allow_pickle=False)


def load_npz(path):
    """The arrays of an npz file, as `np.load` returns them: plain arrays read with
    `allow_pickle=False`, object arrays with the restricted unpickler."""
    with zipfile.ZipFile(path) as zf:
        return {
            (name[:-4] if name.endswith(".npy") else name): _read_npz_member(
                zf, name, "%s (%s)" % (path, name)
            )
            for name in zf.namelist()
        }


def object_array(seqs):
    """A 1-D object array of lists (what Keras 1 returned for ragged sequences; numpy
    no longer builds one from ragged lists by itself)."""
    out = np.empty(len(seqs), dtype=object)
    for i, s in enumerate(seqs):
        out[i] = s
    return out


def sequence_array(seqs):
    """`np.array(seqs)` as old numpy made it: 2-D int when every sequence has the same
    length, else a 1-D object array of lists."""
    if seqs and len({len(s) for s in seqs}) == 1:
        return np.array(seqs)
    return object_array(seqs)


def fetch(path, origin_dir, hashes, default):
    """The cached dataset file ``path`` (downloaded when absent): a file name of the
    dataset's own (a key of ``hashes``) comes from ``origin_dir`` + that name, checked
    against its pinned hash (None: none published); any other name holds ``default``'s
    file."""
    name = os.path.basename(path)
    if name not in hashes:
        name = default
    return get_dataset_file(path, origin_dir + name, hashes[name])


def load_arrays(path, npz_keys):
    """A dataset file's data: the object its pickle holds, or for an ``.npz`` its arrays
    arranged as ``npz_keys`` (the arrays' names in nested tuples, the pickle's layout)."""
    if not path.endswith(".npz"):
        return load_pickle(path)
    arrays = load_npz(path)

    def arrange(keys):
        return arrays[keys] if isinstance(keys, str) else tuple(arrange(k) for k in keys)

    return arrange(npz_keys)


def load_word_index(path):
    """A dataset's word index from its JSON file (Keras 2's) or its pickle (Keras 1's)."""
    if path.endswith(".json"):
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    return load_pickle(path)
