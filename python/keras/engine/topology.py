"""Topology: Layer, InputSpec, Node, InputLayer/Input, Merge/merge and Container.

Keras 1.2.2's graph-of-layers machinery. Calling a layer on a Keras tensor runs the
layer's ``call`` (which adds nodes to the native graph through ``keras.backend``) and
records a :class:`Node` linking input and output tensors, so a :class:`Container` can
walk the layer graph, re-apply it to new inputs, collect weights and save them.
"""

import copy
import inspect
import json
import os
import warnings

import numpy as np

from .. import backend as K
from ..utils.generic_utils import func_dump, revive_function

# ---------------------------------------------------------------------------------------


def to_list(x):
    """Wraps a non-list into a list."""
    if isinstance(x, list):
        return x
    return [x]


def object_list_uid(object_list):
    object_list = to_list(object_list)
    return ", ".join([str(abs(id(x))) for x in object_list])


class InputSpec:
    """Specifies the ndim, dtype and shape of every input to a layer.

    # Arguments
        dtype: expected dtype of the input.
        shape: expected shape (None entries are free).
        ndim: expected rank, or a string like '2+' meaning at least 2.
    """

    def __init__(self, dtype=None, shape=None, ndim=None):
        if isinstance(ndim, str):
            if "+" not in ndim:
                raise ValueError("When passing a str ndim, it should have the form '2+', '3+', etc.")
            int(ndim[: ndim.find("+")])
        if shape is not None:
            self.ndim = len(shape)
        else:
            self.ndim = ndim
        self.dtype = dtype
        self.shape = shape


class Node:
    """A connection between layers: created each time a layer is called on tensors.

    `outbound_layer` is the layer called; `inbound_layers[i]`, `node_indices[i]` and
    `tensor_indices[i]` locate the origin of `input_tensors[i]`.
    """

    def __init__(
        self,
        outbound_layer,
        inbound_layers,
        node_indices,
        tensor_indices,
        input_tensors,
        output_tensors,
        input_masks,
        output_masks,
        input_shapes,
        output_shapes,
    ):
        self.outbound_layer = outbound_layer
        self.inbound_layers = inbound_layers
        self.node_indices = node_indices
        self.tensor_indices = tensor_indices
        self.input_tensors = input_tensors
        self.output_tensors = output_tensors
        self.input_masks = input_masks
        self.output_masks = output_masks
        self.input_shapes = input_shapes
        self.output_shapes = output_shapes
        for layer in inbound_layers:
            if layer is not None:
                layer.outbound_nodes.append(self)
        outbound_layer.inbound_nodes.append(self)

    @classmethod
    def create_node(cls, outbound_layer, inbound_layers, node_indices=None, tensor_indices=None):
        if not node_indices:
            node_indices = [0 for _ in range(len(inbound_layers))]
        else:
            assert len(node_indices) == len(inbound_layers)
        if not tensor_indices:
            tensor_indices = [0 for _ in range(len(inbound_layers))]

        input_tensors = []
        input_masks = []
        input_shapes = []
        for inbound_layer, node_index, tensor_index in zip(inbound_layers, node_indices, tensor_indices):
            inbound_node = inbound_layer.inbound_nodes[node_index]
            input_tensors.append(inbound_node.output_tensors[tensor_index])
            input_masks.append(inbound_node.output_masks[tensor_index])
            input_shapes.append(inbound_node.output_shapes[tensor_index])

        assert len(input_shapes) == len(input_tensors) == len(input_masks)

        # The seeds and random nodes this call creates are kept by node index, for
        # keras.distributed's replicas (see `K.random_scope` and `K.SeedPlan`).
        node_index = len(outbound_layer.inbound_nodes)
        with K.random_scope(outbound_layer.name, node_index) as drawn:
            # one input is passed bare, several as lists
            args = (input_tensors, input_masks, input_shapes)
            x, x_mask, x_shape = [a[0] for a in args] if len(input_tensors) == 1 else args
            output_tensors = to_list(outbound_layer.call(x, mask=x_mask))
            output_masks = to_list(outbound_layer.compute_mask(x, x_mask))
            output_shapes = to_list(outbound_layer.get_output_shape_for(x_shape))
        if drawn.seeds:
            outbound_layer.__dict__.setdefault("_node_seeds", {})[node_index] = drawn.seeds
        if drawn.tensors:
            outbound_layer.__dict__.setdefault("_node_random", {})[node_index] = drawn.tensors

        if not output_tensors or output_tensors[0] is None:
            raise TypeError(
                "The `call` method of layer "
                + outbound_layer.name
                + " should return a tensor. Found: "
                + str(output_tensors[0])
            )
        # Keras 1's messages, the first with its doubled quote.
        for method, quote, what, found in (
            ("get_output_shape_for", '""', "shape tuple", output_shapes),
            ("compute_mask", '"', "mask tensor", output_masks),
        ):
            if len(output_tensors) != len(found):
                raise ValueError(
                    f'The `{method}` method of layer "{outbound_layer.name}{quote} should return one '
                    f"{what} per output tensor of the layer. Found: {found}"
                )
        output_tensors = _distinct_outputs(output_tensors, input_tensors)
        for i in range(len(output_tensors)):
            if output_shapes[i] is None:
                # a callable Merge mode without output_shape: the graph knows the shape
                output_shapes[i] = K.int_shape(output_tensors[i])
            output_tensors[i]._keras_shape = output_shapes[i]
            output_tensors[i]._uses_learning_phase = (
                any(getattr(x, "_uses_learning_phase", False) for x in input_tensors)
                or outbound_layer.uses_learning_phase
                or getattr(output_tensors[i], "_uses_learning_phase", False)
            )
            output_tensors[i]._keras_history = (outbound_layer, len(outbound_layer.inbound_nodes), i)

        return cls(
            outbound_layer,
            inbound_layers,
            node_indices,
            tensor_indices,
            input_tensors,
            output_tensors,
            input_masks,
            output_masks,
            input_shapes,
            output_shapes,
        )

    def get_config(self):
        inbound_names = []
        for layer in self.inbound_layers:
            if layer:
                inbound_names.append(layer.name)
            else:
                inbound_names.append(None)
        return {
            "outbound_layer": self.outbound_layer.name if self.outbound_layer else None,
            "inbound_layers": inbound_names,
            "node_indices": self.node_indices,
            "tensor_indices": self.tensor_indices,
        }


def _distinct_outputs(outputs, inputs):
    """A layer that returns one of its input tensors unchanged (linear activation, a
    Lambda returning x) gets an identity node, so that recording the output's
    `_keras_history` does not overwrite the input's."""
    out = []
    for t in outputs:
        if any(t is i for i in inputs) or not isinstance(t, K.Tensor):
            t = K.identity(t)
        out.append(t)
    return out


def _ids_key(inputs, masks):
    """A container's output-cache key: the ids of the input tensors and of their masks."""
    return ",".join([str(id(x)) for x in inputs]) + "_" + ",".join([str(id(x)) for x in masks])


def _keras_shape_of(x, declared=None):
    """The Keras shape of a tensor met while running a container's graph: its
    `_keras_shape` when it has one, else the graph's static shape, with the dimensions
    the graph leaves unknown taken from `declared` (the shape the model's input layer was
    built for) when the ranks agree."""
    shape = getattr(x, "_keras_shape", None)
    if shape is not None:
        return tuple(shape)
    shape = tuple(K.int_shape(x))
    if declared is not None and len(declared) == len(shape):
        shape = tuple(d if d is not None else s for d, s in zip(shape, declared))
    return shape


_ALLOWED_LAYER_KWARGS = {
    "input_shape",
    "batch_input_shape",
    "input_dtype",
    "name",
    "trainable",
    "create_input_layer",
}


def _unique_name(prefix):
    """``prefix_N``, N counting the names made with ``prefix`` (Keras 1's default layer names)."""
    return prefix + "_" + str(K.get_uid(prefix))


def merged_config(base_config, config):
    """A layer's ``get_config``: its parent's entries (``base_config``) then its own
    ``config`` (which win), in Keras 1's key order."""
    return dict(list(base_config.items()) + list(config.items()))


def distinct_objects(items):
    """``items`` without repeats of one object (by identity: tensors do not compare with
    ``==``), in first-seen order."""
    distinct = []
    for item in items:
        if not any(item is seen for seen in distinct):
            distinct.append(item)
    return distinct


def _incompatible(layer, input_index, expected, found):
    """The ValueError of ``assert_input_compatibility`` (Keras 1's message)."""
    return ValueError(
        f"Input {input_index} is incompatible with layer {layer.name}: expected {expected}, found {found}"
    )


def _at_node(attr, what):
    """A Layer method ``get_<what>_at(node_index)``: the node's ``attr`` (one item
    unwrapped)."""

    def get_at(self, node_index):
        return self._get_node_attribute_at_index(node_index, attr, what)

    get_at.__name__ = "get_" + what.replace(" ", "_") + "_at"
    get_at.__qualname__ = "Layer." + get_at.__name__
    get_at.__doc__ = f"The layer's {what} at its inbound node ``node_index``."
    return get_at


def _of_single_node(attr, what):
    """A Layer property: ``attr`` of the layer's only inbound node (an AttributeError
    when it has none or several)."""

    def get(self):
        self._single_node(what)
        return self._get_node_attribute_at_index(0, attr, what)

    return property(get, doc=f"The layer's {what} (it must have exactly one inbound node).")


def _ignored(self, value):
    """The setter of a property that Keras 1's Layer assigns and a Container derives
    (its weights, losses, ...): the assignment is ignored."""


