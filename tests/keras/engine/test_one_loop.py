"""The one training loop (`keras.engine.loop`): what it guarantees whatever the step.

- the epoch order is Keras 1's: `np.random.shuffle` of the sample indices once per
  epoch after `on_epoch_begin` (`shuffle=True`), whole batch-size blocks with the tail
  last (`'batch'`), the data's order (`False`); batches are consecutive row ranges;
- callbacks run in Keras 1's order with its logs, whatever the step; `stop_training`
  is read after `on_epoch_end`; a failing step closes the batch source and skips
  `on_train_end`;
- `fit` and `fit_generator` fed the same batches run the same callback sequence and
  reach bitwise the same weights, both through `fit_loop`.
"""

import numpy as np
import pytest

from keras.callbacks import Callback
from keras.engine import loop
from keras.layers import Dense, Dropout
from keras.models import Sequential
from recording_callback import Recorder

pytestmark = pytest.mark.usefixtures("fresh_session")


class RecordingStep(loop.Step):
    """A step that trains nothing: it records what the loop hands it and returns the
    batch's first row index as the 'loss'."""

    def __init__(self, fail_at=None):
        self.events = []
        self.fail_at = fail_at
        self.order = None

    def train_begin(self, history):
        self.events.append(("train_begin",))

    def begin_epoch(self, epoch, order, batches):
        self.order = None if order is None else order.copy()
        self.events.append(("begin_epoch", epoch, self.order, list(batches)))

    def run(self, batch_index, batch):
        if self.fail_at == (len([e for e in self.events if e[0] == "step"])):
            raise RuntimeError("step failed")
        rows = np.arange(batch.start, batch.stop) if self.order is None else self.order[batch]
        self.events.append(("step", batch_index, rows.tolist()))
        return [float(rows[0])]

    def end_epoch(self, epoch):
        self.events.append(("end_epoch", epoch))

    def after_validation(self, epoch, validated):
        self.events.append(("after_validation", epoch, validated))

    def train_end(self):
        self.events.append(("train_end",))


class _Model:
    """What `fit_loop` needs of a model (a callback target)."""

    callback_model = None


def _fit(step, n, batch_size, shuffle, nb_epoch=2, initial_epoch=0, callbacks=None, validate=None):
    return loop.fit_loop(
        _Model(),
        loop.ArrayBatches(n, batch_size, shuffle),
        step,
        ["loss"],
        nb_epoch,
        initial_epoch,
        0,
        callbacks,
        # BaseLogger averages the `metrics` named here into the epoch logs
        {"batch_size": batch_size, "metrics": ["loss", "val_loss"]},
        validate=validate,
    )


def _keras1_orders(n, batch_size, shuffle, epochs, seed):
    """Keras 1.2.2's `_fit_loop` order, replayed with numpy alone."""
    np.random.seed(seed)
    index_array = np.arange(n)
    orders = []
    for _ in range(epochs):
        if shuffle == "batch":
            count = n // batch_size
            head = index_array[: count * batch_size].reshape((count, batch_size))
            np.random.shuffle(head)
            index_array = np.append(head.flatten(), index_array[count * batch_size :])
        elif shuffle:
            np.random.shuffle(index_array)
        orders.append(index_array.copy())
    return orders


@pytest.mark.parametrize("shuffle", [True, "batch", False])
def test_epoch_order_and_batches_are_keras1s(shuffle):
    n, bs, epochs = 23, 5, 3
    expected = _keras1_orders(n, bs, shuffle, epochs, seed=7)
    step = RecordingStep()
    np.random.seed(7)
    _fit(step, n, bs, shuffle, nb_epoch=epochs)
    rows = [e[2] for e in step.events if e[0] == "step"]
    assert len(rows) == epochs * 5
    for epoch in range(epochs):
        got = [r for rs in rows[epoch * 5 : (epoch + 1) * 5] for r in rs]
        assert got == expected[epoch].tolist()
        assert [len(r) for r in rows[epoch * 5 : (epoch + 1) * 5]] == [5, 5, 5, 5, 3]
    begins = [e for e in step.events if e[0] == "begin_epoch"]
    cuts = [(0, 5), (5, 10), (10, 15), (15, 20), (20, 23)]
    assert [b[3] for b in begins] == [[(e - s, slice(s, e)) for s, e in cuts]] * 3
    if not shuffle:
        assert all(b[2] is None for b in begins)
        assert np.random.get_state()[1].tolist() == _after_seed(7)


def _after_seed(seed):
    np.random.seed(seed)
    return np.random.get_state()[1].tolist()


