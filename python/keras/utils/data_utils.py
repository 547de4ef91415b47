"""File download and caching (``keras.utils.data_utils``): `get_file`, `validate_file`.

Files land in ``~/.keras/<cache_subdir>/`` (``/tmp/.keras`` when the home directory is not
writable), as in Keras 1.2.2; Keras 1 had no ``KERAS_HOME`` variable, so none is read.
A download that fails raises `DownloadError` naming the file, its URL and the path where a
manually fetched copy can be put, instead of a traceback from inside urllib.

# Verified files and pickles

`get_file` checks a file against `md5_hash` / `file_hash` when one is given (a cached
copy that does not match is downloaded again; a download that does not match is removed
and raises ValueError) and remembers, for this process, which files (and which folders
extracted from a verified archive) matched (`is_verified`). `keras.datasets` pins the
hash of every file it fetches whose hash is published.

Unpickling with a general unpickler runs code chosen by whoever wrote the file, and
Keras 1's own files cannot all be verified: `mnist.pkl.gz`, `reuters.pkl` and
`reuters_word_index.pkl` have no published hash, a user may keep a subset under a name of
their own, and a CIFAR folder outlives the archive it was extracted from. So
`keras.datasets` reads every pickle (the `.pkl`/`.pkl.gz` files, the CIFAR batches, the
object arrays of `imdb.npz`/`reuters.npz`) with a restricted unpickler
(`keras.datasets._safe_pickle`) that imports nothing and accepts only what those files
hold: tuples, lists, dicts, strings and numbers (pickle opcodes) and numpy arrays, dtypes
and scalars, built from checked values. Anything else raises `UnsafePickleError` (a
`pickle.UnpicklingError`) naming the global and the file, before anything is imported.
This holds for files whose hash matched too (they are what Keras published and hold
nothing more), so no Keras file needs an opt-in, and there is none: the
``KERAS_ALLOW_UNVERIFIED_PICKLES`` variable that an earlier development version read is
ignored, and no setting makes `keras.datasets` run a general unpickler. npz members of
plain dtypes are read with `allow_pickle=False`.
"""

import hashlib
import os
import pickle
import shutil
import tarfile
import threading
import zipfile
from urllib.error import HTTPError, URLError
from urllib.request import urlretrieve

from .generic_utils import Progbar

__all__ = [
    "DownloadError",
    "UnsafePickleError",
    "get_file",
    "validate_file",
    "get_hash",
    "keras_dir",
    "is_verified",
    "get_dataset_file",
]


class UnsafePickleError(pickle.UnpicklingError):
    """A dataset pickle holds something outside what `keras.datasets`' restricted
    unpickler reads (see the module docstring); the message names it and the file."""


# realpath -> stat signature of the file when its hash matched, or None for a folder
# extracted from (or found next to) a verified archive. Per process.
_VERIFIED = {}
_VERIFIED_LOCK = threading.Lock()


def _signature(path):
    st = os.stat(path)
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def _mark_verified(path, folder=False):
    real = os.path.realpath(path)
    with _VERIFIED_LOCK:
        _VERIFIED[real] = None if folder else _signature(real)


def _forget(path):
    with _VERIFIED_LOCK:
        _VERIFIED.pop(os.path.realpath(path), None)


def is_verified(path):
    """True when `path` matched its hash in a `get_file` call of this process and has not
    changed since, or lies in a folder extracted from such an archive."""
    real = os.path.realpath(path)
    with _VERIFIED_LOCK:
        entries = dict(_VERIFIED)
    if real in entries and entries[real] is not None:
        try:
            return _signature(real) == entries[real]
        except OSError:
            return False
    probe = real
    while True:
        if probe in entries and entries[probe] is None:
            return True
        parent = os.path.dirname(probe)
        if parent == probe:
            return False
        probe = parent


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
                if hasattr(tarfile, "data_filter"):
                    archive.extractall(path, filter="data")
                else:  # no extraction filter (Python < 3.8.17): refuse what it would refuse
                    _check_tar_members(archive, path)
                    archive.extractall(path)
            return True
        if kind == "zip":
            if not zipfile.is_zipfile(fpath):
                continue
            with zipfile.ZipFile(fpath) as archive:
                archive.extractall(path)
            return True
        raise ValueError("Unknown archive format %r; expected 'tar' or 'zip'" % (kind,))
    return False


def _check_tar_members(archive, path):
    """Refuses members that would land outside `path` (absolute names, '..', links)."""
    root = os.path.realpath(path)
    for member in archive.getmembers():
        target = os.path.realpath(os.path.join(root, member.name))
        if os.path.commonpath([root, target]) != root or member.issym() or member.islnk() or member.isdev():
            raise ValueError(
                "Refusing to extract %r: it would land outside %s or is a link/device" % (member.name, path)
            )


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

    A file that matches the given hash (and a folder extracted from such an archive)
    counts as verified (`is_verified`) in this process; without a hash, nothing is
    verified.

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
    verified = False
    if untar and os.path.exists(untar_fpath) and not os.path.exists(fpath):
        download = False  # an extracted folder without its archive: nothing to verify
    elif os.path.exists(fpath):
        if file_hash is not None:
            if validate_file(fpath, file_hash, hash_algorithm):
                verified = True
            else:
                print(
                    "A local file was found, but it seems to be incomplete or outdated "
                    "(its %s hash does not match %s), so it is downloaded again."
                    % (_algorithm_for(file_hash, hash_algorithm), file_hash)
                )
                download = stale = True
    else:
        download = True
    _forget(fpath)
    if untar:
        _forget(untar_fpath)

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
        if file_hash is not None:
            if not validate_file(fpath, file_hash, hash_algorithm):
                actual = get_hash(fpath, _algorithm_for(file_hash, hash_algorithm))
                os.remove(fpath)
                raise ValueError(
                    "The file %s downloaded from %s has %s hash %s, expected %s; the file was removed."
                    % (fname, origin, _algorithm_for(file_hash, hash_algorithm), actual, file_hash)
                )
            verified = True
        if untar and os.path.exists(untar_fpath):
            # A folder extracted from the archive this download replaces: extract again.
            if os.path.isdir(untar_fpath) and not os.path.islink(untar_fpath):
                shutil.rmtree(untar_fpath)
            else:
                os.remove(untar_fpath)
    if verified:
        _mark_verified(fpath)

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
        if verified:
            # Extracted from (or found next to) the archive that matched its hash.
            _mark_verified(untar_fpath, folder=True)
        return untar_fpath

    if extract:
        _extract(fpath, datadir, archive_format)
    return fpath


def get_dataset_file(fname, origin, file_hash=None, untar=False):
    """`get_file` for `keras.datasets`: `file_hash` is the pinned hash of the file at
    `origin` (None where none is published).

    The cache file under the origin's own name (or the archive of an `untar` download)
    must match it: a copy that does not is downloaded again, as `get_file` does. A
    cache file the user put under a name of their own (`load_data(path='mine.pkl')`) is
    used as it is and counts as unverified (its pickle is read with the restricted
    unpickler only); a download into it is still verified.
    """
    canonical = untar or os.path.basename(fname) == origin.rsplit("/", 1)[-1]
    if not canonical and os.path.exists(os.path.join(keras_dir(), "datasets", fname)):
        return get_file(fname, origin=origin)
    return get_file(fname, origin=origin, untar=untar, file_hash=file_hash)