class Layer:
    """Abstract base layer class (Keras 1.2.2 API).

    # Properties
        name, input_spec, trainable, uses_learning_phase, input_shape, output_shape,
        inbound_nodes, outbound_nodes, input, output, input_mask, output_mask,
        trainable_weights, non_trainable_weights, weights, constraints, built.

    # Methods
        call(x, mask=None), __call__(x, mask=None), get_weights(), set_weights(weights),
        get_config(), count_params(), get_output_shape_for(input_shape),
        compute_mask(x, mask), get_input_at(node_index), get_output_at(node_index),
        get_input_shape_at(node_index), get_output_shape_at(node_index),
        get_input_mask_at(node_index), get_output_mask_at(node_index),
        add_weight(...), add_loss(...), add_update(...).
    """

    def __init__(self, **kwargs):
        if not hasattr(self, "input_spec"):
            self.input_spec = None
        if not hasattr(self, "supports_masking"):
            self.supports_masking = False
        if not hasattr(self, "uses_learning_phase"):
            self.uses_learning_phase = False

        self.inbound_nodes = []
        self.outbound_nodes = []

        if not hasattr(self, "_trainable_weights"):
            self._trainable_weights = []
        if not hasattr(self, "_non_trainable_weights"):
            self._non_trainable_weights = []
        if not hasattr(self, "losses"):
            self.losses = []
        if not hasattr(self, "constraints"):
            self.constraints = {}
        self.built = False

        for kwarg in kwargs:
            if kwarg not in _ALLOWED_LAYER_KWARGS:
                raise TypeError("Keyword argument not understood: " + kwarg)
        self.name = kwargs.get("name") or _unique_name(self.__class__.__name__.lower())

        self.trainable = kwargs.get("trainable", True)
        if "batch_input_shape" in kwargs or "input_shape" in kwargs:
            if "batch_input_shape" in kwargs:
                batch_input_shape = tuple(kwargs["batch_input_shape"])
            else:
                batch_input_shape = (None,) + tuple(kwargs["input_shape"])
            self.batch_input_shape = batch_input_shape
            input_dtype = kwargs.get("input_dtype", K.floatx())
            self.input_dtype = input_dtype
            if kwargs.get("create_input_layer"):
                self.create_input_layer(batch_input_shape, input_dtype)

    # weights ---------------------------------------------------------------------------

    @property
    def trainable_weights(self):
        trainable = getattr(self, "trainable", True)
        if trainable:
            return self._trainable_weights
        return []

    @trainable_weights.setter
    def trainable_weights(self, weights):
        self._trainable_weights = weights

    @property
    def non_trainable_weights(self):
        trainable = getattr(self, "trainable", True)
        if not trainable:
            return self._trainable_weights + self._non_trainable_weights
        return self._non_trainable_weights

    @non_trainable_weights.setter
    def non_trainable_weights(self, weights):
        self._non_trainable_weights = weights

    @property
    def regularizers(self):
        warnings.warn(
            "The `regularizers` property of layers/models is deprecated. "
            "Regularization losses are now managed via the `losses` layer/model property.",
            stacklevel=2,
        )
        return []

    @regularizers.setter
    def regularizers(self, _):
        warnings.warn(
            "The `regularizers` property of layers/models is deprecated. "
            "Regularization losses are now managed via the `losses` layer/model property.",
            stacklevel=2,
        )

    def add_weight(self, shape, initializer, name=None, trainable=True, regularizer=None, constraint=None):
        """Adds a weight variable to the layer and returns it.

        # Arguments
            shape: the weight's shape tuple.
            initializer: an initializer name or function (keras.initializations).
            name: the variable name.
            trainable: whether the optimizer updates it.
            regularizer: an optional regularizer instance.
            constraint: an optional constraint instance.
        """
        from .. import initializations

        initializer = initializations.get(initializer)
        weight = initializer(shape, name=name)
        if regularizer is not None:
            self.add_loss(regularizer(weight))
        if constraint is not None:
            self.constraints[weight] = constraint
        if trainable:
            self._trainable_weights.append(weight)
        else:
            self._non_trainable_weights.append(weight)
        return weight

    # input checks ------------------------------------------------------------------

    def assert_input_compatibility(self, input):
        """Checks that `input` matches `self.input_spec` (ndim, dtype, shape)."""
        if not self.input_spec:
            return True
        if not isinstance(self.input_spec, list):
            raise TypeError(
                "input_spec must be a list of InputSpec instances. Found: " + str(self.input_spec)
            )
        inputs = to_list(input)
        if len(self.input_spec) > 1 and len(inputs) != len(self.input_spec):
            raise ValueError(
                "Layer " + self.name + " expects " + str(len(self.input_spec)) + " inputs, "
                "but it received " + str(len(inputs)) + " input tensors. Input received: " + str(input)
            )
        for input_index, (x, spec) in enumerate(zip(inputs, self.input_spec)):
            if spec is None:
                continue
            if spec.ndim is not None:
                found = "ndim=" + str(K.ndim(x)) + " (input shape " + str(K.int_shape(x)) + ")"
                if isinstance(spec.ndim, str):
                    ndim = int(spec.ndim[: spec.ndim.find("+")])
                    if K.ndim(x) < ndim:
                        raise _incompatible(self, input_index, "ndim >= " + str(ndim), found)
                elif K.ndim(x) != spec.ndim:
                    raise _incompatible(self, input_index, "ndim=" + str(spec.ndim), found)
            if spec.dtype is not None and K.dtype(x) != spec.dtype:
                raise _incompatible(self, input_index, "dtype=" + str(spec.dtype), "dtype=" + str(K.dtype(x)))
            if spec.shape is not None:
                x_shape = x._keras_shape if hasattr(x, "_keras_shape") else K.int_shape(x)
                for spec_dim, dim in zip(spec.shape, x_shape):
                    if spec_dim is not None and dim is not None and spec_dim != dim:
                        raise _incompatible(
                            self, input_index, "shape=" + str(spec.shape), "shape=" + str(x_shape)
                        )

    # calling ---------------------------------------------------------------------------

    def call(self, x, mask=None):
        """The layer's logic; returns x by default."""
        return x

    def __call__(self, x, mask=None):
        """Wraps `call`: builds the layer on first use and records a Node when the inputs
        are Keras tensors (so the layer graph can be walked)."""
        if not self.built:
            self.assert_input_compatibility(x)
            input_shapes = []
            for x_elem in to_list(x):
                if hasattr(x_elem, "_keras_shape"):
                    input_shapes.append(x_elem._keras_shape)
                elif hasattr(K, "int_shape"):
                    input_shapes.append(K.int_shape(x_elem))
                else:
                    raise ValueError(
                        "You tried to call layer "
                        + self.name
                        + ". This layer has no information about its expected input shape, "
                        "and thus cannot be built. You can build it manually via: `layer.build(batch_input_shape)`"
                    )
            if len(input_shapes) == 1:
                self.build(input_shapes[0])
            else:
                self.build(input_shapes)
            self.built = True

        self.assert_input_compatibility(x)

        input_tensors = to_list(x)
        inbound_layers = []
        node_indices = []
        tensor_indices = []
        for input_tensor in input_tensors:
            if hasattr(input_tensor, "_keras_history") and input_tensor._keras_history:
                previous_layer, node_index, tensor_index = input_tensor._keras_history
                inbound_layers.append(previous_layer)
                node_indices.append(node_index)
                tensor_indices.append(tensor_index)
            else:
                inbound_layers = None
                break

        if inbound_layers:
            self.add_inbound_node(inbound_layers, node_indices, tensor_indices)
            outputs = self.inbound_nodes[-1].output_tensors
            output = outputs[0] if len(outputs) == 1 else outputs
        else:
            output = self.call(x, mask)
        if getattr(self, "activity_regularizer", None) is not None:
            regularization_losses = [self.activity_regularizer(o) for o in to_list(output)]
            self.add_loss(regularization_losses, input_tensors)
        return output

    def add_inbound_node(self, inbound_layers, node_indices=None, tensor_indices=None):
        inbound_layers = to_list(inbound_layers)
        if not node_indices:
            node_indices = [0 for _ in range(len(inbound_layers))]
        else:
            node_indices = to_list(node_indices)
            assert len(node_indices) == len(inbound_layers)
        if not tensor_indices:
            tensor_indices = [0 for _ in range(len(inbound_layers))]
        else:
            tensor_indices = to_list(tensor_indices)

        if not self.built:
            input_shapes = []
            for layer, node_index, tensor_index in zip(inbound_layers, node_indices, tensor_indices):
                input_shapes.append(layer.inbound_nodes[node_index].output_shapes[tensor_index])
            if len(input_shapes) == 1:
                self.build(input_shape=input_shapes[0])
            else:
                self.build(input_shape=input_shapes)
            self.built = True
        Node.create_node(self, inbound_layers, node_indices, tensor_indices)

    def get_output_shape_for(self, input_shape):
        """The output shape for a given input shape; identity by default."""
        return input_shape

    def compute_mask(self, input, input_mask=None):
        """The output mask; passes the mask through when supports_masking, else raises
        when a mask arrives."""
        if not hasattr(self, "supports_masking") or not self.supports_masking:
            # a list of masks raises only when one of them is set
            if input_mask is not None and (not isinstance(input_mask, list) or any(input_mask)):
                raise ValueError(
                    "Layer "
                    + self.name
                    + " does not support masking, but was passed an input_mask: "
                    + str(input_mask)
                )
            return None
        return input_mask

    def build(self, input_shape):
        """Creates the weights; the base only marks the layer built."""
        self.built = True

    # node attribute access ---------------------------------------------------------------

    def _get_node_attribute_at_index(self, node_index, attr, attr_name):
        if not self.inbound_nodes:
            raise RuntimeError("The layer has never been called and thus has no defined " + attr_name + ".")
        if not len(self.inbound_nodes) > node_index:
            raise ValueError(
                "Asked to get "
                + attr_name
                + " at node "
                + str(node_index)
                + ", but the layer has only "
                + str(len(self.inbound_nodes))
                + " inbound nodes."
            )
        values = getattr(self.inbound_nodes[node_index], attr)
        if len(values) == 1:
            return values[0]
        return values

    get_input_shape_at = _at_node("input_shapes", "input shape")
    get_output_shape_at = _at_node("output_shapes", "output shape")
    get_input_at = _at_node("input_tensors", "input")
    get_output_at = _at_node("output_tensors", "output")
    get_input_mask_at = _at_node("input_masks", "input mask")
    get_output_mask_at = _at_node("output_masks", "output mask")

    def _single_node(self, what):
        if len(self.inbound_nodes) > 1:
            raise AttributeError(
                "Layer "
                + self.name
                + ' has multiple inbound nodes, hence the notion of "layer '
                + what
                + '" is ill-defined. Use `get_'
                + what.replace(" ", "_")
                + "_at(node_index)` instead."
            )
        if not self.inbound_nodes:
            raise AttributeError("Layer " + self.name + " is not connected, no " + what + " to return.")

    input = _of_single_node("input_tensors", "input")
    output = _of_single_node("output_tensors", "output")
    input_mask = _of_single_node("input_masks", "input mask")
    output_mask = _of_single_node("output_masks", "output mask")

    @property
    def input_shape(self):
        return self._shape_of_every_node("input")

    @property
    def output_shape(self):
        return self._shape_of_every_node("output")

    def _shape_of_every_node(self, kind):
        """The ``kind`` ('input' / 'output') shape(s) the layer's inbound nodes all share;
        an AttributeError when it was never called or the nodes differ."""
        if not self.inbound_nodes:
            raise AttributeError(f"The layer has never been called and thus has no defined {kind} shape.")
        attr = kind + "_shapes"
        if len(set(str(getattr(node, attr)) for node in self.inbound_nodes)) == 1:
            shapes = getattr(self.inbound_nodes[0], attr)
            return shapes[0] if len(shapes) == 1 else shapes
        raise AttributeError(
            'The layer "'
            + str(self.name)
            + f" has multiple inbound nodes, with different {kind} shapes. Hence the notion of "
            f'"{kind} shape" is ill-defined for the layer. Use `get_{kind}_shape_at(node_index)` instead.'
        )

    # losses and updates ----------------------------------------------------------------

    def add_loss(self, losses, inputs=None):
        self._add_per_input("losses", losses, inputs)

    def add_update(self, updates, inputs=None):
        self._add_per_input("updates", updates, inputs)

    def get_updates_for(self, inputs):
        return self._per_input("updates", inputs)

    def get_losses_for(self, inputs):
        return self._per_input("losses", inputs)

    def _add_per_input(self, kind, items, inputs):
        """Appends ``items`` to the layer's ``kind`` ('losses' or 'updates') and records
        them under ``inputs`` (None: unconditional) for ``_per_input``."""
        if items is None:
            return
        items = to_list(items)
        if not hasattr(self, kind):
            setattr(self, kind, [])
        try:
            current = getattr(self, kind)
            current += items
            setattr(self, kind, current)
        except AttributeError:
            pass
        if not hasattr(self, "_per_input_" + kind):
            setattr(self, "_per_input_" + kind, {})
        per_input = getattr(self, "_per_input_" + kind)
        inputs_hash = object_list_uid(inputs) if inputs is not None else None
        per_input.setdefault(inputs_hash, []).extend(items)

    def _per_input(self, kind, inputs):
        """The ``kind`` added for ``inputs`` (None: the unconditional ones)."""
        per_input = getattr(self, "_per_input_" + kind, None)
        if per_input is None:
            return []
        inputs_hash = object_list_uid(inputs) if inputs is not None else None
        return per_input.get(inputs_hash, [])

    @property
    def weights(self):
        return self.trainable_weights + self.non_trainable_weights

    def set_weights(self, weights):
        """Sets the weights from a list of numpy arrays (count and shapes must match)."""
        params = self.weights
        if len(params) != len(weights):
            raise ValueError(
                'You called `set_weights(weights)` on layer "'
                + self.name
                + '" with a  weight list of length '
                + str(len(weights))
                + ", but the layer was expecting "
                + str(len(params))
                + " weights. Provided weights: "
                + str(weights)[:50]
                + "..."
            )
        if not params:
            return
        pairs = []
        for p, w in zip(params, weights):
            pv = K.get_variable_shape(p)
            w = np.asarray(w)
            if pv != w.shape:
                raise ValueError(
                    "Layer weight shape "
                    + str(pv)
                    + " not compatible with provided weight shape "
                    + str(w.shape)
                    + " (layer "
                    + self.name
                    + ", weight "
                    + p.name
                    + ")"
                )
            pairs.append((p, w))
        K.batch_set_value(pairs)

    def get_weights(self):
        """The weights as a list of numpy arrays."""
        return K.batch_get_value(self.weights)

    def get_config(self):
        """The layer's configuration: enough to re-create it with `from_config`."""
        config = {"name": self.name, "trainable": self.trainable}
        if hasattr(self, "batch_input_shape"):
            config["batch_input_shape"] = self.batch_input_shape
        if hasattr(self, "input_dtype"):
            config["input_dtype"] = self.input_dtype
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def count_params(self):
        """Number of scalars in the layer's weights."""
        if not self.built:
            if self.__class__.__name__ == "Sequential":
                self.build()
            else:
                raise RuntimeError(
                    "You tried to call `count_params` on " + self.name + ", but the layer isn't built. "
                    "You can build it manually via: `" + self.name + ".build(batch_input_shape)`."
                )
        return sum([K.count_params(p) for p in self.weights])

    def create_input_layer(self, batch_input_shape, input_dtype=None, name=None):
        if not name:
            prefix = self.__class__.__name__.lower() + "_input_"
            name = prefix + str(K.get_uid(prefix))
        if not input_dtype:
            input_dtype = K.floatx()
        self.batch_input_shape = batch_input_shape
        self.input_dtype = input_dtype
        x = Input(batch_shape=batch_input_shape, dtype=input_dtype, name=name)
        self(x)


