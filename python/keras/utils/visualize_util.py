"""Drawing a model's layer graph with Graphviz (Keras 1.2.2 `keras.utils.visualize_util`).

`model_to_dot` needs the `pydot` package (or its fork `pydot_ng`, preferred when both
are installed, as in Keras 1); `plot` also needs Graphviz's `dot` program on the PATH
to render the image. Unlike Keras 1, which failed at import, the module imports
without them and each function raises a clear error naming what to install.
"""

import os
import shutil


def _import_pydot():
    try:
        import pydot_ng as pydot  # the better-maintained fork, as Keras 1 preferred
    except ImportError:
        try:
            import pydot
        except ImportError as e:
            raise ImportError(
                "keras.utils.visualize_util needs the pydot package to draw models: "
                "install it with `pip install pydot` (and Graphviz, e.g. `apt-get install "
                "graphviz`, to render images)."
            ) from e
    return pydot


def _check_graphviz():
    if shutil.which("dot") is None:
        raise RuntimeError(
            "keras.utils.visualize_util.plot needs Graphviz's `dot` program to render the "
            "model, and it was not found on the PATH: install Graphviz (e.g. `apt-get install "
            "graphviz`, `brew install graphviz`, or https://graphviz.org/download/)."
        )


def model_to_dot(model, show_shapes=False, show_layer_names=True):
    """Converts a Keras model to a `pydot.Dot` graph, one record node per layer.

    # Arguments
        model: a Keras model (`Sequential` or `Model`).
        show_shapes: whether to display the input and output shapes of each layer.
        show_layer_names: whether to display layer names.

    # Returns
        A `pydot.Dot` instance representing the Keras model.

    # Raises
        ImportError: if pydot is not installed.
    """
    pydot = _import_pydot()
    from ..layers.wrappers import Wrapper
    from ..models import Sequential

    dot = pydot.Dot()
    dot.set("rankdir", "TB")
    dot.set("concentrate", True)
    dot.set_node_defaults(shape="record")

    if isinstance(model, Sequential):
        if not model.built:
            model.build()
        model = model.model
    layers = model.layers

    # Create graph nodes.
    for layer in layers:
        layer_id = str(id(layer))

        # Append a wrapped layer's label to node's label, if it exists.
        layer_name = layer.name
        class_name = layer.__class__.__name__
        if isinstance(layer, Wrapper):
            layer_name = "{}({})".format(layer_name, layer.layer.name)
            child_class_name = layer.layer.__class__.__name__
            class_name = "{}({})".format(class_name, child_class_name)

        # Create node's label.
        if show_layer_names:
            label = "{}: {}".format(layer_name, class_name)
        else:
            label = class_name

        # Rebuild the label as a table including input/output shapes.
        if show_shapes:
            try:
                outputlabels = str(layer.output_shape)
            except Exception:
                outputlabels = "multiple"
            try:
                inputlabels = str(layer.input_shape)
            except Exception:
                if hasattr(layer, "input_shapes"):
                    inputlabels = ", ".join([str(ishape) for ishape in layer.input_shapes])
                else:
                    inputlabels = "multiple"
            label = "%s\n|{input:|output:}|{{%s}|{%s}}" % (label, inputlabels, outputlabels)

        node = pydot.Node(layer_id, label=label)
        dot.add_node(node)

    # Connect nodes with edges.
    for layer in layers:
        layer_id = str(id(layer))
        for i, node in enumerate(layer.inbound_nodes):
            node_key = layer.name + "_ib-" + str(i)
            if node_key in model.container_nodes:
                for inbound_layer in node.inbound_layers:
                    inbound_layer_id = str(id(inbound_layer))
                    dot.add_edge(pydot.Edge(inbound_layer_id, layer_id))
    return dot


def plot(model, to_file="model.png", show_shapes=False, show_layer_names=True):
    """Draws a Keras model to an image file with Graphviz.

    # Arguments
        model: a Keras model (`Sequential` or `Model`).
        to_file: file name of the image; its extension picks the format
            (`.png`, `.svg`, `.pdf`, ...; PNG when there is none).
        show_shapes: whether to display the input and output shapes of each layer.
        show_layer_names: whether to display layer names.

    # Raises
        ImportError: if pydot is not installed.
        RuntimeError: if Graphviz's `dot` program is not found.
    """
    dot = model_to_dot(model, show_shapes, show_layer_names)
    _check_graphviz()
    _, extension = os.path.splitext(to_file)
    if not extension:
        extension = "png"
    else:
        extension = extension[1:]
    dot.write(to_file, format=extension)
