"""Models: `Sequential` (a linear stack of layers) and the model (de)serialisation
functions of Keras 1.2.2."""

import contextlib
import functools
import json
import os
import warnings

import numpy as np

from . import backend as K
from .engine import resume
from .engine.saved_program import load_program  # noqa: F401
from .engine.topology import Input, InputLayer, Layer, Merge, _ignored, get_source_inputs, json_default
from .engine.training import Model


def model_from_config(config, custom_objects=None, safe_mode=True):
    """A model from `{'class_name', 'config'}`.

    # Arguments
        config: the dict `model.get_config()` wrapped with its `class_name`.
        custom_objects: dict of user classes / functions (by name) to consider first.
        safe_mode: when True (default), a Lambda or Merge function stored as Python
            bytecode is not revived (that would run code taken from the config): a
            ValueError names the layer. Pass False only for configs you trust.
    """
    from .utils.layer_utils import layer_from_config

    if isinstance(config, list):
        raise TypeError(
            "`model_fom_config` expects a dictionary, not a list. Maybe you meant to use `Sequential.from_config(config)`?"
        )
    return layer_from_config(config, custom_objects=custom_objects, safe_mode=safe_mode)


def model_from_yaml(yaml_string, custom_objects=None, safe_mode=True):
    """A model from a YAML string written by `to_yaml` (see `model_from_config`)."""
    import yaml

    from .utils.layer_utils import layer_from_config

    config = yaml.safe_load(yaml_string)
    return layer_from_config(config, custom_objects=custom_objects, safe_mode=safe_mode)


def model_from_json(json_string, custom_objects=None, safe_mode=True):
    """A model from a JSON string written by `to_json`, ours or Keras 1's (see
    `model_from_config`)."""
    from .utils.layer_utils import layer_from_config

    config = json.loads(json_string)
    return layer_from_config(config, custom_objects=custom_objects, safe_mode=safe_mode)


# save_model's `json.dumps` default names an unserializable object by its repr
_json_type = functools.partial(json_default, describe=repr)