class InputLayer(Layer):
    """The layer behind `Input`: a placeholder entry point of a model."""

    def __init__(
        self,
        input_shape=None,
        batch_input_shape=None,
        input_dtype=None,
        input_tensor=None,
        sparse=False,
        name=None,
    ):
        super().__init__(name=name or _unique_name("input"), trainable=False)
        self.built = True
        self.sparse = sparse

        if input_shape and batch_input_shape:
            raise ValueError(
                "Only provide the input_shape OR batch_input_shape argument to InputLayer, not both at the same time."
            )
        if input_tensor is not None:
            input_shape = K.int_shape(input_tensor)
            if input_shape is not None:
                batch_input_shape = input_shape
                input_shape = None
        if not batch_input_shape:
            if not input_shape:
                raise ValueError(
                    "An Input layer should be passed either a `batch_input_shape` or an `input_shape`."
                )
            batch_input_shape = (None,) + tuple(input_shape)
        else:
            batch_input_shape = tuple(batch_input_shape)
        if not input_dtype:
            if input_tensor is None:
                input_dtype = K.floatx()
            else:
                input_dtype = K.dtype(input_tensor)

        self.batch_input_shape = batch_input_shape
        self.input_dtype = input_dtype

        if input_tensor is None:
            input_tensor = K.placeholder(
                shape=batch_input_shape, dtype=input_dtype, sparse=self.sparse, name=self.name
            )
        else:
            input_tensor._keras_shape = batch_input_shape
        input_tensor._uses_learning_phase = False
        input_tensor._keras_history = (self, 0, 0)
        Node(
            self,
            inbound_layers=[],
            node_indices=[],
            tensor_indices=[],
            input_tensors=[input_tensor],
            output_tensors=[input_tensor],
            input_masks=[None],
            output_masks=[None],
            input_shapes=[batch_input_shape],
            output_shapes=[batch_input_shape],
        )

    def get_config(self):
        return {
            "batch_input_shape": self.batch_input_shape,
            "input_dtype": self.input_dtype,
            "sparse": self.sparse,
            "name": self.name,
        }


def Input(shape=None, batch_shape=None, name=None, dtype=None, sparse=False, tensor=None):
    """Instantiates a Keras tensor (a placeholder with layer history).

    # Arguments
        shape: shape tuple without the batch axis.
        batch_shape: shape tuple including the batch axis.
        name: an optional name.
        dtype: the input dtype (floatx by default).
        sparse: a sparse placeholder (`K.is_sparse` is True for it): it is fed
            `scipy.sparse` matrices, densified batch by batch.
        tensor: an existing tensor to wrap.
    """
    if not batch_shape and tensor is None:
        assert shape, (
            "Please provide to Input either a `shape` or a `batch_shape` argument. Note that `shape` does not include the "
            "batch dimension."
        )
    if shape and not batch_shape:
        batch_shape = (None,) + tuple(shape)
    input_layer = InputLayer(
        batch_input_shape=batch_shape,
        name=name,
        input_dtype=dtype or K.floatx(),
        sparse=sparse,
        input_tensor=tensor,
    )
    outputs = input_layer.inbound_nodes[0].output_tensors
    if len(outputs) == 1:
        return outputs[0]
    return outputs


# ---------------------------------------------------------------------------------------
# Merge


