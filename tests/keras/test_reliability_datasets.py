"""Dataset downloads never unpickle an unverified file (issue 17, item 8).

Every file `keras.datasets` fetches whose checksum is published is pinned (SHA-256 where
one is known for the exact file, else the md5 Keras published); origins are https; a
pickle (`pickle.load`, `np.load(allow_pickle=True)`) is read only from a file that
matched its pinned hash in this process, or from a folder extracted from such an archive,
unless the user opts in (KERAS_ALLOW_UNVERIFIED_PICKLES=1 or
keras.utils.data_utils.ALLOW_UNVERIFIED_PICKLES). No test touches the network.
"""

import gzip
import hashlib
import io
import os
import pathlib
import pickle
import tarfile
import urllib.error
import urllib.request

import numpy as np
import pytest

from keras.datasets import cifar10, cifar100, imdb, mnist, reuters
from keras.utils import data_utils
from keras.utils.data_utils import UnverifiedFileError, get_file, is_verified


class _Payload:
    """Unpickling this creates `marker`: proof that a pickle ran code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


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
    monkeypatch.setattr(data_utils, "ALLOW_UNVERIFIED_PICKLES", False)

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


def _evil(marker):
    return pickle.dumps(_Payload(str(marker)), protocol=4)


def test_a_pickle_without_a_published_hash_is_refused(cache, marker):
    (cache / "reuters.pkl").write_bytes(_evil(marker))
    with pytest.raises(UnverifiedFileError, match="reuters.pkl.*KERAS_ALLOW_UNVERIFIED_PICKLES"):
        reuters.load_data()
    (cache / "reuters_word_index.pkl").write_bytes(_evil(marker))
    with pytest.raises(UnverifiedFileError):
        reuters.get_word_index()
    with gzip.open(cache / "mnist.pkl.gz", "wb") as f:
        f.write(_evil(marker))
    with pytest.raises(UnverifiedFileError, match="mnist.pkl.gz"):
        mnist.load_data()
    assert not marker.exists()
    assert isinstance(UnverifiedFileError("x"), ValueError)


def test_a_cache_file_under_a_name_of_ones_own_is_unverified(cache, marker, downloads):
    (cache / "my_imdb.pkl").write_bytes(_evil(marker))
    with pytest.raises(UnverifiedFileError, match="my_imdb.pkl"):
        imdb.load_data("my_imdb.pkl")
    (cache / "my_index.pkl").write_bytes(_evil(marker))
    with pytest.raises(UnverifiedFileError):
        imdb.get_word_index("my_index.pkl")
    assert not marker.exists()
    assert downloads == []  # the user's own file is not replaced by a download


def test_a_known_name_with_other_bytes_is_never_unpickled(cache, marker, downloads):
    (cache / "imdb_full.pkl").write_bytes(_evil(marker))
    with pytest.raises(OSError):  # re-downloaded (the md5 does not match); offline here
        imdb.load_data()
    assert downloads == ["https://s3.amazonaws.com/text-datasets/imdb_full.pkl"]
    assert not marker.exists()


def test_object_npz_needs_verification_plain_npz_does_not(cache, marker):
    seqs = np.empty(2, dtype=object)
    seqs[0], seqs[1] = [1, 2], _Payload(str(marker))
    np.savez(cache / "my_reuters.npz", x=seqs, y=np.array([0, 1]))
    with pytest.raises(UnverifiedFileError, match="my_reuters.npz"):
        reuters.load_data("my_reuters.npz")
    assert not marker.exists()
    # Plain arrays are read with allow_pickle=False: no opt-in needed.
    x = np.zeros((3, 28, 28), np.uint8)
    np.savez(cache / "my_mnist.npz", x_train=x, y_train=np.arange(3), x_test=x, y_test=np.arange(3))
    (X, y), _ = mnist.load_data("my_mnist.npz")
    assert X.shape == (3, 28, 28)


def test_the_opt_in_reads_unverified_pickles(cache, marker, monkeypatch):
    (cache / "reuters_word_index.pkl").write_bytes(pickle.dumps({"said": 1}, protocol=2))
    with pytest.raises(UnverifiedFileError):
        reuters.get_word_index()
    monkeypatch.setenv("KERAS_ALLOW_UNVERIFIED_PICKLES", "1")
    assert reuters.get_word_index() == {"said": 1}
    monkeypatch.delenv("KERAS_ALLOW_UNVERIFIED_PICKLES")
    monkeypatch.setattr(data_utils, "ALLOW_UNVERIFIED_PICKLES", True)
    assert reuters.get_word_index() == {"said": 1}


def _cifar_archive(path, marker=None):
    with tarfile.open(path, "w:gz") as t:
        for name in ["data_batch_%d" % i for i in range(1, 6)] + ["test_batch"]:
            if marker is not None:
                data = _evil(marker)
            else:
                data = pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]}, protocol=2)
            info = tarfile.TarInfo("cifar-10-batches-py/" + name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))


def test_cifar_archive_with_the_wrong_hash_is_never_unpickled(cache, marker, downloads):
    _cifar_archive(cache / "cifar-10-batches-py.tar.gz", marker)
    with pytest.raises(OSError):  # does not match the pinned SHA-256: downloaded again
        cifar10.load_data()
    assert downloads == ["https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"]
    assert not (cache / "cifar-10-batches-py").exists()  # never extracted
    assert not marker.exists()


def test_cifar_folder_without_its_archive_is_unverified(cache, marker):
    folder = cache / "cifar-100-python"
    folder.mkdir()
    for name in ("train", "test"):
        (folder / name).write_bytes(_evil(marker))
    with pytest.raises(UnverifiedFileError, match="cifar-100-python"):
        cifar100.load_data()
    assert not marker.exists()


def test_cifar_archive_that_matches_its_pin_loads_without_opt_in(cache, monkeypatch, downloads):
    archive = cache / "cifar-10-batches-py.tar.gz"
    _cifar_archive(archive)
    monkeypatch.setattr(cifar10, "CIFAR10_SHA256", hashlib.sha256(archive.read_bytes()).hexdigest())
    (X_train, y_train), (X_test, _) = cifar10.load_data()
    assert len(X_train) == 10 and len(X_test) == 2
    assert downloads == []
    # The folder is trusted as extracted from the verified archive; once the archive is
    # gone, nothing vouches for it in a later process (simulated by forgetting).
    archive.unlink()
    data_utils._VERIFIED.clear()
    with pytest.raises(UnverifiedFileError):
        cifar10.load_data()


def test_a_verified_file_that_changes_is_no_longer_verified(cache, tmp_path, monkeypatch):
    src = tmp_path / "src.pkl"
    src.write_bytes(pickle.dumps([1, 2, 3]))
    sha = hashlib.sha256(src.read_bytes()).hexdigest()
    monkeypatch.setattr(data_utils, "urlretrieve", urllib.request.urlretrieve)  # file:// only
    origin = "file://" + str(src)
    path = get_file("v.pkl", origin=origin, file_hash=sha)
    assert is_verified(path)
    data_utils.check_unpickle_allowed(path)
    with open(path, "ab") as f:
        f.write(b"tampered")
    assert not is_verified(path)
    with pytest.raises(UnverifiedFileError):
        data_utils.check_unpickle_allowed(path)
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
    assert all(md5 and len(md5) == 32 for _, md5 in imdb._ORIGINS.values())
    assert all(origin.startswith("https://") for origin, _ in imdb._ORIGINS.values())
    assert len(mnist._HASHES["mnist.npz"]) == 64 and mnist._HASHES["mnist.pkl.gz"] is None
    assert all(origin.startswith("https://") for origin in mnist._ORIGINS.values())
    assert set(reuters._HASHES) == {"reuters.npz", "reuters_word_index.json"}
    assert all(origin.startswith("https://") for origin in reuters._ORIGINS.values())
