"""File download and caching (``keras.utils.data_utils``): `get_file`, `validate_file`.

Files land in ``~/.keras/<cache_subdir>/`` (``/tmp/.keras`` when the home directory is not
writable), as in Keras 1.2.2; Keras 1 had no ``KERAS_HOME`` variable, so none is read.
A download that fails raises `DownloadError` naming the file, its URL and the path where a
manually fetched copy can be put, instead of a traceback from inside urllib.
"""

import hashlib
import os
import shutil
import tarfile
import zipfile
from urllib.error import HTTPError, URLError
from urllib.request import urlretrieve

from .generic_utils import Progbar

__all__ = ["DownloadError", "get_file", "validate_file", "get_hash", "keras_dir"]


class DownloadError(OSError):
    """A dataset file could not be fetched (no network, HTTP error, bad URL).

    An `OSError` subclass, so ``except IOError`` / ``except Exception`` (what Keras 1
    users wrote around its plain `Exception`) both catch it. Attributes: `fname`,
    `origin`, `fpath` (where the file is expected; copying it there skips the download).
    """

    def __init__(self, fname, origin, fpath, reason):
        self.fname = fname
        self.origin = origin
        self.fpath = fpath
        self.reason = reason
        super().__init__(
            "URL fetch failure on %s: %s. Could not download %r; to use the file without a "
            "network, download it from that URL yourself and put it at %s" % (origin, reason, fname, fpath)
        )


def keras_dir():
    """The Keras cache root: ``~/.keras``, or ``/tmp/.keras`` when it cannot be written."""
    base = os.path.expanduser(os.path.join("~", ".keras"))
    writable = os.access(base, os.W_OK) if os.path.exists(base) else os.access(os.path.dirname(base), os.W_OK)
    return base if writable else os.path.join("/tmp", ".keras")


