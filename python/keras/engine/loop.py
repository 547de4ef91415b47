"""The one training loop of `fit`, `fit_generator` and `keras.distributed.fit`, and the
batch loops of `evaluate` / `predict` (arrays and generators).

`fit_loop` owns everything around a training step: the callbacks (Keras 1.2.2's order,
`params` and `logs`), History, the progress bar (ProgbarLogger), `initial_epoch`,
`stop_training`, the epoch order (`shuffle=True | 'batch' | False`, with Keras 1's
`np.random` calls in Keras 1's order) and validation at the end of every epoch. What a
step does is the caller's: a `Step` runs one batch and returns its loss and metrics.

- `model.fit`: `fit_arrays` with a `ProgramStep` (the compiled train Program on the
  prepared arrays; it gathers a shuffled batch's rows itself).
- `keras.distributed.fit`: `fit_arrays` with its own step (shards to the workers,
  averaged gradient applied everywhere); batching, order, callbacks and validation
  are the same code, so the two agree by construction.
- `fit_generator`: `fit_loop` with `GeneratorBatches` (batches from a generator, one
  epoch being `samples_per_epoch` samples) and a step that calls `train_on_batch`.

A batch source yields `(size, batch)` per batch of an epoch; the step receives the
batch. Sparse (CSR) inputs are densified one batch at a time.
"""

import sys
import warnings

import numpy as np

from .. import backend as K
from .. import callbacks as cbks
from ..utils.generic_utils import Progbar
from .generator_queue import GeneratorEnqueuer

# ---------------------------------------------------------------------------------------
# Batching


def is_sparse(x):
    """True for a scipy.sparse matrix or array (without importing scipy)."""
    sp = sys.modules.get("scipy.sparse")
    return sp is not None and sp.issparse(x)


def dense_batch(batch, dtypes):
    """One batch as the Programs take it: the sparse entries (CSR rows) densified."""
    return [K.as_engine_array(x.toarray(), dt) if is_sparse(x) else x for x, dt in zip(batch, dtypes)]


def learning_phase_feed(f, ins, phase):
    """The learning-phase array to append to `ins` when `f` takes one more input than
    `ins` holds (a model whose graph reads the phase), else nothing."""
    return [np.asarray(phase, dtype=np.float32)] if len(ins) < len(f.inputs) else []


def make_batches(size, batch_size):
    """(start, end) index pairs of consecutive batches; the last may be smaller."""
    nb_batch = int(np.ceil(size / float(batch_size)))
    return [(i * batch_size, min(size, (i + 1) * batch_size)) for i in range(0, nb_batch)]


def batch_shuffle(index_array, batch_size):
    """Shuffles whole batch-size blocks; the leftover tail stays at the end."""
    batch_count = int(len(index_array) / batch_size)
    last_batch = index_array[batch_count * batch_size :]
    index_array = index_array[: batch_count * batch_size]
    index_array = index_array.reshape((batch_count, batch_size))
    np.random.shuffle(index_array)
    index_array = index_array.flatten()
    return np.append(index_array, last_batch)


def nb_samples(x):
    """Number of samples of one batch's inputs (an array, a list or a dict of them)."""
    if type(x) is dict:
        x = list(x.values())
    if type(x) is list:
        x = x[0]
    if hasattr(x, "shape") and len(x.shape):
        return x.shape[0]
    return len(x)


class ArrayBatches:
    """The batches of an in-memory data set of `size` samples, in Keras 1's order: each
    epoch first shuffles (`True`: the samples, `'batch'`: whole batch-size blocks, the
    tail last; with `np.random`, after `on_epoch_begin`), then cuts consecutive batches.

    `order` is the epoch's sample order (None without shuffling); a batch is the
    `slice(start, end)` of rows in that order."""

    def __init__(self, size, batch_size, shuffle):
        self.size = size
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.index_array = np.arange(size)
        self.order = None
        self.batches = [(end - start, slice(start, end)) for start, end in make_batches(size, batch_size)]

    def open(self):
        pass

    def close(self):
        pass

    def epoch(self):
        if self.shuffle == "batch":
            self.index_array = batch_shuffle(self.index_array, self.batch_size)
        elif self.shuffle:
            np.random.shuffle(self.index_array)
        self.order = self.index_array if self.shuffle else None
        return self.batches