def test_the_shuffle_draws_after_on_epoch_begin():
    """A callback reseeding `np.random` in `on_epoch_begin` fixes that epoch's order."""

    class Reseed(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            np.random.seed(100 + epoch)

    step = RecordingStep()
    _fit(step, 10, 4, True, nb_epoch=2, callbacks=[Reseed()])
    index_array = np.arange(10)  # shuffled in place, epoch after epoch (Keras 1)
    for epoch, begin in enumerate(e for e in step.events if e[0] == "begin_epoch"):
        np.random.seed(100 + epoch)
        np.random.shuffle(index_array)
        assert begin[2].tolist() == index_array.tolist()


def test_callback_order_logs_and_hooks_whatever_the_step():
    rec = Recorder()
    step = RecordingStep()
    hist = _fit(
        step, 7, 4, False, nb_epoch=3, initial_epoch=1, callbacks=[rec], validate=lambda size: [float(size)]
    )
    kinds = [(k, i) for k, i, _ in rec.calls]

    def epoch(e):
        batch = lambda b: [("batch_begin", b), ("batch_end", b)]
        return [("epoch_begin", e)] + batch(0) + batch(1) + [("epoch_end", e)]

    assert kinds == [("train_begin", None)] + epoch(1) + epoch(2) + [("train_end", None)]
    assert rec.calls[2][2] == {"batch": 0, "size": 4}
    assert rec.calls[3][2] == {"batch": 0, "size": 4, "loss": 0.0}
    assert rec.calls[5][2] == {"batch": 1, "size": 3, "loss": 4.0}
    # validation gets the last batch's size; BaseLogger (first) adds the epoch means
    assert rec.calls[6][2] == {"loss": (0.0 * 4 + 4.0 * 3) / 7, "val_loss": 3.0}
    assert hist.epoch == [1, 2]
    assert hist.history == {"loss": [(0.0 * 4 + 4.0 * 3) / 7] * 2, "val_loss": [3.0, 3.0]}
    hooks = [e[0] for e in step.events if e[0] != "step"]
    per_epoch = ["begin_epoch", "end_epoch", "after_validation"]
    assert hooks == ["train_begin"] + per_epoch * 2 + ["train_end"]
    assert ("after_validation", 1, True) in step.events


def test_stop_training_is_read_after_on_epoch_end():
    rec = Recorder(stop_after=1)
    step = RecordingStep()
    hist = _fit(step, 8, 4, True, nb_epoch=5, callbacks=[rec])
    assert hist.epoch == [0, 1]
    assert [k for k, _, _ in rec.calls][-2:] == ["epoch_end", "train_end"]
    assert step.events[-1] == ("train_end",)


def test_a_failing_step_closes_the_source_and_skips_on_train_end():
    class Source(loop.ArrayBatches):
        closed = False

        def close(self):
            Source.closed = True

    rec = Recorder()
    step = RecordingStep(fail_at=3)
    with pytest.raises(RuntimeError, match="step failed"):
        loop.fit_loop(_Model(), Source(10, 4, False), step, ["loss"], 2, 0, 0, [rec], {})
    assert Source.closed
    assert "train_end" not in [k for k, _, _ in rec.calls]


def _model(seed=3, dropout=False):
    np.random.seed(seed)
    model = Sequential([Dense(8, input_dim=4, activation="relu")])
    if dropout:
        model.add(Dropout(0.25))
    model.add(Dense(1))
    model.compile("adam", "mse", metrics=["mae"])
    return model


@pytest.mark.parametrize("dropout", [False, True])
def test_fit_and_fit_generator_on_the_same_batches_agree_bitwise(fit_loop_calls, dropout):
    """Unshuffled fit and a generator of the same batches: the same callback sequence
    and logs (fit_generator's `params` lack `batch_size`, as in Keras 1), the same
    validation, bitwise the same weights; both run `fit_loop`."""
    rng = np.random.RandomState(0)
    x, y = rng.randn(40, 4).astype("float32"), rng.randn(40, 1).astype("float32")
    vx, vy = rng.randn(16, 4).astype("float32"), rng.randn(16, 1).astype("float32")

    def batches():
        while True:
            for i in range(0, 40, 8):
                yield x[i : i + 8], y[i : i + 8]

    a, rec_a = _model(dropout=dropout), Recorder()
    ha = a.fit(
        x, y, batch_size=8, nb_epoch=3, shuffle=False, verbose=0, callbacks=[rec_a], validation_data=(vx, vy)
    )
    b, rec_b = _model(dropout=dropout), Recorder()
    hb = b.fit_generator(batches(), 40, 3, verbose=0, callbacks=[rec_b], validation_data=(vx, vy))

    assert fit_loop_calls == [("ArrayBatches", "ProgramStep"), ("GeneratorBatches", "_TrainOnBatchStep")]
    assert rec_a.calls == rec_b.calls
    assert ha.history == hb.history and ha.epoch == hb.epoch == [0, 1, 2]
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        assert wa.tobytes() == wb.tobytes()
    pa, pb = dict(rec_a.params), dict(rec_b.params)
    assert pa.pop("batch_size") == 8
    assert pa == dict(pb, nb_sample=40)


def test_evaluate_and_predict_share_the_batch_runner():
    """`test_loop` is the sample-weighted mean of per-batch values, `predict_loop`
    the row-wise concatenation; both in the test phase (Dropout off)."""
    model = _model(dropout=True)
    rng = np.random.RandomState(1)
    x, y = rng.randn(13, 4).astype("float32"), rng.randn(13, 1).astype("float32")
    batch_losses = [model.test_on_batch(x[i : i + 5], y[i : i + 5]) for i in range(0, 13, 5)]
    expected = [sum(b[j] * n for b, n in zip(batch_losses, [5, 5, 3])) / 13 for j in range(2)]
    assert model.evaluate(x, y, batch_size=5, verbose=0) == expected
    pred = model.predict(x, batch_size=5)
    assert (
        pred.tobytes()
        == np.concatenate([model.predict_on_batch(x[i : i + 5]) for i in range(0, 13, 5)]).tobytes()
    )