def save_model(model, filepath, overwrite=True, resume_state=False, data_order=None):
    """Saves a whole model in Keras 1's HDF5 layout: the architecture (attr
    `model_config`), the weights (group `model_weights`), the training configuration
    (attr `training_config`) and the optimizer state (group `optimizer_weights`).
    With `resume_state` (as `ModelCheckpoint` saves by default) also what an exact
    resume needs, in a group `ferrokeras_resume` that Keras 1 readers ignore: the random
    nodes' seeds and counters, stateful RNN states, numpy's global random state and the
    order of the training rows (see `keras.engine.resume`).

    The file is built in memory, written to a temporary file next to `filepath`,
    fsynced and renamed over `filepath` only when complete (see
    `keras.utils.io_utils.atomic_write_bytes`): a failed save (an exception, a full
    disk) never destroys a previous good file and leaves no temporary file. A replaced
    file keeps its permission bits, a new one gets the umask's default, and a symbolic
    link is written through (its target is replaced, the link stays).

    # Arguments
        model: the model to save.
        filepath: destination path.
        overwrite: whether to overwrite an existing file silently (otherwise ask on the
            terminal; answering "n" saves nothing).
        resume_state: also write the `ferrokeras_resume` group (read back by
            `load_model`); False keeps the file exactly Keras 1's layout.
        data_order: with `resume_state`, the order of the training rows `fit` has
            reached (kept by `ModelCheckpoint`; read back by `load_data_order`).

    # Raises
        OSError: the file could not be written (ENOSPC, EFBIG, a missing directory);
            the previous file is unchanged.
        FileExistsError: `overwrite=False`, the file exists and there is no terminal to
            ask on.
    """
    from . import __version__ as keras_version
    from .utils.io_utils import ask_to_proceed_with_overwrite, atomic_h5

    if not overwrite and os.path.isfile(filepath):
        if not ask_to_proceed_with_overwrite(filepath):
            return
    model_config = json.dumps(
        {"class_name": model.__class__.__name__, "config": model.get_config()}, default=_json_type
    )
    training_config = None
    symbolic_weights = []
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None:
        training_config = json.dumps(
            {
                "optimizer_config": {
                    "class_name": optimizer.__class__.__name__,
                    "config": optimizer.get_config(),
                },
                "loss": model.loss,
                "metrics": model.metrics,
                "sample_weight_mode": model.sample_weight_mode,
                "loss_weights": model.loss_weights,
            },
            default=_json_type,
        )
        symbolic_weights = list(getattr(optimizer, "weights", []) or [])

    with atomic_h5(filepath) as f:
        f.attrs["keras_version"] = str(keras_version).encode("utf8")
        f.attrs["model_config"] = model_config.encode("utf8")
        model.save_weights_to_hdf5_group(f.create_group("model_weights"))
        if training_config is not None:
            f.attrs["training_config"] = training_config.encode("utf8")
        if symbolic_weights:
            group = f.create_group("optimizer_weights")
            values = K.batch_get_value(symbolic_weights)
            names = []
            for i, w in enumerate(symbolic_weights):
                name = str(w.name) if getattr(w, "name", None) else "param_" + str(i)
                # Optimizer slots share names across optimizers built in one process;
                # a group needs distinct dataset names (Keras 1 had TF's unique ones).
                while name in names:
                    name = name + "_" + str(i)
                names.append(name)
            group.attrs["weight_names"] = np.array([n.encode("utf8") for n in names])
            for name, val in zip(names, values):
                dset = group.create_dataset(name, val.shape, dtype=val.dtype)
                if val.shape:
                    dset[:] = val
                else:
                    dset[()] = val
        if resume_state:
            resume.write(model, f)
            if data_order is not None:
                resume.write_order(f, data_order)


def _attr_text(value):
    """An HDF5 string attribute as text (Keras 1 wrote bytes; Python 2 writers str)."""
    if isinstance(value, (bytes, np.bytes_)):
        return value.decode("utf8")
    return str(value)


