"""Callbacks: hooks that `fit` calls around epochs and batches (Keras 1.2.2 API).

`fit` builds `CallbackList([BaseLogger()] + user_callbacks + [History()]
(+ [ProgbarLogger()] when verbose))`, calls `set_model(model)` and
`set_params({'batch_size', 'nb_epoch', 'nb_sample', 'verbose', 'do_validation',
'metrics'})`, then `on_train_begin()`, and for each epoch `on_epoch_begin(epoch)`,
`on_batch_begin(batch, batch_logs)` / `on_batch_end(batch, batch_logs)` per batch
(`batch_logs` has `batch`, `size`, `loss` and the metrics), `on_epoch_end(epoch,
epoch_logs)` (validation values as `val_*`), stopping after the epoch in which a
callback set `model.stop_training = True`, and finally `on_train_end()`.
One logs dict is shared by all callbacks of a call, so a callback may add keys
(BaseLogger writes the epoch means, ReduceLROnPlateau writes `lr`) that the later
ones see.
"""

# The printed texts are Keras 1's printf-style formats, kept as such.
# ruff: noqa: UP031

import csv
import json
import os
import time
import warnings
from collections import deque
from urllib import error as _urlerror
from urllib import parse as _urlparse
from urllib import request as _urlrequest

import numpy as np

from . import backend as K
from .engine import resume
from .utils.generic_utils import Progbar

_SLOW = 0.1  # seconds: callbacks faster than this per batch are never reported as slow


def _to_float(value):
    """A Python float from a scalar, a 0-d or a one-element array."""
    try:
        return float(value)
    except TypeError:
        return float(np.asarray(value).reshape(-1)[0])


def _lr_value(model):
    """The optimizer's learning rate as a numpy scalar of the variable's dtype."""
    return np.asarray(K.get_value(model.optimizer.lr)).reshape(-1)[0]


def _median(values):
    s = sorted(values)
    n = len(s)
    mid = n // 2
    if n % 2:
        return s[mid]
    return (s[mid - 1] + s[mid]) / 2.0


class _Timings:
    """Running durations of the on_batch_* hooks, checked cheaply for slowness."""

    __slots__ = ("queue", "slow")

    def __init__(self, maxlen):
        self.queue = deque([], maxlen=maxlen)
        self.slow = 0  # entries of the queue above _SLOW

    def push(self, delta):
        """Records one duration; returns the median when it may be slow, else None."""
        queue = self.queue
        if queue.maxlen is not None and len(queue) == queue.maxlen:
            if queue.maxlen == 0:
                return None
            if queue[0] > _SLOW:
                self.slow -= 1
        queue.append(delta)
        if delta > _SLOW:
            self.slow += 1
        # the median can only exceed _SLOW when at least half the entries do
        if self.slow and 2 * self.slow >= len(queue):
            return _median(queue)
        return None


