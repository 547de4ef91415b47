"""Callbacks driven by a real fit(): call order and logs, History keys, stop_training
through EarlyStopping, ModelCheckpoint writing weight files, LearningRateScheduler and
ReduceLROnPlateau acting on the optimizer, CSVLogger (keras1-formats.md §9)."""

import csv
import os

import numpy as np
import pytest
from numpy.testing import assert_allclose

from keras import backend as K
from keras.callbacks import (
    CSVLogger,
    EarlyStopping,
    LambdaCallback,
    LearningRateScheduler,
    ModelCheckpoint,
    ReduceLROnPlateau,
)
from keras.layers import Dense, Input
from keras.models import Model, Sequential
from keras.optimizers import SGD
from recording_callback import Recorder

pytestmark = pytest.mark.usefixtures("fresh_session")


def _data(n=12, seed=0):
    rng = np.random.RandomState(seed)
    x = rng.uniform(-1, 1, (n, 3)).astype("float32")
    y = rng.uniform(-1, 1, (n, 2)).astype("float32")
    return x, y


def _model(lr=0.1, metrics=None, **dense_kwargs):
    np.random.seed(5)
    model = Sequential([Dense(2, input_dim=3, **dense_kwargs)])
    model.compile(SGD(lr=lr), "mse", metrics=metrics)
    return model


def test_call_order_params_and_logs_in_fit():
    x, y = _data(10)
    model = _model(metrics=["mae"])
    rec = Recorder()
    hist = model.fit(x, y, batch_size=4, nb_epoch=2, validation_split=0.2, verbose=0, callbacks=[rec])
    kinds = [(k, i) for k, i, _ in rec.calls]
    epoch = (
        [("epoch_begin", None)]
        + [(k, b) for b in range(2) for k in ("batch_begin", "batch_end")]
        + [("epoch_end", None)]
    )
    expected = [("train_begin", None)]
    for e in range(2):
        expected += [(k, e if i is None else i) for k, i in epoch]
    expected += [("train_end", None)]
    assert kinds == expected
    assert rec.params["batch_size"] == 4
    assert rec.params["nb_epoch"] == 2
    assert rec.params["nb_sample"] == 8
    assert rec.params["do_validation"] is True
    assert rec.params["metrics"] == ["loss", "mean_absolute_error", "val_loss", "val_mean_absolute_error"]
    assert rec.model is model
    batch_begin = [logs for k, _, logs in rec.calls if k == "batch_begin"]
    assert batch_begin[0] == {"batch": 0, "size": 4}
    assert batch_begin[1] == {"batch": 1, "size": 4}
    batch_end = [logs for k, _, logs in rec.calls if k == "batch_end"]
    assert sorted(batch_end[0]) == ["batch", "loss", "mean_absolute_error", "size"]
    epoch_end = [logs for k, _, logs in rec.calls if k == "epoch_end"]
    for e, logs in enumerate(epoch_end):
        assert sorted(logs) == sorted(hist.history)
        for key, value in logs.items():
            assert hist.history[key][e] == value
        # epoch means of the batch values (weighted by size)
        ends = batch_end[2 * e : 2 * e + 2]
        assert_allclose(logs["loss"], sum(b["loss"] * b["size"] for b in ends) / 8.0, rtol=1e-6)


def test_batch_logs_are_pre_update_values():
    x, y = _data(8)
    model = _model(lr=0.1)
    W, b = model.get_weights()
    losses = []
    model.fit(
        x,
        y,
        batch_size=8,
        nb_epoch=1,
        shuffle=False,
        verbose=0,
        callbacks=[LambdaCallback(on_batch_end=lambda i, logs: losses.append(logs["loss"]))],
    )
    assert_allclose(losses, [np.mean((x @ W + b - y) ** 2)], rtol=1e-5)


def test_history_keys_single_and_multi_output():
    x, y = _data(12)
    model = _model(metrics=["accuracy", "mse"])
    hist = model.fit(x, y, batch_size=4, nb_epoch=2, validation_split=0.25, verbose=0)
    assert set(hist.history) == {
        "loss",
        "acc",
        "mean_squared_error",
        "val_loss",
        "val_acc",
        "val_mean_squared_error",
    }
    assert hist.epoch == [0, 1]
    assert all(len(v) == 2 for v in hist.history.values())
    assert all(isinstance(v, float) for vs in hist.history.values() for v in vs)

    K.clear_session()
    inp = Input(shape=(3,))
    a = Dense(2, name="first")(inp)
    b = Dense(1, activation="sigmoid", name="second")(inp)
    model = Model(inp, [a, b])
    model.compile("sgd", ["mse", "binary_crossentropy"], metrics=["acc"])
    yb = (y[:, :1] > 0).astype("float32")
    hist = model.fit(x, [y, yb], batch_size=4, nb_epoch=1, validation_data=(x, [y, yb]), verbose=0)
    names = ["loss", "first_loss", "second_loss", "first_acc", "second_acc"]
    assert set(hist.history) == set(names + ["val_" + n for n in names])
    assert_allclose(
        hist.history["val_loss"][0],
        hist.history["val_first_loss"][0] + hist.history["val_second_loss"][0],
        rtol=1e-5,
    )


