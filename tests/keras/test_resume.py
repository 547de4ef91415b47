"""A run killed after epoch k and resumed from its ModelCheckpoint file with
`load_model(path, restore_rng=True)` + `fit(..., initial_epoch=k)` equals the
uninterrupted run bitwise: weights, optimizer state, history (the noise streams,
stateful RNN states and numpy's random state travel in the file)."""

import os
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest

import keras.backend as K
from keras.callbacks import Callback, ModelCheckpoint
from keras.layers import GRU, LSTM, Dense, Dropout, GaussianNoise
from keras.models import Sequential, load_data_order, load_model

N_EPOCHS, K_EPOCHS = 4, 2


def _data(stateful):
    rng = np.random.RandomState(7)
    n = 8 if stateful else 24
    x = rng.randn(n, 5, 3).astype(np.float32)
    y = rng.randn(n, 2).astype(np.float32)
    return x, y


def _model(stateful):
    model = Sequential()
    if stateful:
        model.add(LSTM(6, batch_input_shape=(4, 5, 3), stateful=True, dropout_W=0.3, dropout_U=0.2))
    else:
        model.add(GaussianNoise(0.1, input_shape=(5, 3)))
        model.add(GRU(6, return_sequences=True, dropout_W=0.25, dropout_U=0.25))
        model.add(LSTM(5, dropout_U=0.3))
    model.add(Dropout(0.4))
    model.add(Dense(2))
    model.compile("adam", "mse", metrics=["mae"])
    return model


def _snapshot(model):
    return model.get_weights(), K.batch_get_value(model.optimizer.weights)


def _assert_bitwise(a, b):
    assert len(a) == len(b)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))


def _uninterrupted(stateful, shuffle):
    K.clear_session()
    np.random.seed(1234)
    x, y = _data(stateful)
    model = _model(stateful)
    history = model.fit(x, y, batch_size=4, nb_epoch=N_EPOCHS, shuffle=shuffle, verbose=0)
    return _snapshot(model), history.history


def _resume(path, x, y, shuffle, initial_epoch, nb_epoch, callbacks=(), fit=None):
    """The model of checkpoint `path` trained on from `initial_epoch` by `fit(model, x, y,
    **kw)` (None: `model.fit`), as a new process would."""
    K.clear_session()
    np.random.seed(999)  # a new process' numpy state, replaced by restore_rng
    model = load_model(path, restore_rng=True)
    order = load_data_order(path)
    history = (fit or type(model).fit)(
        model,
        x[order],
        y[order],
        batch_size=4,
        nb_epoch=nb_epoch,
        shuffle=shuffle,
        verbose=0,
        initial_epoch=initial_epoch,
        callbacks=[ModelCheckpoint(path, data_order=order)] + list(callbacks),
    )
    return model, history


def _check(model, history, expected, expected_history, first_epoch):
    got = _snapshot(model)
    _assert_bitwise(got[0], expected[0])
    _assert_bitwise(got[1], expected[1])
    assert history.epoch == list(range(first_epoch, N_EPOCHS))
    for key, values in expected_history.items():
        assert history.history[key] == values[first_epoch:], key


@pytest.mark.parametrize("shuffle", [False, True, "batch"])
@pytest.mark.parametrize("stateful", [False, True])
def test_resume_in_process_equals_uninterrupted(tmp_path, stateful, shuffle):
    expected, expected_history = _uninterrupted(stateful, shuffle)

    K.clear_session()
    np.random.seed(1234)
    x, y = _data(stateful)
    model = _model(stateful)
    path = str(tmp_path / "ckpt.h5")
    model.fit(
        x, y, batch_size=4, nb_epoch=K_EPOCHS, shuffle=shuffle, verbose=0, callbacks=[ModelCheckpoint(path)]
    )
    del model

    resumed, history = _resume(path, x, y, shuffle, K_EPOCHS, N_EPOCHS)
    _check(resumed, history, expected, expected_history, K_EPOCHS)


def test_resumed_twice_equals_uninterrupted(tmp_path):
    """A resumed run's checkpoints index the original rows: it can be resumed again."""
    expected, expected_history = _uninterrupted(False, True)
    K.clear_session()
    np.random.seed(1234)
    x, y = _data(False)
    path = str(tmp_path / "ckpt.h5")
    _model(False).fit(
        x, y, batch_size=4, nb_epoch=1, shuffle=True, verbose=0, callbacks=[ModelCheckpoint(path)]
    )
    _resume(path, x, y, True, 1, 3)
    resumed, history = _resume(path, x, y, True, 3, N_EPOCHS)
    _check(resumed, history, expected, expected_history, 3)


