"""keras.utils.data_utils: the cache path, file:// downloads, hash checks, archive
extraction and the offline error. No test touches the network: origins are file:// URLs,
and the offline case replaces urlretrieve by one that raises URLError."""

import hashlib
import io
import os
import tarfile
import urllib.error
import zipfile

import pytest

from keras.utils import data_utils
from keras.utils.data_utils import DownloadError, get_file, get_hash, validate_file


@pytest.fixture
def home(tmp_path, monkeypatch):
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("HOME", str(h))
    return h


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return str(path)


def test_get_file_downloads_into_keras_cache(home, tmp_path):
    src = _write(tmp_path / "payload.bin", b"hello keras 1")
    path = get_file("payload.bin", origin="file://" + src)
    assert path == os.path.join(str(home), ".keras", "datasets", "payload.bin")
    assert open(path, "rb").read() == b"hello keras 1"
    # A second call finds the cached copy: the origin is no longer read.
    os.remove(src)
    assert get_file("payload.bin", origin="file://" + src) == path
    # cache_subdir is a folder under ~/.keras
    src2 = _write(tmp_path / "w.h5", b"weights")
    p2 = get_file("w.h5", origin="file://" + src2, cache_subdir="models")
    assert p2 == os.path.join(str(home), ".keras", "models", "w.h5")


def test_md5_and_sha256(home, tmp_path):
    data = b"0123456789" * 1000
    src = _write(tmp_path / "d.bin", data)
    md5 = hashlib.md5(data).hexdigest()
    sha = hashlib.sha256(data).hexdigest()
    assert get_hash(src) == md5
    assert get_hash(src, "sha256") == sha
    assert validate_file(src, md5)
    assert validate_file(src, sha)  # 64 hex digits: taken as sha256
    assert not validate_file(src, "0" * 32)
    assert not validate_file(src, "0" * 64)
    path = get_file("d.bin", origin="file://" + src, md5_hash=md5)
    assert open(path, "rb").read() == data
    assert get_file("d2.bin", origin="file://" + src, file_hash=sha).endswith("d2.bin")


def test_md5_mismatch_on_download_raises_and_removes(home, tmp_path):
    src = _write(tmp_path / "x.bin", b"real bytes")
    with pytest.raises(ValueError, match="md5 hash"):
        get_file("x.bin", origin="file://" + src, md5_hash="0" * 32)
    assert not os.path.exists(os.path.join(str(home), ".keras", "datasets", "x.bin"))


def test_stale_cached_file_is_downloaded_again(home, tmp_path, capsys):
    good = b"the right content"
    src = _write(tmp_path / "y.bin", good)
    cache = home / ".keras" / "datasets"
    cache.mkdir(parents=True)
    _write(cache / "y.bin", b"truncated")
    path = get_file("y.bin", origin="file://" + src, md5_hash=hashlib.md5(good).hexdigest())
    assert open(path, "rb").read() == good
    assert "incomplete or outdated" in capsys.readouterr().out


def test_untar_extracts_and_returns_folder(home, tmp_path):
    tgz = tmp_path / "arch.tar.gz"
    with tarfile.open(tgz, "w:gz") as t:
        for name, data in [("mydata/a.txt", b"A"), ("mydata/sub/b.txt", b"BB")]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    path = get_file("mydata", origin="file://" + str(tgz), untar=True)
    cache = os.path.join(str(home), ".keras", "datasets")
    assert path == os.path.join(cache, "mydata")
    assert os.path.exists(os.path.join(cache, "mydata.tar.gz"))
    assert open(os.path.join(path, "a.txt"), "rb").read() == b"A"
    assert open(os.path.join(path, "sub", "b.txt"), "rb").read() == b"BB"


def test_extract_zip(home, tmp_path):
    zpath = tmp_path / "z.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        z.writestr("zdir/c.txt", "zip content")
    path = get_file("z.zip", origin="file://" + str(zpath), extract=True)
    extracted = os.path.join(os.path.dirname(path), "zdir", "c.txt")
    assert open(extracted).read() == "zip content"


def test_offline_download_raises_clear_oserror(home, monkeypatch):
    calls = []

    def no_network(url, filename, reporthook=None):
        calls.append(url)
        raise urllib.error.URLError(OSError(-3, "Temporary failure in name resolution"))

    monkeypatch.setattr(data_utils, "urlretrieve", no_network)
    url = "https://example.invalid/datasets/thing.pkl"
    with pytest.raises(DownloadError) as info:
        get_file("thing.pkl", origin=url)
    err = info.value
    assert isinstance(err, OSError) and isinstance(err, IOError)
    msg = str(err)
    expected = os.path.join(str(home), ".keras", "datasets", "thing.pkl")
    assert url in msg and "'thing.pkl'" in msg and expected in msg
    assert err.origin == url and err.fpath == expected
    assert calls == [url]
    assert os.listdir(os.path.dirname(expected)) == []  # no partial file left behind
    assert err.__cause__ is None and err.__suppress_context__


def test_http_error_message(home, monkeypatch):
    def not_found(url, filename, reporthook=None):
        raise urllib.error.HTTPError(url, 404, "Not Found", {}, None)

    monkeypatch.setattr(data_utils, "urlretrieve", not_found)
    with pytest.raises(OSError, match="404 -- Not Found"):
        get_file("missing.bin", origin="https://example.invalid/missing.bin")


def test_missing_file_url_is_a_download_error(home, tmp_path):
    with pytest.raises(DownloadError, match="nothere.bin"):
        get_file("nothere.bin", origin="file://" + str(tmp_path / "nothere.bin"))