def test_stop_training_from_a_callback():
    x, y = _data(12)
    model = _model()
    batches = []

    def stop(batch, logs):
        batches.append(batch)
        if len(batches) == 4:
            model.stop_training = True

    hist = model.fit(
        x, y, batch_size=4, nb_epoch=10, verbose=0, callbacks=[LambdaCallback(on_batch_end=stop)]
    )
    # the epoch in which it was set is completed, then training ends
    assert hist.epoch == [0, 1]
    assert batches == [0, 1, 2, 0, 1, 2]


def test_early_stopping_stops_at_the_right_epoch(capsys):
    x, y = _data(12)
    # lr=0: val_loss is the same every epoch, so only epoch 0 improves
    model = _model(lr=0.0)
    stopper = EarlyStopping(monitor="val_loss", patience=2, verbose=1)
    hist = model.fit(x, y, batch_size=4, nb_epoch=20, validation_split=0.25, verbose=0, callbacks=[stopper])
    # epochs 1, 2, 3 do not improve: stops at the end of the (patience+1)-th = epoch 3
    assert hist.epoch == [0, 1, 2, 3]
    assert stopper.stopped_epoch == 3
    assert "Epoch 00003: early stopping" in capsys.readouterr().out
    # a second fit resets the callback and the flag
    hist = model.fit(
        x,
        y,
        batch_size=4,
        nb_epoch=20,
        validation_split=0.25,
        verbose=0,
        callbacks=[EarlyStopping(monitor="val_loss", patience=0)],
    )
    assert hist.epoch == [0, 1]
    hist = model.fit(x, y, batch_size=4, nb_epoch=3, verbose=0)
    assert hist.epoch == [0, 1, 2]


def test_early_stopping_lets_improving_training_run():
    x, y = _data(12)
    model = _model(lr=0.05)
    stopper = EarlyStopping(monitor="loss", patience=0)
    hist = model.fit(x, y, batch_size=12, nb_epoch=6, shuffle=False, verbose=0, callbacks=[stopper])
    assert hist.epoch == list(range(6))
    assert np.all(np.diff(hist.history["loss"]) < 0)
    # a huge min_delta makes every epoch after the first a non-improvement
    hist = model.fit(
        x, y, batch_size=12, nb_epoch=6, verbose=0, callbacks=[EarlyStopping(monitor="loss", min_delta=10.0)]
    )
    assert hist.epoch == [0, 1]


def test_early_stopping_on_accuracy_maximises():
    x, y = _data(12)
    y = np.eye(2, dtype="float32")[(y[:, 0] > 0).astype(int)]
    np.random.seed(5)
    model = Sequential([Dense(2, input_dim=3, activation="softmax")])
    model.compile(SGD(lr=0.0), "categorical_crossentropy", metrics=["acc"])
    hist = model.fit(
        x, y, batch_size=4, nb_epoch=10, verbose=0, callbacks=[EarlyStopping(monitor="acc", patience=1)]
    )
    assert hist.epoch == [0, 1, 2]


def test_model_checkpoint_writes_weights_through_fit(tmp_path):
    x, y = _data(12)
    model = _model(lr=0.1)
    snapshots = []
    record = LambdaCallback(on_epoch_end=lambda e, logs: snapshots.append(model.get_weights()))
    pattern = str(tmp_path / "w.{epoch:02d}-{val_loss:.4f}.h5")
    ckpt = ModelCheckpoint(pattern, save_weights_only=True)
    hist = model.fit(
        x, y, batch_size=4, nb_epoch=3, validation_split=0.25, verbose=0, callbacks=[record, ckpt]
    )
    names = ["w.{:02d}-{:.4f}.h5".format(e, hist.history["val_loss"][e]) for e in range(3)]
    assert sorted(os.listdir(tmp_path)) == sorted(names)
    for e in range(3):
        K.clear_session()
        fresh = Sequential([Dense(2, input_dim=3)])
        fresh.load_weights(str(tmp_path / names[e]))
        for a, b in zip(fresh.get_weights(), snapshots[e]):
            assert_allclose(a, b)
    # consecutive epochs saved different weights
    assert np.abs(snapshots[0][0] - snapshots[2][0]).max() > 1e-5