def load_model(filepath, custom_objects=None, safe_mode=True, restore_rng=False):
    """Loads a model saved by `model.save` / `save_model` (ours or Keras 1's): the
    architecture, the weights and, when the file has a training configuration, a
    compiled model with the optimizer state restored, so training resumes where it
    stopped.

    A file with resume state (`ModelCheckpoint`'s) also restores the seeds and call
    counters of the random nodes (Dropout, noise, recurrent dropout: the next training
    step draws the noise the saved model's would) and the states of stateful recurrent
    layers. With `restore_rng=True` numpy's global random state (Keras 1 shuffles each
    epoch with `np.random`) is set back to its value at save time too; it is opt-in
    because it changes process-wide state. `load_model(checkpoint, restore_rng=True)`
    then `fit(..., initial_epoch=k)` equals the uninterrupted run bitwise (weights,
    optimizer state, history); with `shuffle=True` or `'batch'` the rows must be given
    in the stored order, see `load_data_order`.

    # Arguments
        filepath: path of the HDF5 file.
        custom_objects: dict of user classes / functions (layers, losses, metrics,
            optimizers, Lambda functions) by name.
        restore_rng: also set numpy's global random state to the one stored in the
            file (a ValueError when the file has none, e.g. a Keras 1 file).
        safe_mode: when True (default), Lambda / Merge functions stored as Python
            bytecode are not revived (a ValueError names the layer); pass False only
            for files you trust, or supply the function in `custom_objects` under the
            layer's name.

    Files are untrusted input: a damaged or crafted file gives an `IOError` or a
    `ValueError` that names the file (and the layer, weight or attribute at fault),
    never a raw h5py `KeyError`; no bytecode runs unless `safe_mode=False`; functions
    stored by name resolve only through `custom_objects` and Keras' own activations,
    objectives and metrics. Weight arrays follow `Container.load_weights`: float64
    (or float16) arrays are cast silently as in Keras 1, non-float arrays are refused,
    NaN / inf values load with a warning naming the layer.

    # Raises
        IOError: the file is missing or is not an HDF5 file.
        ValueError: the file holds no model, is corrupt, or its weights do not fit the
            model.
    """
    import h5py

    from . import optimizers
    from .utils.io_utils import open_h5

    custom_objects = dict(custom_objects or {})

    def deserialize(obj):
        if isinstance(obj, list):
            return [custom_objects.get(v, v) if isinstance(v, str) else v for v in obj]
        if isinstance(obj, dict):
            return {k: (custom_objects.get(v, v) if isinstance(v, str) else v) for k, v in obj.items()}
        if isinstance(obj, str) and obj in custom_objects:
            return custom_objects[obj]
        return obj

    with open_h5(filepath, "model", "not a readable HDF5 file") as f:
        model_config = f.attrs.get("model_config")
        if model_config is None:
            raise ValueError(
                "No model found in config file %s: it has no 'model_config' attribute (a weights-only file? "
                "use model.load_weights)" % filepath
            )
        if "model_weights" not in f or not isinstance(f["model_weights"], h5py.Group):
            raise ValueError("%s is not a Keras model file: it has no 'model_weights' group" % filepath)
        config = _json_attr(model_config, "model_config", filepath)
        if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
            raise ValueError(
                "%s is corrupt: its 'model_config' is not a {'class_name': ..., 'config': ...} object"
                % filepath
            )
        seed_plan = resume.read_seed_plan(f, filepath)
        try:
            with seed_plan if seed_plan is not None else contextlib.nullcontext():
                model = model_from_config(config, custom_objects=custom_objects, safe_mode=safe_mode)
        except (KeyError, IndexError, TypeError, AttributeError) as e:
            # A config no Keras wrote (a crafted or damaged file): one documented error.
            raise ValueError(
                "%s: cannot build the model from its 'model_config' (%s: %s)"
                % (filepath, type(e).__name__, e)
            ) from e
        try:
            model.load_weights_from_hdf5_group(f["model_weights"])
        except ValueError as e:
            raise ValueError("%s: %s" % (filepath, e)) from e

        training_config = f.attrs.get("training_config")
        if training_config is None:
            warnings.warn(
                "No training configuration found in save file: the model was *not* compiled. Compile it manually.",
                stacklevel=2,
            )
            resume.restore(model, f, filepath, restore_rng=restore_rng)
            return model
        training_config = _json_attr(training_config, "training_config", filepath)
        if not isinstance(training_config, dict) or "optimizer_config" not in training_config:
            raise ValueError("%s is corrupt: its 'training_config' has no 'optimizer_config'" % filepath)
        try:
            optimizer = optimizers.optimizer_from_config(
                training_config["optimizer_config"], custom_objects=custom_objects
            )
            model.compile(
                optimizer=optimizer,
                loss=deserialize(training_config.get("loss")),
                metrics=deserialize(training_config.get("metrics")),
                loss_weights=training_config.get("loss_weights"),
                sample_weight_mode=training_config.get("sample_weight_mode"),
            )
        except (KeyError, IndexError, TypeError, AttributeError) as e:
            raise ValueError(
                "%s: cannot compile the model from its 'training_config' (%s: %s)"
                % (filepath, type(e).__name__, e)
            ) from e
        if "optimizer_weights" in f:
            from .engine.topology import _check_weight_values, _read_group_weights

            inner = model.model if isinstance(model, Sequential) else model
            inner._make_train_function()
            group = f["optimizer_weights"]
            if not isinstance(group, h5py.Group):
                raise ValueError("%s is corrupt: 'optimizer_weights' is not a group" % filepath)
            try:
                names, values = _read_group_weights(group, "optimizer_weights")
                symbolic = list(getattr(model.optimizer, "weights", []) or [])
                if len(symbolic) == len(values):
                    values = _check_weight_values(
                        _Named("optimizer " + model.optimizer.__class__.__name__), symbolic, values, "", names
                    )
                model.optimizer.set_weights(values)
            except ValueError as e:
                raise ValueError(
                    "%s: the stored optimizer state does not fit the model: %s" % (filepath, e)
                ) from e
        resume.restore(model, f, filepath, restore_rng=restore_rng)
    return model