class CallbackList:
    """A list of callbacks called in order.

    Warns when the `on_batch_begin`/`on_batch_end` hooks take longer (median over the
    last `queue_length` batches, and above 0.1 s) than the batch update itself.

    # Arguments
        callbacks: list of `Callback` instances.
        queue_length: number of batches the timing median runs over.
    """

    def __init__(self, callbacks=None, queue_length=10):
        self.callbacks = list(callbacks or [])
        self.queue_length = queue_length
        self._delta_t_batch = 0.0
        self._t_enter_batch = None
        self._begin_times = _Timings(queue_length)
        self._end_times = _Timings(queue_length)

    def append(self, callback):
        self.callbacks.append(callback)

    def set_params(self, params):
        for callback in self.callbacks:
            callback.set_params(params)

    def set_model(self, model):
        for callback in self.callbacks:
            callback.set_model(model)

    def on_epoch_begin(self, epoch, logs=None):
        logs = {} if logs is None else logs
        for callback in self.callbacks:
            callback.on_epoch_begin(epoch, logs)
        self._delta_t_batch = 0.0
        self._begin_times = _Timings(self.queue_length)
        self._end_times = _Timings(self.queue_length)

    def on_epoch_end(self, epoch, logs=None):
        logs = {} if logs is None else logs
        for callback in self.callbacks:
            callback.on_epoch_end(epoch, logs)

    def on_batch_begin(self, batch, logs=None):
        logs = {} if logs is None else logs
        t0 = time.time()
        for callback in self.callbacks:
            callback.on_batch_begin(batch, logs)
        t1 = time.time()
        median = self._begin_times.push(t1 - t0)
        if median is not None and self._delta_t_batch > 0.0 and median > 0.95 * self._delta_t_batch:
            warnings.warn(
                "Method on_batch_begin() is slow compared to the batch update (%f). "
                "Check your callbacks." % median,
                stacklevel=2,
            )
        self._t_enter_batch = t1

    def on_batch_end(self, batch, logs=None):
        logs = {} if logs is None else logs
        t0 = time.time()
        if self._t_enter_batch is None:
            self._t_enter_batch = t0
        self._delta_t_batch = t0 - self._t_enter_batch
        for callback in self.callbacks:
            callback.on_batch_end(batch, logs)
        median = self._end_times.push(time.time() - t0)
        if median is not None and self._delta_t_batch > 0.0 and median > 0.95 * self._delta_t_batch:
            warnings.warn(
                "Method on_batch_end() is slow compared to the batch update (%f). "
                "Check your callbacks." % median,
                stacklevel=2,
            )

    def on_train_begin(self, logs=None):
        logs = {} if logs is None else logs
        for callback in self.callbacks:
            callback.on_train_begin(logs)

    def on_train_end(self, logs=None):
        logs = {} if logs is None else logs
        for callback in self.callbacks:
            callback.on_train_end(logs)

    def __iter__(self):
        return iter(self.callbacks)

    def __len__(self):
        return len(self.callbacks)


class Callback:
    """Base class of callbacks.

    # Properties
        params: dict of training parameters (`batch_size`, `nb_epoch`, `nb_sample`,
            `verbose`, `do_validation`, `metrics`: the log keys, `val_*` included).
        model: the model being trained (`keras.models.Model`).

    The hooks receive a `logs` dict: `on_epoch_end` gets the epoch's `loss`, metrics
    and (with validation) `val_loss`, `val_<metric>`; `on_batch_begin` gets `batch`
    and `size`; `on_batch_end` adds `loss` and the metrics of that batch.
    """

    def __init__(self):
        self.params = {}
        self.model = None

    def set_params(self, params):
        self.params = params

    def set_model(self, model):
        self.model = model

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_batch_begin(self, batch, logs=None):
        pass

    def on_batch_end(self, batch, logs=None):
        pass

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass


class BaseLogger(Callback):
    """Averages the batch values of each metric over the epoch (weighted by batch size)
    and writes the means into the epoch logs. `fit` always adds it first.
    """

    def on_epoch_begin(self, epoch, logs=None):
        self.seen = 0
        self.totals = {}

    def on_batch_end(self, batch, logs=None):
        logs = logs or {}
        batch_size = logs.get("size", 0)
        self.seen += batch_size
        totals = self.totals
        for k, v in logs.items():
            try:
                v = float(v)
            except (TypeError, ValueError):
                pass
            if k in totals:
                totals[k] += v * batch_size
            else:
                totals[k] = v * batch_size

    def on_epoch_end(self, epoch, logs=None):
        if logs is None or not self.seen:
            return
        for k in self.params.get("metrics", ()):
            if k in self.totals:
                # visible to the callbacks called after this one
                logs[k] = self.totals[k] / self.seen