class Merge(Layer):
    """Merges a list of tensors (or of models' outputs) into one.

    # Arguments
        layers: a list of layers or models to merge immediately (the Keras 1 branch
            style `Merge([left, right], mode='concat')`), or None.
        mode: 'sum' (default), 'mul', 'concat', 'ave', 'cos', 'dot', 'max', or a
            callable. A callable receives the list of tensors; ferrokeras also accepts a
            callable taking one argument per input (`lambda x, y: x - y`, as the
            Sequential guide writes).
        concat_axis: axis for 'concat'.
        dot_axes: axes for 'dot'/'cos' (int or pair).
        output_shape: for a callable mode: a shape tuple without batch, or a function of
            the list of input shapes. Keras 1 required it; ferrokeras infers it from the
            graph when omitted.
        output_mask: for a callable mode: a mask or a function of the input masks.
        arguments: extra keyword arguments for a callable mode.
        node_indices, tensor_indices: which node/tensor of each layer to merge.
        name: layer name.
    """

    def __init__(
        self,
        layers=None,
        mode="sum",
        concat_axis=-1,
        dot_axes=-1,
        output_shape=None,
        output_mask=None,
        arguments=None,
        node_indices=None,
        tensor_indices=None,
        name=None,
    ):
        self.layers = layers
        self.mode = mode
        self.concat_axis = concat_axis
        self.dot_axes = dot_axes
        self._output_shape = output_shape
        self.node_indices = node_indices
        self._output_mask = output_mask
        self.arguments = arguments if arguments else {}
        self.supports_masking = True
        super().__init__(name=name)

        if layers:
            if not node_indices:
                node_indices = [0 for _ in range(len(layers))]
            self._arguments_validation(layers, mode, concat_axis, dot_axes, node_indices, tensor_indices)
            self.built = True
            self.add_inbound_node(layers, node_indices, tensor_indices)
        else:
            self.built = False

    def _arguments_validation(self, layers, mode, concat_axis, dot_axes, node_indices, tensor_indices):
        if not callable(mode):
            if mode not in {"sum", "mul", "concat", "ave", "cos", "dot", "max"}:
                raise ValueError("Invalid merge mode: " + str(mode))
        if not isinstance(layers, (list, tuple)) or len(layers) < 2:
            raise TypeError(
                "A Merge should only be applied to a list of layers with at least 2 elements. Found: "
                + str(layers)
            )
        if tensor_indices is None:
            tensor_indices = [None for _ in range(len(layers))]

        input_shapes = []
        for i, layer in enumerate(layers):
            layer_output_shape = layer.get_output_shape_at(node_indices[i])
            if isinstance(layer_output_shape, list):
                layer_output_shape = layer_output_shape[tensor_indices[i] or 0]
            input_shapes.append(layer_output_shape)

        if mode in {"sum", "mul", "ave", "cos", "max"}:
            input_shapes_set = set(input_shapes)
            if len(input_shapes_set) > 1:
                raise ValueError(
                    "Only layers of same output shape can be merged using "
                    + mode
                    + " mode. "
                    + "Layer shapes: %s" % input_shapes
                )
        if mode in {"cos", "dot"}:
            if len(layers) > 2:
                raise ValueError(mode + " merge takes exactly 2 layers")
            shape1 = input_shapes[0]
            shape2 = input_shapes[1]
            n1 = len(shape1)
            n2 = len(shape2)
            if isinstance(dot_axes, int):
                if dot_axes < 0:
                    self.dot_axes = [dot_axes % n1, dot_axes % n2]
                else:
                    self.dot_axes = [dot_axes] * 2
            if not isinstance(self.dot_axes, (list, tuple)):
                raise TypeError("Invalid type for dot_axes - should be a list.")
            if len(self.dot_axes) != 2:
                raise ValueError("Invalid format for dot_axes - should contain two elements.")
            if not isinstance(self.dot_axes[0], int) or not isinstance(self.dot_axes[1], int):
                raise ValueError('Invalid format for dot_axes - list elements should be "int".')
            if shape1[self.dot_axes[0]] != shape2[self.dot_axes[1]]:
                raise ValueError(
                    "Dimension incompatibility using dot mode: %s != %s. Layer shapes: %s, %s"
                    % (shape1[self.dot_axes[0]], shape2[self.dot_axes[1]], shape1, shape2)
                )
        elif mode == "concat":
            reduced_inputs_shapes = [list(shape) for shape in input_shapes]
            shape_set = set()
            for i in range(len(reduced_inputs_shapes)):
                del reduced_inputs_shapes[i][self.concat_axis]
                shape_set.add(tuple(reduced_inputs_shapes[i]))
            if len(shape_set) > 1:
                raise ValueError(
                    '"concat" mode can only merge layers with matching output shapes except for the concat axis. '
                    "Layer shapes: %s" % (input_shapes)
                )

    def call(self, inputs, mask=None):
        if not isinstance(inputs, list) or len(inputs) <= 1:
            raise TypeError("Merge must be called on a list of tensors (at least 2). Got: " + str(inputs))
        if callable(self.mode):
            arguments = self.arguments
            try:
                params = inspect.signature(self.mode).parameters
            except (TypeError, ValueError):
                params = {}
            if "mask" in params:
                arguments["mask"] = mask
            positional = [
                p
                for p in params.values()
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                and p.name != "mask"
                and p.name not in arguments
                and p.default is p.empty
            ]
            has_varargs = any(p.kind == p.VAR_POSITIONAL for p in params.values())
            if len(inputs) > 1 and (len(positional) == len(inputs) or (has_varargs and not positional)):
                return self.mode(*inputs, **arguments)
            return self.mode(inputs, **arguments)

        if self.mode == "sum" or self.mode == "ave":
            s = inputs[0]
            for i in range(1, len(inputs)):
                s = s + inputs[i]
            if self.mode == "ave":
                s = s / len(inputs)
            return s
        elif self.mode == "concat":
            return K.concatenate(inputs, axis=self.concat_axis)
        elif self.mode == "mul":
            s = inputs[0]
            for i in range(1, len(inputs)):
                s = s * inputs[i]
            return s
        elif self.mode == "max":
            s = inputs[0]
            for i in range(1, len(inputs)):
                s = K.maximum(s, inputs[i])
            return s
        elif self.mode == "dot":
            l1, l2 = inputs
            output = K.batch_dot(l1, l2, self.dot_axes)
            return output
        elif self.mode == "cos":
            l1, l2 = inputs
            denominator = K.sqrt(K.batch_dot(l1, l1, self.dot_axes) * K.batch_dot(l2, l2, self.dot_axes))
            denominator = K.maximum(denominator, K.epsilon())
            output = K.batch_dot(l1, l2, self.dot_axes) / denominator
            if K.ndim(output) == 1:
                output = K.expand_dims(output, 1)
            return output
        raise ValueError("Unknown merge mode.")

    def __call__(self, inputs, mask=None):
        if not isinstance(inputs, list):
            raise TypeError(
                "Merge can only be called on a list of tensors, not a single tensor. Received: " + str(inputs)
            )
        if self.built:
            raise RuntimeError(
                'A Merge layer cannot be used more than once, please use the "merge" function instead: '
                "`merged_tensor = merge([tensor_1, tensor2])`."
            )
        history = _keras_histories(inputs)
        if history is not None:
            layers, node_indices, tensor_indices = history
            self._arguments_validation(
                layers, self.mode, self.concat_axis, self.dot_axes, node_indices, tensor_indices
            )
            self.built = True
            self.add_inbound_node(layers, node_indices, tensor_indices)
            outputs = self.inbound_nodes[-1].output_tensors
            return outputs[0]
        return self.call(inputs, mask)

    def get_output_shape_for(self, input_shape):
        assert isinstance(input_shape, list)
        if callable(self.mode):
            if callable(self._output_shape):
                output_shape = self._output_shape(input_shape)
                return output_shape
            elif self._output_shape is not None:
                return (input_shape[0][0],) + tuple(self._output_shape)
            # Keras 1 raised here; ferrokeras infers the shape from the graph (the output
            # tensor's static shape), so `mode=lambda x, y: x - y` works as the guide shows.
            return None
        elif self.mode in {"sum", "mul", "ave", "max"}:
            return input_shape[0]
        elif self.mode == "concat":
            output_shape = list(input_shape[0])
            for shape in input_shape[1:]:
                if output_shape[self.concat_axis] is None or shape[self.concat_axis] is None:
                    output_shape[self.concat_axis] = None
                    break
                output_shape[self.concat_axis] += shape[self.concat_axis]
            return tuple(output_shape)
        elif self.mode in {"dot", "cos"}:
            shape1 = list(input_shape[0])
            shape2 = list(input_shape[1])
            shape1.pop(self.dot_axes[0])
            shape2.pop(self.dot_axes[1])
            shape2.pop(0)
            output_shape = shape1 + shape2
            if len(output_shape) == 1:
                output_shape += [1]
            return tuple(output_shape)

    def compute_mask(self, inputs, mask=None):
        if mask is None or all([m is None for m in mask]):
            return None
        assert hasattr(mask, "__len__") and len(mask) == len(inputs)
        if self.mode in ["sum", "mul", "ave"]:
            masks = [K.expand_dims(m, 0) for m in mask if m is not None]
            return K.all(K.concatenate(masks, axis=0), axis=0, keepdims=False)
        elif self.mode == "concat":
            masks = []
            for input_i, mask_i in zip(inputs, mask):
                if mask_i is None:
                    masks.append(K.ones_like(input_i))
                elif K.ndim(mask_i) < K.ndim(input_i):
                    masks.append(K.expand_dims(mask_i))
                else:
                    masks.append(mask_i)
            concatenated = K.concatenate(masks, axis=self.concat_axis)
            return K.all(concatenated, axis=-1, keepdims=False)
        elif self.mode in ["cos", "dot"]:
            return None
        elif callable(self.mode):
            if callable(self._output_mask):
                return self._output_mask(mask)
            return self._output_mask
        raise ValueError("Invalid merge mode: {}".format(self.mode))

    def get_config(self):
        mode, mode_type = _serialize_callable(self.mode)
        output_shape, output_shape_type = _serialize_callable(self._output_shape)
        output_mask, output_mask_type = _serialize_callable(self._output_mask)
        return {
            "name": self.name,
            "mode": mode,
            "mode_type": mode_type,
            "concat_axis": self.concat_axis,
            "dot_axes": self.dot_axes,
            "output_shape": output_shape,
            "output_shape_type": output_shape_type,
            "output_mask": output_mask,
            "output_mask_type": output_mask_type,
            "arguments": self.arguments,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None, safe_mode=True):
        """A Merge from its config; a `mode`, `output_shape` or `output_mask` stored as
        bytecode is revived only with `safe_mode=False` or from `custom_objects` under
        the layer's name (see `keras.utils.generic_utils.revive_function`)."""
        config = dict(config)
        for key, type_key in (
            ("mode", "mode_type"),
            ("output_shape", "output_shape_type"),
            ("output_mask", "output_mask_type"),
        ):
            kind = config.pop(type_key, "raw")
            config[key] = revive_function(
                config.get(key), kind, config.get("name"), key, custom_objects, safe_mode, globs=globals()
            )
        return cls(**config)


def _serialize_callable(value):
    """Keras 1's encoding of a possibly-callable argument: (value, type) with type
    'lambda' (marshalled bytecode), 'function' (by name) or 'raw'."""
    if isinstance(value, type(lambda: 0)):
        return func_dump(value), "lambda"
    if callable(value):
        return value.__name__, "function"
    return value, "raw"


def _keras_histories(inputs):
    """The layers, node indices and tensor indices the Keras tensors `inputs` come
    from; None unless every input is a Keras tensor."""
    if not all(hasattr(x, "_keras_history") for x in inputs):
        return None
    histories = [x._keras_history for x in inputs]
    return [h[0] for h in histories], [h[1] for h in histories], [h[2] for h in histories]


def merge(
    inputs,
    mode="sum",
    concat_axis=-1,
    dot_axes=-1,
    output_shape=None,
    output_mask=None,
    arguments=None,
    name=None,
):
    """Functional merge of a list of Keras tensors; see `Merge`."""
    options = dict(
        mode=mode,
        concat_axis=concat_axis,
        dot_axes=dot_axes,
        output_shape=output_shape,
        output_mask=output_mask,
        arguments=arguments,
        name=name,
    )
    history = _keras_histories(inputs)
    if history is None:
        return Merge(**options)(inputs)
    input_layers, node_indices, tensor_indices = history
    merge_layer = Merge(input_layers, node_indices=node_indices, tensor_indices=tensor_indices, **options)
    return merge_layer.inbound_nodes[0].output_tensors[0]


# ---------------------------------------------------------------------------------------
# Container