def unpack_xy(generator_output):
    """(x, y, sample_weight) of a generator's `(x, y)` or `(x, y, sample_weight)`."""
    if not hasattr(generator_output, "__len__") or len(generator_output) not in (2, 3):
        raise ValueError(
            "output of generator should be a tuple (x, y, sample_weight) or (x, y). Found: "
            + str(generator_output)
        )
    if len(generator_output) == 2:
        x, y = generator_output
        return x, y, None
    return generator_output


def next_from(enqueuer, what):
    try:
        return enqueuer.get()
    except StopIteration:
        raise ValueError("The " + what + " generator stopped before yielding enough samples.") from None


class GeneratorBatches:
    """Batches `(x, y, sample_weight)` read from a generator through a
    `GeneratorEnqueuer`; an epoch ends once `samples_per_epoch` samples were seen (with a
    warning if the last batch overshot)."""

    def __init__(self, generator, samples_per_epoch, max_q_size=10, nb_worker=1, pickle_safe=False):
        self.generator = generator
        self.samples_per_epoch = samples_per_epoch
        self.max_q_size = max_q_size
        self.nb_worker = nb_worker
        self.pickle_safe = pickle_safe
        self.enqueuer = None
        self.order = None

    def open(self):
        self.enqueuer = GeneratorEnqueuer(self.generator, pickle_safe=self.pickle_safe)
        self.enqueuer.start(max_q_size=self.max_q_size, nb_worker=self.nb_worker)

    def close(self):
        if self.enqueuer is not None:
            self.enqueuer.stop()

    def epoch(self):
        samples_seen = 0
        while samples_seen < self.samples_per_epoch:
            batch = unpack_xy(next_from(self.enqueuer, "training"))
            size = nb_samples(batch[0])
            yield size, batch
            samples_seen += size
            if samples_seen > self.samples_per_epoch:
                # stacklevel: this generator, fit_loop, fit_generator, its caller
                warnings.warn(
                    "Epoch comprised more than `samples_per_epoch` samples, which might affect learning results. "
                    "Set `samples_per_epoch` correctly to avoid this warning.",
                    stacklevel=4,
                )


# ---------------------------------------------------------------------------------------
# Steps


class Step:
    """One training step of `fit_loop`; the hooks let a step keep per-epoch state.

    `run(batch_index, batch)` trains on one batch (as given by the batch source)
    and returns the loss and metrics (scalars `float()` takes), in `metrics_names`
    order."""

    def train_begin(self, history):
        """Before `on_train_begin`."""

    def begin_epoch(self, epoch, order, batches):
        """After the epoch's order is drawn: `order` (None: the data's own order) and
        the list of `(size, batch)` (a lazy iterator for a generator)."""

    def run(self, batch_index, batch):
        raise NotImplementedError("Step.run: a training step must run one batch")

    def run_all(self, batches):
        """Runs all of an epoch's `(size, batch)` batches in one go, exactly as `run`
        on each in turn would, when the step can: returns `(outs, error)` (one row of
        loss and metrics per completed batch, and None or the exception that stopped
        the epoch early, to raise once the completed batches are logged); None when it
        cannot (then `run` is called per batch). `fit_loop` asks only when nothing of
        the user's runs between batches."""
        return None

    def end_epoch(self, epoch):
        """After the epoch's last batch, before validation."""

    def after_validation(self, epoch, validated):
        """After validation (`validated`: whether it ran), before `on_epoch_end`."""

    def train_end(self):
        """After `on_train_end`."""


