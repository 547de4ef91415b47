"""Training: `Model` = Container + compile / fit / evaluate / predict (Keras 1.2.2).

`compile` builds the loss, metrics and optimizer update as graph nodes and three native
Programs (train, test, predict) are compiled lazily from them. One train step is one
native call: the batch goes in, loss and metrics come out, the weights are updated in
the engine. Inputs are converted to contiguous float32/int32 once per `fit`; with
shuffling, one gather per epoch makes every batch a contiguous view.

`scipy.sparse` inputs and targets (any format) are kept sparse (as CSR) and densified one
batch at a time: the rows of the batch are sliced from the CSR matrix, then `.toarray()`.
scipy is never imported here: a sparse value means scipy.sparse is already loaded.
"""

import copy

import numpy as np

from .. import backend as K
from .. import metrics as metrics_module
from .. import objectives, optimizers
from . import loop
from .generator_queue import GeneratorEnqueuer  # noqa: F401 (Keras 1's keras.engine.training name)
from .loop import batch_shuffle, make_batches  # noqa: F401 (Keras 1's keras.engine.training names)
from .loop import is_sparse as _is_sparse
from .topology import Container

# ---------------------------------------------------------------------------------------
# Data standardisation


def _check_int_arg(value, name, minimum, where):
    """ValueError naming `name` unless `value` is an integer (not a bool) >= `minimum`."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError("%s: `%s` must be an integer >= %d, got %r" % (where, name, minimum, value))


def _check_epochs(nb_epoch, initial_epoch, where):
    """`nb_epoch` is the index of the epoch to stop at (0 trains nothing, as in Keras 1);
    `initial_epoch` the one to start from: it may not lie beyond `nb_epoch`."""
    _check_int_arg(nb_epoch, "nb_epoch", 0, where)
    _check_int_arg(initial_epoch, "initial_epoch", 0, where)
    if nb_epoch < initial_epoch:
        raise ValueError(
            "%s: `nb_epoch` (%d, the index of the epoch to stop at) is smaller than `initial_epoch` (%d): "
            "no epoch would run" % (where, nb_epoch, initial_epoch)
        )


def _check_queue_args(nb_worker, max_q_size, where):
    _check_int_arg(nb_worker, "nb_worker", 1, where)
    _check_int_arg(max_q_size, "max_q_size", 1, where)


def _check_input_lengths(arrays, where, name="x"):
    """All input arrays of one call must have the same number of samples (rows would
    otherwise be dropped silently)."""
    lengths = [a.shape[0] for a in arrays]
    if len(set(lengths)) > 1:
        raise ValueError(
            "%s: all input arrays (`%s`) should have the same number of samples. Got array shapes: %s"
            % (where, name, [tuple(a.shape) for a in arrays])
        )


def standardize_input_data(data, names, shapes=None, check_batch_dim=True, exception_prefix=""):
    """Normalises user data (array, list or dict keyed by name) to a list of arrays, one
    per name, checking ranks and (non-batch) dims against `shapes`."""
    if type(data) is dict:
        arrays = []
        for name in names:
            if name not in data:
                raise ValueError(
                    'No data provided for "'
                    + name
                    + '". Need data for each key in: '
                    + str(list(data.keys()))
                )
            arrays.append(data[name])
    elif type(data) is list:
        if len(data) != len(names):
            if data and hasattr(data[0], "shape"):
                raise ValueError(
                    "Error when checking "
                    + exception_prefix
                    + ": the list of Numpy arrays that you are passing to your "
                    "model is not the size the model expected. Expected to see "
                    + str(len(names))
                    + " arrays but instead "
                    "got the following list of " + str(len(data)) + " arrays: " + str(data)[:200] + "..."
                )
            if len(names) == 1:
                data = [np.asarray(data)]
            else:
                raise ValueError(
                    "Error when checking "
                    + exception_prefix
                    + ": you are passing a list as input to your model, but the "
                    "model expects a list of "
                    + str(len(names))
                    + " Numpy arrays instead. The list you passed was: "
                    + str(data)[:200]
                )
        arrays = data
    else:
        if not hasattr(data, "shape"):
            raise TypeError(
                "Error when checking "
                + exception_prefix
                + ": data should be a Numpy array, or list/dict of Numpy arrays. "
                "Found: " + str(data)[:200] + "..."
            )
        if len(names) != 1:
            raise ValueError(
                "Error when checking "
                + exception_prefix
                + ": the model expects "
                + str(len(names))
                + " input arrays, "
                "but only received one array. Found: array with shape " + str(data.shape)
            )
        arrays = [data]

    arrays = [np.asarray(a) if not hasattr(a, "shape") else a for a in arrays]
    for i in range(len(names)):
        array = arrays[i]
        if len(array.shape) == 1:
            if _is_sparse(array):  # a 1-D scipy sparse array
                array = array.reshape((array.shape[0], 1))
            else:
                array = np.expand_dims(array, 1)
            arrays[i] = array
        if array.dtype.kind not in "biuf":
            raise TypeError(
                "Error when checking "
                + exception_prefix
                + ': expected "'
                + names[i]
                + '" to hold numbers, got an array of '
                "dtype " + str(array.dtype)
            )

    if shapes:
        for i in range(len(names)):
            if shapes[i] is None:
                continue
            array = arrays[i]
            if len(array.shape) != len(shapes[i]):
                raise ValueError(
                    "Error when checking "
                    + exception_prefix
                    + ": expected "
                    + names[i]
                    + " to have "
                    + str(len(shapes[i]))
                    + " dimensions, but got array with shape "
                    + str(array.shape)
                )
            for j, (dim, ref_dim) in enumerate(zip(array.shape, shapes[i])):
                if not j and not check_batch_dim:
                    continue
                if ref_dim:
                    if ref_dim != dim:
                        raise ValueError(
                            "Error when checking "
                            + exception_prefix
                            + ": expected "
                            + names[i]
                            + " to have shape "
                            + str(shapes[i])
                            + " but got array with shape "
                            + str(array.shape)
                        )
    return arrays


def standardize_sample_or_class_weights(x_weight, output_names, weight_type):
    if x_weight is None or len(x_weight) == 0:
        return [None for _ in output_names]
    if len(output_names) == 1:
        if type(x_weight) is list and len(x_weight) == 1:
            return x_weight
        if type(x_weight) is dict and output_names[0] in x_weight:
            return [x_weight[output_names[0]]]
        return [x_weight]
    if type(x_weight) is list:
        if len(x_weight) != len(output_names):
            raise ValueError(
                "Provided `"
                + weight_type
                + "` was a list of "
                + str(len(x_weight))
                + " elements, but the model has "
                + str(len(output_names))
                + " outputs. You should provide one `"
                + weight_type
                + "`array per model output."
            )
        return x_weight
    if type(x_weight) is dict:
        return [x_weight.get(name) for name in output_names]
    raise TypeError(
        "The model has multiple outputs, so `"
        + weight_type
        + "` should be either a list of a dict. Provided `"
        + weight_type
        + "` type not understood: "
        + str(x_weight)
    )


def standardize_class_weights(class_weight, output_names):
    return standardize_sample_or_class_weights(class_weight, output_names, "class_weight")


def standardize_sample_weights(sample_weight, output_names):
    return standardize_sample_or_class_weights(sample_weight, output_names, "sample_weight")


def check_array_lengths(X, Y, W):
    x_lengths = [x.shape[0] for x in X]
    y_lengths = [y.shape[0] for y in Y]
    w_lengths = [w.shape[0] for w in W]
    set_x = set(x_lengths)
    if len(set_x) != 1:
        raise ValueError(
            "All input arrays (x) should have the same number of samples. Got array shapes: "
            + str([x.shape for x in X])
        )
    set_y = set(y_lengths)
    if len(set_y) != 1:
        raise ValueError(
            "All target arrays (y) should have the same number of samples. Got array shapes: "
            + str([y.shape for y in Y])
        )
    set_w = set(w_lengths)
    if len(set_w) > 1:
        raise ValueError(
            "All sample_weight arrays should have the same number of samples. Got array shapes: "
            + str([w.shape for w in W])
        )
    # Keras 1's messages (the second also says "target samples").
    for counts, arrays, other in (
        (set_y, "Input arrays", "target"),
        (set_w, "Sample_weight arrays", "input"),
    ):
        if counts and list(set_x)[0] != list(counts)[0]:
            raise ValueError(
                f"{arrays} should have the same number of samples as {other} arrays. Found "
                f"{list(set_x)[0]} input samples and {list(counts)[0]} target samples."
            )


def _unpack_validation_data(validation_data, found=""):
    """``(val_x, val_y, val_sample_weight)`` from a 2- or 3-tuple (no weights: None); a
    ValueError (Keras 1's message, ``found`` appended) for any other length."""
    if len(validation_data) not in (2, 3):
        raise ValueError(
            "validation_data should be a tuple (val_x, val_y, val_sample_weight) or (val_x, val_y)." + found
        )
    val_x, val_y, *weights = validation_data
    return val_x, val_y, weights[0] if weights else None


def check_loss_and_target_compatibility(targets, losses, output_shapes):
    key_losses = {"mean_square_error", "binary_crossentropy", "categorical_crossentropy"}
    for y, loss, shape in zip(targets, losses, output_shapes):
        if loss.__name__ == "categorical_crossentropy":
            if y.shape[-1] == 1:
                raise ValueError(
                    "You are passing a target array of shape " + str(y.shape) + " while using as loss "
                    "`categorical_crossentropy`. `categorical_crossentropy` expects targets to be binary matrices "
                    "(1s and 0s) of shape (samples, classes). If your targets are integer classes, you can convert them "
                    "to the expected format via:\n```\nfrom keras.utils.np_utils import to_categorical\n"
                    "y_binary = to_categorical(y_int)\n```\n\nAlternatively, you can use the loss function "
                    "`sparse_categorical_crossentropy` instead, which does expect integer targets."
                )
        if loss.__name__ in key_losses:
            for target_dim, out_dim in zip(y.shape[1:], shape[1:]):
                if out_dim is not None and target_dim != out_dim:
                    raise ValueError(
                        "A target array with shape "
                        + str(y.shape)
                        + " was passed for an output of shape "
                        + str(shape)
                        + " while using as loss `"
                        + loss.__name__
                        + "`. This loss expects targets to have the same "
                        "shape as the output."
                    )


def collect_metrics(metrics, output_names):
    if not metrics:
        return [[] for _ in output_names]
    if type(metrics) is list:
        return [copy.copy(metrics) for _ in output_names]
    if type(metrics) is dict:
        nested_metrics = []
        for name in output_names:
            output_metrics = metrics.get(name, [])
            if type(output_metrics) is not list:
                output_metrics = [output_metrics]
            nested_metrics.append(output_metrics)
        return nested_metrics
    raise TypeError(
        "Type of `metrics` argument not understood. Expected a list or dictionary, found: " + str(metrics)
    )


def collect_trainable_weights(layer):
    """Trainable weights of a layer or model, deduplicated, sorted by variable name as
    Keras 1.2.2 does in `compile` (this fixes the optimizer-state order)."""
    trainable = getattr(layer, "trainable", True)
    if not trainable:
        return []
    weights = []
    if layer.__class__.__name__ == "Sequential":
        for sublayer in layer.flattened_layers:
            weights += collect_trainable_weights(sublayer)
    elif layer.__class__.__name__ == "Model":
        for sublayer in layer.layers:
            weights += collect_trainable_weights(sublayer)
    elif layer.__class__.__name__ == "Graph":
        for sublayer in layer._graph_nodes.values():
            weights += collect_trainable_weights(sublayer)
    else:
        weights += layer.trainable_weights
    seen = set()
    unique = []
    for w in weights:
        if id(w) not in seen:
            seen.add(id(w))
            unique.append(w)
    unique.sort(key=lambda x: x.name)
    return unique


def dedupe_labels(labels):
    """Log names for `fit`: a name that occurs more than once (an output layer shared by
    several outputs) gets `_1`, `_2`, ... on every occurrence, as in Keras 1.2."""
    deduped = []
    for i, label in enumerate(labels):
        if labels.count(label) > 1:
            label = label + "_" + str(labels[:i].count(label) + 1)
        deduped.append(label)
    return deduped


def slice_X(X, start=None, stop=None):
    """Rows of an array (or list of arrays) by slice or index array."""
    if type(X) is list:
        if hasattr(start, "__len__"):
            if hasattr(start, "shape"):
                start = start.tolist()
            return [x[start] for x in X]
        return [x[start:stop] for x in X]
    if hasattr(start, "__len__"):
        if hasattr(start, "shape"):
            start = start.tolist()
        return X[start]
    return X[start:stop]


def weighted_objective(fn):
    """Wraps a per-sample loss into Keras 1's weighted, masked batch loss:
    sum(w_i * l_i) / count(w_i != 0) (formats §6.2)."""

    def weighted(y_true, y_pred, weights, mask=None):
        score_array = fn(y_true, y_pred)
        if mask is not None:
            mask = K.cast(mask, K.floatx())
            score_array = score_array * mask
            score_array = score_array / K.mean(mask)
        ndim = K.ndim(score_array)
        weight_ndim = K.ndim(weights)
        if ndim > weight_ndim:
            score_array = K.mean(score_array, axis=list(range(weight_ndim, ndim)))
        if weights is not None:
            score_array = score_array * weights
            score_array = score_array / K.mean(K.cast(K.not_equal(weights, 0), K.floatx()))
        return K.mean(score_array)

    return weighted


def standardize_weights(y, sample_weight=None, class_weight=None, sample_weight_mode=None):
    """Per-sample weights from sample_weight (wins) or class_weight, else ones."""
    if sample_weight_mode is not None:
        if sample_weight_mode != "temporal":
            raise ValueError(
                '"sample_weight_mode should be None or "temporal". Found: ' + str(sample_weight_mode)
            )
        if len(y.shape) < 3:
            raise ValueError(
                "Found a sample_weight array for an input with shape "
                + str(y.shape)
                + ". Timestep-wise sample weighting "
                '(use of sample_weight_mode="temporal") is restricted to outputs that are at least 3D, i.e. that have '
                "a time dimension."
            )
        ndim, advice = 2, "sample weighting, you should pass a 2D sample_weight array."
    else:
        ndim = 1
        advice = (
            'sample weights, you should specify sample_weight_mode="temporal" in compile(). If you just mean to '
            "use sample-wise weights, make sure your sample_weight array is 1D."
        )
    if sample_weight is not None and len(sample_weight.shape) != ndim:
        raise ValueError(
            f"Found a sample_weight array with shape {sample_weight.shape}. In order to use timestep-wise {advice}"
        )

    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight)
        if len(sample_weight.shape) > len(y.shape):
            raise ValueError(
                "Found a sample_weight with shape"
                + str(sample_weight.shape)
                + ".Expected sample_weight with rank less than or equal to "
                + str(len(y.shape))
            )
        if y.shape[: sample_weight.ndim] != sample_weight.shape:
            raise ValueError(
                "Found a sample_weight array with shape "
                + str(sample_weight.shape)
                + " for an input with shape "
                + str(y.shape)
                + ". sample_weight cannot be broadcast."
            )
        return sample_weight
    if isinstance(class_weight, dict):
        if len(y.shape) > 2:
            raise ValueError("class_weight not supported for 3+ dimensional targets.")
        if _is_sparse(y):
            y_classes = np.asarray(y.argmax(axis=1)).reshape(-1)
        elif y.shape[1] > 1:
            y_classes = y.argmax(axis=1)
        elif y.shape[1] == 1:
            y_classes = np.reshape(y, y.shape[0])
        else:
            y_classes = y
        weights = np.asarray([class_weight[cls] for cls in y_classes])
        return weights
    if sample_weight_mode is None:
        return np.ones((y.shape[0],), dtype=K.floatx())
    return np.ones((y.shape[0], y.shape[1]), dtype=K.floatx())


