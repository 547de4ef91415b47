"""Saving never loses or weakens a file (issue 17, items 2 and 3).

- A full disk during `model.save` / `save_weights` gives a Python OSError (HDF5 used to
  crash in `File.close` on EFBIG / ENOSPC), keeps the old file and leaves no temporary.
- A replaced file keeps its mode; a new one gets the umask's default; a symbolic link is
  written through; the data is fsynced; `overwrite=False` without a terminal raises.
"""

import os
import stat
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest

from keras.layers import Dense
from keras.models import Sequential, load_model
from keras.utils import io_utils

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes, rlimits and symlinks")


def _model(units=4):
    model = Sequential([Dense(units, input_dim=3)])
    model.compile("sgd", "mse")
    return model


def _leftovers(directory):
    return [p for p in os.listdir(directory) if p.startswith(".tmp-")]


_FULL_DISK_SCRIPT = textwrap.dedent(
    """
    import os, resource, signal, sys
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    from keras.layers import Dense
    from keras.models import Sequential

    path, what = sys.argv[1], sys.argv[2]
    small = Sequential([Dense(4, input_dim=3)])
    small.compile("sgd", "mse")
    getattr(small, what)(path)
    size = os.path.getsize(path)
    big = Sequential([Dense(1000, input_dim=300)])  # ~1.2 MB of weights
    big.compile("sgd", "mse")
    # Writes past 64 KiB fail with EFBIG, as on a full disk.
    resource.setrlimit(resource.RLIMIT_FSIZE, (65536, resource.RLIM_INFINITY))
    try:
        getattr(big, what)(path)
    except OSError as e:
        print("OSERROR", e.errno, e)
    else:
        print("NO ERROR")
    print("ALIVE", os.path.getsize(path) == size)
    """
)


@posix_only
@pytest.mark.parametrize("what", ["save", "save_weights"])
def test_full_disk_gives_oserror_and_keeps_the_old_file(tmp_path, what):
    path = str(tmp_path / "model.h5")
    script = tmp_path / "full_disk.py"
    script.write_text(_FULL_DISK_SCRIPT)
    # The script saves the small model first; remember its bytes from a run of its own.
    proc = subprocess.run(
        [sys.executable, str(script), path, what], capture_output=True, text=True, timeout=300
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out  # no segfault / abort / uncaught HDF5 RuntimeError
    assert "OSERROR 27" in proc.stdout, out  # EFBIG as a Python OSError
    assert "ALIVE True" in proc.stdout, out
    assert "model.h5" in proc.stdout  # the message names the file
    assert _leftovers(tmp_path) == []
    # The old (small) file is intact and loadable.
    if what == "save":
        assert load_model(path).layers[0].output_dim == 4
    else:
        with h5py.File(path, "r") as f:
            assert [f[n][w].shape for n in f for w in f[n]] == [(3, 4), (4,)]


@posix_only
def test_full_disk_keeps_old_bytes_exactly(tmp_path):
    """The old file's bytes are unchanged after a failed write of raw bytes."""
    path = tmp_path / "data.bin"
    path.write_bytes(b"old contents")
    script = tmp_path / "w.py"
    script.write_text(
        textwrap.dedent(
            """
            import resource, signal, sys
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            from keras.utils.io_utils import atomic_write_bytes
            resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))
            try:
                atomic_write_bytes(sys.argv[1], b"x" * 100000)
            except OSError as e:
                print("OSERROR", e.errno)
            """
        )
    )
    proc = subprocess.run(
        [sys.executable, str(script), str(path)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "OSERROR 27" in proc.stdout, proc.stdout + proc.stderr
    assert path.read_bytes() == b"old contents"
    assert _leftovers(tmp_path) == []


def test_the_hdf5_image_is_complete(tmp_path):
    """The in-memory build writes a file h5py and load_model read back exactly."""
    model = _model()
    path = str(tmp_path / "m.h5")
    model.save(path)
    again = load_model(path)
    x = np.random.RandomState(0).rand(5, 3).astype("float32")
    np.testing.assert_array_equal(model.predict(x), again.predict(x))
    arr = np.arange(12.0).reshape(3, 4)
    io_utils.save_array(arr, str(tmp_path / "a.h5"))
    np.testing.assert_array_equal(io_utils.load_array(str(tmp_path / "a.h5")), arr)
    assert sorted(os.listdir(tmp_path)) == ["a.h5", "m.h5"]  # nothing else written


def test_an_exception_mid_save_writes_nothing(tmp_path):
    path = tmp_path / "x.h5"
    with pytest.raises(RuntimeError), io_utils.atomic_h5(str(path)) as f:
        f.create_dataset("a", data=np.zeros(3))
        raise RuntimeError("boom")
    assert os.listdir(tmp_path) == []


@posix_only
def test_replacing_a_file_keeps_its_mode(tmp_path):
    path = tmp_path / "w.h5"
    _model().save_weights(str(path))
    os.chmod(path, 0o640)
    _model().save_weights(str(path))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    os.chmod(path, 0o604)
    _model().save(str(path))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o604


@posix_only
def test_a_new_file_gets_the_umask_default_mode(tmp_path):
    old = os.umask(0o022)
    try:
        _model().save(str(tmp_path / "new.h5"))
        _model().save_weights(str(tmp_path / "neww.h5"))
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "new.h5").st_mode) == 0o644
    assert stat.S_IMODE(os.stat(tmp_path / "neww.h5").st_mode) == 0o644
    old = os.umask(0o077)
    try:
        _model().save(str(tmp_path / "private.h5"))
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "private.h5").st_mode) == 0o600