class ProgramStep(Step):
    """`model.fit`'s step: the compiled train function `f` on the prepared arrays `ins`
    (inputs, targets, sample weights; CSR matrices allowed), in the training phase.
    In a shuffled epoch the Program gathers each batch's rows of `ins` itself (`rows=`),
    so the data set is never copied into the epoch's order; sparse inputs are gathered
    and densified batch by batch instead."""

    def __init__(self, f, ins):
        self.f = f
        self.ins = ins
        self.program = f.run
        self.lp_feed = learning_phase_feed(f, ins, 1.0)
        self.feed = list(ins) + self.lp_feed
        self.any_sparse = any(is_sparse(x) for x in ins)
        # `run_all` returns one float32 scalar per output and batch (a loss and its
        # metrics); a custom metric of another shape or dtype runs batch by batch.
        self.scalar_outputs = all(K.ndim(t) == 0 and K.dtype(t) == "float32" for t in f.outputs)
        self.order = None

    def begin_epoch(self, epoch, order, batches):
        self.order = order

    def run_all(self, batches):
        # The engine's loop over the epoch (`f.run_steps`): a small model's step costs
        # about as much in Python around the engine call as in the engine.
        if self.any_sparse or not self.scalar_outputs or not batches:
            return None
        first, last = batches[0][1], batches[-1][1]
        order = self.order if self.order is not None else np.arange(last.stop, dtype=np.int64)
        return self.f.run_steps(self.feed, order[first.start : last.stop], batches[0][0])

    def run(self, batch_index, batch):
        if self.any_sparse:
            ids = batch if self.order is None else self.order[batch]
            return self.program(dense_batch([x[ids] for x in self.ins], self.f.input_dtypes) + self.lp_feed)
        if self.order is None:
            return self.program([x[batch] for x in self.ins] + self.lp_feed)
        return self.program(self.feed, rows=self.order[batch])


# ---------------------------------------------------------------------------------------
# The loop


def fit_loop(
    model,
    batches,
    step,
    out_labels,
    nb_epoch,
    initial_epoch,
    verbose,
    callbacks,
    params,
    validate=None,
    validation_data=None,
):
    """Trains `model` with `step` on the batches of `batches` (`ArrayBatches` or
    `GeneratorBatches`) from epoch `initial_epoch` to `nb_epoch`; returns the History.

    Callbacks (Keras 1.2.2): BaseLogger, the user's, History, then ProgbarLogger when
    `verbose`; they see `params`, and `callback_model` when the model has one. Batch
    logs hold `batch`, `size` and `out_labels` with the step's values; epoch logs the
    `val_` values of `validate(last_batch_size)` (run after the epoch's last batch);
    `stop_training` is read after `on_epoch_end`."""
    history = cbks.History()
    model.history = history
    callbacks = [cbks.BaseLogger()] + (callbacks or []) + [history]
    if verbose:
        callbacks += [cbks.ProgbarLogger()]
    # With only fit's own loggers (no user callback, no progress bar) nothing needs to
    # run between two batches: the step may run the whole epoch at once, and the
    # loggers then see each batch's logs in order, as they would have one by one.
    loggers_only = all(type(c) in (cbks.BaseLogger, cbks.History) for c in callbacks)
    callbacks = cbks.CallbackList(callbacks)
    callback_model = getattr(model, "callback_model", None) or model
    callbacks.set_model(callback_model)
    callbacks.set_params(params)
    step.train_begin(history)
    callbacks.on_train_begin()
    callback_model.stop_training = False
    model.validation_data = validation_data
    try:
        batches.open()
        for epoch in range(initial_epoch, nb_epoch):
            callbacks.on_epoch_begin(epoch)
            epoch_batches = batches.epoch()
            step.begin_epoch(epoch, batches.order, epoch_batches)
            size = None
            run_all = getattr(step, "run_all", None) if loggers_only else None  # optional
            ran = run_all(epoch_batches) if run_all is not None else None
            if ran is not None:
                size = _log_batches(callbacks.callbacks, epoch_batches, out_labels, *ran)
            else:
                run = step.run
                for batch_index, (size, batch) in enumerate(epoch_batches):
                    batch_logs = {"batch": batch_index, "size": size}
                    callbacks.on_batch_begin(batch_index, batch_logs)
                    outs = run(batch_index, batch)
                    for label, o in zip(out_labels, outs):
                        batch_logs[label] = float(o)
                    callbacks.on_batch_end(batch_index, batch_logs)
            step.end_epoch(epoch)
            epoch_logs = {}
            if validate is not None:
                val_outs = validate(size)
                if type(val_outs) is not list:
                    val_outs = [val_outs]
                for label, o in zip(out_labels, val_outs):
                    epoch_logs["val_" + label] = o
            step.after_validation(epoch, validate is not None)
            callbacks.on_epoch_end(epoch, epoch_logs)
            if callback_model.stop_training:
                break
    finally:
        batches.close()
    callbacks.on_train_end()
    step.train_end()
    return history