def load_data_order(filepath):
    """The order of the training rows (indices into the data given to the first `fit`)
    that a `ModelCheckpoint` file was saved at. Keras 1's `fit` shuffles the previous
    epoch's order in place, so an exact resume with `shuffle=True` or `'batch'` trains
    on the rows in that order and keeps following it:

        model = load_model(path, restore_rng=True)
        order = load_data_order(path)
        model.fit(x[order], y[order], initial_epoch=k,
                  callbacks=[ModelCheckpoint(path, data_order=order)])

    With `validation_split`, the order covers the training rows (the first
    `len(order)`): pass `np.concatenate([x[order], x[len(order):]])`.

    # Raises
        ValueError: the file holds no order, or a corrupt one.
    """
    return resume.read_order(filepath)


class _Named:
    """Stands for a layer in the weight checks' messages (the optimizer's state)."""

    def __init__(self, name):
        self.name = name


def _json_attr(value, key, filepath):
    """A JSON attribute of a model file, parsed; a ValueError naming it when it is not
    text or not JSON."""
    try:
        return json.loads(_attr_text(value))
    except (ValueError, TypeError) as e:  # JSONDecodeError, UnicodeDecodeError
        raise ValueError(
            "%s is corrupt: its '%s' attribute is not valid JSON (%s)" % (filepath, key, e)
        ) from e


def functional_model(model):
    """The functional Model whose nodes hold ``model``'s layers: a Sequential's inner
    Model (built on first use), any other model itself."""
    return model._built_model() if isinstance(model, Sequential) else model


def _delegated(name, settable=False):
    """A Sequential property read from its inner Model (built on first use); with
    ``settable``, assigning it is ignored, as in Keras 1 (Container sets these)."""

    def get(self):
        return getattr(self._built_model(), name)

    return property(get, _ignored if settable else None)


_SHOW_ACCURACY_IN_FIT = (
    'The "show_accuracy" argument is deprecated, instead you should pass the "accuracy" metric to the '
    'model at compile time:\n`model.compile(optimizer, loss, metrics=["accuracy"])`'
)