class Container(Layer):
    """A directed acyclic graph of layers: the topology half of `Model`.

    # Arguments
        input: an input tensor or list of input tensors (from `Input`).
        output: an output tensor or list of them.
        name: the container's name.
    """

    def __init__(self, input, output, name=None):
        self.supports_masking = True
        self.constraints = {}
        self._trainable_weights = []
        self._non_trainable_weights = []
        self.input_spec = None
        self.losses = []
        self.inbound_nodes = []
        self.outbound_nodes = []
        self.trainable = True
        self.name = name or _unique_name(self.__class__.__name__.lower())

        if isinstance(input, (list, tuple)):
            self.inputs = list(input)
        else:
            self.inputs = [input]
        if isinstance(output, (list, tuple)):
            self.outputs = list(output)
        else:
            self.outputs = [output]

        inputs_set = []
        for x in self.inputs:
            if any(x is y for y in inputs_set):
                raise ValueError(
                    "The list of inputs passed to the model is redundant. All inputs should only appear once. "
                    "Found: " + str(self.inputs)
                )
            inputs_set.append(x)

        self.input_layers = []
        self.input_layers_node_indices = []
        self.input_layers_tensor_indices = []
        self.output_layers = []
        self.output_layers_node_indices = []
        self.output_layers_tensor_indices = []
        self.layers = []

        for x in self.inputs:
            if not hasattr(x, "_keras_history"):
                cls_name = self.__class__.__name__
                raise TypeError(
                    "Input tensors to a "
                    + cls_name
                    + " must be Keras tensors. Found: "
                    + str(x)
                    + " (missing Keras metadata)."
                )
            layer, node_index, tensor_index = x._keras_history
            if len(layer.inbound_nodes) > 1 or (
                layer.inbound_nodes and layer.inbound_nodes[0].inbound_layers
            ):
                cls_name = self.__class__.__name__
                warnings.warn(
                    cls_name
                    + " inputs must come from a Keras Input layer, they cannot be the output of a previous "
                    'non-Input layer. Here, a tensor specified as input to "'
                    + self.name
                    + '" was not an Input tensor, '
                    "it was generated by layer " + layer.name + ".",
                    stacklevel=2,
                )
        for x in self.outputs:
            if not hasattr(x, "_keras_history"):
                cls_name = self.__class__.__name__
                raise TypeError(
                    "Output tensors to a " + cls_name + " must be Keras tensors. Found: " + str(x)
                )

        def masks_of(tensors):
            masks = []
            for x in tensors:
                layer, node_index, tensor_index = x._keras_history
                masks.append(layer.inbound_nodes[node_index].output_masks[tensor_index])
            return masks

        masks = masks_of(self.inputs)
        mask_cache_key = ",".join([str(id(x)) for x in self.inputs])
        mask_cache_key += "_" + ",".join([str(id(x)) for x in masks])
        masks = masks_of(self.outputs)
        if len(masks) == 1:
            mask = masks[0]
        else:
            mask = masks
        self._output_mask_cache = {mask_cache_key: mask}
        self._output_tensor_cache = {}
        self._output_shape_cache = {}

        for x in self.outputs:
            layer, node_index, tensor_index = x._keras_history
            self.output_layers.append(layer)
            self.output_layers_node_indices.append(node_index)
            self.output_layers_tensor_indices.append(tensor_index)

        for x in self.inputs:
            layer, node_index, tensor_index = x._keras_history
            assert node_index == 0
            assert tensor_index == 0
            self.input_layers.append(layer)
            self.input_layers_node_indices.append(node_index)
            self.input_layers_tensor_indices.append(tensor_index)

        self.internal_input_shapes = [x._keras_shape for x in self.inputs]
        self.internal_output_shapes = [x._keras_shape for x in self.outputs]

        # Walk the graph back from the outputs: collect nodes and give every node and
        # layer a depth (longest path to an output).
        container_nodes = set()
        nodes_depths = {}
        layers_depths = {}
        layer_indices = {}

        def make_node_marker(node, depth):
            return str(id(node)) + "-" + str(depth)

        def build_map_of_graph(
            tensor, seen_nodes=None, depth=0, layer=None, node_index=None, tensor_index=None
        ):
            if seen_nodes is None:
                seen_nodes = set()
            if not layer or node_index is None or tensor_index is None:
                layer, node_index, tensor_index = tensor._keras_history
            node = layer.inbound_nodes[node_index]

            # One visit per (node, depth): the marker set is shared by the whole walk,
            # as in Keras 1.2.2 (a per-path copy makes branchy graphs such as
            # InceptionV3 exponential).
            seen_nodes.add(make_node_marker(node, depth))
            container_nodes.add(self._node_key(layer, node_index))

            node_key = id(node)
            if node_key not in nodes_depths:
                nodes_depths[node_key] = (node, depth)
            else:
                nodes_depths[node_key] = (node, max(depth, nodes_depths[node_key][1]))
            lkey = id(layer)
            if lkey not in layers_depths:
                current_depth = depth
            else:
                current_depth = max(depth, layers_depths[lkey][1])
            layers_depths[lkey] = (layer, current_depth)
            if lkey not in layer_indices:
                layer_indices[lkey] = len(layer_indices)

            for i in range(len(node.inbound_layers)):
                x = node.input_tensors[i]
                layer = node.inbound_layers[i]
                node_index = node.node_indices[i]
                tensor_index = node.tensor_indices[i]
                next_node = layer.inbound_nodes[node_index]
                if make_node_marker(next_node, current_depth + 1) not in seen_nodes:
                    build_map_of_graph(x, seen_nodes, current_depth + 1, layer, node_index, tensor_index)

        for x in self.outputs:
            seen_nodes = set()
            build_map_of_graph(x, seen_nodes, depth=0)

        nodes_by_depth = {}
        for node, depth in nodes_depths.values():
            nodes_by_depth.setdefault(depth, []).append(node)
        layers_by_depth = {}
        for layer, depth in layers_depths.values():
            layers_by_depth.setdefault(depth, []).append(layer)

        depth_keys = list(layers_by_depth.keys())
        depth_keys.sort(reverse=True)
        layers = []
        for depth in depth_keys:
            layers_for_depth = layers_by_depth[depth]
            if K.legacy_weight_ordering():
                layers_for_depth.sort(key=lambda x: x.name)
            else:
                layers_for_depth.sort(key=lambda x: layer_indices[id(x)])
            for layer in layers_for_depth:
                layers.append(layer)
        self.layers = layers
        self.layers_by_depth = layers_by_depth

        depth_keys = list(nodes_by_depth.keys())
        depth_keys.sort(reverse=True)

        computable_tensors = []
        for x in self.inputs:
            computable_tensors.append(x)
        layers_with_complete_input = []
        for depth in depth_keys:
            for node in nodes_by_depth[depth]:
                layer = node.outbound_layer
                if layer:
                    for x in node.input_tensors:
                        if not any(x is c for c in computable_tensors):
                            raise RuntimeError(
                                "Graph disconnected: cannot obtain value for tensor "
                                + str(x)
                                + ' at layer "'
                                + layer.name
                                + '". The following previous layers were accessed without issue: '
                                + str(layers_with_complete_input)
                            )
                    for x in node.output_tensors:
                        computable_tensors.append(x)
                    layers_with_complete_input.append(layer.name)

        self.container_nodes = container_nodes
        self.nodes_by_depth = nodes_by_depth

        all_names = [layer.name for layer in self.layers]
        for name in all_names:
            if all_names.count(name) != 1:
                raise RuntimeError(
                    'The name "' + name + '" is used ' + str(all_names.count(name)) + " times in the model. "
                    "All layer names should be unique."
                )

        self.output_names = []
        for layer in self.output_layers:
            self.output_names.append(layer.name)
        self.input_names = []
        for layer in self.input_layers:
            self.input_names.append(layer.name)

        self.outbound_nodes = []
        self.inbound_nodes = []
        self._add_own_node()
        self.built = True

    def _add_own_node(self):
        """The node that makes the model a layer of other models: from its inputs to its
        outputs, without inbound layers."""
        Node(
            outbound_layer=self,
            inbound_layers=[],
            node_indices=[],
            tensor_indices=[],
            input_tensors=self.inputs,
            output_tensors=self.outputs,
            input_masks=[None for _ in self.inputs],
            output_masks=[None for _ in self.outputs],
            input_shapes=[x._keras_shape for x in self.inputs],
            output_shapes=[x._keras_shape for x in self.outputs],
        )
        self.supports_masking = False

    @staticmethod
    def _node_key(layer, node_index):
        return layer.name + "_ib-" + str(node_index)

    def get_layer(self, name=None, index=None):
        """A layer by name or by index (in `layers` order)."""
        if index is not None:
            if len(self.layers) <= index:
                raise ValueError(
                    "Was asked to retrieve layer at index "
                    + str(index)
                    + " but model only has "
                    + str(len(self.layers))
                    + " layers."
                )
            return self.layers[index]
        if not name:
            raise ValueError("Provide either a layer name or layer index.")
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError("No such layer: " + name)

    def _carry(self, kind, items, inputs):
        """Records `items` (kind "updates" or "losses") on this container, keyed on
        `inputs` (None: unconditional), skipping those already recorded there."""
        if not items:
            return
        known = getattr(self, "_per_input_" + kind, {}).get(
            object_list_uid(inputs) if inputs is not None else None, []
        )
        items = [x for x in items if not any(x is k for k in known)]
        if kind == "updates":
            self.add_update(items, inputs)
        else:
            self.add_loss(items, inputs)

    def _layer_items(self, layer, kind):
        """The updates or losses (kind) of one of this container's layers that belong to
        it: those tied to the inputs of the layer's nodes in this container, and the
        unconditional ones. A layer with a single node gives its whole list, less what
        it recorded for other inputs (calls made by an enclosing container or wrapper
        on new tensors), so its own updates that are not keyed (set directly) stay."""
        owned = [
            node.input_tensors
            for node_index, node in enumerate(layer.inbound_nodes)
            if self._node_key(layer, node_index) in self.container_nodes
        ]
        if len(layer.inbound_nodes) == 1:
            owned_keys = set(object_list_uid(x) for x in owned)
            per_input = getattr(layer, "_per_input_" + kind, None) or {}
            foreign = set(
                id(item)
                for key, items in per_input.items()
                if key is not None and key not in owned_keys
                for item in items
            )
            return [item for item in getattr(layer, kind) if id(item) not in foreign]
        get_for = getattr(layer, "get_" + kind + "_for")
        items = []
        for x in owned:
            items += get_for(x)
        return items + get_for(None)

    def _distinct_items(self, kind, items=()):
        """The layers' ``kind`` ('updates' / 'losses', see ``_layer_items``) and then
        ``items``, each object once."""
        found = []
        for layer in self.layers:
            if hasattr(layer, kind):
                found += self._layer_items(layer, kind)
        return distinct_objects(found + list(items))

    @property
    def updates(self):
        return self._distinct_items("updates")

    @property
    def stateful(self):
        return any([(hasattr(layer, "stateful") and layer.stateful) for layer in self.layers])

    def reset_states(self):
        for layer in self.layers:
            if hasattr(layer, "reset_states") and getattr(layer, "stateful", False):
                layer.reset_states()

    @property
    def state_updates(self):
        """The `updates` of the stateful layers (nested containers' included), of
        those that belong to this container."""
        stateful = set()

        def walk(layers):
            for layer in layers:
                if isinstance(layer, Container):
                    walk(layer.layers)
                elif getattr(layer, "stateful", False):
                    stateful.update(id(u) for u in getattr(layer, "updates", []))

        walk(self.layers)
        return [u for u in self.updates if id(u) in stateful]

    @property
    def constraints(self):
        cons = {}
        for layer in self.layers:
            for key, value in layer.constraints.items():
                if key in cons and cons[key] is not value:
                    raise ValueError("Received multiple constraints for one weight tensor: " + str(key))
                cons[key] = value
        return cons

    @constraints.setter
    def constraints(self, value):
        pass

    @property
    def regularizers(self):
        warnings.warn(
            "The `regularizers` attribute of layers/models is deprecated. "
            "Regularization losses are now managed via the `losses` layer/model property.",
            stacklevel=2,
        )
        return []

    @property
    def _weight_layers(self):
        """The layers whose weights are the model's, in weight order (Sequential: its
        flattened layers, the branches of a leading Merge included)."""
        return self.layers

    def _layers_weights(self, kind):
        """The ``kind`` weights of the weight layers, concatenated."""
        weights = []
        for layer in self._weight_layers:
            weights += getattr(layer, kind)
        return weights

    # A Container's weights are its layers'; assigning them is ignored (Keras 1).
    trainable_weights = property(
        lambda self: self._layers_weights("trainable_weights") if self.trainable else [], _ignored
    )
    non_trainable_weights = property(
        lambda self: (
            ([] if self.trainable else self._layers_weights("trainable_weights"))
            + self._layers_weights("non_trainable_weights")
        ),
        _ignored,
    )

    # The layers' losses, then the model-level unconditional ones.
    losses = property(lambda self: self._distinct_items("losses", self.get_losses_for(None)), _ignored)

    uses_learning_phase = property(lambda self: any([x._uses_learning_phase for x in self.outputs]), _ignored)

    def get_weights(self):
        """The weights of every layer, in `layers` order."""
        weights = []
        for layer in self.layers:
            weights += layer.weights
        return K.batch_get_value(weights)

    def set_weights(self, weights):
        """Sets the weights of every layer, in `layers` order."""
        weights = list(weights)
        total = sum(len(layer.weights) for layer in self._weight_layers)
        if total != len(weights):
            raise ValueError(
                'You called `set_weights(weights)` on model "'
                + self.name
                + '" with a weight list of length '
                + str(len(weights))
                + ", but the model was expecting "
                + str(total)
                + " weights."
            )
        for layer in self._weight_layers:
            n = len(layer.weights)
            layer.set_weights(weights[:n])
            weights = weights[n:]

    @property
    def input_spec(self):
        specs = []
        for layer in getattr(self, "input_layers", []):
            if layer.input_spec is None:
                specs.append(None)
            else:
                if not isinstance(layer.input_spec, list):
                    raise TypeError(
                        "Layer " + layer.name + " has an input_spec attribute that is not a list."
                    )
                specs += layer.input_spec
        if len(specs) == 1:
            return specs[0]
        return specs

    @input_spec.setter
    def input_spec(self, value):
        pass

    def call(self, input, mask=None):
        """Re-applies the whole graph of layers to new input tensors."""
        return self._run_cached(input, mask, self._output_tensor_cache, 0)

    def compute_mask(self, input, mask):
        return self._run_cached(input, mask, self._output_mask_cache, 1)

    def _run_cached(self, input, mask, cache, which):
        """Item `which` (0: tensors, 1: masks) of `run_internal_graph` on `input` and
        `mask`, or what `cache` holds for them."""
        inputs = to_list(input)
        masks = [None for _ in inputs] if mask is None else to_list(mask)
        cache_key = _ids_key(inputs, masks)
        if cache_key in cache:
            return cache[cache_key]
        return self.run_internal_graph(inputs, masks)[which]

    def get_output_shape_for(self, input_shape):
        input_shapes = to_list(input_shape)
        if len(input_shapes) != len(self.input_layers):
            raise ValueError(
                "Invalid input_shape argument "
                + str(input_shape)
                + ": model has "
                + str(len(self.input_layers))
                + " tensor inputs."
            )
        cache_key = ",".join([str(x) for x in input_shapes])
        if cache_key in self._output_shape_cache:
            output_shapes = self._output_shape_cache[cache_key]
            if isinstance(output_shapes, list) and len(output_shapes) == 1:
                return output_shapes[0]
            return output_shapes
        # Shapes depend only on the layers' shape rules: walk the graph symbolically.
        layers_to_output_shapes = {}
        for i in range(len(input_shapes)):
            layer = self.input_layers[i]
            input_shape = input_shapes[i]
            shape_key = layer.name + "_0_0"
            layers_to_output_shapes[shape_key] = input_shape
        depth_keys = list(self.nodes_by_depth.keys())
        depth_keys.sort(reverse=True)
        if len(depth_keys) > 1:
            for depth in depth_keys:
                nodes = self.nodes_by_depth[depth]
                for node in nodes:
                    layer = node.outbound_layer
                    if layer in self.input_layers:
                        continue
                    input_shapes = [
                        layers_to_output_shapes[inbound_layer.name + "_%s_%s" % (node_index, tensor_index)]
                        for inbound_layer, node_index, tensor_index in zip(
                            node.inbound_layers, node.node_indices, node.tensor_indices
                        )
                    ]
                    if len(input_shapes) == 1:
                        output_shape = layer.get_output_shape_for(input_shapes[0])
                    else:
                        output_shape = layer.get_output_shape_for(input_shapes)
                    if output_shape is None:
                        output_shape = node.output_shapes[0]
                    output_shapes = to_list(output_shape)
                    node_index = layer.inbound_nodes.index(node)
                    for j in range(len(output_shapes)):
                        shape_key = layer.name + "_%s_%s" % (node_index, j)
                        layers_to_output_shapes[shape_key] = output_shapes[j]
        output_shapes = [
            layers_to_output_shapes[layer.name + "_%s_%s" % (node_index, tensor_index)]
            for layer, node_index, tensor_index in zip(
                self.output_layers, self.output_layers_node_indices, self.output_layers_tensor_indices
            )
        ]
        self._output_shape_cache[cache_key] = output_shapes
        if isinstance(output_shapes, list) and len(output_shapes) == 1:
            return output_shapes[0]
        return output_shapes

    def run_internal_graph(self, inputs, masks=None):
        """Computes output tensors for new inputs by calling each layer's `call`.

        Every tensor it makes carries `_keras_shape` (from each layer's
        `get_output_shape_for`, starting from the inputs' Keras shapes, or their static
        shapes for plain backend tensors such as TimeDistributed's reshaped slices) and
        `_uses_learning_phase`; masks flow through each layer's `compute_mask`."""
        inputs = to_list(inputs)
        if masks is None:
            masks = [None for _ in range(len(inputs))]
        else:
            masks = to_list(masks)
        tensor_map = {}
        for x, y, mask in zip(self.inputs, inputs, masks):
            tensor_map[str(id(x))] = (y, mask)

        depth_keys = list(self.nodes_by_depth.keys())
        depth_keys.sort(reverse=True)
        for depth in depth_keys:
            nodes = self.nodes_by_depth[depth]
            for node in nodes:
                layer = node.outbound_layer
                reference_input_tensors = node.input_tensors
                reference_output_tensors = node.output_tensors
                computed_data = []
                for x in reference_input_tensors:
                    if str(id(x)) in tensor_map:
                        computed_data.append(tensor_map[str(id(x))])
                if len(computed_data) != len(reference_input_tensors):
                    continue
                if isinstance(layer, InputLayer):
                    # An input layer: its tensor passes through as it is (no graph node,
                    # whatever its dtype), its mask too. A plain backend tensor gets the
                    # Keras shape the layers below will be asked about.
                    for x, (y, mask) in zip(reference_output_tensors, computed_data):
                        if getattr(y, "_keras_shape", None) is None:
                            y._keras_shape = _keras_shape_of(y, getattr(layer, "batch_input_shape", None))
                        if not hasattr(y, "_uses_learning_phase"):
                            y._uses_learning_phase = False
                        tensor_map[str(id(x))] = (y, mask)
                    continue
                computed_tensors = [x[0] for x in computed_data]
                computed_masks = [x[1] for x in computed_data]
                if len(computed_data) == 1:
                    output_tensors = to_list(layer.call(computed_tensors[0], computed_masks[0]))
                    output_masks = to_list(layer.compute_mask(computed_tensors[0], computed_masks[0]))
                    shapes = to_list(layer.get_output_shape_for(_keras_shape_of(computed_tensors[0])))
                else:
                    output_tensors = to_list(layer.call(computed_tensors, computed_masks))
                    output_masks = to_list(layer.compute_mask(computed_tensors, computed_masks))
                    shapes = to_list(
                        layer.get_output_shape_for([_keras_shape_of(x) for x in computed_tensors])
                    )
                output_tensors = _distinct_outputs(output_tensors, computed_tensors)
                own_inputs = all(a is b for a, b in zip(computed_tensors, reference_input_tensors))
                if getattr(layer, "activity_regularizer", None) is not None and not own_inputs:
                    # as `Layer.__call__` does (which did it already for the layer's own
                    # inputs), keyed on this call's inputs
                    layer.add_loss([layer.activity_regularizer(o) for o in output_tensors], computed_tensors)
                # Carry the layer's updates and losses for this call over to the
                # container, keyed on the container's new inputs (BatchNormalization's
                # moving averages, activity regularizers), and the unconditional ones
                # (weight regularizers) on None.
                self._carry("updates", layer.get_updates_for(computed_tensors), inputs)
                self._carry("updates", layer.get_updates_for(None), None)
                self._carry("losses", layer.get_losses_for(computed_tensors), inputs)
                self._carry("losses", layer.get_losses_for(None), None)
                if len(output_masks) != len(output_tensors):
                    output_masks = (output_masks + [None] * len(output_tensors))[: len(output_tensors)]
                uses_learning_phase = any(getattr(x, "_uses_learning_phase", False) for x in computed_tensors)
                for i, x in enumerate(output_tensors):
                    s = shapes[i] if i < len(shapes) else None
                    x._keras_shape = tuple(s) if s is not None else tuple(K.int_shape(x))
                    x._uses_learning_phase = getattr(x, "_uses_learning_phase", False) or uses_learning_phase
                for x, y, mask in zip(reference_output_tensors, output_tensors, output_masks):
                    tensor_map[str(id(x))] = (y, mask)

        output_tensors = []
        output_masks = []
        output_shapes = []
        for x in self.outputs:
            tensor, mask = tensor_map[str(id(x))]
            output_shapes.append(getattr(tensor, "_keras_shape", None))
            output_tensors.append(tensor)
            output_masks.append(mask)

        if len(output_tensors) == 1:
            output_tensors = output_tensors[0]
            output_shapes = output_shapes[0]
            output_masks = output_masks[0]

        cache_key = self._call_cache_key(inputs, masks)
        self._output_tensor_cache[cache_key] = output_tensors
        self._output_mask_cache[cache_key] = output_masks
        shapes_known = all(s is not None for s in to_list(output_shapes))
        if shapes_known:
            cache_key = ",".join([str(_keras_shape_of(x)) for x in inputs])
            self._output_shape_cache[cache_key] = output_shapes
        return output_tensors, output_masks, output_shapes

    def _call_cache_key(self, inputs, masks):
        """The key of the output caches for these input tensors and masks: their ids.
        The tensors and masks are kept alive with the cache, so that an id cannot be
        reused by a later tensor (a TimeDistributed call's reshaped input is otherwise
        freed when the call returns, and a second call could then get the first call's
        outputs)."""
        cache_key = _ids_key(inputs, masks)
        keep = self.__dict__.setdefault("_cache_keys_alive", {})
        keep[cache_key] = (list(inputs), list(masks))
        return cache_key

    def get_config(self):
        config = {"name": self.name}
        node_conversion_map = {}
        for layer in self.layers:
            if issubclass(layer.__class__, Container):
                kept_nodes = 1
            else:
                kept_nodes = 0
            for original_node_index in range(len(layer.inbound_nodes)):
                node_key = self._node_key(layer, original_node_index)
                if node_key in self.container_nodes:
                    node_conversion_map[node_key] = kept_nodes
                    kept_nodes += 1
        layer_configs = []
        for layer in self.layers:
            layer_class_name = layer.__class__.__name__
            layer_config = layer.get_config()
            filtered_inbound_nodes = []
            for original_node_index, node in enumerate(layer.inbound_nodes):
                node_key = self._node_key(layer, original_node_index)
                if node_key in self.container_nodes:
                    if node.inbound_layers:
                        node_data = []
                        for i in range(len(node.inbound_layers)):
                            inbound_layer = node.inbound_layers[i]
                            node_index = node.node_indices[i]
                            tensor_index = node.tensor_indices[i]
                            node_key = self._node_key(inbound_layer, node_index)
                            new_node_index = node_conversion_map.get(node_key, 0)
                            node_data.append([inbound_layer.name, new_node_index, tensor_index])
                        filtered_inbound_nodes.append(node_data)
            layer_configs.append(
                {
                    "name": layer.name,
                    "class_name": layer_class_name,
                    "config": layer_config,
                    "inbound_nodes": filtered_inbound_nodes,
                }
            )
        config["layers"] = layer_configs

        for end in ("input", "output"):
            # [layer name, node index among the kept nodes, tensor index] per model end
            config[end + "_layers"] = [
                [layer.name, node_conversion_map[self._node_key(layer, node_index)], tensor_index]
                for layer, node_index, tensor_index in zip(
                    getattr(self, end + "_layers"),
                    getattr(self, end + "_layers_node_indices"),
                    getattr(self, end + "_layers_tensor_indices"),
                )
            ]
        return copy.deepcopy(config)

    @classmethod
    def from_config(cls, config, custom_objects=None, safe_mode=True):
        from ..utils.layer_utils import layer_from_config

        created_layers = {}

        def process_layer(layer_data):
            layer_name = layer_data["name"]
            layer = layer_from_config(layer_data, custom_objects=custom_objects, safe_mode=safe_mode)
            created_layers[layer_name] = layer
            inbound_nodes_data = layer_data["inbound_nodes"]
            for node_data in inbound_nodes_data:
                input_tensors = []
                for input_data in node_data:
                    inbound_layer_name, inbound_node_index, inbound_tensor_index = input_data
                    assert inbound_layer_name in created_layers, "Missing layer: %s" % inbound_layer_name
                    inbound_layer = created_layers[inbound_layer_name]
                    inbound_node = inbound_layer.inbound_nodes[inbound_node_index]
                    input_tensors.append(inbound_node.output_tensors[inbound_tensor_index])
                if input_tensors:
                    if len(input_tensors) == 1:
                        layer(input_tensors[0])
                    else:
                        layer(input_tensors)

        for layer_data in config["layers"]:
            process_layer(layer_data)

        name = config.get("name")

        def tensors(entries):
            found = []
            for layer_name, node_index, tensor_index in entries:
                assert layer_name in created_layers
                found.append(
                    created_layers[layer_name].inbound_nodes[node_index].output_tensors[tensor_index]
                )
            return found

        return cls(input=tensors(config["input_layers"]), output=tensors(config["output_layers"]), name=name)

    def to_json(self, **kwargs):
        """The model's architecture as a JSON string."""
        from .. import __version__ as keras_version

        model_config = self._updated_config()
        model_config["keras_version"] = keras_version
        return json.dumps(model_config, default=json_default, **kwargs)

    def to_yaml(self, **kwargs):
        """The model's architecture as a YAML string."""
        import yaml

        from .. import __version__ as keras_version

        model_config = self._updated_config()
        model_config["keras_version"] = keras_version
        return yaml.dump(json.loads(json.dumps(model_config, default=json_default)), **kwargs)

    def _updated_config(self):
        return {"class_name": self.__class__.__name__, "config": self.get_config()}

    def to_onnx(self, path=None, opset=None):
        """Exports the model at inference to ONNX; see `keras.utils.onnx_utils.export_onnx`.

        # Arguments
            path: file to write, or None to only build the graph.
            opset: ONNX opset (13 up to the newest the installed `onnx` knows; default 17).

        # Returns
            The `onnx.ModelProto`.
        """
        from ..utils.onnx_utils import export_onnx

        return export_onnx(self, path, opset=opset)

    def summary(self, line_length=100, positions=None):
        from ..utils.layer_utils import print_summary

        if positions is None:
            positions = [0.33, 0.55, 0.67, 1.0]
        flattened_layers = getattr(self, "flattened_layers", self.layers)
        print_summary(
            flattened_layers,
            getattr(self, "container_nodes", None),
            line_length=line_length,
            positions=positions,
        )

    # weights on disk -------------------------------------------------------------------

    def save_weights(self, filepath, overwrite=True):
        """Saves the weights in Keras 1's HDF5 layout, atomically: the file is built in
        memory and replaces `filepath` only when completely written and fsynced (see
        `keras.utils.io_utils.atomic_write_bytes`; a replaced file keeps its mode, a
        symbolic link is written through).

        # Raises
            OSError: the file could not be written (a full disk: ENOSPC / EFBIG); the
                previous file is unchanged and no temporary file is left.
            FileExistsError: `overwrite=False`, the file exists and there is no terminal
                to ask on (Keras 1 prompted; with a terminal we still prompt).
        """
        from ..utils.io_utils import ask_to_proceed_with_overwrite, atomic_h5

        if not overwrite and os.path.isfile(filepath):
            proceed = ask_to_proceed_with_overwrite(filepath)
            if not proceed:
                return
        with atomic_h5(filepath) as f:
            self.save_weights_to_hdf5_group(f)

    def save_weights_to_hdf5_group(self, f):
        flattened_layers = self._weight_layers
        # numpy 'S<n>' arrays: h5py 3 would store a plain list of bytes as variable-length
        # strings, which Keras 1's reader (`.decode('utf8')` per element) cannot read.
        f.attrs["layer_names"] = _byte_strings([layer.name for layer in flattened_layers])
        for layer in flattened_layers:
            g = f.create_group(layer.name)
            symbolic_weights = layer.trainable_weights + layer.non_trainable_weights
            weight_values = K.batch_get_value(symbolic_weights)
            weight_names = []
            for i, w in enumerate(symbolic_weights):
                if hasattr(w, "name") and w.name:
                    name = str(w.name)
                else:
                    name = "param_" + str(i)
                weight_names.append(name.encode("utf8"))
            g.attrs["weight_names"] = _byte_strings([n.decode("utf8") for n in weight_names])
            for name, val in zip(weight_names, weight_values):
                param_dset = g.create_dataset(name.decode("utf8"), val.shape, dtype=val.dtype)
                if not val.shape:
                    param_dset[()] = val
                else:
                    param_dset[:] = val

    def load_weights(self, filepath, by_name=False):
        """Loads weights saved by `save_weights` (ours or Keras 1's), matched by position
        in topological order, or by layer name with `by_name=True`.

        Files are treated as untrusted input: everything is read and checked before any
        weight is written, so a failed load changes nothing.

        - Floating-point arrays of any precision (float16/32/64) are cast to the
          variable's dtype silently, as Keras 1 did (a float64 value beyond float32's
          range becomes inf and is reported as below).
        - Arrays that are not floating point (integers, booleans, strings, compound
          types) are refused with a ValueError naming the layer and the weight (Keras 1
          cast integers silently).
        - Non-finite values (NaN, inf) load, as they did in Keras 1, with a warning that
          names the layer and the weight.

        # Raises
            IOError: the file is missing or is not an HDF5 file.
            ValueError: the file is not a Keras weight file, is corrupt (a missing
                group, attribute or dataset: the message names the layer and what is
                missing), or its weights do not fit the model (count, shape, dtype).
        """
        from ..utils.io_utils import open_h5

        with open_h5(filepath, "weight") as f:
            if "layer_names" not in f.attrs and "model_weights" in f:
                f = f["model_weights"]
                if not hasattr(f, "keys"):
                    raise ValueError(
                        "load_weights: %s is not a Keras weight file ('model_weights' is not a group)"
                        % filepath
                    )
            if by_name:
                self.load_weights_from_hdf5_group_by_name(f)
            else:
                self.load_weights_from_hdf5_group(f)

    def load_weights_from_hdf5_group(self, f):
        flattened_layers = self._weight_layers
        if "nb_layers" in f.attrs:
            raise NotImplementedError(
                "load_weights: the pre-1.0 weight file format (attr nb_layers) is not supported"
            )
        if "layer_names" not in f.attrs:
            raise ValueError(
                "load_weights: %s is not a Keras weight file (no 'layer_names' attribute)"
                % getattr(f, "filename", f)
            )
        filtered_layers = [layer for layer in flattened_layers if layer.weights]
        flattened_layers = filtered_layers

        layer_names = _names_attr(f, "layer_names", "the weight file")
        filtered_layer_names = []
        for name in layer_names:
            g = _layer_group(f, name)
            weight_names = _names_attr(g, "weight_names", "layer " + name + " of the weight file")
            if len(weight_names):
                filtered_layer_names.append(name)
        layer_names = filtered_layer_names
        if len(layer_names) != len(flattened_layers):
            raise ValueError(
                "You are trying to load a weight file containing "
                + str(len(layer_names))
                + " layers into a model with "
                + str(len(flattened_layers))
                + " layers."
            )
        weight_value_tuples = []
        for k, name in enumerate(layer_names):
            g = _layer_group(f, name)
            layer = flattened_layers[k]
            file_names, weight_values = _read_group_weights(g, name)
            weight_values = _convert_legacy_weights(layer, weight_values)
            symbolic_weights = layer.trainable_weights + layer.non_trainable_weights
            if len(weight_values) != len(symbolic_weights):
                raise ValueError(
                    f'Layer #{k} (named "{layer.name}" in the current model) was found to correspond to layer {name} '
                    f"in the save file. However the new layer {layer.name} expects {len(symbolic_weights)} weights, "
                    f"but the saved weights have {len(weight_values)} elements."
                )
            weight_values = _check_weight_values(
                layer, symbolic_weights, weight_values, " (file layer " + name + ")", file_names
            )
            weight_value_tuples += zip(symbolic_weights, weight_values)
        # Everything was read and checked: only now write any weight.
        K.batch_set_value(weight_value_tuples)

    def load_weights_from_hdf5_group_by_name(self, f):
        layer_names = _names_attr(f, "layer_names", "the weight file")
        index = {}
        for layer in self.layers:
            if layer.name:
                index.setdefault(layer.name, []).append(layer)
        weight_value_tuples = []
        for k, name in enumerate(layer_names):
            if name not in index:
                continue
            g = _layer_group(f, name)
            for layer in index[name]:
                file_names, weight_values = _read_group_weights(g, name)
                weight_values = _convert_legacy_weights(layer, weight_values)
                symbolic_weights = layer.weights
                if len(weight_values) != len(symbolic_weights):
                    raise ValueError(
                        f'Layer #{k} (named "{layer.name}") expects {len(symbolic_weights)} weight(s), but the saved '
                        f"weights have {len(weight_values)} element(s)."
                    )
                weight_values = _check_weight_values(layer, symbolic_weights, weight_values, "", file_names)
                weight_value_tuples += zip(symbolic_weights, weight_values)
        K.batch_set_value(weight_value_tuples)