class ProgbarLogger(Callback):
    """Prints `Epoch e/n` and a `Progbar` of the epoch (added by `fit` when verbose)."""

    def on_train_begin(self, logs=None):
        self.verbose = self.params["verbose"]
        self.nb_epoch = self.params["nb_epoch"]

    def on_epoch_begin(self, epoch, logs=None):
        if self.verbose:
            print("Epoch %d/%d" % (epoch + 1, self.nb_epoch))
            self.progbar = Progbar(target=self.params["nb_sample"], verbose=self.verbose)
        self.seen = 0
        self.log_values = []

    def on_batch_begin(self, batch, logs=None):
        if self.seen < self.params["nb_sample"]:
            self.log_values = []

    def on_batch_end(self, batch, logs=None):
        logs = logs or {}
        self.seen += logs.get("size", 0)
        for k in self.params["metrics"]:
            if k in logs:
                self.log_values.append((k, logs[k]))
        # the last batch is drawn by on_epoch_end, together with the validation values
        if self.verbose and self.seen < self.params["nb_sample"]:
            self.progbar.update(self.seen, self.log_values)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        for k in self.params["metrics"]:
            if k in logs:
                self.log_values.append((k, logs[k]))
        # The last batch's values and the epoch means both enter with the last batch's
        # weight, which makes the printed running average equal the epoch mean.
        if self.verbose:
            self.progbar.update(self.seen, self.log_values, force=True)


class History(Callback):
    """Records the epoch logs: `history` (dict of lists, one entry per epoch) and
    `epoch` (list of epoch indices). `fit` always adds it and returns it.
    """

    def on_train_begin(self, logs=None):
        self.epoch = []
        self.history = {}

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.epoch.append(epoch)
        for k, v in logs.items():
            self.history.setdefault(k, []).append(v)


def _monitored(logs, monitor, missing):
    """The ``monitor`` value of an epoch's ``logs``; None with a RuntimeWarning (Keras 1's
    ``missing`` message, ``%s`` the name) when the logs lack it."""
    current = logs.get(monitor)
    if current is None:
        warnings.warn(missing % monitor, RuntimeWarning, stacklevel=3)
    return current


def _monitor_op(monitor, mode, who, fmeasure=True):
    """(op, best) for a monitored quantity; 'auto' maximises accuracies."""
    if mode not in ("auto", "min", "max"):
        warnings.warn(
            "%s mode %s is unknown, fallback to auto mode." % (who, mode), RuntimeWarning, stacklevel=3
        )
        mode = "auto"
    if mode == "min":
        return np.less, np.inf
    if mode == "max":
        return np.greater, -np.inf
    if "acc" in monitor or (fmeasure and monitor.startswith("fmeasure")):
        return np.greater, -np.inf
    return np.less, np.inf


