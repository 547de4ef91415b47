"""`fit` with only its own loggers (no user callback, no progress bar) runs each epoch in
one engine call (`Function.run_steps`). It trains bitwise as one engine call per batch
does (same shuffles, random draws, updates, logs and History), and an epoch stopped
early (a failing step, Ctrl-C) keeps the steps it completed."""

import _thread
import threading

import numpy as np
import pytest

from keras import backend as K
from keras.callbacks import Callback
from keras.engine import loop
from keras.layers import LSTM, BatchNormalization, Dense, Dropout
from keras.models import Sequential

pytestmark = pytest.mark.usefixtures("fresh_session")


def _mlp():
    m = Sequential()
    m.add(Dense(16, input_dim=6, activation="relu"))
    m.add(BatchNormalization())
    m.add(Dropout(0.3))
    m.add(Dense(3, activation="softmax"))
    m.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    return m


def _lstm():
    m = Sequential()
    m.add(LSTM(5, input_shape=(4, 3), dropout_W=0.2))
    m.add(Dense(3, activation="softmax"))
    m.compile(optimizer="adam", loss="categorical_crossentropy")
    return m


def _data(n, build):
    rng = np.random.RandomState(3)
    x = rng.rand(n, 4, 3) if build is _lstm else rng.rand(n, 6)
    y = np.eye(3)[rng.randint(0, 3, n)]
    return x.astype("float32"), y.astype("float32")


class _Calls:
    """Counts the engine calls a model's train function makes."""

    def __init__(self, model):
        inner = model.model  # the Model a Sequential trains
        inner._make_train_function()
        f = inner.train_function
        self.steps = self.runs = 0
        run, run_steps = f.run, f.run_steps

        def counted_run(*a, **k):
            self.runs += 1
            return run(*a, **k)

        def counted_run_steps(*a, **k):
            self.steps += 1
            return run_steps(*a, **k)

        f.run, f.run_steps = counted_run, counted_run_steps


def _fit(build, callbacks, shuffle, sample_weight):
    np.random.seed(11)
    model = build()
    calls = _Calls(model)
    x, y = _data(45, build)
    sw = np.linspace(0.5, 1.5, 45).astype("float32") if sample_weight else None
    np.random.seed(12)
    h = model.fit(
        x, y, batch_size=8, nb_epoch=3, shuffle=shuffle, verbose=0, callbacks=callbacks, sample_weight=sw
    )
    return h.history, model.get_weights(), calls


@pytest.mark.parametrize("build", [_mlp, _lstm])
@pytest.mark.parametrize("shuffle", [True, "batch", False])
def test_an_epoch_in_one_call_trains_bitwise_as_one_call_per_batch(build, shuffle):
    sample_weight = shuffle is True
    whole, w_whole, c_whole = _fit(build, None, shuffle, sample_weight)
    # A user callback (even one that does nothing) makes fit call the engine per batch.
    per_batch, w_per_batch, c_per_batch = _fit(build, [Callback()], shuffle, sample_weight)
    assert (c_whole.steps, c_whole.runs) == (3, 0)
    assert (c_per_batch.steps, c_per_batch.runs) == (0, 3 * 6)
    assert whole == per_batch
    for a, b in zip(w_whole, w_per_batch):
        np.testing.assert_array_equal(a, b)


def test_a_progress_bar_runs_per_batch(capsys):
    np.random.seed(1)
    model = _mlp()
    calls = _Calls(model)
    x, y = _data(20, _mlp)
    model.fit(x, y, batch_size=8, nb_epoch=1, verbose=1)
    assert (calls.steps, calls.runs) == (0, 3)
    assert "20/20" in capsys.readouterr().out


def _counter_function():
    """loss = mean(x) of the batch; every step adds 1 to a counter variable."""
    x = K.placeholder(shape=(None, 2))
    count = K.variable(0.0)
    f = K.function([x], [K.mean(x)], updates=[(count, count + 1.0)])
    return f, count


def test_a_failing_step_keeps_the_completed_steps():
    f, count = _counter_function()
    x = np.arange(20, dtype="float32").reshape(10, 2)
    # Row 10 is out of range: the third step fails, the first two stand.
    outs, error = f.run_steps([x], np.array([0, 1, 2, 3, 10, 5], dtype=np.int64), 2)
    assert outs.shape == (2, 1)
    np.testing.assert_array_equal(outs[:, 0], [x[:2].mean(), x[2:4].mean()])
    assert isinstance(error, ValueError) and "row 10 is out of range" in str(error)
    assert K.get_value(count) == 2.0
    # The function still runs afterwards.
    outs, error = f.run_steps([x], np.arange(10, dtype=np.int64), 4)
    assert error is None and outs.shape == (3, 1) and K.get_value(count) == 5.0


def test_ctrl_c_stops_the_epoch_between_steps():
    f, count = _counter_function()
    x = np.ones((10, 2), dtype="float32")
    order = np.zeros(5_000_000, dtype=np.int64)
    timer = threading.Timer(0.2, _thread.interrupt_main)
    timer.start()
    try:
        outs, error = f.run_steps([x], order, 1)
    finally:
        timer.cancel()
    assert isinstance(error, KeyboardInterrupt)
    assert 0 < outs.shape[0] < len(order)
    assert K.get_value(count) == outs.shape[0]


def test_bad_calls_raise_before_any_step():
    f, count = _counter_function()
    x = np.ones((4, 2), dtype="float32")
    with pytest.raises(ValueError, match="batch size must be at least 1"):
        f.run_steps([x], np.arange(4, dtype=np.int64), 0)
    with pytest.raises(ValueError, match="takes 1 input"):
        f.run_steps([x, x], np.arange(4, dtype=np.int64), 2)
    p = K.placeholder(shape=(None, 2))
    g = K.function([p], [p * 1.0])
    with pytest.raises(ValueError, match="is not a float32 scalar"):
        g.run_steps([x], np.arange(4, dtype=np.int64), 2)
    assert K.get_value(count) == 0.0


def test_outputs_that_are_not_float_scalars_run_per_batch():
    x = K.placeholder(shape=(None, 2))
    f = K.function([x], [K.mean(x), K.sum(x, axis=1)])
    assert not loop.ProgramStep(f, [np.ones((3, 2), "float32")]).scalar_outputs
    g = K.function([x], [K.mean(x)])
    assert loop.ProgramStep(g, [np.ones((3, 2), "float32")]).scalar_outputs