def _names_attr(obj, key, where):
    """A list-of-names attribute (`layer_names`, `weight_names`) of an untrusted file, as
    str; a ValueError naming `where` when it is missing or is not a list of strings."""
    if key not in obj.attrs:
        raise ValueError("%s is corrupt: it has no '%s' attribute" % (_capitalised(where), key))
    raw = np.asarray(obj.attrs[key])
    if raw.size == 0:  # an empty list: h5py stores it as an empty float64 array
        return []
    if raw.ndim != 1 or not all(isinstance(n, (bytes, str, np.bytes_, np.str_)) for n in raw):
        raise ValueError(
            "%s is corrupt: its '%s' attribute is not a list of names (got %r)"
            % (_capitalised(where), key, obj.attrs[key])
        )
    try:
        return [_decode(n) for n in raw]
    except UnicodeDecodeError as e:
        raise ValueError(
            "%s is corrupt: a name in '%s' is not UTF-8 (%s)" % (_capitalised(where), key, e)
        ) from e


def _capitalised(text):
    return text[:1].upper() + text[1:]


def _layer_group(f, name):
    """The group of layer `name` in a weight file, or a ValueError naming the layer."""
    if name not in f:
        raise ValueError(
            "The weight file is corrupt: layer %r is listed in 'layer_names' but has no group" % name
        )
    g = f[name]
    if not hasattr(g, "attrs") or not hasattr(g, "keys"):
        raise ValueError("The weight file is corrupt: the entry of layer %r is not a group" % name)
    return g