class ModelCheckpoint(Callback):
    """Saves the model after every `period` epochs.

    `filepath` may contain format fields filled with `epoch` (0-based, as in Keras 1)
    and the epoch logs, e.g. `weights.{epoch:02d}-{val_loss:.2f}.hdf5`.

    # Arguments
        filepath: where to save.
        monitor: quantity compared when `save_best_only`.
        verbose: 1 prints a line per save decision.
        save_best_only: save only when `monitor` improved on the best value so far.
        save_weights_only: `model.save_weights(filepath)` instead of `model.save(filepath)`.
        mode: 'min', 'max' or 'auto' (maximise when the name contains `acc` or starts
            with `fmeasure`, else minimise).
        period: number of epochs between checkpoints.
        save_resume_state: write, with a whole model, what an exact resume needs (the
            group `ferrokeras_resume`, which Keras 1 readers ignore; see below).
        data_order: for a resumed run that trains on `x[order]` (see
            `keras.models.load_data_order`), that `order`, so that the files this run
            writes still index the original rows.

    With `save_resume_state`, a whole-model file also holds what an exact resume needs
    (`keras.engine.resume`): the random streams, stateful RNN states, numpy's random
    state and the order of the training rows, which `fit` reshuffles in place every
    epoch. `load_model(path, restore_rng=True)`, then `fit(x[order], y[order],
    initial_epoch=epoch + 1)` with `order = load_data_order(path)` continues bitwise as
    the uninterrupted run. A model whose class overrides `save` is saved by its `save`,
    without resume state.
    """

    def __init__(
        self,
        filepath,
        monitor="val_loss",
        verbose=0,
        save_best_only=False,
        save_weights_only=False,
        mode="auto",
        period=1,
        save_resume_state=True,
        data_order=None,
    ):
        super().__init__()
        self.save_resume_state = save_resume_state
        self.data_order = None if data_order is None else np.asarray(data_order)
        self._order = None
        self.monitor = monitor
        self.verbose = verbose
        self.filepath = filepath
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.period = period
        self.epochs_since_last_save = 0
        self.monitor_op, self.best = _monitor_op(monitor, mode, "ModelCheckpoint")

    def on_train_begin(self, logs=None):
        nb_sample = self.params.get("nb_sample")
        batch_size = self.params.get("batch_size")
        self._order = None
        if nb_sample is not None and batch_size is not None:
            base = self.data_order
            if base is not None and len(base) != nb_sample:
                raise ValueError(
                    "ModelCheckpoint: data_order has %d rows, fit trains on %d" % (len(base), nb_sample)
                )
            self._order = resume.DataOrder(nb_sample, batch_size, base=base)

    def on_epoch_begin(self, epoch, logs=None):
        if self._order is not None:
            self._order.begin()

    def on_batch_begin(self, batch, logs=None):
        if batch == 0 and self._order is not None:
            self._order.first_batch()

    def _save(self, filepath):
        if self.save_weights_only:
            self.model.save_weights(filepath, overwrite=True)
            return
        from .engine.training import Model
        from .models import save_model

        # A model with its own `save` (a subclass, a test double) is saved by it.
        if not self.save_resume_state or type(self.model).save is not Model.save:
            self.model.save(filepath, overwrite=True)
            return
        order = None if self._order is None else self._order.absolute()
        save_model(self.model, filepath, overwrite=True, resume_state=True, data_order=order)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.epochs_since_last_save += 1
        if self.epochs_since_last_save < self.period:
            return
        self.epochs_since_last_save = 0
        filepath = self.filepath.format(epoch=epoch, **logs)
        if not self.save_best_only:
            if self.verbose > 0:
                print("Epoch %05d: saving model to %s" % (epoch, filepath))
            self._save(filepath)
            return
        current = _monitored(logs, self.monitor, "Can save best model only with %s available, skipping.")
        if current is None:
            return
        if self.monitor_op(current, self.best):
            if self.verbose > 0:
                print(
                    "Epoch %05d: %s improved from %0.5f to %0.5f, saving model to %s"
                    % (epoch, self.monitor, self.best, current, filepath)
                )
            self.best = current
            self._save(filepath)
        elif self.verbose > 0:
            print("Epoch %05d: %s did not improve" % (epoch, self.monitor))