def _engine_inputs(arrays, placeholders, keep_sparse=False):
    """Converts arrays once to what the Programs take (contiguous float32 or int32).

    A scipy.sparse matrix becomes CSR with `keep_sparse` (the loops slice its rows and
    densify one batch at a time with `loop.dense_batch`), else it is densified whole."""
    out = []
    for a, p in zip(arrays, placeholders):
        if _is_sparse(a):
            if keep_sparse:
                out.append(a.tocsr())
                continue
            a = a.toarray()
        out.append(K.as_engine_array(a, p.dtype))
    return out


class _TrainOnBatchStep(loop.Step):
    """`fit_generator`'s step: `train_on_batch` on a generator's `(x, y, sample_weight)`."""

    def __init__(self, model, class_weight):
        self.model = model
        self.class_weight = class_weight

    def run(self, batch_index, batch):
        x, y, sample_weight = batch
        outs = self.model.train_on_batch(x, y, sample_weight=sample_weight, class_weight=self.class_weight)
        return outs if type(outs) is list else [outs]


# ---------------------------------------------------------------------------------------


class Model(Container):
    """A Container that can be compiled and trained (Keras 1.2.2 `Model`)."""

    def _check_output_keys(self, value, what):
        """A ValueError for a key of the ``what`` dict that names no output."""
        for name in value:
            if name not in self.output_names:
                raise ValueError(
                    f'Unknown entry in {what} dictionary: "{name}". Only expected the following keys: '
                    f"{self.output_names}"
                )

    def _check_one_per_output(self, value, what):
        """A ValueError when the ``what`` list has not one entry per output."""
        if len(value) != len(self.outputs):
            raise ValueError(
                f"When passing a list as {what}, it should have one entry per model outputs. The model has "
                f"{len(self.outputs)} outputs, but you passed {what}={value}"
            )

    def compile(self, optimizer, loss, metrics=None, loss_weights=None, sample_weight_mode=None, **kwargs):
        """Configures the model for training.

        # Arguments
            optimizer: optimizer name or instance.
            loss: objective name or function, or a list / dict with one per output.
            metrics: metric names/functions, or a dict per output ('accuracy' resolves
                from the loss and output shape).
            loss_weights: list or dict of output loss weights.
            sample_weight_mode: None or 'temporal' (or a list / dict per output).
            kwargs: accepted and ignored (Theano function arguments).
        """
        self.optimizer = optimizers.get(optimizer)
        self.sample_weight_mode = sample_weight_mode
        self.loss = loss
        self.loss_weights = loss_weights

        if type(loss) is dict:
            self._check_output_keys(loss, "loss")
            loss_functions = []
            for name in self.output_names:
                if name not in loss:
                    raise ValueError("Output " + name + " missing from loss dictionary.")
                loss_functions.append(objectives.get(loss[name]))
        elif type(loss) is list:
            self._check_one_per_output(loss, "loss")
            loss_functions = [objectives.get(name) for name in loss]
        else:
            loss_function = objectives.get(loss)
            loss_functions = [loss_function for _ in range(len(self.outputs))]
        self.loss_functions = loss_functions
        weighted_losses = [weighted_objective(fn) for fn in loss_functions]

        masks = self.compute_mask(self.inputs, mask=None)
        if masks is None:
            masks = [None for _ in self.outputs]
        if type(masks) is not list:
            masks = [masks]
        # the masks the losses are normalised with (keras.distributed weights shards by them)
        self._loss_masks = masks

        if loss_weights is None:
            loss_weights_list = [1.0 for _ in range(len(self.outputs))]
        elif type(loss_weights) is dict:
            self._check_output_keys(loss_weights, "loss_weights")
            loss_weights_list = [loss_weights.get(name, 1.0) for name in self.output_names]
        elif type(loss_weights) is list:
            self._check_one_per_output(loss_weights, "loss_weights")
            loss_weights_list = loss_weights
        else:
            raise TypeError(
                "Could not interpret loss_weights argument: "
                + str(loss_weights)
                + " - expected a list of dicts."
            )

        if type(sample_weight_mode) is dict:
            for name in sample_weight_mode:
                if name not in self.output_names:
                    raise ValueError('Unknown entry in sample_weight_mode dictionary: "' + name + '".')
            for name in self.output_names:
                if name not in sample_weight_mode:
                    raise ValueError("Output " + name + " missing from sample_weight_modes dictionary")
            modes = [sample_weight_mode[name] for name in self.output_names]
        elif type(sample_weight_mode) is list:
            if len(sample_weight_mode) != len(self.outputs):
                raise ValueError(
                    "When passing a list as sample_weight_mode, it should have one entry per model outputs."
                )
            modes = sample_weight_mode
        else:
            modes = [sample_weight_mode for _ in self.output_names]
        sample_weight_modes = ["temporal" if mode == "temporal" else None for mode in modes]
        sample_weights = [
            K.placeholder(ndim=2 if mode else 1, name=name + "_sample_weights")
            for mode, name in zip(sample_weight_modes, self.output_names)
        ]
        self.sample_weight_modes = sample_weight_modes

        self.targets = []
        for i in range(len(self.outputs)):
            shape = self.internal_output_shapes[i]
            name = self.output_names[i]
            self.targets.append(K.placeholder(ndim=len(shape), name=name + "_target"))

        self.metrics = metrics
        self.metrics_names = ["loss"]
        self.metrics_tensors = []

        total_loss = None
        for i in range(len(self.outputs)):
            y_true = self.targets[i]
            y_pred = self.outputs[i]
            weighted_loss = weighted_losses[i]
            sample_weight = sample_weights[i]
            mask = masks[i]
            loss_weight = loss_weights_list[i]
            output_loss = weighted_loss(y_true, y_pred, sample_weight, mask)
            if len(self.outputs) > 1:
                self.metrics_tensors.append(output_loss)
                self.metrics_names.append(self.output_names[i] + "_loss")
            if total_loss is None:
                total_loss = loss_weight * output_loss
            else:
                total_loss = total_loss + loss_weight * output_loss

        for loss_tensor in self.losses:
            total_loss = total_loss + loss_tensor

        nested_metrics = collect_metrics(metrics, self.output_names)

        def append_metric(layer_num, metric_name, metric_tensor):
            if len(self.output_names) > 1:
                metric_name = self.output_layers[layer_num].name + "_" + metric_name
            self.metrics_names.append(metric_name)
            self.metrics_tensors.append(metric_tensor)

        for i in range(len(self.outputs)):
            y_true = self.targets[i]
            y_pred = self.outputs[i]
            output_metrics = nested_metrics[i]
            for metric in output_metrics:
                if metric == "accuracy" or metric == "acc":
                    output_shape = self.internal_output_shapes[i]
                    acc_fn = None
                    if output_shape[-1] == 1 or self.loss_functions[i] == objectives.binary_crossentropy:
                        acc_fn = metrics_module.binary_accuracy
                    elif self.loss_functions[i] == objectives.sparse_categorical_crossentropy:
                        acc_fn = metrics_module.sparse_categorical_accuracy
                    else:
                        acc_fn = metrics_module.categorical_accuracy
                    append_metric(i, "acc", acc_fn(y_true, y_pred))
                else:
                    metric_fn = metrics_module.get(metric)
                    metric_result = metric_fn(y_true, y_pred)
                    if not isinstance(metric_result, dict):
                        metric_result = {metric_fn.__name__: metric_result}
                    for name, tensor in metric_result.items():
                        append_metric(i, name, tensor)

        self.optimizer = optimizers.get(optimizer)
        self.total_loss = total_loss
        self.sample_weights = sample_weights
        self._collected_trainable_weights = collect_trainable_weights(self)
        self.train_function = None
        self.test_function = None
        self.predict_function = None

    def save_program(self, filepath, training=False):
        """Writes the compiled inference program (or, with ``training=True``, the training
        step with its optimizer state) as one file the Rust engine runs; see
        ``keras.engine.saved_program``."""
        from . import saved_program

        return saved_program.save_program(self, filepath, training=training)

    def _learning_phase_inputs(self):
        if self.uses_learning_phase and not isinstance(K.learning_phase(), int):
            return [K.learning_phase()]
        return []

    def _make_train_function(self):
        if not hasattr(self, "train_function"):
            raise RuntimeError("You must compile your model before using it.")
        if self.train_function is None:
            inputs = self.inputs + self.targets + self.sample_weights + self._learning_phase_inputs()
            training_updates = self.optimizer.get_updates(
                self._collected_trainable_weights, self.constraints, self.total_loss
            )
            updates = self.updates + training_updates
            self.train_function = K.function(
                inputs, [self.total_loss] + self.metrics_tensors, updates=updates
            )

    def _make_test_function(self):
        if not hasattr(self, "test_function"):
            raise RuntimeError("You must compile your model before using it.")
        if self.test_function is None:
            inputs = self.inputs + self.targets + self.sample_weights + self._learning_phase_inputs()
            # compiled for the test phase (no dropout/noise nodes), so that `evaluate`
            # can run its batches side by side (`loop.test_loop`)
            self.test_function = K.function(
                inputs, [self.total_loss] + self.metrics_tensors, updates=self.state_updates, inference=True
            )

    def _make_predict_function(self):
        if not hasattr(self, "predict_function"):
            self.predict_function = None
        if self.predict_function is None:
            inputs = self.inputs + self._learning_phase_inputs()
            # compiled for the test phase: no dropout/noise nodes in the program
            self.predict_function = K.function(
                inputs, self.outputs, updates=self.state_updates, inference=True
            )

    # split step (data-parallel training, `keras.distributed`) ------------------------------

    def _make_gradient_function(self):
        """A function of (inputs, targets, sample weights[, learning phase]) returning
        `[total_loss] + metrics_tensors + [flat_grads]`: the forward and backward of a
        train step, with every gradient of the trainable weights (in the optimizer's
        order) concatenated into one float32 vector, and the model's state updates
        (stateful RNN states, moving averages). No optimizer update."""
        if not hasattr(self, "train_function"):
            raise RuntimeError("You must compile your model before using it.")
        if getattr(self, "gradient_function", None) is None:
            inputs = self.inputs + self.targets + self.sample_weights + self._learning_phase_inputs()
            params = self._collected_trainable_weights
            grads = K.gradients(self.total_loss, params) if params else []
            flat = K.flat_concat(grads)
            self.gradient_function = K.function(
                inputs, [self.total_loss] + self.metrics_tensors + [flat], updates=self.updates
            )
        return self.gradient_function

    def _gradient_size(self):
        """Length of the flat gradient vector of `_make_gradient_function`."""
        return int(sum(int(np.prod(K.get_variable_shape(p))) for p in self._collected_trainable_weights))

    def _make_apply_function(self):
        """A function of one flat float32 gradient vector (as returned by
        `_make_gradient_function`) that runs the optimizer's update with it: clipping,
        the optimizer step and the constraints, exactly as in the fused train step.

        The optimizer builds its update from `K.gradients(loss, params)`; here that call
        is answered with slices of the flat placeholder (`K.given_gradients`), so any
        optimizer (built-in or user-defined) updates from the given gradients. The
        optimizer's state variables
        are created anew (as `compile` + `fit` would): carry their values over with
        `optimizer.get_weights()` / `set_weights()`."""
        if not hasattr(self, "train_function"):
            raise RuntimeError("You must compile your model before using it.")
        if getattr(self, "apply_function", None) is None:
            params = list(self._collected_trainable_weights)
            flat = K.placeholder(shape=(self._gradient_size(),), name="flat_gradients")
            given, offset = [], 0
            for p in params:
                shape = [int(d) for d in K.get_variable_shape(p)]
                given.append((p, K.flat_slice(flat, offset, shape)))
                offset += int(np.prod(shape))
            with K.given_gradients(self.total_loss, given):
                updates = self.optimizer.get_updates(params, self.constraints, self.total_loss)
            self.apply_function = K.function([flat], [], updates=updates)
        return self.apply_function

    # data ----------------------------------------------------------------------------

    def _standardize_user_data(
        self,
        x,
        y,
        sample_weight=None,
        class_weight=None,
        check_batch_dim=True,
        batch_size=None,
        keep_sparse=False,
    ):
        """Checked, converted (x, y, sample_weights) lists. scipy.sparse inputs and targets
        are densified whole, or with `keep_sparse` kept as CSR for the batch loops."""
        if not hasattr(self, "optimizer"):
            raise RuntimeError(
                "You must compile a model before training/testing. Use `model.compile(optimizer, loss)`."
            )
        output_shapes = []
        for output_shape, loss_fn in zip(self.internal_output_shapes, self.loss_functions):
            if loss_fn.__name__ == "sparse_categorical_crossentropy":
                output_shapes.append(output_shape[:-1] + (1,))
            elif getattr(objectives, loss_fn.__name__, None) is None:
                output_shapes.append(None)
            else:
                output_shapes.append(output_shape)
        x = standardize_input_data(
            x,
            self.input_names,
            self.internal_input_shapes,
            check_batch_dim=False,
            exception_prefix="model input",
        )
        y = standardize_input_data(
            y, self.output_names, None, check_batch_dim=False, exception_prefix="model target"
        )
        # Integer labels given to categorical_crossentropy: the message pointing at
        # to_categorical comes before the generic target shape message (formats §9).
        check_loss_and_target_compatibility(y, self.loss_functions, [(None,) * len(a.shape) for a in y])
        y = standardize_input_data(
            y, self.output_names, output_shapes, check_batch_dim=False, exception_prefix="model target"
        )
        sample_weights = standardize_sample_weights(sample_weight, self.output_names)
        class_weights = standardize_class_weights(class_weight, self.output_names)
        sample_weights = [
            standardize_weights(ref, sw, cw, mode)
            for (ref, sw, cw, mode) in zip(y, sample_weights, class_weights, self.sample_weight_modes)
        ]
        check_array_lengths(x, y, sample_weights)
        check_loss_and_target_compatibility(y, self.loss_functions, self.internal_output_shapes)
        if self.stateful and batch_size:
            if x[0].shape[0] % batch_size != 0:
                raise ValueError(
                    "In a stateful network, you should only pass inputs with a number of samples that can be divided by "
                    "the batch size. Found: " + str(x[0].shape[0]) + " samples"
                )
        if x[0].shape[0] == 0:
            raise ValueError("Error when checking model input: the input arrays are empty (0 samples)")
        x = _engine_inputs(x, self.inputs, keep_sparse)
        y = _engine_inputs(y, self.targets, keep_sparse)
        sample_weights = _engine_inputs(sample_weights, self.sample_weights)
        return x, y, sample_weights

    # public API --------------------------------------------------------------------------

    def fit(
        self,
        x,
        y,
        batch_size=32,
        nb_epoch=10,
        verbose=1,
        callbacks=None,
        validation_split=0.0,
        validation_data=None,
        shuffle=True,
        class_weight=None,
        sample_weight=None,
        initial_epoch=0,
    ):
        """Trains the model for a fixed number of epochs; returns a `History`.

        # Arguments
            x: Numpy array, list of arrays, or dict by input name.
            y: Numpy array, list of arrays, or dict by output name.
            batch_size: samples per gradient update.
            nb_epoch: index of the epoch to stop at.
            verbose: 0 silent, 1 progress bar, 2 one line per epoch.
            callbacks: list of `keras.callbacks.Callback`.
            validation_split: fraction of the data (taken from the end, before
                shuffling) held out for validation.
            validation_data: (x, y) or (x, y, sample_weights); overrides the split.
            shuffle: True, False or 'batch'.
            class_weight: dict class -> weight.
            sample_weight: per-sample weights (2-D with sample_weight_mode='temporal').
            initial_epoch: epoch to start from.

        # Raises
            ValueError: naming the argument: `batch_size` < 1, `nb_epoch` <
                `initial_epoch` (`nb_epoch=0`, or equal to `initial_epoch`, trains
                nothing and returns an empty History, as in Keras 1),
                `validation_split` outside [0, 1) or leaving no training or no
                validation sample, input arrays of different lengths.
        """
        ins, val_ins = self._fit_data(
            "fit",
            x,
            y,
            batch_size,
            nb_epoch,
            initial_epoch,
            validation_split,
            validation_data,
            sample_weight,
            class_weight,
            keep_sparse=True,
        )
        self._make_train_function()
        return loop.fit_arrays(
            self,
            loop.ProgramStep(self.train_function, ins),
            ins,
            val_ins,
            dedupe_labels(self.metrics_names),
            batch_size,
            nb_epoch,
            verbose,
            callbacks,
            shuffle,
            initial_epoch,
        )

    def _fit_data(
        self,
        where,
        x,
        y,
        batch_size,
        nb_epoch,
        initial_epoch,
        validation_split,
        validation_data,
        sample_weight,
        class_weight,
        keep_sparse,
        standardize=None,
        cut_rows=None,
    ):
        """`fit`'s arguments checked and its data prepared, for `fit` and
        `keras.distributed.fit` alike: `(ins, val_ins)`, the inputs, targets and sample
        weights (from `sample_weight` or `class_weight`) of training and of validation
        (None without; the test function is then made). Stateful models need a sample
        count divisible by `batch_size`. With `keep_sparse`, scipy.sparse data stays CSR.

        `standardize(x, y, sample_weight, class_weight)` and `cut_rows(arrays, start,
        stop=None)` replace `_standardize_user_data` and `slice_X` for the inputs and
        targets (`keras.distributed` passes its own for data it does not hold)."""
        if standardize is None:

            def standardize(x, y, sample_weight, class_weight):
                return self._standardize_user_data(
                    x,
                    y,
                    sample_weight=sample_weight,
                    class_weight=class_weight,
                    check_batch_dim=False,
                    batch_size=batch_size,
                    keep_sparse=keep_sparse,
                )

        cut_rows = cut_rows or slice_X
        _check_int_arg(batch_size, "batch_size", 1, where)
        _check_epochs(nb_epoch, initial_epoch, where)
        if validation_split is None:
            validation_split = 0.0
        if (
            isinstance(validation_split, (bool, np.bool_))
            or not isinstance(validation_split, (int, float, np.integer, np.floating))
            or not 0.0 <= validation_split < 1.0
        ):
            raise ValueError(
                "%s: `validation_split` must be a number in [0, 1) (the fraction of the data held out for "
                "validation), got %r" % (where, validation_split)
            )
        x, y, sample_weights = standardize(x, y, sample_weight, class_weight)
        if validation_data:
            val_x, val_y, val_sample_weight = _unpack_validation_data(
                validation_data, " Found: " + str(validation_data)
            )
            val_x, val_y, val_sample_weights = standardize(val_x, val_y, val_sample_weight, None)
        elif validation_split and 0.0 < validation_split < 1.0:
            nb_sample = x[0].shape[0]
            split_at = int(nb_sample * (1.0 - validation_split))
            if split_at == 0 or split_at == nb_sample:
                raise ValueError(
                    "%s: `validation_split=%r` of %d samples leaves %s: pass more data or another "
                    "validation_split"
                    % (
                        where,
                        validation_split,
                        nb_sample,
                        "no training sample" if split_at == 0 else "no validation sample",
                    )
                )
            x, val_x = (cut_rows(x, 0, split_at), cut_rows(x, split_at))
            y, val_y = (cut_rows(y, 0, split_at), cut_rows(y, split_at))
            sample_weights, val_sample_weights = (
                slice_X(sample_weights, 0, split_at),
                slice_X(sample_weights, split_at),
            )
        else:
            return x + y + sample_weights, None
        self._make_test_function()
        return x + y + sample_weights, val_x + val_y + val_sample_weights

    def evaluate(self, x, y, batch_size=32, verbose=1, sample_weight=None):
        """Loss (and metrics) on the given data, in test mode; a scalar or a list
        ordered as `metrics_names`.

        # Raises
            ValueError: `batch_size` < 1, or arrays of different lengths.
        """
        _check_int_arg(batch_size, "batch_size", 1, "evaluate")
        x, y, sample_weights = self._standardize_user_data(
            x, y, sample_weight=sample_weight, check_batch_dim=False, batch_size=batch_size, keep_sparse=True
        )
        ins = x + y + sample_weights
        self._make_test_function()
        return loop.test_loop(self.test_function, ins, batch_size=batch_size, verbose=verbose)

    def predict(self, x, batch_size=32, verbose=0):
        """Output predictions for the input samples, batch by batch, in test mode.

        # Raises
            ValueError: `batch_size` < 1, or input arrays of different lengths.
        """
        _check_int_arg(batch_size, "batch_size", 1, "predict")
        x = standardize_input_data(x, self.input_names, self.internal_input_shapes, check_batch_dim=False)
        _check_input_lengths(x, "predict")
        if self.stateful:
            if x[0].shape[0] > batch_size and x[0].shape[0] % batch_size != 0:
                raise ValueError(
                    "In a stateful network, you should only pass inputs with a number of samples that can be divided by "
                    "the batch size. Found: "
                    + str(x[0].shape[0])
                    + " samples. Batch size: "
                    + str(batch_size)
                    + "."
                )
        if x[0].shape[0] == 0:
            raise ValueError("Error when checking model input: the input arrays are empty (0 samples)")
        x = _engine_inputs(x, self.inputs, keep_sparse=True)
        self._make_predict_function()
        return loop.predict_loop(self.predict_function, x, batch_size=batch_size, verbose=verbose)

    def train_on_batch(self, x, y, sample_weight=None, class_weight=None):
        """One gradient update on one batch; returns the loss (and metrics)."""
        x, y, sample_weights = self._standardize_user_data(
            x, y, sample_weight=sample_weight, class_weight=class_weight, check_batch_dim=True
        )
        self._make_train_function()
        return self._run_on_batch(self.train_function, x + y + sample_weights, 1.0, float)

    def test_on_batch(self, x, y, sample_weight=None):
        """Loss (and metrics) on one batch in test mode."""
        x, y, sample_weights = self._standardize_user_data(
            x, y, sample_weight=sample_weight, check_batch_dim=True
        )
        self._make_test_function()
        return self._run_on_batch(self.test_function, x + y + sample_weights, 0.0, float)

    def predict_on_batch(self, x):
        """Predictions for one batch."""
        x = standardize_input_data(x, self.input_names, self.internal_input_shapes)
        _check_input_lengths(x, "predict_on_batch")
        self._make_predict_function()
        return self._run_on_batch(self.predict_function, _engine_inputs(x, self.inputs), 0.0)

    def _run_on_batch(self, function, ins, phase, convert=None):
        """``function``'s outputs on one batch ``ins`` in learning ``phase`` (fed when the
        model has a learning phase), each passed through ``convert``; one output
        unwrapped."""
        if self._learning_phase_inputs():
            ins = ins + [np.asarray(phase, dtype=np.float32)]
        outputs = function.run(ins)
        if convert is not None:
            outputs = [convert(o) for o in outputs]
        return outputs[0] if len(outputs) == 1 else outputs

    # generators ------------------------------------------------------------------------

    def fit_generator(
        self,
        generator,
        samples_per_epoch,
        nb_epoch,
        verbose=1,
        callbacks=None,
        validation_data=None,
        nb_val_samples=None,
        class_weight=None,
        max_q_size=10,
        nb_worker=1,
        pickle_safe=False,
        initial_epoch=0,
    ):
        """Trains on batches yielded by a generator ((x, y) or (x, y, sample_weight)).

        # Raises
            ValueError: naming the argument: `samples_per_epoch` < 1, `nb_epoch` <
                `initial_epoch` (`nb_epoch=0` trains nothing, as in Keras 1),
                `nb_val_samples` < 1 with a validation generator, `nb_worker` or
                `max_q_size` < 1 (they would wait forever).
        """
        _check_int_arg(samples_per_epoch, "samples_per_epoch", 1, "fit_generator")
        _check_epochs(nb_epoch, initial_epoch, "fit_generator")
        _check_queue_args(nb_worker, max_q_size, "fit_generator")
        do_validation = bool(validation_data)
        self._make_train_function()
        if do_validation:
            self._make_test_function()

        val_gen = hasattr(validation_data, "__next__") or hasattr(validation_data, "next")
        if val_gen and not nb_val_samples:
            raise ValueError(
                'When using a generator for validation data, you must specify a value for "nb_val_samples".'
            )
        if val_gen:
            _check_int_arg(nb_val_samples, "nb_val_samples", 1, "fit_generator")
        val_ins = None
        if do_validation and not val_gen:
            val_x, val_y, val_sample_weight = _unpack_validation_data(validation_data)
            val_x, val_y, val_sample_weights = self._standardize_user_data(
                val_x, val_y, val_sample_weight, keep_sparse=True
            )
            val_ins = val_x + [val_y, val_sample_weights]

        validate = None
        if val_gen:

            def validate(last_batch_size):
                return self.evaluate_generator(
                    validation_data,
                    nb_val_samples,
                    max_q_size=max_q_size,
                    nb_worker=nb_worker,
                    pickle_safe=pickle_safe,
                )

        elif do_validation:

            def validate(last_batch_size):
                # (Keras 1 validates with the size of the epoch's last batch)
                return self.evaluate(
                    val_x, val_y, batch_size=last_batch_size, sample_weight=val_sample_weights, verbose=0
                )

        out_labels = self.metrics_names
        return loop.fit_loop(
            self,
            loop.GeneratorBatches(generator, samples_per_epoch, max_q_size, nb_worker, pickle_safe),
            _TrainOnBatchStep(self, class_weight),
            out_labels,
            nb_epoch,
            initial_epoch,
            verbose,
            callbacks,
            {
                "nb_epoch": nb_epoch,
                "nb_sample": samples_per_epoch,
                "verbose": verbose,
                "do_validation": do_validation,
                "metrics": out_labels + ["val_" + n for n in out_labels],
            },
            validate=validate,
            validation_data=val_ins,
        )

    def evaluate_generator(self, generator, val_samples, max_q_size=10, nb_worker=1, pickle_safe=False):
        """Sample-count-weighted average of the loss (and metrics) over generator batches.

        # Raises
            ValueError: `val_samples`, `nb_worker` or `max_q_size` < 1.
        """
        _check_int_arg(val_samples, "val_samples", 1, "evaluate_generator")
        _check_queue_args(nb_worker, max_q_size, "evaluate_generator")
        self._make_test_function()
        all_outs = []
        weights = []

        def run(generator_output, processed):
            x, y, sample_weight = loop.unpack_xy(generator_output)
            all_outs.append(self.test_on_batch(x, y, sample_weight=sample_weight))
            weights.append(loop.nb_samples(x))
            return weights[-1]

        loop.generator_loop(generator, "evaluation", val_samples, run, max_q_size, nb_worker, pickle_safe)
        if type(all_outs[-1]) is not list:
            return np.average(np.asarray(all_outs), weights=weights)
        return [np.average([out[i] for out in all_outs], weights=weights) for i in range(len(all_outs[-1]))]

    def predict_generator(self, generator, val_samples, max_q_size=10, nb_worker=1, pickle_safe=False):
        """Predictions for the samples yielded by a generator (x alone or a tuple).

        # Raises
            ValueError: `val_samples`, `nb_worker` or `max_q_size` < 1; a batch with no
                sample; batches adding up to more than `val_samples` samples (Keras 1
                failed there with a numpy broadcast error).
        """
        _check_int_arg(val_samples, "val_samples", 1, "predict_generator")
        _check_queue_args(nb_worker, max_q_size, "predict_generator")
        self._make_predict_function()
        all_outs = []

        def run(generator_output, processed):
            if isinstance(generator_output, tuple):
                if len(generator_output) not in (2, 3):
                    raise ValueError(
                        "output of generator should be a tuple (x, y, sample_weight) or (x, y). Found: "
                        + str(generator_output)
                    )
                x = generator_output[0]
            else:
                x = generator_output
            outs = self.predict_on_batch(x)
            n = loop.nb_samples(x)
            if n == 0:
                raise ValueError("predict_generator: the generator yielded a batch with no sample")
            if processed + n > val_samples:
                raise ValueError(
                    "predict_generator: the generator yielded %d samples after %d, more than "
                    "`val_samples=%d`: make val_samples the total number of samples of the batches "
                    "to predict" % (n, processed, val_samples)
                )
            if type(outs) is not list:
                outs = [outs]
            if not all_outs:
                all_outs.extend(np.zeros((val_samples,) + o.shape[1:], dtype=o.dtype) for o in outs)
            for i, o in enumerate(outs):
                all_outs[i][processed : processed + n] = o
            return n

        loop.generator_loop(generator, "prediction", val_samples, run, max_q_size, nb_worker, pickle_safe)
        if len(all_outs) == 1:
            return all_outs[0]
        return all_outs

    # persistence ------------------------------------------------------------------------

    def save(self, filepath, overwrite=True):
        """Saves the whole model (architecture, weights, training configuration and
        optimizer state) in Keras 1's HDF5 layout; see `keras.models.save_model`."""
        from ..models import save_model

        save_model(self, filepath, overwrite)