def test_model_checkpoint_save_best_only_and_period(tmp_path):
    x, y = _data(12)
    model = _model(lr=0.0)  # val_loss never improves after epoch 0
    path = str(tmp_path / "best.h5")
    ckpt = ModelCheckpoint(path, monitor="val_loss", save_best_only=True, save_weights_only=True)
    saves = []
    real = model.save_weights

    def counting(filepath, overwrite=True):
        saves.append(filepath)
        real(filepath, overwrite=overwrite)

    model.save_weights = counting
    model.fit(x, y, batch_size=4, nb_epoch=3, validation_split=0.25, verbose=0, callbacks=[ckpt])
    assert saves == [path]
    assert os.path.isfile(path)
    saves.clear()
    ckpt = ModelCheckpoint(str(tmp_path / "p{epoch}.h5"), save_weights_only=True, period=2)
    model.fit(x, y, batch_size=4, nb_epoch=5, verbose=0, callbacks=[ckpt])
    assert [os.path.basename(p) for p in saves] == ["p1.h5", "p3.h5"]


def test_learning_rate_scheduler_changes_the_lr_used_by_training():
    x, y = _data(8)
    model = _model(lr=0.1)
    W, b = (v.astype(np.float64) for v in model.get_weights())
    schedule = [0.2, 0.0, 0.05]
    seen = []
    record = LambdaCallback(
        on_batch_begin=lambda i, logs: seen.append(float(K.get_value(model.optimizer.lr)))
    )
    model.fit(
        x,
        y,
        batch_size=4,
        nb_epoch=3,
        shuffle=False,
        verbose=0,
        callbacks=[LearningRateScheduler(lambda epoch: schedule[epoch]), record],
    )
    assert_allclose(seen, [0.2, 0.2, 0.0, 0.0, 0.05, 0.05], rtol=1e-6)
    assert_allclose(K.get_value(model.optimizer.lr), 0.05, rtol=1e-6)
    # numpy SGD with the same per-epoch learning rates
    for lr in schedule:
        for s in (slice(0, 4), slice(4, 8)):
            xb, yb = x[s].astype(np.float64), y[s].astype(np.float64)
            g = 2 * (xb @ W + b - yb) / (4 * 2)
            W, b = W - lr * xb.T @ g, b - lr * g.sum(0)
    assert_allclose(model.get_weights()[0], W, rtol=1e-5, atol=1e-6)
    assert_allclose(model.get_weights()[1], b, rtol=1e-5, atol=1e-6)


def test_reduce_lr_on_plateau_writes_lr_into_history():
    x, _ = _data(12)
    y = np.zeros((12, 2), "float32")
    # zero weights and zero targets: the loss is 0 and never improves
    model = _model(lr=0.5, init="zero")
    reducer = ReduceLROnPlateau(monitor="val_loss", factor=0.1, patience=0)
    hist = model.fit(x, y, batch_size=4, nb_epoch=4, validation_split=0.25, verbose=0, callbacks=[reducer])
    assert "lr" in hist.history
    # logs['lr'] is the lr of the epoch that just ran (before any reduction)
    assert_allclose(hist.history["lr"], [0.5, 0.5, 0.05, 0.005], rtol=1e-6)
    assert_allclose(K.get_value(model.optimizer.lr), 0.0005, rtol=1e-5)
    assert hist.history["val_loss"] == [0.0] * 4


def test_csv_logger_from_a_real_fit(tmp_path):
    x, y = _data(12)
    model = _model(metrics=["mae"])
    path = str(tmp_path / "log.csv")
    hist = model.fit(
        x, y, batch_size=4, nb_epoch=3, validation_split=0.25, verbose=0, callbacks=[CSVLogger(path)]
    )
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    keys = sorted(["loss", "mean_absolute_error", "val_loss", "val_mean_absolute_error"])
    assert rows[0] == ["epoch"] + keys
    assert len(rows) == 4
    for e, row in enumerate(rows[1:]):
        assert int(row[0]) == e
        for k, v in zip(keys, row[1:]):
            assert_allclose(float(v), hist.history[k][e], rtol=1e-12)
    # append=True continues the file without a second header
    model.fit(
        x,
        y,
        batch_size=4,
        nb_epoch=2,
        validation_split=0.25,
        verbose=0,
        callbacks=[CSVLogger(path, append=True)],
    )
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 6
    assert [r[0] for r in rows[1:]] == ["0", "1", "2", "0", "1"]


def test_callbacks_with_evaluate_and_fit_on_functional_model():
    inp = Input(shape=(3,))
    out = Dense(2)(inp)
    model = Model(inp, out)
    model.compile(SGD(lr=0.0), "mse")
    x, y = _data(12)
    stopper = EarlyStopping(monitor="loss", patience=0)
    hist = model.fit(x, y, batch_size=4, nb_epoch=10, shuffle=False, verbose=0, callbacks=[stopper])
    assert hist.epoch == [0, 1]
    assert model.stop_training is True