class Sequential(Model):
    """A linear stack of layers.

    # Arguments
        layers: list of layers to add to the model.
        name: the model's name.

    # Example

    ```python
        model = Sequential()
        model.add(Dense(32, input_dim=500))
        model.add(Dense(10, activation='softmax'))
        model.compile(optimizer='rmsprop', loss='categorical_crossentropy')
    ```
    """

    def __init__(self, layers=None, name=None):
        self.layers = []
        self.model = None
        self.inputs = []
        self.outputs = []
        self._trainable = True
        self._initial_weights = None

        self.inbound_nodes = []
        self.outbound_nodes = []
        self.built = False

        if not name:
            prefix = "sequential_"
            name = prefix + str(K.get_uid(prefix))
        self.name = name

        if layers:
            for layer in layers:
                self.add(layer)

    def add(self, layer):
        """Adds a layer instance on top of the layer stack."""
        if not isinstance(layer, Layer):
            raise TypeError("The added layer must be an instance of class Layer. Found: " + str(layer))
        if not self.outputs:
            if not layer.inbound_nodes:
                if not hasattr(layer, "batch_input_shape"):
                    raise ValueError(
                        "The first layer in a Sequential model must get an `input_shape` or `batch_input_shape` "
                        "argument (layer " + layer.name + ")."
                    )
                layer.create_input_layer(layer.batch_input_shape, layer.input_dtype)

            if len(layer.inbound_nodes) != 1:
                raise ValueError(
                    "A layer added to a Sequential model must not already be connected somewhere else. Model received "
                    "layer "
                    + layer.name
                    + " which has "
                    + str(len(layer.inbound_nodes))
                    + " pre-existing inbound connections."
                )
            if len(layer.inbound_nodes[0].output_tensors) != 1:
                raise ValueError(
                    "All layers in a Sequential model should have a single output tensor. For multi-output layers, use "
                    "the functional API."
                )
            self.outputs = [layer.inbound_nodes[0].output_tensors[0]]
            self.inputs = get_source_inputs(self.outputs[0])

            self._add_own_node()
        else:
            output_tensor = layer(self.outputs[0])
            if isinstance(output_tensor, list):
                raise TypeError(
                    "All layers in a Sequential model should have a single output tensor. For multi-output layers, use "
                    "the functional API."
                )
            self.outputs = [output_tensor]
            self.inbound_nodes[0].output_tensors = self.outputs
            self.inbound_nodes[0].output_shapes = [self.outputs[0]._keras_shape]

        self.layers.append(layer)
        self.built = False
        self._flattened_layers = None

    def pop(self):
        """Removes the last layer of the model."""
        if not self.layers:
            raise TypeError("There are no layers in the model.")
        self.layers.pop()
        if not self.layers:
            self.outputs = []
            self.inbound_nodes = []
            self.outbound_nodes = []
        else:
            self.layers[-1].outbound_nodes = []
            self.outputs = [self.layers[-1].output]
            self.inbound_nodes[0].output_tensors = self.outputs
            self.inbound_nodes[0].output_shapes = [self.outputs[0]._keras_shape]
        self.built = False
        self._flattened_layers = None

    def _built_model(self):
        """The inner functional Model, built on first use."""
        if self.model is None:
            self.build()
        return self.model

    def get_layer(self, name=None, index=None):
        return self._built_model().get_layer(name, index)

    def call(self, x, mask=None):
        return self._built_model().call(x, mask)

    def build(self, input_shape=None):
        if not self.inputs or not self.outputs:
            raise TypeError("Sequential model cannot be built: model is empty. Add some layers first.")
        previous = getattr(self, "model", None)
        self.model = Model(self.inputs, self.outputs[0], name=self.name + "_model")
        self.model.trainable = self.trainable
        # A rebuild (compile builds again) keeps the updates and losses recorded by earlier
        # calls of this model on other inputs (a nested BatchNormalization's moving
        # averages): an outer model compiled afterwards still finds them.
        for kept in ("_per_input_updates", "_per_input_losses"):
            if previous is not None and getattr(previous, kept, None):
                setattr(self.model, kept, {k: list(v) for k, v in getattr(previous, kept).items()})

        self.supports_masking = self.model.supports_masking
        self._output_mask_cache = self.model._output_mask_cache
        self._output_tensor_cache = self.model._output_tensor_cache
        self._output_shape_cache = self.model._output_shape_cache
        self.input_layers = self.model.input_layers
        self.input_layers_node_indices = self.model.input_layers_node_indices
        self.input_layers_tensor_indices = self.model.input_layers_tensor_indices
        self.output_layers = self.model.output_layers
        self.output_layers_node_indices = self.model.output_layers_node_indices
        self.output_layers_tensor_indices = self.model.output_layers_tensor_indices
        self.container_nodes = self.model.container_nodes
        self.nodes_by_depth = self.model.nodes_by_depth
        self.output_names = self.model.output_names
        self.input_names = self.model.input_names
        self.internal_input_shapes = self.model.internal_input_shapes
        self.internal_output_shapes = self.model.internal_output_shapes
        self.model.callback_model = self
        self.built = True

    uses_learning_phase = _delegated("uses_learning_phase", settable=True)

    @property
    def flattened_layers(self):
        if getattr(self, "_flattened_layers", None) is not None:
            return self._flattened_layers
        layers = []
        if self.layers:
            if isinstance(self.layers[0], Merge):
                merge = self.layers[0]
                for layer in merge.layers:
                    if hasattr(layer, "flattened_layers"):
                        for sublayer in layer.flattened_layers:
                            if sublayer not in layers:
                                layers.append(sublayer)
                    elif hasattr(layer, "layers"):
                        for sublayer in layer.layers:
                            if sublayer not in layers:
                                layers.append(sublayer)
                    else:
                        if layer not in layers:
                            layers.append(layer)
            else:
                if self.layers[0] not in layers:
                    layers.append(self.layers[0])
            for layer in self.layers[1:]:
                if layer not in layers:
                    layers.append(layer)
        self._flattened_layers = layers
        return layers

    def _gather_list_attr(self, attr):
        all_attrs = []
        for layer in self.flattened_layers:
            all_attrs += getattr(layer, attr, [])
        return all_attrs

    def _gather_dict_attr(self, attr):
        all_attrs = {}
        for layer in self.flattened_layers:
            layer_dict = getattr(layer, attr, {})
            all_attrs = dict(list(all_attrs.items()) + list(layer_dict.items()))
        return all_attrs

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        if self.model:
            self.model.trainable = value
        self._trainable = value

    @property
    def _weight_layers(self):
        return self.flattened_layers

    updates = _delegated("updates")

    state_updates = _delegated("state_updates")

    def get_updates_for(self, inputs):
        return self._built_model().get_updates_for(inputs)

    losses = _delegated("losses", settable=True)

    def get_losses_for(self, inputs):
        return self._built_model().get_losses_for(inputs)

    regularizers = _delegated("regularizers")

    constraints = _delegated("constraints", settable=True)

    def get_weights(self):
        """Weights of every layer (branch layers of a leading Merge first)."""
        weights = []
        for layer in self.flattened_layers:
            weights += layer.get_weights()
        return weights

    @property
    def validation_data(self):
        return self.model.validation_data if self.model else None

    @validation_data.setter
    def validation_data(self, value):
        pass

    @property
    def training_data(self):
        return self.model.training_data

    def compile(self, optimizer, loss, metrics=None, sample_weight_mode=None, **kwargs):
        """Configures the learning process (see `Model.compile`)."""
        self.build()
        if "class_mode" in kwargs:
            warnings.warn(
                "The `class_mode` argument is deprecated, please remove it from your code.", stacklevel=2
            )
            kwargs.pop("class_mode")
        self.model.compile(optimizer, loss, metrics=metrics, sample_weight_mode=sample_weight_mode, **kwargs)
        self.optimizer = self.model.optimizer
        self.loss = self.model.loss
        self.loss_weights = self.model.loss_weights
        self.metrics = self.model.metrics
        self.metrics_tensors = self.model.metrics_tensors
        self.metrics_names = self.model.metrics_names
        self.sample_weight_mode = self.model.sample_weight_mode
        self.targets = self.model.targets
        self.sample_weights = self.model.sample_weights
        self.total_loss = self.model.total_loss

    def _check_compiled(self, what):
        if self.model is None or not hasattr(self.model, "optimizer"):
            raise RuntimeError("The model needs to be compiled before being used (" + what + ").")

    def _check_call(self, what, kwargs, deprecated):
        """What Keras 1's Sequential checked before ``what``: the model is compiled; each
        keyword of ``deprecated`` (a name and its warning, None: the plain one) is dropped
        from ``kwargs`` with its warning; any other keyword is a TypeError."""
        self._check_compiled(what)
        for name, message in deprecated.items():
            if name in kwargs:
                kwargs.pop(name)
                warnings.warn(message or 'The "%s" argument is deprecated.' % name, stacklevel=3)
        if kwargs:
            raise TypeError("Received unknown keyword arguments: " + str(kwargs))

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
        **kwargs,
    ):
        """Trains the model for a fixed number of epochs (see `Model.fit`)."""
        self._check_call("fit", kwargs, {"show_accuracy": _SHOW_ACCURACY_IN_FIT})
        return self.model.fit(
            x,
            y,
            batch_size=batch_size,
            nb_epoch=nb_epoch,
            verbose=verbose,
            callbacks=callbacks,
            validation_split=validation_split,
            validation_data=validation_data,
            shuffle=shuffle,
            class_weight=class_weight,
            sample_weight=sample_weight,
            initial_epoch=initial_epoch,
        )

    def evaluate(self, x, y, batch_size=32, verbose=1, sample_weight=None, **kwargs):
        """Computes the loss on some input data, batch by batch."""
        self._check_call("evaluate", kwargs, {"show_accuracy": None})
        return self.model.evaluate(x, y, batch_size=batch_size, verbose=verbose, sample_weight=sample_weight)

    def predict(self, x, batch_size=32, verbose=0):
        """Generates output predictions for the input samples, batch by batch."""
        return self._built_model().predict(x, batch_size=batch_size, verbose=verbose)

    def predict_on_batch(self, x):
        return self._built_model().predict_on_batch(x)

    def train_on_batch(self, x, y, class_weight=None, sample_weight=None, **kwargs):
        self._check_compiled("train_on_batch")
        if kwargs:
            raise TypeError("Received unknown keyword arguments: " + str(kwargs))
        return self.model.train_on_batch(x, y, sample_weight=sample_weight, class_weight=class_weight)

    def test_on_batch(self, x, y, sample_weight=None, **kwargs):
        self._check_compiled("test_on_batch")
        if kwargs:
            raise TypeError("Received unknown keyword arguments: " + str(kwargs))
        return self.model.test_on_batch(x, y, sample_weight=sample_weight)

    def predict_proba(self, x, batch_size=32, verbose=1):
        """Class probabilities (the predictions; warns when outside [0, 1])."""
        preds = self.predict(x, batch_size, verbose)
        if preds.min() < 0.0 or preds.max() > 1.0:
            warnings.warn(
                "Network returning invalid probability values. The last layer might not normalize predictions into "
                "probabilities (like softmax or sigmoid would).",
                stacklevel=2,
            )
        return preds

    def predict_classes(self, x, batch_size=32, verbose=1):
        """Class predictions: argmax, or (p > 0.5) for a single output unit."""
        proba = self.predict(x, batch_size=batch_size, verbose=verbose)
        if proba.shape[-1] > 1:
            return proba.argmax(axis=-1)
        return (proba > 0.5).astype("int32")

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
        **kwargs,
    ):
        self._check_call(
            "fit_generator",
            kwargs,
            {
                "nb_val_worker": 'The "nb_val_worker" argument is deprecated, please remove it from your code.',
                "show_accuracy": None,
            },
        )
        return self.model.fit_generator(
            generator,
            samples_per_epoch,
            nb_epoch,
            verbose=verbose,
            callbacks=callbacks,
            validation_data=validation_data,
            nb_val_samples=nb_val_samples,
            class_weight=class_weight,
            max_q_size=max_q_size,
            nb_worker=nb_worker,
            pickle_safe=pickle_safe,
            initial_epoch=initial_epoch,
        )

    def evaluate_generator(
        self, generator, val_samples, max_q_size=10, nb_worker=1, pickle_safe=False, **kwargs
    ):
        self._check_call("evaluate_generator", kwargs, {"show_accuracy": None, "verbose": None})
        return self.model.evaluate_generator(
            generator, val_samples, max_q_size=max_q_size, nb_worker=nb_worker, pickle_safe=pickle_safe
        )

    def predict_generator(self, generator, val_samples, max_q_size=10, nb_worker=1, pickle_safe=False):
        return self._built_model().predict_generator(
            generator, val_samples, max_q_size=max_q_size, nb_worker=nb_worker, pickle_safe=pickle_safe
        )

    def get_config(self):
        """A list of `{'class_name', 'config'}` dicts, one per layer (a leading legacy
        Merge carries its branch models in `layers`)."""
        config = []
        if isinstance(self.layers[0], Merge):
            assert hasattr(self.layers[0], "layers")
            layers = []
            for layer in self.layers[0].layers:
                layer_config = {"class_name": layer.__class__.__name__, "config": layer.get_config()}
                layers.append(layer_config)
            merge_config = self.layers[0].get_config()
            merge_config["layers"] = layers
            config.append({"class_name": "Merge", "config": merge_config})
        else:
            config.append(
                {"class_name": self.layers[0].__class__.__name__, "config": self.layers[0].get_config()}
            )
        for layer in self.layers[1:]:
            config.append({"class_name": layer.__class__.__name__, "config": layer.get_config()})
        return config

    @classmethod
    def from_config(cls, config, layer_cache=None, custom_objects=None, safe_mode=True):
        """A Sequential from its `get_config()` list (or a legacy pre-1.0 list)."""
        from .utils.layer_utils import layer_from_config

        if not layer_cache:
            layer_cache = {}

        def normalize_legacy_config(conf):
            if "class_name" not in conf:
                class_name = conf["name"]
                name = conf.get("custom_name")
                conf["name"] = name
                new_config = {"class_name": class_name, "config": conf}
                return new_config
            return conf

        def get_or_create_layer(layer_data):
            if layer_data["class_name"] == "Sequential":
                return Sequential.from_config(
                    layer_data["config"],
                    layer_cache=layer_cache,
                    custom_objects=custom_objects,
                    safe_mode=safe_mode,
                )
            name = layer_data["config"].get("name")
            if name in layer_cache:
                return layer_cache[name]
            layer = layer_from_config(layer_data, custom_objects=custom_objects, safe_mode=safe_mode)
            layer_cache[name] = layer
            return layer

        model = cls()
        first_layer = config[0]
        first_layer = normalize_legacy_config(first_layer)
        if first_layer["class_name"] == "Merge":
            merge_inputs = []
            first_layer_config = dict(first_layer["config"])
            merge_inputs_config = first_layer_config.pop("layers")
            merge_name = first_layer_config["name"]
            for merge_input_config in merge_inputs_config:
                merge_input = layer_from_config(
                    merge_input_config, custom_objects=custom_objects, safe_mode=safe_mode
                )
                merge_inputs.append(merge_input)
            first_layer_config["layers"] = merge_inputs
            merge = Merge.from_config(first_layer_config, custom_objects=custom_objects, safe_mode=safe_mode)
            layer_cache[merge_name] = merge
            model.add(merge)
        else:
            layer = get_or_create_layer(first_layer)
            model.add(layer)
        for conf in config[1:]:
            conf = normalize_legacy_config(conf)
            layer = get_or_create_layer(conf)
            model.add(layer)
        return model

    def summary(self, line_length=100, positions=None):
        self._built_model()
        from .utils.layer_utils import print_summary

        print_summary(
            self.flattened_layers, getattr(self.model, "container_nodes", None), line_length, positions
        )

    def count_params(self):
        self._built_model()
        return sum(K.count_params(p) for p in self.weights)

    def reset_states(self):
        self._built_model().reset_states()

    @property
    def stateful(self):
        return any(getattr(layer, "stateful", False) for layer in self.flattened_layers)

    @property
    def history(self):
        return getattr(self.model, "history", None)

    @history.setter
    def history(self, value):
        pass


__all__ = [
    "Sequential",
    "Model",
    "Input",
    "InputLayer",
    "model_from_config",
    "model_from_json",
    "model_from_yaml",
    "save_model",
    "load_model",
]