class EarlyStopping(Callback):
    """Stops training when a monitored quantity has stopped improving.

    An epoch improves when `monitor_op(current - min_delta, best)` (`min_delta` counts
    against the direction of improvement). On a non-improving epoch, training stops if
    `wait >= patience`, then `wait` grows by one: training stops at the end of the
    (patience+1)-th consecutive non-improving epoch.

    # Arguments
        monitor: quantity to monitor.
        min_delta: minimum change that counts as an improvement.
        patience: number of non-improving epochs tolerated.
        verbose: 1 prints the epoch at which training stopped.
        mode: 'min', 'max' or 'auto' (maximise when the name contains `acc` or starts
            with `fmeasure`).
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto"):
        super().__init__()
        self.monitor = monitor
        self.patience = patience
        self.verbose = verbose
        self.min_delta = min_delta
        self.wait = 0
        self.stopped_epoch = 0
        self.monitor_op, self.best = _monitor_op(monitor, mode, "EarlyStopping")
        if self.monitor_op is np.less:
            self.min_delta *= -1

    def on_train_begin(self, logs=None):
        # reset, so that one instance can serve several fits
        self.wait = 0
        self.stopped_epoch = 0
        self.best = np.inf if self.monitor_op is np.less else -np.inf

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        current = _monitored(logs, self.monitor, "Early stopping requires %s available!")
        if current is None:
            return
        if self.monitor_op(current - self.min_delta, self.best):
            self.best = current
            self.wait = 0
        else:
            if self.wait >= self.patience:
                self.stopped_epoch = epoch
                self.model.stop_training = True
            self.wait += 1

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print("Epoch %05d: early stopping" % self.stopped_epoch)


class RemoteMonitor(Callback):
    """Posts the epoch logs to a server at the end of each epoch.

    The request is a form-encoded POST to `root + path` whose field `field` holds the
    JSON of `{'epoch': epoch, <logs>}` (what Keras 1 sent). An unreachable server gives
    a warning, never an error.

    # Arguments
        root: root URL of the server.
        path: path of the endpoint, relative to `root`.
        field: form field holding the JSON.
        headers: optional dict of extra HTTP headers.
    """

    def __init__(self, root="http://localhost:9000", path="/publish/epoch/end/", field="data", headers=None):
        super().__init__()
        self.root = root
        self.path = path
        self.field = field
        self.headers = headers
        self.timeout = 10.0

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        send = {"epoch": epoch}
        send.update(logs)
        body = _urlparse.urlencode({self.field: json.dumps(send, default=_json_default)}).encode("utf-8")
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        headers.update(self.headers or {})
        req = _urlrequest.Request(self.root + self.path, data=body, headers=headers, method="POST")
        try:
            with _urlrequest.urlopen(req, timeout=self.timeout) as resp:
                resp.read()
        except (_urlerror.URLError, OSError, ValueError) as e:
            warnings.warn(
                "Could not reach RemoteMonitor root server at %s (%s)" % (self.root, e),
                RuntimeWarning,
                stacklevel=2,
            )


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError("%r is not JSON serializable" % (obj,))


class LearningRateScheduler(Callback):
    """Sets the learning rate at the beginning of each epoch.

    # Arguments
        schedule: function of the epoch index (from 0) returning the new learning
            rate as a float.
    """

    def __init__(self, schedule):
        super().__init__()
        self.schedule = schedule

    def on_epoch_begin(self, epoch, logs=None):
        if not hasattr(self.model.optimizer, "lr"):
            raise ValueError('Optimizer must have a "lr" attribute.')
        lr = self.schedule(epoch)
        if not isinstance(lr, (float, np.floating)):
            raise ValueError('The output of the "schedule" function should be float.')
        K.set_value(self.model.optimizer.lr, lr)


class TensorBoard(Callback):
    """TensorBoard basic visualizations.

    Writes an event log (a TensorFlow event file) that TensorBoard reads, through
    the `tensorboardX` package (an optional dependency: `pip install tensorboardX`);
    no TensorFlow is needed. What is written, as in Keras 1.2.2:

    - every epoch, one scalar per entry of the epoch logs (`loss`, the metrics and,
      with validation, `val_loss`, `val_<metric>`), with the epoch as step;
    - every `histogram_freq` epochs, a histogram of every weight of every layer
      (tag: the weight's name, e.g. `dense_1_W`) and, when `fit` has validation
      data, a histogram of every layer's output on it (tag `<layer name>_out`);
      with `write_images`, each weight as a grayscale image too (needs Pillow);
    - with `write_graph`, the model's graph when the callback is attached.

    Differences from Keras 1.2.2, which wrote TensorFlow's graph and summaries:
    the graph written is the Keras layer graph (one node per layer, whose op is the
    layer's class and whose inputs are its inbound layers, with the output shapes),
    not the engine's op graph, which has no TensorFlow form. Weight histograms are
    written every `histogram_freq` epochs even without validation data (Keras 1.2.2
    wrote histograms only with validation data). A weight of rank above 2 is drawn as
    a 2-D image of shape (first dimension, product of the others).

    # Arguments
        log_dir: the path of the directory where to save the log
            files to be parsed by TensorBoard.
        histogram_freq: frequency (in epochs) at which to compute activation
            histograms for the layers of the model. If set to 0,
            histograms won't be computed.
        write_graph: whether to visualize the graph in TensorBoard.
            The log file can become quite large when
            write_graph is set to True.
        write_images: whether to write model weights to visualize as
            image in TensorBoard.

    # Raises
        ImportError: if `tensorboardX` (or, with `write_images`, Pillow) is not installed.
    """

    def __init__(self, log_dir="./logs", histogram_freq=0, write_graph=True, write_images=False):
        super().__init__()
        try:
            import tensorboardX  # noqa: F401
        except ImportError as e:
            raise ImportError(
                "The TensorBoard callback needs the tensorboardX package to write event files, "
                "and it is not installed: `pip install tensorboardX`. ferrokeras has no "
                "TensorFlow; CSVLogger or History also record training curves."
            ) from e
        if write_images:
            try:
                import PIL  # noqa: F401
            except ImportError as e:
                raise ImportError(
                    "TensorBoard(write_images=True) needs the Pillow package to encode the "
                    "weight images, and it is not installed: `pip install Pillow`."
                ) from e
        self.log_dir = log_dir
        self.histogram_freq = histogram_freq
        self.write_graph = write_graph
        self.write_images = write_images
        self.writer = None
        self._outputs_fn = None

    def set_model(self, model):
        from tensorboardX import FileWriter

        self.model = model
        self._outputs_fn = None
        if self.writer is not None:
            self.writer.close()
        self.writer = FileWriter(self.log_dir)
        if self.write_graph:
            from tensorboardX.proto import event_pb2

            graph_def = _tensorboard_graph_def(model)
            self.writer.add_event(event_pb2.Event(graph_def=graph_def.SerializeToString()))
            self.writer.flush()

    def _layer_outputs(self):
        """The (layer name, output array) pairs of every layer on the validation data."""
        model = self.model
        if self._outputs_fn is None:
            layers, tensors = [], []
            for layer in model.layers:
                try:
                    out = layer.output
                except Exception:  # layers called more than once have no single output
                    continue
                if isinstance(out, (list, tuple)):
                    continue
                layers.append(layer)
                tensors.append(out)
            inputs = list(model.inputs)
            if model.uses_learning_phase and not isinstance(K.learning_phase(), int):
                inputs.append(K.learning_phase())
            self._outputs_fn = ([layer.name for layer in layers], inputs, K.function(inputs, tensors))
        names, inputs, fn = self._outputs_fn
        val_data = list(self.model.validation_data[: len(model.inputs)])
        if len(inputs) > len(model.inputs):
            val_data.append(np.asarray(0.0, dtype=np.float32))
        return list(zip(names, fn(val_data)))

    def on_epoch_end(self, epoch, logs=None):
        from tensorboardX import summary as tbx_summary

        logs = logs or {}

        if self.histogram_freq and epoch % self.histogram_freq == 0:
            for layer in self.model.layers:
                for weight in layer.weights:
                    value = np.asarray(K.get_value(weight))
                    if value.size == 0:
                        continue
                    self.writer.add_summary(
                        tbx_summary.histogram(weight.name, value, _TF_HISTOGRAM_BINS), epoch
                    )
                    if self.write_images:
                        img = _weight_image(value)
                        self.writer.add_summary(tbx_summary.image(weight.name, img, dataformats="HWC"), epoch)
            if getattr(self.model, "validation_data", None):
                for name, value in self._layer_outputs():
                    value = np.asarray(value)
                    if value.size and np.all(np.isfinite(value)):
                        self.writer.add_summary(
                            tbx_summary.histogram("{}_out".format(name), value, _TF_HISTOGRAM_BINS), epoch
                        )

        for name, value in logs.items():
            if name in ["batch", "size"]:
                continue
            self.writer.add_summary(tbx_summary.scalar(name, _to_float(value)), epoch)
        self.writer.flush()

    def on_train_end(self, logs=None):
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def _tf_histogram_bins():
    """TensorFlow's default histogram bucket edges (exponential, +-1e-12 .. 1e20)."""
    v = 1e-12
    pos = []
    while v < 1e20:
        pos.append(v)
        v *= 1.1
    return np.array([-x for x in reversed(pos)] + [0.0] + pos)


_TF_HISTOGRAM_BINS = _tf_histogram_bins()


def _weight_image(value):
    """A weight as a (H, W, 1) uint8 image, scaled as TensorFlow's image summary
    scales floats: [0, max] to [0, 255] when no value is negative, else
    [-max|w|, max|w|] to [0, 255] around 128."""
    w = np.squeeze(value).astype(np.float64)
    if w.ndim == 0:
        w = w.reshape(1, 1)
    elif w.ndim == 1:
        w = w[None, :]
    elif w.ndim > 2:
        w = w.reshape(w.shape[0], -1)
    if w.shape[0] > w.shape[1]:
        w = w.T
    w = np.where(np.isfinite(w), w, 0.0)
    if w.min() >= 0:
        top = w.max()
        img = w * (255.0 / top) if top > 0 else w
    else:
        top = np.abs(w).max()
        img = w * (127.0 / top) + 128.0
    return np.clip(np.round(img), 0, 255).astype(np.uint8)[:, :, None]


def _tensorboard_graph_def(model):
    """The Keras layer graph as a TensorFlow GraphDef: one node per layer."""
    from tensorboardX.proto import attr_value_pb2, graph_pb2, node_def_pb2, tensor_shape_pb2

    inner = getattr(model, "model", None)
    if inner is not None and hasattr(inner, "container_nodes"):  # a built Sequential
        model = inner
    container_nodes = getattr(model, "container_nodes", set())
    nodes = []
    for layer in model.layers:
        inputs = []
        for i, node in enumerate(layer.inbound_nodes):
            if layer.name + "_ib-" + str(i) in container_nodes:
                inputs.extend(inbound.name for inbound in node.inbound_layers)
        attr = {}
        try:
            shapes = layer.output_shape
            if not isinstance(shapes, list):
                shapes = [shapes]
            protos = [
                tensor_shape_pb2.TensorShapeProto(
                    dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=-1 if d is None else int(d)) for d in s]
                )
                for s in shapes
            ]
            attr["_output_shapes"] = attr_value_pb2.AttrValue(
                list=attr_value_pb2.AttrValue.ListValue(shape=protos)
            )
        except Exception:  # a layer with several differing output shapes draws without them
            pass
        nodes.append(
            node_def_pb2.NodeDef(name=layer.name, op=layer.__class__.__name__, input=inputs, attr=attr)
        )
    return graph_pb2.GraphDef(node=nodes)


