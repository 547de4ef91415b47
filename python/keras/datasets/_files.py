"""Reading Keras 1's cached dataset files under Python 3.

Keras 1.2.2 wrote its pickles with Python 2's cPickle; numpy arrays and Python 2 `str`
inside them load under Python 3 with ``encoding='latin1'`` (numpy's documented choice for
its own arrays). Later Keras releases moved to ``.npz``/``.json`` files; a `path` with
those extensions is read in that format instead.

Pickles are read only from files whose hash `get_file` verified, or after the opt-in
described in `keras.utils.data_utils` (``KERAS_ALLOW_UNVERIFIED_PICKLES=1``).
"""

import gzip
import pickle

import numpy as np

from ..utils.data_utils import check_unpickle_allowed, is_verified, unverified_pickles_allowed


def load_pickle(path):
    check_unpickle_allowed(path)
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        return pickle.load(f, encoding="latin1")


def load_npz(path):
    """The arrays of an npz file; object arrays (pickled) only from a verified file or
    after the opt-in, plain arrays always."""
    trusted = is_verified(path) or unverified_pickles_allowed()
    with np.load(path, allow_pickle=trusted) as f:
        try:
            return {k: f[k] for k in f.files}
        except ValueError as e:
            if trusted or "allow_pickle" not in str(e):
                raise
    check_unpickle_allowed(path)  # raises UnverifiedFileError, naming the opt-in


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