def _read_group_weights(g, layer_name="?"):
    """`(names, arrays)` of one layer group of a Keras 1 weight file, in `weight_names`
    order; a ValueError naming the layer and the weight for a missing or non-array entry."""
    names = _names_attr(g, "weight_names", "layer " + layer_name + " of the weight file")
    values = []
    for n in names:
        if n not in g:
            raise ValueError(
                "The weight file is corrupt: layer %r lists weight %r in 'weight_names' but has no such dataset"
                % (layer_name, n)
            )
        ds = g[n]
        if hasattr(ds, "keys") or not hasattr(ds, "dtype") or not hasattr(ds, "shape"):
            raise ValueError(
                "The weight file is corrupt: weight %r of layer %r is not an array (dataset)"
                % (n, layer_name)
            )
        values.append(np.asarray(ds[()]))
    return names, values


def _check_weight_values(layer, symbolic_weights, weight_values, where, file_names=None):
    """Checks the arrays read from an untrusted file against the layer's variables and
    returns them as plain arrays of the variables' dtypes:

    - a shape that does not fit: ValueError naming the layer and both shapes;
    - an array that is not floating point (for a floating-point variable) or not
      integer (for an integer one): ValueError naming the layer, the weight and the
      dtype (Keras 1 cast silently; an integer or string array in a weight file is a
      corrupt or crafted file);
    - floating-point arrays of another precision are cast silently, as in Keras 1;
    - NaN or inf values load, as Keras 1 loaded them, with a warning naming the layer.
    """
    _check_weight_shapes(layer, symbolic_weights, weight_values, where)
    checked = []
    file_names = list(file_names or [])
    for i, (w, v) in enumerate(zip(symbolic_weights, weight_values)):
        file_name = file_names[i] if i < len(file_names) else getattr(w, "name", "?")
        v = np.asarray(v)
        target = np.dtype(K.dtype(w))
        if target.kind == "f":
            ok = v.dtype.kind == "f"
        elif target.kind in "iu":
            ok = v.dtype.kind in "iu"
        else:
            ok = v.dtype == target
        if not ok:
            raise ValueError(
                f"Layer {layer.name}: weight {file_name} in the file has dtype {v.dtype}, which cannot load into "
                f"a {target} variable{where} (only floating-point weights are read)"
            )
        if v.dtype != target:
            with np.errstate(over="ignore", invalid="ignore"):
                cast = v.astype(target)
        else:
            cast = v
        if target.kind == "f" and not np.isfinite(cast).all():
            bad = int(np.count_nonzero(~np.isfinite(cast)))
            overflow = int(np.count_nonzero(np.isfinite(v))) - int(np.count_nonzero(np.isfinite(cast)))
            detail = (
                " (%d of them finite %s values beyond %s's range)" % (overflow, v.dtype, target)
                if overflow
                else ""
            )
            warnings.warn(
                f"Layer {layer.name}: weight {file_name} from the file holds {bad} non-finite value(s) (NaN or inf)"
                f"{detail}{where}; loaded as they are",
                RuntimeWarning,
                stacklevel=4,
            )
        checked.append(cast)
    return checked


