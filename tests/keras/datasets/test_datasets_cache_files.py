"""keras.datasets read Keras 1's cache files. The files are built here from the real data
in ../shared/data (MNIST IDX files, IMDB reviews and word index) into a temporary
~/.keras/datasets; no test touches the network (urlretrieve raises if it is reached).

Files built here cannot match the published checksums, so they are either put under names
of their own (used as they are), put under Keras 1 names that have no published checksum
(mnist.pkl.gz, reuters.pkl, reuters_word_index.pkl), or the test pins their own hash. Their
pickles load without any opt-in: keras.datasets reads every pickle with a restricted
unpickler (see tests/keras/test_reliability_datasets.py for what it refuses)."""

import gzip
import json
import os
import pickle
import re
import shutil
import struct
import tarfile
import urllib.error

import numpy as np
import pytest

import keras.backend as K
from conftest import mnist_test_set, shared_data
from keras.datasets import cifar10, cifar100, imdb, mnist, reuters
from keras.utils import data_utils


def _raises_naming(load, *parts):
    """``load()`` raises an OSError whose message holds every one of ``parts``."""
    with pytest.raises(OSError) as info:
        load()
    for part in parts:
        assert part in str(info.value), (part, str(info.value))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty ~/.keras/datasets under a fresh HOME; any download attempt fails."""
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))

    def no_network(url, filename, reporthook=None):
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(data_utils, "urlretrieve", no_network)
    d = home / ".keras" / "datasets"
    d.mkdir(parents=True)
    return d


# --------------------------------------------------------------------------------------
# MNIST


def test_mnist_pkl_gz(cache):
    X, y = mnist_test_set()
    # Keras 1's file: a protocol-2 pickle of ((X_train, y_train), (X_test, y_test)).
    with gzip.open(cache / "mnist.pkl.gz", "wb", compresslevel=1) as f:
        pickle.dump(((X[:8000], y[:8000]), (X[8000:], y[8000:])), f, protocol=2)
    (X_train, y_train), (X_test, y_test) = mnist.load_data()
    assert X_train.shape == (8000, 28, 28) and X_train.dtype == np.uint8
    assert X_test.shape == (2000, 28, 28) and X_test.dtype == np.uint8
    assert y_train.shape == (8000,) and y_test.shape == (2000,)
    assert y_train[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    np.testing.assert_array_equal(X_test, X[8000:])
    np.testing.assert_array_equal(y_test, y[8000:])


def test_mnist_npz(cache):
    X, y = mnist_test_set()
    # Not named mnist.npz (its SHA-256 is pinned); plain arrays need no opt-in.
    np.savez(
        cache / "mnist_subset.npz",
        x_train=X[:100],
        y_train=y[:100],
        x_test=X[100:150],
        y_test=y[100:150],
    )
    (X_train, y_train), (X_test, y_test) = mnist.load_data("mnist_subset.npz")
    assert X_train.shape == (100, 28, 28) and X_test.shape == (50, 28, 28)
    np.testing.assert_array_equal(y_test, y[100:150])


def test_mnist_offline_without_file(cache):
    _raises_naming(
        mnist.load_data, "https://s3.amazonaws.com/img-datasets/mnist.pkl.gz", str(cache / "mnist.pkl.gz")
    )
    assert not os.path.exists(cache / "mnist.pkl.gz")


# --------------------------------------------------------------------------------------
# IMDB: imdb_full.pkl / imdb_word_index.pkl built from the real reviews and word index


def _py2_pickle_of_str_dict(d):
    """A Python 2 cPickle (protocol 2) of a dict of byte strings -> ints, as Keras 1's
    imdb_word_index.pkl was: the keys are SHORT_BINSTRING/BINSTRING opcodes, which
    Python 3 only reads with an `encoding`."""
    out = [b"\x80\x02}(", b""]
    for k, v in d.items():
        kb = k.encode("utf-8")
        out.append((b"U" + bytes([len(kb)])) if len(kb) < 256 else (b"T" + struct.pack("<i", len(kb))))
        out.append(kb)
        out.append(b"J" + struct.pack("<i", v))
    out.append(b"u.")
    return b"".join(out)


@pytest.fixture(scope="module")
def imdb_raw():
    with open(shared_data("imdb/imdb_word_index.json"), encoding="utf-8") as f:
        word_index = json.load(f)
    reviews = {}
    with tarfile.open(shared_data("imdb/aclImdb_subset.tar.gz")) as t:
        for m in t.getmembers():
            parts = m.name.split("/")
            if (
                m.isfile()
                and len(parts) == 4
                and parts[1] in ("train", "test")
                and parts[2] in ("pos", "neg")
            ):
                text = t.extractfile(m).read().decode("utf-8")
                words = re.findall(r"\w+", text.lower())
                seq = [word_index[w] for w in words if w in word_index]
                rid = int(parts[3].split("_")[0])
                reviews[(parts[1], parts[2], rid)] = seq
    data = {}
    for split in ("train", "test"):
        keys = sorted(k for k in reviews if k[0] == split)
        data[split] = (
            [reviews[k] for k in keys],
            [1 if k[1] == "pos" else 0 for k in keys],
        )
    return word_index, data


@pytest.fixture
def imdb_cache(cache, imdb_raw):
    word_index, data = imdb_raw
    # Not named imdb_full.pkl / imdb_word_index.pkl: get_file checks those names against
    # the md5 of Keras' own files, which a file rebuilt from the review subset cannot match.
    with open(cache / IMDB_PKL, "wb") as f:
        pickle.dump((data["train"], data["test"]), f, protocol=2)
    with open(cache / IMDB_INDEX_PKL, "wb") as f:
        f.write(_py2_pickle_of_str_dict(word_index))
    return cache


IMDB_PKL = "imdb_subset_full.pkl"
IMDB_INDEX_PKL = "imdb_subset_word_index.pkl"


def test_imdb_known_name_with_other_bytes_is_not_used(cache, capsys):
    with open(cache / "imdb_full.pkl", "wb") as f:
        pickle.dump((([[1, 2]], [1]), ([[3]], [0])), f, protocol=2)
    _raises_naming(
        imdb.load_data,
        "https://s3.amazonaws.com/text-datasets/imdb_full.pkl",
        "md5 hash is not d091312047c43cf9e4e38fef92437263",
    )
    assert "incomplete or outdated" in capsys.readouterr().out
    assert os.path.exists(cache / "imdb_full.pkl")  # the local copy is left alone


def _keras1_permutation(n, seed):
    np.random.seed(seed)
    idx = list(range(n))
    np.random.shuffle(idx)
    return idx


def test_imdb_raw_fixture_is_real(imdb_raw):
    word_index, data = imdb_raw
    assert len(word_index) == 88584 and word_index["the"] == 1 and word_index["br"] == 7
    assert len(data["train"][0]) == 2000 and len(data["test"][0]) == 2000
    assert sum(data["train"][1]) == 1000


def test_imdb_defaults_shift_and_shuffle(imdb_cache, imdb_raw):
    _, data = imdb_raw
    (X_train, y_train), (X_test, y_test) = imdb.load_data(IMDB_PKL)
    assert X_train.dtype == object and X_train.shape == (2000,)
    assert X_test.shape == (2000,) and y_test.shape == (2000,)
    assert y_train.dtype.kind == "i"
    raw_train, lab_train = data["train"]
    raw_test, lab_test = data["test"]
    all_max = max(max(s) for s in raw_train + raw_test if s) + 3
    perm = _keras1_permutation(2000, 113)
    perm_test = _keras1_permutation(2000, 226)
    for k in (0, 1, 7, 1999):
        raw = raw_train[perm[k]]
        # start_char=1 first, every rank shifted by index_from=3; nb_words defaults to the
        # largest index present, so only that one index becomes oov_char=2.
        assert X_train[k] == [1] + [w + 3 if w + 3 < all_max else 2 for w in raw]
        assert y_train[k] == lab_train[perm[k]]
        raw = raw_test[perm_test[k]]
        assert X_test[k] == [1] + [w + 3 if w + 3 < all_max else 2 for w in raw]
        assert y_test[k] == lab_test[perm_test[k]]
    # Deterministic for a seed, different for another.
    (X2, _), _ = imdb.load_data(IMDB_PKL)
    assert list(X2[:5]) == list(X_train[:5])
    (X3, _), _ = imdb.load_data(IMDB_PKL, seed=7)
    assert list(X3[:5]) != list(X_train[:5])


def test_imdb_nb_words_maxlen_skip_top(imdb_cache, imdb_raw):
    _, data = imdb_raw
    (X_train, y_train), (X_test, y_test) = imdb.load_data(IMDB_PKL, nb_words=1000, maxlen=120, skip_top=10)
    raw_train, lab_train = data["train"]
    raw_test = data["test"][0]
    # maxlen keeps sequences shorter than maxlen, start character included.
    assert len(X_train) == sum(1 for s in raw_train if len(s) + 1 < 120)
    assert len(X_test) == sum(1 for s in raw_test if len(s) + 1 < 120)
    assert len(X_train) == len(y_train) and len(X_test) == len(y_test)
    assert all(len(x) < 120 for x in list(X_train) + list(X_test))
    perm = _keras1_permutation(2000, 113)
    kept = [perm[k] for k in range(2000) if len(raw_train[perm[k]]) + 1 < 120]
    for k in (0, 3, len(kept) - 1):
        raw = raw_train[kept[k]]
        # ranks outside [skip_top, nb_words) after the shift -> 2; the start char 1 < 10
        # is itself replaced, as in Keras 1
        expect = [2] + [w + 3 if 10 <= w + 3 < 1000 else 2 for w in raw]
        assert X_train[k] == expect
        assert y_train[k] == lab_train[kept[k]]
    assert max(max(x) for x in X_train) < 1000


def test_imdb_oov_none_start_none_index_from(imdb_cache, imdb_raw):
    _, data = imdb_raw
    raw = data["train"][0][_keras1_permutation(2000, 113)[0]]
    (X_train, _), _ = imdb.load_data(IMDB_PKL, nb_words=50, oov_char=None)
    assert X_train[0] == [1] + [w + 3 for w in raw if w + 3 < 50]
    (X_train, _), _ = imdb.load_data(IMDB_PKL, start_char=None, index_from=0, nb_words=100)
    assert X_train[0] == [w if w < 100 else 2 for w in raw]
    with pytest.raises(ValueError, match="maxlen=2"):
        imdb.load_data(IMDB_PKL, maxlen=2)


def test_imdb_word_index_py2_pickle_and_json(imdb_cache, imdb_raw):
    word_index = imdb.get_word_index(IMDB_INDEX_PKL)
    assert word_index["the"] == 1 and word_index["and"] == 2 and word_index["br"] == 7
    assert len(word_index) == 88584
    # The later JSON file: its md5 is the checksum Keras records for it, so get_file's
    # md5 check passes on the real bytes.
    shutil.copy(shared_data("imdb/imdb_word_index.json"), imdb_cache / "imdb_word_index.json")
    wi = imdb.get_word_index("imdb_word_index.json")
    assert wi == imdb_raw[0]


def test_imdb_npz(cache, imdb_raw):
    _, data = imdb_raw

    def obj(seqs):
        a = np.empty(len(seqs), dtype=object)
        for i, s in enumerate(seqs):
            a[i] = s
        return a

    np.savez(
        cache / "imdb_subset.npz",  # imdb.npz has a pinned md5
        x_train=obj(data["train"][0]),
        y_train=np.array(data["train"][1]),
        x_test=obj(data["test"][0]),
        y_test=np.array(data["test"][1]),
    )
    (Xa, ya), (Xt, yt) = imdb.load_data("imdb_subset.npz", nb_words=500)
    raw = data["train"][0][_keras1_permutation(2000, 113)[2]]
    assert Xa[2] == [1] + [w + 3 if w + 3 < 500 else 2 for w in raw]
    assert len(Xt) == 2000


# --------------------------------------------------------------------------------------
# Reuters: no Reuters copy exists offline; its file layout (X, labels) is built from the
# IMDB reviews with the star rating as a multi-class label.


def test_reuters_pkl(cache, imdb_raw):
    _, data = imdb_raw
    seqs = data["train"][0][:500]
    labels = [i % 46 for i in range(500)]
    with open(cache / "reuters.pkl", "wb") as f:
        pickle.dump((seqs, labels), f, protocol=2)
    (X_train, y_train), (X_test, y_test) = reuters.load_data(nb_words=200, test_split=0.2)
    assert len(X_train) == 400 and len(X_test) == 100
    perm = _keras1_permutation(500, 113)
    for k in (0, 399):
        assert X_train[k] == [1] + [w + 3 if w + 3 < 200 else 2 for w in seqs[perm[k]]]
        assert y_train[k] == labels[perm[k]]
    assert X_test[0] == [1] + [w + 3 if w + 3 < 200 else 2 for w in seqs[perm[400]]]
    (X_train, _), (X_test, _) = reuters.load_data(maxlen=100, test_split=0.5)
    n = sum(1 for s in seqs if len(s) + 1 < 100)
    assert len(X_train) == int(n * 0.5) and len(X_test) == n - int(n * 0.5)

    with open(cache / "reuters_word_index.pkl", "wb") as f:
        f.write(_py2_pickle_of_str_dict({"said": 1, "mln": 2}))
    assert reuters.get_word_index() == {"said": 1, "mln": 2}


# --------------------------------------------------------------------------------------
# CIFAR: the batch pickles, with MNIST digits standing in for the images (no CIFAR copy
# exists offline); the tar.gz goes where get_file(untar=True) looks for it.


def _cifar_images(n):
    X, y = mnist_test_set()
    img = np.zeros((n, 3, 32, 32), np.uint8)
    img[:, :, 2:30, 2:30] = X[:n, None]
    img[:, 1] //= 2
    return img, y[:n].astype(int).tolist()


def _add_pickle(tar, name, obj):
    import io

    data = pickle.dumps(obj, protocol=2)
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def test_cifar10_untar_and_orderings(cache, monkeypatch):
    img, labels = _cifar_images(60)
    with tarfile.open(cache / "cifar-10-batches-py.tar.gz", "w:gz") as t:
        for i in range(5):
            sl = slice(10 * i, 10 * i + 10)
            _add_pickle(
                t,
                "cifar-10-batches-py/data_batch_%d" % (i + 1),
                {
                    b"data": img[sl].reshape(10, -1),
                    b"labels": labels[sl],
                    b"batch_label": b"batch",
                },
            )
        _add_pickle(
            t,
            "cifar-10-batches-py/test_batch",
            {b"data": img[50:].reshape(10, -1), b"labels": labels[50:]},
        )
    # The archive built here stands in for the real one: pin its own SHA-256.
    monkeypatch.setattr(
        cifar10,
        "CIFAR10_SHA256",
        data_utils.get_hash(str(cache / "cifar-10-batches-py.tar.gz"), "sha256"),
    )
    old = K.image_dim_ordering()
    try:
        K.set_image_dim_ordering("th")
        (X_train, y_train), (X_test, y_test) = cifar10.load_data()
        assert X_train.shape == (50, 3, 32, 32) and X_train.dtype == np.uint8
        assert y_train.shape == (50, 1) and y_test.shape == (10, 1)
        np.testing.assert_array_equal(X_train, img[:50])
        np.testing.assert_array_equal(X_test, img[50:])
        assert y_train[:, 0].tolist() == labels[:50]
        assert os.path.isdir(cache / "cifar-10-batches-py")
        K.set_image_dim_ordering("tf")
        (X_train, _), (X_test, _) = cifar10.load_data()
        assert X_train.shape == (50, 32, 32, 3)
        np.testing.assert_array_equal(X_test, img[50:].transpose(0, 2, 3, 1))
    finally:
        K.set_image_dim_ordering(old)


def test_cifar100_label_modes(cache):
    # An extracted folder without its archive: nothing verifies it, and none is needed.
    img, labels = _cifar_images(30)
    d = cache / "cifar-100-python"
    d.mkdir()
    for name, sl in (("train", slice(0, 20)), ("test", slice(20, 30))):
        fine = [(7 * v) % 100 for v in labels[sl]]
        with open(d / name, "wb") as f:
            pickle.dump(
                {
                    b"data": img[sl].reshape(-1, 3072),
                    b"fine_labels": fine,
                    b"coarse_labels": labels[sl],
                },
                f,
                2,
            )
    (X_train, y_train), (X_test, y_test) = cifar100.load_data()
    assert X_train.shape == (20, 3, 32, 32) or X_train.shape == (20, 32, 32, 3)
    assert y_train[:, 0].tolist() == [(7 * v) % 100 for v in labels[:20]]
    (_, y_train), (_, y_test) = cifar100.load_data(label_mode="coarse")
    assert y_test[:, 0].tolist() == labels[20:30]
    with pytest.raises(ValueError, match="label_mode"):
        cifar100.load_data(label_mode="medium")


def test_cifar10_offline_names_archive_and_folder(cache):
    _raises_naming(
        cifar10.load_data,
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        str(cache / "cifar-10-batches-py.tar.gz"),
        "extracted folder at " + str(cache / "cifar-10-batches-py"),
    )