@posix_only
def test_saving_through_a_symlink_writes_its_target(tmp_path):
    real_dir = tmp_path / "real"
    real_dir.mkdir()
    target = real_dir / "weights.h5"
    _model(4).save_weights(str(target))
    link = tmp_path / "latest.h5"
    os.symlink(target, link)
    _model(7).save_weights(str(link))
    assert os.path.islink(link)
    assert os.readlink(link) == str(target)
    with h5py.File(target, "r") as f:
        assert any(f[n][w].shape == (3, 7) for n in f for w in f[n])  # the new weights
    assert _leftovers(tmp_path) == [] and _leftovers(real_dir) == []
    # A dangling link: the file it names is created.
    dangling = tmp_path / "dangling.h5"
    os.symlink(real_dir / "fresh.h5", dangling)
    _model().save(str(dangling))
    assert os.path.islink(dangling) and os.path.isfile(real_dir / "fresh.h5")
    load_model(str(dangling))


@posix_only
def test_saves_fsync_the_file_and_the_directory(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def spy(fd):
        st = os.fstat(fd)
        synced.append("dir" if stat.S_ISDIR(st.st_mode) else "file")
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    _model().save(str(tmp_path / "m.h5"))
    assert synced == ["file", "dir"]
    synced.clear()
    _model().save_weights(str(tmp_path / "w.h5"))
    assert synced == ["file", "dir"]


class _NoTTY:
    def isatty(self):
        return False


class _TTY:
    def isatty(self):
        return True


@pytest.mark.parametrize("what", ["save", "save_weights"])
def test_overwrite_false_without_a_terminal_raises(tmp_path, monkeypatch, what):
    path = tmp_path / "m.h5"
    getattr(_model(), what)(str(path))
    before = path.read_bytes()
    monkeypatch.setattr(sys, "stdin", _NoTTY())
    with pytest.raises(FileExistsError, match="overwrite=False.*no terminal"):
        getattr(_model(9), what)(str(path), overwrite=False)
    assert path.read_bytes() == before
    # A new file needs no permission.
    getattr(_model(), what)(str(tmp_path / "other.h5"), overwrite=False)
    assert (tmp_path / "other.h5").exists()


@pytest.mark.parametrize("answer, replaced", [("y", True), ("n", False)])
def test_overwrite_false_prompts_on_a_terminal(tmp_path, monkeypatch, answer, replaced):
    path = tmp_path / "m.h5"
    _model().save_weights(str(path))
    before = path.read_bytes()
    monkeypatch.setattr(sys, "stdin", _TTY())
    asked = []
    monkeypatch.setattr("builtins.input", lambda prompt="": asked.append(prompt) or answer)
    _model(9).save_weights(str(path), overwrite=False)
    assert asked and "already exists" in asked[0]
    assert (path.read_bytes() != before) == replaced


def test_a_missing_directory_is_a_clear_oserror(tmp_path):
    with pytest.raises(OSError, match="does not exist"):
        _model().save(str(tmp_path / "nope" / "m.h5"))
