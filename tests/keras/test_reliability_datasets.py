"""Dataset loading never runs code from a pickle (issue 17, item 8), and Keras 1's cache
files load offline without an opt-in (issue 15).

Every file `keras.datasets` fetches whose checksum is published is pinned (SHA-256 where
one is known for the exact file, else the md5 Keras published) and origins are https.
Every pickle (.pkl, .pkl.gz, CIFAR batches, object arrays in .npz) is read with the
restricted unpickler of keras.datasets._safe_pickle, verified or not: it accepts the
numpy arrays, dtypes and scalars, lists, tuples, dicts, strings and numbers of Keras 1's
files (Python 2 cPickles) and of the same structures written by Python 3, and refuses any
other global with an UnpicklingError naming it and the file, before importing it. There
is no opt-in (KERAS_ALLOW_UNVERIFIED_PICKLES is ignored). No test touches the network.
"""

import gzip
import hashlib
import io
import os
import pathlib
import pickle
import shlex
import struct
import tarfile
import urllib.error
import urllib.request
import zipfile

import numpy as np
import pytest

from keras.datasets import _safe_pickle, cifar10, cifar100, imdb, mnist, reuters
from keras.utils import data_utils
from keras.utils.data_utils import UnsafePickleError, get_file, is_verified


class _Touch:
    """Unpickling this creates `marker` (pathlib.Path.touch): proof that a pickle ran code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


class _System:
    """Unpickling this runs ``os.system('touch marker')``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, ("touch " + shlex.quote(str(self.marker)),))


_SYSTEM = r"%s\.system" % os.system.__module__  # posix.system on Linux