class ReduceLROnPlateau(Callback):
    """Reduces the learning rate when a metric has stopped improving.

    An epoch improves when the monitored value beats the best one by more than
    `epsilon`. After `patience` non-improving epochs (counted as in EarlyStopping) the
    learning rate becomes `max(lr * factor, min_lr)` (only when it is above `min_lr`),
    then `cooldown` epochs follow during which no epoch counts as non-improving.
    The current learning rate is written to `logs['lr']` every epoch.

    # Arguments
        monitor: quantity to monitor.
        factor: factor applied to the learning rate (< 1).
        patience: number of non-improving epochs tolerated.
        verbose: 1 prints each reduction.
        mode: 'min', 'max' or 'auto' (maximise when the name contains `acc`).
        epsilon: threshold for a change to count as an improvement.
        cooldown: epochs to wait after a reduction before counting again.
        min_lr: lower bound of the learning rate.
    """

    def __init__(
        self,
        monitor="val_loss",
        factor=0.1,
        patience=10,
        verbose=0,
        mode="auto",
        epsilon=1e-4,
        cooldown=0,
        min_lr=0,
    ):
        super().__init__()
        self.monitor = monitor
        if factor >= 1.0:
            raise ValueError("ReduceLROnPlateau does not support a factor >= 1.0.")
        self.factor = factor
        self.min_lr = min_lr
        self.epsilon = epsilon
        self.patience = patience
        self.verbose = verbose
        self.cooldown = cooldown
        self.cooldown_counter = 0
        self.wait = 0
        self.best = 0
        self.mode = mode
        self.monitor_op = None
        self.reset()

    def reset(self):
        """Resets the wait and cooldown counters and the best value."""
        if self.mode not in ("auto", "min", "max"):
            warnings.warn(
                "Learning Rate Plateau Reducing mode %s is unknown, fallback to auto mode." % self.mode,
                RuntimeWarning,
                stacklevel=2,
            )
            self.mode = "auto"
        if self.mode == "min" or (self.mode == "auto" and "acc" not in self.monitor):
            self.monitor_op = lambda a, b: np.less(a, b - self.epsilon)
            self.best = np.inf
        else:
            self.monitor_op = lambda a, b: np.greater(a, b + self.epsilon)
            self.best = -np.inf
        self.cooldown_counter = 0
        self.wait = 0
        self.lr_epsilon = self.min_lr * 1e-4

    def on_train_begin(self, logs=None):
        self.reset()

    def in_cooldown(self):
        return self.cooldown_counter > 0

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            logs = {}
        logs["lr"] = _lr_value(self.model)
        current = _monitored(logs, self.monitor, "Learning Rate Plateau Reducing requires %s available!")
        if current is None:
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self.monitor_op(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            if self.wait >= self.patience:
                old_lr = _to_float(K.get_value(self.model.optimizer.lr))
                if old_lr > self.min_lr + self.lr_epsilon:
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    K.set_value(self.model.optimizer.lr, new_lr)
                    if self.verbose > 0:
                        print("\nEpoch %05d: reducing learning rate to %s." % (epoch, new_lr))
                    self.cooldown_counter = self.cooldown
                    self.wait = 0
            self.wait += 1


class CSVLogger(Callback):
    """Streams the epoch logs to a CSV file: a header `epoch` + the sorted log keys, then
    one row per epoch.

    # Arguments
        filename: the CSV file.
        separator: field separator.
        append: append to an existing file (the header is written only when the file is
            empty or missing) instead of overwriting it.
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.sep = separator
        self.filename = filename
        self.append = append
        self.writer = None
        self.keys = None
        self.append_header = True
        self.csv_file = None

    def on_train_begin(self, logs=None):
        self.writer = None
        self.keys = None
        self.append_header = True
        if self.append:
            if os.path.exists(self.filename):
                with open(self.filename) as f:
                    self.append_header = not f.readline()
            self.csv_file = open(self.filename, "a", newline="")
        else:
            self.csv_file = open(self.filename, "w", newline="")

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.csv_file is None:
            # used without on_train_begin (e.g. called by hand): open lazily
            self.on_train_begin()
        if self.writer is None:
            self.keys = sorted(logs.keys())
            self.writer = csv.writer(self.csv_file, delimiter=self.sep, lineterminator="\r\n")
            if self.append_header:
                self.writer.writerow(["epoch"] + self.keys)
        row = [epoch] + [_csv_value(logs.get(k, "")) for k in self.keys]
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file is not None:
            self.csv_file.close()
            self.csv_file = None
        self.writer = None


def _csv_value(value):
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        return value
    return "[%s]" % ", ".join(str(x) for x in value)


class LambdaCallback(Callback):
    """A callback built from plain functions.

    `on_epoch_begin`/`on_epoch_end` are called with `(epoch, logs)`,
    `on_batch_begin`/`on_batch_end` with `(batch, logs)`, `on_train_begin`/
    `on_train_end` with `(logs)`. Other keyword arguments become attributes.

    # Arguments
        on_epoch_begin, on_epoch_end, on_batch_begin, on_batch_end, on_train_begin,
        on_train_end: the functions (None: do nothing).
    """

    def __init__(
        self,
        on_epoch_begin=None,
        on_epoch_end=None,
        on_batch_begin=None,
        on_batch_end=None,
        on_train_begin=None,
        on_train_end=None,
        **kwargs,
    ):
        super().__init__()
        self.__dict__.update(kwargs)
        noop2 = lambda _a, _logs=None: None
        noop1 = lambda _logs=None: None
        self.on_epoch_begin = on_epoch_begin if on_epoch_begin is not None else noop2
        self.on_epoch_end = on_epoch_end if on_epoch_end is not None else noop2
        self.on_batch_begin = on_batch_begin if on_batch_begin is not None else noop2
        self.on_batch_end = on_batch_end if on_batch_end is not None else noop2
        self.on_train_begin = on_train_begin if on_train_begin is not None else noop1
        self.on_train_end = on_train_end if on_train_end is not None else noop1