def _log_batches(callbacks, batches, out_labels, outs, error):
    """Gives `callbacks` the batch logs of the batches of an epoch run at once (`outs`:
    one row per completed batch), then raises `error` if the epoch stopped early.
    Returns the last batch's size."""
    size = None
    for batch_index, ((size, _), row) in enumerate(zip(batches, outs)):
        batch_logs = {"batch": batch_index, "size": size}
        for c in callbacks:
            c.on_batch_begin(batch_index, batch_logs)
        for label, o in zip(out_labels, row):
            batch_logs[label] = float(o)
        for c in callbacks:
            c.on_batch_end(batch_index, batch_logs)
    if error is not None:
        raise error
    return size


def fit_arrays(
    model,
    step,
    ins,
    val_ins,
    out_labels,
    batch_size,
    nb_epoch,
    verbose,
    callbacks,
    shuffle,
    initial_epoch,
):
    """`fit_loop` on prepared arrays `ins` (validated on `val_ins` with the model's test
    function when given): `model.fit` and `keras.distributed.fit` both end here, with
    their own step."""
    nb_train_sample = ins[0].shape[0]
    do_validation = val_ins is not None
    if do_validation and verbose:
        print("Train on %d samples, validate on %d samples" % (nb_train_sample, val_ins[0].shape[0]))
    callback_metrics = list(out_labels) + (["val_" + n for n in out_labels] if do_validation else [])
    params = {
        "batch_size": batch_size,
        "nb_epoch": nb_epoch,
        "nb_sample": nb_train_sample,
        "verbose": verbose,
        "do_validation": do_validation,
        "metrics": callback_metrics,
    }
    validate = None
    if do_validation:
        test_function = model.test_function

        def validate(last_batch_size):
            return test_loop(test_function, val_ins, batch_size=batch_size, verbose=0)

    return fit_loop(
        model,
        ArrayBatches(nb_train_sample, batch_size, shuffle),
        step,
        out_labels,
        nb_epoch,
        initial_epoch,
        verbose,
        callbacks,
        params,
        validate=validate,
        validation_data=val_ins,
    )


# ---------------------------------------------------------------------------------------
# Evaluation and prediction


def _run_batches(f, ins, batch_size, verbose, consume):
    """Runs `f` (test phase) over `ins` in consecutive batches, calling
    `consume(start, end, outs)` per batch; a progress bar with `verbose=1`."""
    nb_sample = ins[0].shape[0]
    if verbose == 1:
        progbar = Progbar(target=nb_sample)
    lp_feed = learning_phase_feed(f, ins, 0.0)
    any_sparse = any(is_sparse(x) for x in ins)
    program = f.run
    for batch_start, batch_end in make_batches(nb_sample, batch_size):
        ins_batch = [x[batch_start:batch_end] for x in ins]
        if any_sparse:
            ins_batch = dense_batch(ins_batch, f.input_dtypes)
        consume(batch_start, batch_end, program(ins_batch + lp_feed))
        if verbose == 1:
            progbar.update(batch_end)
    return nb_sample