def get_hash(fpath, algorithm="md5", chunk_size=65535):
    """Hex digest of a file: `algorithm` is 'md5' or 'sha256'."""
    if algorithm == "sha256":
        hasher = hashlib.sha256()
    elif algorithm == "md5":
        hasher = hashlib.md5()
    else:
        raise ValueError("Unknown hash algorithm %r; expected 'md5' or 'sha256'" % (algorithm,))
    with open(fpath, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def _algorithm_for(file_hash, algorithm):
    if algorithm == "auto":
        return "sha256" if len(str(file_hash)) == 64 else "md5"
    return algorithm


def validate_file(fpath, md5_hash, algorithm="auto"):
    """True when the file's hash equals `md5_hash` (md5 in Keras 1; with the default
    `algorithm='auto'` a 64-character hash is taken as sha256)."""
    algorithm = _algorithm_for(md5_hash, algorithm)
    return str(get_hash(fpath, algorithm)) == str(md5_hash).lower()


def _extract(fpath, path, archive_format):
    """Extracts a tar (any compression) or zip archive into `path`; False when the file
    is not an archive of the allowed formats."""
    if archive_format is None:
        return False
    if archive_format == "auto":
        archive_format = ["tar", "zip"]
    if isinstance(archive_format, str):
        archive_format = [archive_format]
    for kind in archive_format:
        if kind == "tar":
            if not tarfile.is_tarfile(fpath):
                continue
            with tarfile.open(fpath) as archive:
                kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                archive.extractall(path, **kwargs)
            return True
        if kind == "zip":
            if not zipfile.is_zipfile(fpath):
                continue
            with zipfile.ZipFile(fpath) as archive:
                archive.extractall(path)
            return True
        raise ValueError("Unknown archive format %r; expected 'tar' or 'zip'" % (kind,))
    return False


def _download(fname, origin, fpath):
    print("Downloading data from", origin)
    state = {"bar": None}

    def progress(count, block_size, total_size):
        if total_size is None or total_size <= 0:
            return
        if state["bar"] is None:
            state["bar"] = Progbar(total_size)
        state["bar"].update(min(count * block_size, total_size))

    partial = fpath + ".part"
    try:
        try:
            urlretrieve(origin, partial, progress)
        except HTTPError as e:
            raise DownloadError(fname, origin, fpath, "HTTP %s -- %s" % (e.code, e.msg)) from None
        except URLError as e:
            raise DownloadError(fname, origin, fpath, "%s -- %s" % (e.errno, e.reason)) from None
        except (OSError, ValueError) as e:
            if isinstance(e, DownloadError):
                raise
            raise DownloadError(fname, origin, fpath, "%s: %s" % (type(e).__name__, e)) from None
        os.replace(partial, fpath)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def get_file(
    fname,
    origin,
    untar=False,
    md5_hash=None,
    cache_subdir="datasets",
    file_hash=None,
    hash_algorithm="auto",
    extract=False,
    archive_format="auto",
    cache_dir=None,
):
    """Downloads a file from a URL if it is not already in the cache.

    # Arguments
        fname: name of the file (in the cache directory).
        origin: original URL of the file (`file://` URLs work too).
        untar: boolean, whether the file should be decompressed: the download is kept as
            `fname + '.tar.gz'` and extracted into the cache directory, and the path
            returned is `<cache>/<fname>` (the extracted folder).
        md5_hash: MD5 hash of the file for verification.
        cache_subdir: directory under `~/.keras` where the file is saved.
        file_hash: (ferrokeras) expected hash, md5 or sha256 (told apart by length).
        hash_algorithm: (ferrokeras) 'md5', 'sha256' or 'auto'.
        extract: (ferrokeras) extract a tar or zip download next to it.
        archive_format: (ferrokeras) 'auto', 'tar', 'zip' or None, for `extract`.
        cache_dir: (ferrokeras) cache root instead of `~/.keras`.

    # Returns
        Path to the downloaded file (or to the extracted folder with `untar`).

    # Raises
        DownloadError (an `OSError`): the download failed; the message names the URL
            and the path where a manually fetched copy can be put.
        ValueError: the downloaded file does not match the given hash.
    """
    if md5_hash is not None and file_hash is None:
        file_hash = md5_hash
        hash_algorithm = "md5"
    base = os.path.expanduser(cache_dir) if cache_dir is not None else keras_dir()
    datadir = os.path.join(base, cache_subdir)
    os.makedirs(datadir, exist_ok=True)

    if untar:
        untar_fpath = os.path.join(datadir, fname)
        fpath = untar_fpath + ".tar.gz"
    else:
        fpath = os.path.join(datadir, fname)

    download = False
    stale = False
    if untar and os.path.exists(untar_fpath) and not os.path.exists(fpath):
        download = False
    elif os.path.exists(fpath):
        if file_hash is not None and not validate_file(fpath, file_hash, hash_algorithm):
            print(
                "A local file was found, but it seems to be incomplete or outdated "
                "(its %s hash does not match %s), so it is downloaded again."
                % (_algorithm_for(file_hash, hash_algorithm), file_hash)
            )
            download = stale = True
    else:
        download = True

    if download:
        try:
            _download(fname, origin, fpath)
        except DownloadError as e:
            reason = e.reason
            if stale:
                # The local copy stays in place; say why it was not used.
                reason += " (the file already at that path was not used: its %s hash is not %s)" % (
                    _algorithm_for(file_hash, hash_algorithm),
                    file_hash,
                )
            if untar:
                reason += " (or put the extracted folder at %s)" % untar_fpath
            if reason == e.reason:
                raise
            raise DownloadError(fname, origin, fpath, reason) from None
        if file_hash is not None and not validate_file(fpath, file_hash, hash_algorithm):
            actual = get_hash(fpath, _algorithm_for(file_hash, hash_algorithm))
            os.remove(fpath)
            raise ValueError(
                "The file %s downloaded from %s has %s hash %s, expected %s; the file was removed."
                % (fname, origin, _algorithm_for(file_hash, hash_algorithm), actual, file_hash)
            )

    if untar:
        if not os.path.exists(untar_fpath):
            print("Untaring file...")
            try:
                if not _extract(fpath, datadir, "tar"):
                    raise ValueError("%s (from %s) is not a tar archive" % (fpath, origin))
            except BaseException:
                if os.path.isfile(untar_fpath):
                    os.remove(untar_fpath)
                elif os.path.isdir(untar_fpath):
                    shutil.rmtree(untar_fpath)
                raise
        return untar_fpath

    if extract:
        _extract(fpath, datadir, archive_format)
    return fpath