def test_data_order_unknown_when_another_draw_interleaves(tmp_path):
    """A callback drawing from np.random between an epoch's start and its shuffle
    makes the order unknowable: the file says so instead of holding a wrong one.
    (Detection rests on the count of words drawn; a draw of a few words can hide in the
    shuffle's rejection sampling, which the docs warn about, so this one draws many.)"""

    class Draw(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            np.random.rand(500)

    K.clear_session()
    x, y = _data(False)
    path = str(tmp_path / "ckpt.h5")
    _model(False).fit(
        x, y, batch_size=4, nb_epoch=1, shuffle=True, verbose=0, callbacks=[ModelCheckpoint(path), Draw()]
    )
    with pytest.raises(ValueError, match="holds no data order"):
        load_data_order(path)


def test_restore_rng_needs_a_resume_group(tmp_path):
    K.clear_session()
    path = str(tmp_path / "m.h5")
    _model(False).save(path)  # model.save keeps Keras 1's layout: no resume state
    K.clear_session()
    load_model(path)
    with pytest.raises(ValueError, match="holds no resume state"):
        load_model(path, restore_rng=True)


def test_resume_without_the_stored_noise_differs(tmp_path):
    """The check above can fail: a resume whose random streams restart (counters at 0)
    gives other weights."""
    expected, _ = _uninterrupted(False, shuffle=False)
    K.clear_session()
    np.random.seed(1234)
    x, y = _data(False)
    model = _model(False)
    path = str(tmp_path / "ckpt.h5")
    checkpoint = ModelCheckpoint(path, save_resume_state=False)
    model.fit(x, y, batch_size=4, nb_epoch=K_EPOCHS, shuffle=False, verbose=0, callbacks=[checkpoint])
    K.clear_session()
    with h5py.File(path, "r") as f:
        assert "ferrokeras_resume" not in f
    resumed = load_model(path)
    resumed.fit(x, y, batch_size=4, nb_epoch=N_EPOCHS, shuffle=False, verbose=0, initial_epoch=K_EPOCHS)
    assert any(not np.array_equal(a, b) for a, b in zip(resumed.get_weights(), expected[0]))


_KILLED = textwrap.dedent(
    """
    import os, sys
    import numpy as np
    sys.path.insert(0, os.path.dirname(os.path.abspath(sys.argv[1])))
    from test_resume import _data, _model, K_EPOCHS, N_EPOCHS
    from keras.callbacks import Callback, ModelCheckpoint

    class Kill(Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == K_EPOCHS - 1:
                os._exit(17)

    np.random.seed(1234)
    x, y = _data(True)
    model = _model(True)
    model.fit(x, y, batch_size=4, nb_epoch=N_EPOCHS, shuffle=True, verbose=0,
              callbacks=[ModelCheckpoint(sys.argv[2]), Kill()])
    """
)


def test_killed_process_resumes_exactly(tmp_path):
    """The stateful model in a process killed (os._exit) after epoch k's checkpoint."""
    script = tmp_path / "killed.py"
    script.write_text(_KILLED)
    path = str(tmp_path / "ckpt.h5")
    here = os.path.abspath(__file__)
    proc = subprocess.run(
        [sys.executable, str(script), here, path], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 17, proc.stderr

    expected, expected_history = _uninterrupted(True, shuffle=True)
    x, y = _data(True)
    resumed, history = _resume(path, x, y, True, K_EPOCHS, N_EPOCHS)
    _check(resumed, history, expected, expected_history, K_EPOCHS)


def test_resume_on_the_original_order_differs(tmp_path):
    """The data order matters: resuming a shuffled run on `x` instead of `x[order]`
    (numpy's state restored all the same) gives other weights."""
    expected, _ = _uninterrupted(False, True)
    K.clear_session()
    np.random.seed(1234)
    x, y = _data(False)
    path = str(tmp_path / "ckpt.h5")
    _model(False).fit(
        x, y, batch_size=4, nb_epoch=K_EPOCHS, shuffle=True, verbose=0, callbacks=[ModelCheckpoint(path)]
    )
    assert not np.array_equal(load_data_order(path), np.arange(len(x)))
    K.clear_session()
    resumed = load_model(path, restore_rng=True)
    resumed.fit(x, y, batch_size=4, nb_epoch=N_EPOCHS, shuffle=True, verbose=0, initial_epoch=K_EPOCHS)
    assert any(not np.array_equal(a, b) for a, b in zip(resumed.get_weights(), expected[0]))


def test_checkpoint_file_is_keras1_layout_plus_one_group(tmp_path):
    """Keras 1 readers see their layout (root attrs, `model_weights`,
    `optimizer_weights`); the resume state is one extra group they never open."""
    K.clear_session()
    x, y = _data(True)
    path = str(tmp_path / "ckpt.h5")
    model = _model(True)
    model.fit(x, y, batch_size=4, nb_epoch=1, verbose=0, callbacks=[ModelCheckpoint(path)])
    with h5py.File(path, "r") as f:
        assert set(f.attrs) == {"keras_version", "model_config", "training_config"}
        assert set(f) == {"model_weights", "optimizer_weights", "ferrokeras_resume"}
        assert set(f["ferrokeras_resume"]) == {"states", "numpy_rng", "data_order"}
        assert list(f["ferrokeras_resume/states"]) == [model.layers[0].name]
    weights_only = _model(True)
    weights_only.load_weights(path)
    _assert_bitwise(weights_only.get_weights(), model.get_weights())


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda g: g.attrs.__setitem__("seed_plan", b"{not json"), "is not JSON"),
        (lambda g: g.attrs.__setitem__("random_counters", b'{"dropout_1": [1]}'), "is not \\{layer"),
        (lambda g: g.attrs.__setitem__("seed_plan", b'{"dropout_1": {"x": [1]}}'), "non-integer node index"),
        (lambda g: g["numpy_rng"].__delitem__("keys"), "numpy_rng/keys"),
        (lambda g: g["states"].create_group("no_such_layer"), "states of layer no_such_layer"),
    ],
)
def test_damaged_resume_state_is_a_clear_error(tmp_path, damage, message):
    K.clear_session()
    x, y = _data(True)
    path = str(tmp_path / "ckpt.h5")
    _model(True).fit(x, y, batch_size=4, nb_epoch=1, verbose=0, callbacks=[ModelCheckpoint(path)])
    with h5py.File(path, "r+") as f:
        damage(f["ferrokeras_resume"])
    K.clear_session()
    with pytest.raises(ValueError, match=message) as info:
        load_model(path, restore_rng=True)
    assert path in str(info.value)


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray instance; Ray is optional (skip), except in CI (fail), as in
    tests/distributed."""
    try:
        import ray
    except ImportError as e:
        msg = "ray is not installed (%s): pip install '.[distributed]'" % e
        if os.environ.get("CI") or os.environ.get("FERROKERAS_REQUIRE_DATA"):
            pytest.fail(msg + "; in CI this is a failure")
        pytest.skip(msg)
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.mark.parametrize("stateful", [False, True])
def test_distributed_fit_resumes_from_a_checkpoint_exactly(tmp_path, ray_cluster, stateful):
    """`keras.distributed.fit(..., workers=1)` resumed from a ModelCheckpoint file
    continues bitwise as the uninterrupted `model.fit` (it hands the driver's restored
    seeds, counters and states to its replica and shuffles as `model.fit`)."""
    from keras import distributed

    expected, expected_history = _uninterrupted(stateful, True)
    K.clear_session()
    np.random.seed(1234)
    x, y = _data(stateful)
    path = str(tmp_path / "ckpt.h5")
    _model(stateful).fit(
        x, y, batch_size=4, nb_epoch=K_EPOCHS, shuffle=True, verbose=0, callbacks=[ModelCheckpoint(path)]
    )
    resumed, history = _resume(
        path, x, y, True, K_EPOCHS, N_EPOCHS, fit=lambda m, *a, **kw: distributed.fit(m, *a, workers=1, **kw)
    )
    _check(resumed, history, expected, expected_history, K_EPOCHS)


@pytest.mark.parametrize("stateful", [False, True])
def test_a_checkpoint_written_during_distributed_fit_resumes_exactly(tmp_path, ray_cluster, stateful):
    """A ModelCheckpoint file written *during* `keras.distributed.fit(..., workers=1)`
    holds the random streams' counters as they are after that epoch (the driver takes
    them from the workers before `on_epoch_end`), so `model.fit` resumes it bitwise as
    the uninterrupted run."""
    from keras import distributed

    expected, expected_history = _uninterrupted(stateful, True)
    K.clear_session()
    np.random.seed(1234)
    x, y = _data(stateful)
    path = str(tmp_path / "ckpt.h5")
    distributed.fit(
        _model(stateful),
        x,
        y,
        batch_size=4,
        nb_epoch=K_EPOCHS,
        shuffle=True,
        verbose=0,
        callbacks=[ModelCheckpoint(path)],
        workers=1,
    )
    K.clear_session()
    np.random.seed(999)
    resumed = load_model(path, restore_rng=True)
    order = load_data_order(path)
    history = resumed.fit(
        x[order], y[order], batch_size=4, nb_epoch=N_EPOCHS, shuffle=True, verbose=0, initial_epoch=K_EPOCHS
    )
    _check(resumed, history, expected, expected_history, K_EPOCHS)