def _all_batches_at_once(f, ins, batch_size, verbose):
    """`f`'s outputs over all the batches of `ins` from one engine call
    (`Function.run_batches`: consecutive batches side by side on the cores, the same bits
    as one call per batch): rows for a batch-major output, one value per batch for a
    scalar one. None when there is a progress bar to update, the data is not all in
    numpy arrays (sparse, or a lazy row source such as a sharded file), or the engine
    declines (a stateful or random function, another output shape)."""
    batchable = isinstance(batch_size, (int, np.integer)) and batch_size >= 1
    if verbose == 1 or not batchable or not ins or not all(isinstance(x, np.ndarray) for x in ins):
        return None
    return f.run_batches(list(ins) + learning_phase_feed(f, ins, 0.0), int(batch_size))


def test_loop(f, ins, batch_size=32, verbose=0):
    """Sample-weighted mean of `f`'s scalar outputs (loss, metrics) over `ins`: a float,
    or a list of them. All the batches run in one engine call when they can
    (`_all_batches_at_once`), batch by batch otherwise; the sums are the same."""
    sums = []

    def consume(start, end, outs):
        if not sums:
            sums.extend(0.0 for _ in outs)
        for i, out in enumerate(outs):
            sums[i] += float(out) * (end - start)

    whole = _all_batches_at_once(f, ins, batch_size, verbose)
    batches = None if whole is None else make_batches(ins[0].shape[0], batch_size)
    if whole is not None and all(o.shape == (len(batches),) for o in whole):
        for b, (start, end) in enumerate(batches):
            consume(start, end, [o[b] for o in whole])
        nb_sample = ins[0].shape[0]
    else:
        nb_sample = _run_batches(f, ins, batch_size, verbose, consume)
    outs = [s / nb_sample for s in sums]
    return outs[0] if len(outs) == 1 else outs


def predict_loop(f, ins, batch_size=32, verbose=0):
    """`f`'s outputs over `ins`, batch by batch, into one array per output.

    Without a progress bar the engine runs all the batches in one call
    (`Function.run_batches`: consecutive batches side by side on the cores, the same
    bits as one call per batch); batch by batch here when it declines (a stateful or
    random function, outputs that are not batch-major) or the data is not all in numpy
    arrays (`_all_batches_at_once`)."""
    whole = _all_batches_at_once(f, ins, batch_size, verbose)
    # (a scalar output comes back per batch there; batch by batch, each batch's value
    # fills its rows, as Keras 1 did)
    if whole is not None and all(o.shape[:1] == (ins[0].shape[0],) for o in whole):
        return whole[0] if len(whole) == 1 else whole
    outs = []

    def consume(start, end, batch_outs):
        if not outs:
            nb_sample = ins[0].shape[0]
            outs.extend(np.zeros((nb_sample,) + o.shape[1:], dtype=o.dtype) for o in batch_outs)
        for i, o in enumerate(batch_outs):
            outs[i][start:end] = o

    _run_batches(f, ins, batch_size, verbose, consume)
    return outs[0] if len(outs) == 1 else outs


def generator_loop(generator, what, val_samples, run, max_q_size=10, nb_worker=1, pickle_safe=False):
    """Reads generator outputs through a `GeneratorEnqueuer` and calls
    `run(output, processed_samples)` on each until `run`'s returned sample counts add up
    to `val_samples` (`evaluate_generator`, `predict_generator`)."""
    processed = 0
    enqueuer = None
    try:
        enqueuer = GeneratorEnqueuer(generator, pickle_safe=pickle_safe)
        enqueuer.start(nb_worker=nb_worker, max_q_size=max_q_size)
        while processed < val_samples:
            processed += run(next_from(enqueuer, what), processed)
    finally:
        if enqueuer is not None:
            enqueuer.stop()
