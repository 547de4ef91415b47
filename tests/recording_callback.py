"""A callback that records every hook call, for the tests of the fit loop's callback
order and logs (tests/keras/test_callbacks_fit.py, tests/keras/engine/test_one_loop.py)."""

from keras.callbacks import Callback


class Recorder(Callback):
    """Every hook call as (hook, epoch or batch index or None, a copy of its logs);
    with ``stop_after``, sets ``stop_training`` at the end of that epoch and later ones."""

    def __init__(self, stop_after=None):
        super().__init__()
        self.calls = []
        self.stop_after = stop_after

    def on_train_begin(self, logs=None):
        self.calls.append(("train_begin", None, dict(logs or {})))

    def on_train_end(self, logs=None):
        self.calls.append(("train_end", None, dict(logs or {})))

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append(("epoch_begin", epoch, dict(logs or {})))

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(("epoch_end", epoch, dict(logs or {})))
        if self.stop_after is not None and epoch >= self.stop_after:
            self.model.stop_training = True

    def on_batch_begin(self, batch, logs=None):
        self.calls.append(("batch_begin", batch, dict(logs or {})))

    def on_batch_end(self, batch, logs=None):
        self.calls.append(("batch_end", batch, dict(logs or {})))