def _convert_legacy_weights(layer, weight_values):
    """Keras <= 1.0.8 stored Convolution1D kernels as (nb_filter, input_dim,
    filter_length, 1); 1.1+ as (filter_length, 1, input_dim, nb_filter). Keras 1.2.2's
    loader transposes the old shape on load, and so do we."""
    if layer.__class__.__name__ in ("Convolution1D", "Conv1D") and weight_values:
        w = weight_values[0]
        new_shape = (layer.filter_length, 1)
        if w.ndim == 4 and (w.shape[:2] != new_shape or w.shape[3] != layer.nb_filter):
            if w.shape[0] == layer.nb_filter and w.shape[2:] == new_shape:
                weight_values = [np.transpose(w, (2, 3, 1, 0))] + list(weight_values[1:])
    return weight_values


def _check_weight_shapes(layer, symbolic_weights, weight_values, where):
    """ValueError naming the layer and both shapes when a file array does not fit."""
    for w, v in zip(symbolic_weights, weight_values):
        if K.get_variable_shape(w) != v.shape:
            raise ValueError(
                f"Layer {layer.name}: weight {w.name} has shape {K.get_variable_shape(w)} but the file holds shape "
                f"{v.shape}{where}"
            )


def _byte_strings(names):
    """Names as a fixed-length byte-string array (an empty list for none, which h5py
    stores as an empty float64 array, as Keras 1's files have)."""
    if not names:
        return []
    return np.array([n.encode("utf8") for n in names])


def _decode(n):
    return n.decode("utf8") if isinstance(n, bytes) else str(n)


def json_default(obj, describe=str):
    """`json.dumps` default of Keras 1's configs: configs of Keras objects, numpy scalars
    as Python ones, functions and classes by name; a TypeError showing the rest with
    `describe`."""
    if hasattr(obj, "get_config"):
        return {"class_name": obj.__class__.__name__, "config": obj.get_config()}
    if type(obj).__module__ == np.__name__:
        return obj.item()
    if callable(obj) or type(obj).__name__ == type.__name__:
        return obj.__name__
    raise TypeError("Not JSON Serializable: " + describe(obj))


def get_source_inputs(tensor, layer=None, node_index=None):
    """The list of input tensors (from Input layers) a tensor depends on."""
    if not hasattr(tensor, "_keras_history"):
        return tensor
    if layer is None or node_index:
        layer, node_index, _ = tensor._keras_history
    if not layer.inbound_nodes:
        return [tensor]
    node = layer.inbound_nodes[node_index]
    if not node.inbound_layers:
        return node.input_tensors
    source_tensors = []
    for i in range(len(node.inbound_layers)):
        x = node.input_tensors[i]
        layer = node.inbound_layers[i]
        node_index = node.node_indices[i]
        previous_sources = get_source_inputs(x, layer, node_index)
        for x in previous_sources:
            if not any(x is y for y in source_tensors):
                source_tensors.append(x)
    return source_tensors
