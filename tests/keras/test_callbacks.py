"""keras.callbacks against a fake model (no fit needed): call order, logs sharing,
BaseLogger/ProgbarLogger/History, and each callback's counting rules.
"""

import csv
import json
import os
import threading
import time
import warnings
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs

import numpy as np
import pytest

from keras import backend as K
from keras import callbacks
from keras.callbacks import (
    BaseLogger,
    Callback,
    CallbackList,
    CSVLogger,
    EarlyStopping,
    History,
    LambdaCallback,
    LearningRateScheduler,
    ModelCheckpoint,
    ProgbarLogger,
    ReduceLROnPlateau,
    RemoteMonitor,
)

# ---------------------------------------------------------------------------------------
# helpers


class FakeOptimizer:
    def __init__(self, lr):
        self.lr = K.variable(lr)


class FakeModel:
    """What callbacks touch of a model: stop_training, optimizer.lr, save, save_weights."""

    def __init__(self, lr=0.1, save_raises=None):
        self.stop_training = False
        self.optimizer = FakeOptimizer(lr)
        self.saved = []
        self.save_raises = save_raises

    def save(self, filepath, overwrite=True):
        if self.save_raises is not None:
            raise self.save_raises
        self.saved.append(("save", filepath, overwrite))

    def save_weights(self, filepath, overwrite=True):
        self.saved.append(("save_weights", filepath, overwrite))


def lr_of(model):
    return float(np.asarray(K.get_value(model.optimizer.lr)).reshape(-1)[0])


def params(**kw):
    p = {
        "batch_size": 32,
        "nb_epoch": 10,
        "nb_sample": 100,
        "verbose": 0,
        "do_validation": True,
        "metrics": ["loss", "acc", "val_loss", "val_acc"],
    }
    p.update(kw)
    return p


def run_epochs(cbks, epoch_logs, model=None, **param_kw):
    """Drives the epoch-level hooks like fit does; returns (model, epochs run, logs seen)."""
    model = model or FakeModel()
    cl = CallbackList(cbks)
    cl.set_model(model)
    cl.set_params(params(nb_epoch=len(epoch_logs), **param_kw))
    cl.on_train_begin()
    model.stop_training = False
    ran = []
    for epoch, logs in enumerate(epoch_logs):
        cl.on_epoch_begin(epoch)
        logs = dict(logs)
        cl.on_epoch_end(epoch, logs)
        ran.append(logs)
        if model.stop_training:
            break
    cl.on_train_end()
    return model, ran


class Recorder(Callback):
    def __init__(self, name, calls):
        super().__init__()
        self.name = name
        self.calls = calls

    def on_train_begin(self, logs=None):
        self.calls.append((self.name, "train_begin"))

    def on_train_end(self, logs=None):
        self.calls.append((self.name, "train_end"))

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append((self.name, "epoch_begin", epoch))

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append((self.name, "epoch_end", epoch, dict(logs)))
        logs[self.name] = epoch  # visible to the callbacks after this one

    def on_batch_begin(self, batch, logs=None):
        self.calls.append((self.name, "batch_begin", batch))

    def on_batch_end(self, batch, logs=None):
        self.calls.append((self.name, "batch_end", batch))


# ---------------------------------------------------------------------------------------
# CallbackList, Callback


def test_callback_list_calls_in_order_and_shares_logs():
    calls = []
    a, b = Recorder("a", calls), Recorder("b", calls)
    cl = CallbackList([a, b])
    model = FakeModel()
    cl.set_model(model)
    p = params()
    cl.set_params(p)
    assert a.model is model and b.params is p
    assert list(cl) == [a, b] and len(cl) == 2
    cl.on_train_begin()
    cl.on_epoch_begin(0)
    cl.on_batch_begin(0, {"batch": 0, "size": 32})
    cl.on_batch_end(0, {"batch": 0, "size": 32, "loss": 1.0})
    logs = {"loss": 1.0}
    cl.on_epoch_end(0, logs)
    cl.on_train_end()
    assert calls == [
        ("a", "train_begin"),
        ("b", "train_begin"),
        ("a", "epoch_begin", 0),
        ("b", "epoch_begin", 0),
        ("a", "batch_begin", 0),
        ("b", "batch_begin", 0),
        ("a", "batch_end", 0),
        ("b", "batch_end", 0),
        ("a", "epoch_end", 0, {"loss": 1.0}),
        ("b", "epoch_end", 0, {"loss": 1.0, "a": 0}),
        ("a", "train_end"),
        ("b", "train_end"),
    ]
    assert logs == {"loss": 1.0, "a": 0, "b": 0}  # the caller's dict was the one shared