class _Py2Pickler(pickle._Pickler):
    """Writes what Python 2's cPickle wrote at protocol 2: `str` (ASCII text, and bytes) as
    SHORT_BINSTRING/BINSTRING, other text as BINUNICODE (a Python 2 `unicode`)."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj):
        if isinstance(obj, str):
            if not obj.isascii():
                return self.save_str(obj)
            data = obj.encode("ascii")
        else:
            data = obj
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[str] = save_py2_str
    dispatch[bytes] = save_py2_str


def py2_dumps(obj):
    """A Python 2 cPickle (protocol 2) of `obj`, numpy's functions under NumPy 1's names."""
    f = io.BytesIO()
    _Py2Pickler(f, protocol=2).dump(obj)
    data = f.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    assert b"_codecs" not in data and b"numpy._core" not in data
    return data


# How the files under test are written: Keras 1's own (Python 2), and what a user of
# Python 3 writes with pickle.dump at protocols 2 (bytes via _codecs.encode), 4 and 5
# (arrays via _frombuffer).
DUMPS = {
    "py2": py2_dumps,
    "py3-proto2": lambda obj: pickle.dumps(obj, protocol=2),
    "py3-proto4": lambda obj: pickle.dumps(obj, protocol=4),
    "py3-proto5": lambda obj: pickle.dumps(obj, protocol=5),
}


@pytest.fixture
def downloads():
    """The URLs a test tried to download."""
    return []


@pytest.fixture
def cache(tmp_path, monkeypatch, downloads):
    """An empty ~/.keras/datasets under a fresh HOME, no opt-in, no network."""
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("KERAS_ALLOW_UNVERIFIED_PICKLES", raising=False)

    def no_network(url, filename, reporthook=None):
        downloads.append(url)
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(data_utils, "urlretrieve", no_network)
    d = home / ".keras" / "datasets"
    d.mkdir(parents=True)
    return d


@pytest.fixture
def marker(tmp_path):
    return tmp_path / "pickle-ran-code"


@pytest.fixture(params=[_System, _Touch], ids=["os.system", "Path.touch"])
def evil(request, marker):
    """Pickled bytes (protocol 4) that create `marker` when a general unpickler reads them,
    and the pattern the refusal names."""
    forbidden = _SYSTEM if request.param is _System else r"pathlib\.Path\.touch"
    return pickle.dumps(request.param(marker), protocol=4), forbidden


# --------------------------------------------------------------------------------------
# Keras 1's files load without an opt-in


def _rng():
    return np.random.RandomState(0)


@pytest.mark.parametrize("how", sorted(DUMPS))
def test_mnist_pkl_gz_loads_without_opt_in(cache, how):
    rng = _rng()
    X = rng.randint(0, 256, (30, 28, 28)).astype(np.uint8)
    y = rng.randint(0, 10, 30).astype(np.uint8)
    with gzip.open(cache / "mnist.pkl.gz", "wb") as f:
        f.write(DUMPS[how](((X[:20], y[:20]), (X[20:], y[20:]))))
    (X_train, y_train), (X_test, y_test) = mnist.load_data()
    for got, want in ((X_train, X[:20]), (y_train, y[:20]), (X_test, X[20:]), (y_test, y[20:])):
        assert type(got) is np.ndarray and got.dtype == np.uint8 and got.flags.writeable
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("how", sorted(DUMPS))
def test_reuters_and_imdb_pickles_load_without_opt_in(cache, how):
    rng = _rng()
    seqs = [[int(w) for w in rng.randint(1, 60, rng.randint(3, 12))] for _ in range(40)]
    labels = [i % 5 for i in range(40)]
    (cache / "reuters.pkl").write_bytes(DUMPS[how]((seqs, labels)))
    (X_train, y_train), (X_test, y_test) = reuters.load_data(test_split=0.25)
    assert len(X_train) == 30 and len(X_test) == 10
    assert sorted(map(len, list(X_train) + list(X_test))) == sorted(len(s) + 1 for s in seqs)
    assert sorted(y_train.tolist() + y_test.tolist()) == sorted(labels)

    (cache / "reuters_word_index.pkl").write_bytes(DUMPS[how]({"said": 1, "mln": 2, "\u00e9t\u00e9": 3}))
    assert reuters.get_word_index() == {"said": 1, "mln": 2, "\u00e9t\u00e9": 3}

    # imdb_full.pkl / imdb_word_index.pkl have pinned md5s: a subset lives under its own name.
    (cache / "my_imdb.pkl").write_bytes(DUMPS[how](((seqs[:30], labels[:30]), (seqs[30:], labels[30:]))))
    (X_train, y_train), (X_test, y_test) = imdb.load_data("my_imdb.pkl")
    assert len(X_train) == 30 and len(X_test) == 10
    (cache / "my_index.pkl").write_bytes(DUMPS[how]({"the": 1, "and": 2}))
    assert imdb.get_word_index("my_index.pkl") == {"the": 1, "and": 2}


def _cifar_batch(rng, n, label_key="labels", bytes_keys=True):
    data = rng.randint(0, 256, (n, 3072)).astype(np.uint8)
    labels = [int(v) for v in rng.randint(0, 10, n)]
    batch = {"data": data, label_key: labels, "batch_label": "training batch 1 of 5"}
    batch["filenames"] = ["img_%d.png" % i for i in range(n)]
    if bytes_keys:  # how a Python 3 user writes Keras 1's keys
        batch = {k.encode(): v for k, v in batch.items()}
    return batch


@pytest.mark.parametrize("how", sorted(DUMPS))
def test_cifar_folders_load_without_opt_in(cache, how, monkeypatch):
    rng = _rng()
    # A CIFAR-10 folder whose archive is no longer in the cache (nothing verifies it).
    folder = cache / "cifar-10-batches-py"
    folder.mkdir()
    batches = {}
    for name in ["data_batch_%d" % i for i in range(1, 6)] + ["test_batch"]:
        batches[name] = _cifar_batch(rng, 3, bytes_keys=how != "py2")
        (folder / name).write_bytes(DUMPS[how](batches[name]))
    (X_train, y_train), (X_test, y_test) = cifar10.load_data()
    assert len(X_train) == 15 and len(X_test) == 3 and X_train.dtype == np.uint8
    key = "data" if how == "py2" else b"data"
    want = batches["test_batch"][key].reshape(3, 3, 32, 32)
    if X_test.shape[1:] == (32, 32, 3):
        want = want.transpose(0, 2, 3, 1)
    np.testing.assert_array_equal(X_test, want)

    folder = cache / "cifar-100-python"
    folder.mkdir()
    for name in ("train", "test"):
        batch = _cifar_batch(rng, 4, "fine_labels", bytes_keys=how != "py2")
        batch[b"coarse_labels" if how != "py2" else "coarse_labels"] = [1, 2, 3, 4]
        (folder / name).write_bytes(DUMPS[how](batch))
    (_, y_train), (_, y_test) = cifar100.load_data(label_mode="coarse")
    assert y_train[:, 0].tolist() == [1, 2, 3, 4] and y_test.shape == (4, 1)


def _object_array(seqs):
    out = np.empty(len(seqs), dtype=object)
    for i, s in enumerate(seqs):
        out[i] = s
    return out


def test_npz_object_arrays_load_without_opt_in(cache):
    seqs = [[1, 2, 3], [4], [5, 6]]
    np.savez(cache / "my_reuters.npz", x=_object_array(seqs), y=np.array([0, 1, 0]))
    (X_train, _), (X_test, _) = reuters.load_data("my_reuters.npz", test_split=0.34)
    assert sorted(map(len, list(X_train) + list(X_test))) == [2, 3, 4]
    # imdb.npz's layout, the arrays compressed.
    np.savez_compressed(
        cache / "my_imdb.npz",
        x_train=_object_array(seqs),
        y_train=np.array([1, 0, 1]),
        x_test=_object_array(seqs[:2]),
        y_test=np.array([0, 1]),
    )
    (X_train, y_train), (X_test, _) = imdb.load_data(
        "my_imdb.npz", nb_words=10, index_from=0, start_char=None
    )
    assert sorted(map(tuple, X_train)) == [(1, 2, 3), (4,), (5, 6)] and len(X_test) == 2
    # Plain arrays are read with allow_pickle=False.
    x = np.zeros((3, 28, 28), np.uint8)
    np.savez(cache / "my_mnist.npz", x_train=x, y_train=np.arange(3), x_test=x, y_test=np.arange(3))
    (X, y), _ = mnist.load_data("my_mnist.npz")
    assert X.shape == (3, 28, 28) and y.tolist() == [0, 1, 2]


# --------------------------------------------------------------------------------------
# Nothing in a pickle runs code


def _refused(evil, path, call):
    data, forbidden = evil
    with pytest.raises(pickle.UnpicklingError, match=r"forbidden global %s" % forbidden) as info:
        call()
    assert isinstance(info.value, UnsafePickleError)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("opt_in", [None, "1"], ids=["plain", "old-opt-in-set"])
def test_code_running_pickles_are_refused(cache, marker, evil, monkeypatch, opt_in):
    if opt_in:  # the opt-in of an earlier version no longer lets anything through
        monkeypatch.setenv("KERAS_ALLOW_UNVERIFIED_PICKLES", opt_in)
    data, _ = evil
    (cache / "reuters.pkl").write_bytes(data)
    _refused(evil, cache / "reuters.pkl", reuters.load_data)
    (cache / "reuters_word_index.pkl").write_bytes(data)
    _refused(evil, cache / "reuters_word_index.pkl", reuters.get_word_index)
    with gzip.open(cache / "mnist.pkl.gz", "wb") as f:
        f.write(data)
    _refused(evil, cache / "mnist.pkl.gz", mnist.load_data)
    (cache / "my_imdb.pkl").write_bytes(data)
    _refused(evil, cache / "my_imdb.pkl", lambda: imdb.load_data("my_imdb.pkl"))
    folder = cache / "cifar-100-python"
    folder.mkdir()
    for name in ("train", "test"):
        (folder / name).write_bytes(data)
    _refused(evil, folder / "train", cifar100.load_data)
    assert not marker.exists()


def test_code_inside_a_keras1_structure_is_refused(cache, marker):
    """The payload deep inside an otherwise valid file (a review, a word-index value, a
    CIFAR label), in Python 2 and Python 3 pickles."""
    for dumps in (py2_dumps, pickle.dumps):
        (cache / "reuters.pkl").write_bytes(dumps(([[1, 2], [3, _System(marker)]], [0, 1])))
        with pytest.raises(pickle.UnpicklingError, match=_SYSTEM):
            reuters.load_data()
        (cache / "reuters_word_index.pkl").write_bytes(dumps({"said": _Touch(marker)}))
        # (Path.touch at protocol 2 is getattr(PosixPath, 'touch'): the first global is getattr.)
        with pytest.raises(pickle.UnpicklingError, match=r"forbidden global (pathlib|builtins)\."):
            reuters.get_word_index()
        folder = cache / "cifar-100-python"
        folder.mkdir(exist_ok=True)
        batch = {b"data": np.zeros((1, 3072), np.uint8), b"fine_labels": [_System(marker)]}
        for name in ("train", "test"):
            (folder / name).write_bytes(dumps(batch))
        with pytest.raises(pickle.UnpicklingError, match=_SYSTEM):
            cifar100.load_data()
    assert not marker.exists()


def test_npz_object_array_with_code_is_refused(cache, marker):
    seqs = np.empty(2, dtype=object)
    seqs[0], seqs[1] = [1, 2], _System(marker)
    np.savez(cache / "my_reuters.npz", x=seqs, y=np.array([0, 1]))
    with pytest.raises(
        pickle.UnpicklingError, match=r"my_reuters\.npz \(x\.npy\).*forbidden global " + _SYSTEM
    ):
        reuters.load_data("my_reuters.npz")
    seqs[1] = _Touch(marker)
    np.savez_compressed(
        cache / "my_imdb.npz", x_train=seqs, y_train=np.arange(2), x_test=seqs, y_test=np.arange(2)
    )
    with pytest.raises(pickle.UnpicklingError, match="Path.touch"):
        imdb.load_data("my_imdb.npz")
    assert not marker.exists()


def test_npz_member_whose_pickle_is_not_its_declared_array_is_refused(cache):
    # An object-array header followed by a pickle of something else.
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "|O", "fortran_order": False, "shape": (2,)})
    buf.write(pickle.dumps([[1], [2]], protocol=3))
    with zipfile.ZipFile(cache / "my_reuters.npz", "w") as z:
        z.writestr("x.npy", buf.getvalue())
    with pytest.raises(pickle.UnpicklingError, match="its header declares"):
        reuters.load_data("my_reuters.npz")


class _Reduce:
    """Pickles as `fn(*args)`, with `state` for BUILD."""

    def __init__(self, fn, args, state=None):
        self.fn, self.args, self.state = fn, args, state

    def __reduce__(self):
        return (self.fn, self.args) if self.state is None else (self.fn, self.args, self.state)


def _reconstruct():
    from numpy._core.multiarray import _reconstruct

    return _reconstruct


def _dtype(spec, state, copy=True):
    return _Reduce(np.dtype, (spec, False, copy), state)


def _array(dtype, shape, data):
    return _Reduce(_reconstruct(), (np.ndarray, (0,), b"b"), (1, shape, dtype, False, data))


_SIMPLE = (3, "|", None, None, None, -1, -1, 0)


@pytest.mark.parametrize(
    "obj, message",
    [
        # An object dtype whose state claims it holds no objects: numpy's own setstate
        # would then read the raw bytes as object pointers (a crash, or worse).
        (_array(_dtype("O8", (3, "|", None, None, None, -1, -1, 0)), (1,), b"A" * 8), "needs a list"),
        (_array(_dtype("O8", _SIMPLE), (1,), b"A" * 8), "needs a list"),
        # Structured and sub-array dtypes (an object field hidden in a record).
        (_dtype("V8", _SIMPLE), "only bool, int"),
        (_dtype("u8", (3, "|", None, ("a",), {"a": (np.dtype("O"), 0)}, 8, 1, 0)), "simple dtypes"),
        (_dtype("u1", (3, "|", (np.dtype("O"), (1,)), None, None, 8, 1, 0)), "simple dtypes"),
        # A size that does not match the type; data shorter than the shape.
        (_dtype("u1", (3, "|", None, None, None, 8, 1, 0)), "item size"),
        (_array(_dtype("f8", (3, "<", None, None, None, -1, -1, 0)), (4,), b"\0" * 8), "8 bytes of data"),
        # numpy.ndarray called directly (a buffer, strides and offset of its choosing).
        (_Reduce(np.ndarray, ((1,), "O", b"A" * 8)), "only accepted as the first argument"),
        (_Reduce(_reconstruct(), (_Reduce(np.dtype, ("u1",)), (0,), b"b")), "only numpy.ndarray"),
        # Object scalars; _codecs.encode / bytes beyond what Python 3 writes for bytes.
        (_Reduce(np.int64(0).__reduce__()[0], (_dtype("O8", _SIMPLE), b"A" * 8)), "object scalars"),
        (_Reduce(__import__("_codecs").encode, ("x", "zlib_codec")), "encode"),
        (_Reduce(bytes, (10**9,)), "bytes"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_crafted_numpy_states_are_refused(obj, message):
    data = pickle.dumps(obj, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match=message):
        _safe_pickle.loads(data, "crafted.pkl")


def test_numpy_singletons_and_the_allowed_globals_cannot_be_changed():
    # dtype(spec, copy=False) then BUILD would change numpy's own uint64 / float64 dtype.
    before = (np.dtype("f8").byteorder, np.dtype("f8").itemsize)
    big = _safe_pickle.loads(pickle.dumps(_dtype("f8", (3, ">", None, None, None, -1, -1, 0), copy=False), 2))
    assert big == np.dtype(">f8")
    assert (np.dtype("f8").byteorder, np.dtype("f8").itemsize) == before
    # BUILD aimed at an allowed global (slot state) fails instead of changing it.
    data = b"\x80\x02cnumpy\ndtype\nN}X\x03\x00\x00\x00_fnK\x01s\x86b."
    with pytest.raises(pickle.UnpicklingError, match="_fn"):
        _safe_pickle.loads(data)
    assert _safe_pickle._ALLOWED[("numpy", "dtype")]._fn is _safe_pickle._DType
    # Any global outside the list, however harmless, is refused before it is imported.
    for name in (
        b"copy_reg\n_reconstructor",
        b"__builtin__\nobject",
        b"collections\nOrderedDict",
        b"no_such\nthing",
    ):
        with pytest.raises(pickle.UnpicklingError, match="forbidden global"):
            _safe_pickle.loads(b"\x80\x02c" + name + b"\n.")


def test_an_object_array_whose_item_list_grows_after_build_is_refused():
    o = np.empty(1, object)
    o[0] = 5
    data = pickle.dumps([o], protocol=2)
    assert data.endswith(b"q\x13ba.")  # ... BUILD (the array), APPEND (to the outer list)
    # BINGET the array's item list, APPEND 7 to it (after its BUILD checked its length), POP.
    data = data[:-2] + b"h\x12K\x07a0a."
    with pytest.raises(pickle.UnpicklingError, match="item list changed"):
        _safe_pickle.loads(data)


def test_restricted_arrays_match_numpys_own_unpickling():
    rng = _rng()
    objs = [
        np.asfortranarray(rng.rand(3, 4)),
        rng.randint(-5, 5, (2, 3)).astype(">i4"),
        np.array(["ab", "\u00e9"]),
        np.array([b"ab", b""]),
        np.zeros((0, 5), np.float32),
        np.array(1.5),
        np.array([True, False]),
        np.array([1 + 2j], np.complex64),
        [np.int64(7), np.float32(0.5), np.bool_(True)],
        _object_array([[1, 2], np.arange(3), "s"]),
    ]
    for protocol in range(6):
        for obj in objs:
            data = pickle.dumps(obj, protocol=protocol)
            got, want = _safe_pickle.loads(data), pickle.loads(data)
            if isinstance(obj, list):
                assert [type(g) for g in got] == [type(w) for w in want] and got == want
                continue
            assert type(got) is np.ndarray and got.shape == want.shape
            assert got.dtype.newbyteorder("=") == want.dtype.newbyteorder("=")
            assert got.flags.f_contiguous == want.flags.f_contiguous
            if got.dtype.hasobject:
                assert got[0] == want[0] and got[2] == want[2]
                np.testing.assert_array_equal(got[1], want[1])
            else:
                np.testing.assert_array_equal(got, want)


# --------------------------------------------------------------------------------------
# Hashes and archives


def test_a_known_name_with_other_bytes_is_never_used(cache, marker, downloads):
    (cache / "imdb_full.pkl").write_bytes(pickle.dumps(_System(marker)))
    with pytest.raises(OSError):  # re-downloaded (the md5 does not match); offline here
        imdb.load_data()
    assert downloads == ["https://s3.amazonaws.com/text-datasets/imdb_full.pkl"]
    assert not marker.exists()


def _cifar_archive(path, marker=None):
    with tarfile.open(path, "w:gz") as t:
        for name in ["data_batch_%d" % i for i in range(1, 6)] + ["test_batch"]:
            if marker is not None:
                data = pickle.dumps(_System(marker))
            else:
                data = pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]}, protocol=2)
            info = tarfile.TarInfo("cifar-10-batches-py/" + name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))


def test_cifar_archive_with_the_wrong_hash_is_never_extracted(cache, marker, downloads):
    _cifar_archive(cache / "cifar-10-batches-py.tar.gz", marker)
    with pytest.raises(OSError):  # does not match the pinned SHA-256: downloaded again
        cifar10.load_data()
    assert downloads == ["https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"]
    assert not (cache / "cifar-10-batches-py").exists()  # never extracted
    assert not marker.exists()


def test_cifar_archive_that_matches_its_pin_loads(cache, monkeypatch, downloads):
    archive = cache / "cifar-10-batches-py.tar.gz"
    _cifar_archive(archive)
    monkeypatch.setattr(cifar10, "CIFAR10_SHA256", hashlib.sha256(archive.read_bytes()).hexdigest())
    (X_train, y_train), (X_test, _) = cifar10.load_data()
    assert len(X_train) == 10 and len(X_test) == 2
    assert downloads == []
    assert is_verified(cache / "cifar-10-batches-py" / "test_batch")
    # Once the archive is gone nothing vouches for the folder in a later process
    # (simulated by forgetting); its batches still load, with the same restricted reader.
    archive.unlink()
    data_utils._VERIFIED.clear()
    (X_train, _), _ = cifar10.load_data()
    assert len(X_train) == 10 and not is_verified(cache / "cifar-10-batches-py" / "test_batch")


def test_a_verified_file_that_changes_is_no_longer_verified(cache, tmp_path, monkeypatch):
    src = tmp_path / "src.pkl"
    src.write_bytes(pickle.dumps([1, 2, 3]))
    sha = hashlib.sha256(src.read_bytes()).hexdigest()
    monkeypatch.setattr(data_utils, "urlretrieve", urllib.request.urlretrieve)  # file:// only
    origin = "file://" + str(src)
    path = get_file("v.pkl", origin=origin, file_hash=sha)
    assert is_verified(path)
    with open(path, "ab") as f:
        f.write(b"tampered")
    assert not is_verified(path)
    # Without a hash nothing is verified.
    assert not is_verified(get_file("w.pkl", origin=origin))


def test_a_stale_archive_is_extracted_again_after_the_download(cache, tmp_path, monkeypatch):
    good = tmp_path / "good.tar.gz"
    with tarfile.open(good, "w:gz") as t:
        info = tarfile.TarInfo("stuff/a.txt")
        info.size = 4
        t.addfile(info, io.BytesIO(b"good"))
    sha = hashlib.sha256(good.read_bytes()).hexdigest()
    # A stale archive and the folder extracted from it.
    (cache / "stuff.tar.gz").write_bytes(b"not the archive")
    (cache / "stuff").mkdir()
    (cache / "stuff" / "a.txt").write_bytes(b"evil")
    monkeypatch.setattr(data_utils, "urlretrieve", urllib.request.urlretrieve)  # file:// only
    path = get_file("stuff", origin="file://" + str(good), untar=True, file_hash=sha)
    assert open(os.path.join(path, "a.txt"), "rb").read() == b"good"
    assert is_verified(os.path.join(path, "a.txt"))


def test_archive_members_cannot_escape_the_cache(cache, tmp_path):
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as t:
        info = tarfile.TarInfo("../../escaped.txt")
        info.size = 1
        t.addfile(info, io.BytesIO(b"x"))
    (cache / "evil.tar.gz").write_bytes(evil.read_bytes())
    with pytest.raises((ValueError, tarfile.TarError)):
        get_file("evil", origin="file:///nonexistent", untar=True)
    assert not (cache.parent.parent / "escaped.txt").exists()
    assert not (cache / "evil").exists()


def test_every_published_hash_is_pinned_and_origins_are_https():
    assert len(cifar10.CIFAR10_SHA256) == 64 and len(cifar100.CIFAR100_SHA256) == 64
    assert len(imdb._HASHES) == 4 and all(md5 and len(md5) == 32 for md5 in imdb._HASHES.values())
    assert len(mnist._HASHES["mnist.npz"]) == 64 and mnist._HASHES["mnist.pkl.gz"] is None
    assert {name for name, md5 in reuters._HASHES.items() if md5} == {
        "reuters.npz",
        "reuters_word_index.json",
    }
    assert all(module._ORIGIN_DIR.startswith("https://") for module in (imdb, mnist, reuters))
