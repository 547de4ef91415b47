"""Layer helpers: building layers from configs, the model summary table, kernel flips."""

import inspect

from .. import backend as K
from .generic_utils import custom_object_scope, get_custom_objects, get_from_module


def layer_from_config(config, custom_objects=None, safe_mode=True):
    """Instantiates a layer (or Sequential / Model) from `{'class_name', 'config'}`.

    # Arguments
        config: dict with `class_name` and `config`.
        custom_objects: dict of user classes / functions to consider first.
        safe_mode: passed to the `from_config` of layers that store functions (Lambda,
            Merge, and containers of them): when True, bytecode is never revived.
    """
    from .. import layers as layers_module
    from ..engine.training import Model
    from ..models import Sequential

    custom = dict(get_custom_objects())
    if custom_objects:
        custom.update(custom_objects)
    class_name = config["class_name"]
    if class_name in custom:
        layer_class = custom[class_name]
    elif class_name == "Sequential":
        layer_class = Sequential
    elif class_name in ["Model", "Container"]:
        layer_class = Model
    else:
        layer_class = get_from_module(class_name, vars(layers_module), "layer", instantiate=False)
    params = inspect.signature(layer_class.from_config).parameters
    kwargs = {}
    if "custom_objects" in params:
        kwargs["custom_objects"] = custom_objects
    if "safe_mode" in params:
        kwargs["safe_mode"] = safe_mode
    # Keras 1.2.2 put `custom_objects` in the global table, so the names inside a layer's
    # config (an activation, a regularizer, the layers of a wrapper or container) resolve
    # through them too; the scope does the same for the duration of the call only.
    with custom_object_scope(custom_objects or {}):
        return layer_class.from_config(config["config"], **kwargs)


def count_total_params(layers, layer_set=None):
    """(trainable, non-trainable) scalar counts over distinct weights of `layers`."""
    seen = set()
    trainable = 0
    non_trainable = 0
    for layer in layers:
        for w in layer.trainable_weights:
            if id(w) not in seen:
                seen.add(id(w))
                trainable += K.count_params(w)
        for w in layer.non_trainable_weights:
            if id(w) not in seen:
                seen.add(id(w))
                non_trainable += K.count_params(w)
    return trainable, non_trainable


def print_summary(layers, relevant_nodes=None, line_length=100, positions=None):
    """Prints Keras 1's model summary table.

    # Arguments
        layers: the layers to list.
        relevant_nodes: node keys (`<layer>_ib-<index>`) to show connections for.
        line_length: total width.
        positions: relative or absolute column stops.
    """
    positions = positions or [0.33, 0.55, 0.67, 1.0]
    if positions[-1] <= 1:
        positions = [int(line_length * p) for p in positions]
    to_display = ["Layer (type)", "Output Shape", "Param #", "Connected to"]

    def print_row(fields, positions):
        line = ""
        for i in range(len(fields)):
            line += str(fields[i])
            line = line[: positions[i]]
            line += " " * (positions[i] - len(line))
        print(line)

    print("_" * line_length)
    print_row(to_display, positions)
    print("=" * line_length)

    def print_layer_summary(layer):
        try:
            output_shape = layer.output_shape
        except (AttributeError, RuntimeError):
            output_shape = "multiple"
        connections = []
        for node_index, node in enumerate(layer.inbound_nodes):
            if relevant_nodes:
                node_key = layer.name + "_ib-" + str(node_index)
                if node_key not in relevant_nodes:
                    continue
            for i in range(len(node.inbound_layers)):
                inbound_layer = node.inbound_layers[i].name
                inbound_node_index = node.node_indices[i]
                inbound_tensor_index = node.tensor_indices[i]
                connections.append(
                    inbound_layer + "[" + str(inbound_node_index) + "][" + str(inbound_tensor_index) + "]"
                )
        name = layer.name
        cls_name = layer.__class__.__name__
        first_connection = connections[0] if connections else ""
        fields = [name + " (" + cls_name + ")", output_shape, layer.count_params(), first_connection]
        print_row(fields, positions)
        for i in range(1, len(connections)):
            print_row(["", "", "", connections[i]], positions)

    for i in range(len(layers)):
        print_layer_summary(layers[i])
        if i == len(layers) - 1:
            print("=" * line_length)
        else:
            print("_" * line_length)

    trainable_count, non_trainable_count = count_total_params(layers)
    print("Total params: {:,}".format(trainable_count + non_trainable_count))
    print("Trainable params: {:,}".format(trainable_count))
    print("Non-trainable params: {:,}".format(non_trainable_count))
    print("_" * line_length)


def convert_all_kernels_in_model(model):
    """Flips the kernels of every convolution layer in place (Theano <-> TensorFlow)."""
    from .np_utils import convert_kernel

    conv_classes = {
        "Convolution1D",
        "Convolution2D",
        "Convolution3D",
        "AtrousConvolution2D",
        "Deconvolution2D",
    }
    to_assign = []
    for layer in model.layers:
        if layer.__class__.__name__ in conv_classes:
            original_w = K.get_value(layer.W)
            converted_w = convert_kernel(original_w, getattr(layer, "dim_ordering", None))
            to_assign.append((layer.W, converted_w))
    K.batch_set_value(to_assign)