def test_callback_list_append_and_defaults():
    cl = CallbackList()
    assert list(cl) == [] and cl.queue_length == 10
    c = Callback()
    cl.append(c)
    assert list(cl) == [c]
    assert c.params == {} and c.model is None
    cl.on_train_begin()  # base hooks do nothing
    cl.on_epoch_begin(0)
    cl.on_batch_begin(0)
    cl.on_batch_end(0)
    cl.on_epoch_end(0)
    cl.on_train_end()


class Clock:
    def __init__(self, now=100.0):
        self.now = now

    def __call__(self):
        return self.now


class SlowBatchEnd(Callback):
    def __init__(self, clock, cost):
        super().__init__()
        self.clock = clock
        self.cost = cost

    def on_batch_end(self, batch, logs=None):
        self.clock.now += self.cost


def _batches(cl, clock, n, step):
    cl.on_epoch_begin(0)
    for i in range(n):
        cl.on_batch_begin(i, {"batch": i, "size": 1})
        clock.now += step  # the train step
        cl.on_batch_end(i, {"batch": i, "size": 1})


def test_callback_list_warns_when_batch_callbacks_are_slow(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(time, "time", clock)
    cl = CallbackList([SlowBatchEnd(clock, 0.2)])
    with pytest.warns(UserWarning, match=r"on_batch_end\(\) is slow compared to the batch update"):
        _batches(cl, clock, 3, 0.01)


def test_callback_list_quiet_when_callbacks_are_fast(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(time, "time", clock)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # slower than the step, but below the 0.1 s floor
        _batches(CallbackList([SlowBatchEnd(clock, 0.05)]), clock, 20, 0.01)
        # above the floor, but the step is slower still
        _batches(CallbackList([SlowBatchEnd(clock, 0.2)]), clock, 20, 1.0)
        # one slow batch among fast ones: the median stays low
        cb = SlowBatchEnd(clock, 0.0)
        cl = CallbackList([cb])
        cl.on_epoch_begin(0)
        for i in range(20):
            cb.cost = 0.5 if i == 10 else 0.0
            cl.on_batch_begin(i, {})
            clock.now += 0.01
            cl.on_batch_end(i, {})


# ---------------------------------------------------------------------------------------
# BaseLogger, History, ProgbarLogger


def _one_epoch(cl, batches, epoch_extra, epoch=0):
    cl.on_epoch_begin(epoch)
    for i, (size, loss, acc) in enumerate(batches):
        batch_logs = {"batch": i, "size": size}
        cl.on_batch_begin(i, batch_logs)
        batch_logs["loss"] = loss
        batch_logs["acc"] = acc
        cl.on_batch_end(i, batch_logs)
    logs = dict(epoch_extra)
    cl.on_epoch_end(epoch, logs)
    return logs


def test_base_logger_writes_batch_size_weighted_means():
    cl = CallbackList([BaseLogger()])
    cl.set_params(params(metrics=["loss", "acc", "val_loss"]))
    logs = _one_epoch(cl, [(32, 1.0, 0.0), (32, 0.5, 0.5), (36, np.float32(0.25), 1.0)], {"val_loss": 2.0})
    assert logs["loss"] == pytest.approx((32 * 1.0 + 32 * 0.5 + 36 * 0.25) / 100)
    assert logs["acc"] == pytest.approx((32 * 0.5 + 36) / 100)
    assert logs["val_loss"] == 2.0
    assert set(logs) == {"loss", "acc", "val_loss"}  # 'batch'/'size' are not metrics
    # a second epoch starts from zero
    logs = _one_epoch(cl, [(10, 3.0, 1.0)], {}, epoch=1)
    assert logs == {"loss": 3.0, "acc": 1.0}


def test_history_records_epoch_logs():
    h = History()
    run_epochs([h], [{"loss": 1.0, "val_loss": 2.0}, {"loss": 0.5, "val_loss": 1.5, "lr": 0.1}])
    assert h.epoch == [0, 1]
    assert h.history == {"loss": [1.0, 0.5], "val_loss": [2.0, 1.5], "lr": [0.1]}
    # on_train_begin starts afresh
    run_epochs([h], [{"loss": 9.0}])
    assert h.epoch == [0] and h.history == {"loss": [9.0]}


def test_progbar_logger_verbose1_output_and_epoch_means(monkeypatch, capsys):
    clock = Clock(100.0)
    monkeypatch.setattr(time, "time", clock)
    base, hist, bar = BaseLogger(), History(), ProgbarLogger()
    cl = CallbackList([base, hist, bar])
    cl.set_model(FakeModel())
    cl.set_params(params(nb_epoch=3, nb_sample=100, verbose=1, metrics=["loss", "val_loss"]))
    cl.on_train_begin()
    # batch losses 1.0, 0.5, 0.25, 2.0 (sizes 32, 32, 32, 4): epoch mean 0.64
    _one_epoch(cl, [(32, 1.0, 0), (32, 0.5, 0), (32, 0.25, 0), (4, 2.0, 0)], {"val_loss": 0.7})
    out = capsys.readouterr().out
    first = "\r 32/100 [========>.....................] - ETA: 0s - loss: 1.0000"
    final = "\r100/100 [==============================] - 0s - loss: 0.6400 - val_loss: 0.7000\n"
    # 64 and 96 are throttled (the clock does not move); the last batch is drawn by
    # on_epoch_end, forced, with the epoch mean and the validation values
    assert out == "Epoch 1/3\n" + first + "\b" * (len(first) - 1) + final
    assert hist.history["loss"] == [pytest.approx(0.64)]


def test_progbar_logger_verbose2_output(monkeypatch, capsys):
    clock = Clock(100.0)
    monkeypatch.setattr(time, "time", clock)
    cl = CallbackList([BaseLogger(), History(), ProgbarLogger()])
    cl.set_model(FakeModel())
    cl.set_params(params(nb_epoch=2, nb_sample=64, verbose=2, metrics=["loss", "acc", "val_loss", "val_acc"]))
    cl.on_train_begin()
    clock.now = 100.0
    cl.on_epoch_begin(0)
    for i, (loss, acc) in enumerate([(0.5, 0.25), (0.3, 0.75)]):
        cl.on_batch_begin(i, {"batch": i, "size": 32})
        clock.now += 1.1
        cl.on_batch_end(i, {"batch": i, "size": 32, "loss": loss, "acc": acc})
    cl.on_epoch_end(0, {"val_loss": -0.25, "val_acc": 0.0005})
    assert capsys.readouterr().out == (
        "Epoch 1/2\n2s - loss: 0.4000 - acc: 0.5000 - val_loss: -2.5000e-01 - val_acc: 5.0000e-04\n"
    )


def test_progbar_logger_verbose0_prints_nothing(capsys):
    cl = CallbackList([BaseLogger(), ProgbarLogger()])
    cl.set_params(params(verbose=0, nb_sample=64))
    cl.on_train_begin()
    _one_epoch(cl, [(32, 1.0, 1.0), (32, 1.0, 1.0)], {})
    assert capsys.readouterr().out == ""


# ---------------------------------------------------------------------------------------
# EarlyStopping


def test_early_stopping_stops_on_patience_plus_one_non_improving_epoch():
    stopper = EarlyStopping(monitor="val_loss", patience=2)
    values = [1.0, 0.9, 0.95, 0.96, 0.97, 0.5, 0.4]
    model, ran = run_epochs([stopper], [{"val_loss": v} for v in values])
    # epochs 2, 3, 4 do not improve on 0.9: stop after the third of them
    assert len(ran) == 5 and model.stop_training
    assert stopper.stopped_epoch == 4 and stopper.best == 0.9 and stopper.wait == 3


def test_early_stopping_patience_zero_stops_on_first_non_improving_epoch():
    stopper = EarlyStopping(patience=0)
    model, ran = run_epochs([stopper], [{"val_loss": v} for v in [3.0, 2.0, 2.0, 1.0]])
    assert len(ran) == 3 and stopper.stopped_epoch == 2


def test_early_stopping_improvement_resets_the_wait():
    stopper = EarlyStopping(patience=1)
    values = [1.0, 1.1, 0.9, 1.0, 0.8, 0.85, 0.86]
    model, ran = run_epochs([stopper], [{"val_loss": v} for v in values])
    assert len(ran) == 7 and stopper.stopped_epoch == 6


def test_early_stopping_min_delta():
    stopper = EarlyStopping(min_delta=0.1, patience=0)
    assert stopper.min_delta == -0.1  # counts against the direction of improvement
    # 0.95 is lower but not by more than 0.1
    model, ran = run_epochs([stopper], [{"val_loss": v} for v in [1.0, 0.85, 0.8]])
    assert len(ran) == 3 and stopper.stopped_epoch == 2
    stopper = EarlyStopping(monitor="acc", min_delta=0.1, patience=0)
    assert stopper.min_delta == 0.1
    model, ran = run_epochs([stopper], [{"acc": v} for v in [0.5, 0.65, 0.7]])
    assert len(ran) == 3 and stopper.stopped_epoch == 2


@pytest.mark.parametrize(
    "monitor,mode,op",
    [
        ("val_loss", "auto", np.less),
        ("val_acc", "auto", np.greater),
        ("acc", "auto", np.greater),
        ("fmeasure", "auto", np.greater),
        ("val_fmeasure", "auto", np.less),  # only a name *starting* with fmeasure
        ("val_acc", "min", np.less),
        ("val_loss", "max", np.greater),
    ],
)
def test_early_stopping_and_checkpoint_mode(monitor, mode, op):
    assert EarlyStopping(monitor=monitor, mode=mode).monitor_op is op
    assert ModelCheckpoint("x", monitor=monitor, mode=mode).monitor_op is op


def test_unknown_mode_falls_back_to_auto():
    with pytest.warns(RuntimeWarning, match="unknown"):
        assert EarlyStopping(monitor="val_acc", mode="bogus").monitor_op is np.greater
    with pytest.warns(RuntimeWarning, match="unknown"):
        assert ModelCheckpoint("x", mode="bogus").monitor_op is np.less
    with pytest.warns(RuntimeWarning, match="unknown"):
        assert ReduceLROnPlateau(mode="bogus").mode == "auto"


def test_early_stopping_maximises_accuracy():
    stopper = EarlyStopping(monitor="val_acc", patience=1)
    model, ran = run_epochs([stopper], [{"val_acc": v} for v in [0.5, 0.6, 0.6, 0.55, 0.9]])
    assert len(ran) == 4 and stopper.best == 0.6


def test_early_stopping_reuse_and_verbose(capsys):
    stopper = EarlyStopping(patience=0, verbose=1)
    run_epochs([stopper], [{"val_loss": v} for v in [1.0, 0.5, 0.6]])
    assert capsys.readouterr().out == "Epoch 00002: early stopping\n"
    # a second fit starts afresh (wait, best) and may run to the end
    model, ran = run_epochs([stopper], [{"val_loss": v} for v in [5.0, 4.0, 3.0]])
    assert len(ran) == 3 and not model.stop_training and stopper.best == 3.0
    assert capsys.readouterr().out == ""


def test_early_stopping_missing_monitor_warns():
    stopper = EarlyStopping(monitor="val_loss")
    with pytest.warns(RuntimeWarning, match="requires val_loss"):
        model, ran = run_epochs([stopper], [{"loss": 1.0}, {"loss": 2.0}])
    assert len(ran) == 2


# ---------------------------------------------------------------------------------------
# ModelCheckpoint


def test_model_checkpoint_formats_filepath_and_saves_every_epoch(tmp_path):
    path = str(tmp_path / "w.{epoch:02d}-{val_loss:.2f}.h5")
    ckpt = ModelCheckpoint(path)
    model, _ = run_epochs([ckpt], [{"val_loss": 0.5}, {"val_loss": 0.25, "loss": 1.0}])
    assert model.saved == [
        ("save", str(tmp_path / "w.00-0.50.h5"), True),
        ("save", str(tmp_path / "w.01-0.25.h5"), True),
    ]


def test_model_checkpoint_save_weights_only():
    ckpt = ModelCheckpoint("weights.{epoch}.h5", save_weights_only=True)
    model, _ = run_epochs([ckpt], [{"val_loss": 0.5}])
    assert model.saved == [("save_weights", "weights.0.h5", True)]


def test_model_checkpoint_period():
    ckpt = ModelCheckpoint("checkpoint.{epoch:02d}.h5", period=2)
    model, _ = run_epochs([ckpt], [{"val_loss": 1.0}] * 5)
    assert [p for _, p, _ in model.saved] == ["checkpoint.01.h5", "checkpoint.03.h5"]


def test_model_checkpoint_save_best_only(capsys):
    ckpt = ModelCheckpoint("best.h5", save_best_only=True, verbose=1)
    model, _ = run_epochs([ckpt], [{"val_loss": v} for v in [0.5, 0.6, 0.4, 0.4]])
    assert len(model.saved) == 2 and ckpt.best == 0.4
    assert capsys.readouterr().out == (
        "Epoch 00000: val_loss improved from inf to 0.50000, saving model to best.h5\n"
        "Epoch 00001: val_loss did not improve\n"
        "Epoch 00002: val_loss improved from 0.50000 to 0.40000, saving model to best.h5\n"
        "Epoch 00003: val_loss did not improve\n"
    )
    ckpt = ModelCheckpoint("best.h5", monitor="val_acc", save_best_only=True)
    model, _ = run_epochs([ckpt], [{"val_acc": v} for v in [0.5, 0.4, 0.7]])
    assert len(model.saved) == 2
    ckpt = ModelCheckpoint("best.h5", monitor="val_loss", mode="max", save_best_only=True)
    model, _ = run_epochs([ckpt], [{"val_loss": v} for v in [0.5, 0.4, 0.7]])
    assert len(model.saved) == 2


def test_model_checkpoint_verbose_plain_save(capsys):
    ckpt = ModelCheckpoint("m.h5", verbose=1)
    run_epochs([ckpt], [{"val_loss": 1.0}])
    assert capsys.readouterr().out == "Epoch 00000: saving model to m.h5\n"


def test_model_checkpoint_best_only_without_monitor_warns():
    ckpt = ModelCheckpoint("best.h5", save_best_only=True)
    with pytest.warns(RuntimeWarning, match="val_loss available"):
        model, _ = run_epochs([ckpt], [{"loss": 0.5}])
    assert model.saved == []


def test_model_checkpoint_lets_save_errors_propagate():
    model = FakeModel(save_raises=NotImplementedError("full-model saving"))
    with pytest.raises(NotImplementedError):
        run_epochs([ModelCheckpoint("m.h5")], [{"val_loss": 1.0}], model=model)


# ---------------------------------------------------------------------------------------
# LearningRateScheduler


def test_learning_rate_scheduler_sets_lr_each_epoch():
    seen = []
    sched = LearningRateScheduler(lambda epoch: 1.0 / (epoch + 1))
    probe = LambdaCallback(on_epoch_begin=lambda epoch, logs: seen.append(lr_of(probe.model)))
    run_epochs([sched, probe], [{}] * 3)
    assert seen == pytest.approx([1.0, 0.5, 1.0 / 3])


def test_learning_rate_scheduler_accepts_numpy_floats():
    model, _ = run_epochs([LearningRateScheduler(lambda e: np.float32(0.25))], [{}])
    assert lr_of(model) == 0.25


def test_learning_rate_scheduler_rejects_non_floats():
    with pytest.raises(ValueError, match="should be float"):
        run_epochs([LearningRateScheduler(lambda e: 1)], [{}])
    with pytest.raises(ValueError, match="should be float"):
        run_epochs([LearningRateScheduler(lambda e: "0.1")], [{}])


# ---------------------------------------------------------------------------------------
# ReduceLROnPlateau


def _plateau(cb, values, lr=1.0, monitor="val_loss"):
    model, ran = run_epochs([cb], [{monitor: v} for v in values], model=FakeModel(lr))
    return lr_of(model), [float(logs["lr"]) for logs in ran]


def test_reduce_lr_patience_and_factor():
    cb = ReduceLROnPlateau(factor=0.5, patience=1, epsilon=0)
    lr, logged = _plateau(cb, [1.0] * 5)
    # epoch 0 improves (on inf); epoch 1: wait 0 -> 1; then a reduction every epoch,
    # since wait restarts at 1 after each one
    assert logged == [1.0, 1.0, 1.0, 0.5, 0.25]  # logs['lr'] is read before reducing
    assert lr == 0.125


def test_reduce_lr_writes_lr_as_a_numpy_scalar():
    model, ran = run_epochs([ReduceLROnPlateau()], [{"val_loss": 1.0}], model=FakeModel(0.5))
    assert isinstance(ran[0]["lr"], np.floating) and ran[0]["lr"] == 0.5


def test_reduce_lr_min_lr():
    cb = ReduceLROnPlateau(factor=0.1, patience=0, min_lr=0.05, epsilon=0)
    lr, logged = _plateau(cb, [1.0] * 5)
    assert logged == pytest.approx([1.0, 1.0, 0.1, 0.05, 0.05])
    assert lr == pytest.approx(0.05)


def test_reduce_lr_cooldown():
    cb = ReduceLROnPlateau(factor=0.5, patience=0, cooldown=2, epsilon=0)
    lr, logged = _plateau(cb, [1.0] * 7)
    # a reduction, then two cooldown epochs in which nothing counts
    assert logged == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.125]
    assert lr == 0.125  # epoch 6 is the first cooldown epoch after the third reduction


def test_reduce_lr_epsilon():
    # a change counts only beyond epsilon
    cb = ReduceLROnPlateau(factor=0.5, patience=0, epsilon=0.1)
    lr, _ = _plateau(cb, [1.0, 0.95])
    assert lr == 0.5
    cb = ReduceLROnPlateau(factor=0.5, patience=0, epsilon=0.1)
    lr, _ = _plateau(cb, [1.0, 0.85])
    assert lr == 1.0
    # upstream's check: epsilon=10 -> one reduction, then the cooldown holds it
    cb = ReduceLROnPlateau(factor=0.1, patience=1, epsilon=10, cooldown=5)
    lr, _ = _plateau(cb, [1.0, 0.9, 0.8, 0.7, 0.6], lr=0.1)
    assert lr == pytest.approx(0.01)
    cb = ReduceLROnPlateau(factor=0.1, patience=1, epsilon=0, cooldown=5)
    lr, _ = _plateau(cb, [1.0, 0.9, 0.8, 0.7, 0.6], lr=0.1)
    assert lr == pytest.approx(0.1)


def test_reduce_lr_maximises_accuracy_in_auto_mode():
    cb = ReduceLROnPlateau(monitor="val_acc", factor=0.5, patience=0, epsilon=0)
    lr, _ = _plateau(cb, [0.5, 0.6, 0.7], monitor="val_acc")
    assert lr == 1.0
    # 'fmeasure' is not maximised by ReduceLROnPlateau (only names containing 'acc')
    cb = ReduceLROnPlateau(monitor="fmeasure", factor=0.5, patience=0, epsilon=0)
    lr, _ = _plateau(cb, [0.5, 0.6], monitor="fmeasure")
    assert lr == 0.5


def test_reduce_lr_rejects_factor_ge_1_and_warns_without_monitor():
    with pytest.raises(ValueError, match="factor >= 1.0"):
        ReduceLROnPlateau(factor=1.0)
    cb = ReduceLROnPlateau()
    with pytest.warns(RuntimeWarning, match="requires val_loss"):
        model, ran = run_epochs([cb], [{"loss": 1.0}], model=FakeModel(0.5))
    assert ran[0]["lr"] == 0.5


def test_reduce_lr_verbose(capsys):
    cb = ReduceLROnPlateau(factor=0.5, patience=0, epsilon=0, verbose=1)
    _plateau(cb, [1.0, 1.0])
    assert capsys.readouterr().out == "\nEpoch 00001: reducing learning rate to 0.5.\n"


# ---------------------------------------------------------------------------------------
# CSVLogger


def test_csv_logger_contents(tmp_path):
    path = str(tmp_path / "log.csv")
    logs = [{"loss": 1.0, "acc": 0.5, "val_loss": 1.5}, {"loss": 0.5, "acc": 0.75, "val_loss": 1.25}]
    run_epochs([CSVLogger(path)], logs)
    with open(path, newline="") as f:
        assert f.read() == "epoch,acc,loss,val_loss\r\n0,0.5,1.0,1.5\r\n1,0.75,0.5,1.25\r\n"
    # without append, a new fit overwrites
    run_epochs([CSVLogger(path)], logs[:1])
    with open(path, newline="") as f:
        assert f.read() == "epoch,acc,loss,val_loss\r\n0,0.5,1.0,1.5\r\n"


def test_csv_logger_append_and_separator(tmp_path):
    path = str(tmp_path / "log.tsv")
    logger = CSVLogger(path, separator="\t", append=True)
    run_epochs([logger], [{"loss": 1.0, "acc": 0.5}])
    run_epochs([logger], [{"loss": 0.5, "acc": 0.75}])  # reuse: no second header
    run_epochs([CSVLogger(path, separator="\t", append=True)], [{"loss": 0.25, "acc": 1.0}])
    with open(path, newline="") as f:
        text = f.read()
    assert text == "epoch\tacc\tloss\r\n0\t0.5\t1.0\r\n0\t0.75\t0.5\r\n0\t1.0\t0.25\r\n"
    assert csv.Sniffer().sniff(text).delimiter == "\t"


def test_csv_logger_values(tmp_path):
    path = str(tmp_path / "log.csv")
    run_epochs(
        [CSVLogger(path)],
        [{"a": np.float32(0.5), "b": np.array(2.0), "c": np.array([1, 2]), "d": "x"}],
    )
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows == [["epoch", "a", "b", "c", "d"], ["0", "0.5", "2.0", "[1, 2]", "x"]]


# ---------------------------------------------------------------------------------------
# LambdaCallback, RemoteMonitor, TensorBoard


def test_lambda_callback():
    calls = []
    cb = LambdaCallback(
        on_epoch_begin=lambda epoch, logs: calls.append(("eb", epoch)),
        on_epoch_end=lambda epoch, logs: calls.append(("ee", epoch, logs["loss"])),
        on_batch_begin=lambda batch, logs: calls.append(("bb", batch)),
        on_batch_end=lambda batch, logs: calls.append(("be", batch)),
        on_train_begin=lambda logs: calls.append(("tb",)),
        on_train_end=lambda logs: calls.append(("te",)),
        extra=42,
    )
    assert cb.extra == 42
    cl = CallbackList([cb])
    cl.on_train_begin()
    cl.on_epoch_begin(0)
    cl.on_batch_begin(0, {})
    cl.on_batch_end(0, {})
    cl.on_epoch_end(0, {"loss": 1.0})
    cl.on_train_end()
    assert calls == [("tb",), ("eb", 0), ("bb", 0), ("be", 0), ("ee", 0, 1.0), ("te",)]
    # unset hooks do nothing
    empty = LambdaCallback()
    run_epochs([empty], [{"loss": 1.0}])
    empty.on_batch_begin(0, {})
    empty.on_batch_end(0, {})


class _Collect(BaseHTTPRequestHandler):
    received = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"])).decode("utf-8")
        self.received.append((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def test_remote_monitor_posts_epoch_logs():
    server = HTTPServer(("127.0.0.1", 0), _Collect)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        _Collect.received = []
        root = f"http://127.0.0.1:{server.server_address[1]}"
        monitor = RemoteMonitor(root=root)
        run_epochs([monitor], [{"loss": np.float32(0.5), "acc": 1.0}, {"loss": 0.25}])
    finally:
        server.shutdown()
        server.server_close()
    assert len(_Collect.received) == 2
    path, ctype, body = _Collect.received[0]
    assert path == "/publish/epoch/end/"
    assert ctype == "application/x-www-form-urlencoded"
    assert json.loads(parse_qs(body)["data"][0]) == {"epoch": 0, "loss": 0.5, "acc": 1.0}
    assert json.loads(parse_qs(_Collect.received[1][2])["data"][0]) == {"epoch": 1, "loss": 0.25}


def test_remote_monitor_unreachable_server_warns():
    monitor = RemoteMonitor(root="http://127.0.0.1:1")  # nothing listens on port 1
    with pytest.warns(RuntimeWarning, match="Could not reach RemoteMonitor root server"):
        model, ran = run_epochs([monitor], [{"loss": 1.0}])
    assert len(ran) == 1


def test_module_exports():
    for name in [
        "Callback",
        "CallbackList",
        "BaseLogger",
        "ProgbarLogger",
        "History",
        "ModelCheckpoint",
        "EarlyStopping",
        "RemoteMonitor",
        "LearningRateScheduler",
        "TensorBoard",
        "ReduceLROnPlateau",
        "CSVLogger",
        "LambdaCallback",
    ]:
        assert hasattr(callbacks, name)
    assert os.path.basename(callbacks.__file__) == "callbacks.py"
