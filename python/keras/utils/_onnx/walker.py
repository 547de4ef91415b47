"""Walks a Keras model's layer graph (its nodes, deepest first, as Keras runs it) and
asks each layer's converter for its ONNX nodes. Nested models (a Sequential or a Model
called as a layer) are expanded in place, once per call."""

from ...engine.topology import Container, InputLayer, Layer
from .registry import converter_for, no_converter, unsupported


def run_container(ctx, container, input_names, input_masks):
    """Convert every node of `container` given the ONNX names of its inputs (and their
    masks); returns ([output names], [output masks])."""
    from ...models import functional_model

    graph = functional_model(container)
    values = {}
    for x, name, mask in zip(graph.inputs, input_names, input_masks):
        values[id(x)] = (name, mask)
    for depth in sorted(graph.nodes_by_depth.keys(), reverse=True):
        for node in graph.nodes_by_depth[depth]:
            layer = node.outbound_layer
            if isinstance(layer, InputLayer):
                continue
            try:
                ins = [values[id(t)] for t in node.input_tensors]
            except KeyError:
                raise unsupported(layer, "one of its inputs is not computed by the exported graph") from None
            outs, masks = convert_node(ctx, layer, node, [n for n, _ in ins], [m for _, m in ins])
            for t, o, m in zip(node.output_tensors, outs, masks):
                values[id(t)] = (o, m)
    result = [values[id(t)] for t in graph.outputs]
    return [n for n, _ in result], [m for _, m in result]


def convert_node(ctx, layer, node, inputs, masks):
    """One call of `layer`: its converter's outputs and the masks they carry."""
    if isinstance(layer, Container):
        return run_container(ctx, layer, inputs, masks)
    fn = converter_for(layer)
    if fn is None:
        raise no_converter(layer)
    result = fn(ctx, layer, node, list(inputs), list(masks))
    if isinstance(result, tuple):
        outs, out_masks = result
        return list(outs), list(out_masks)
    outs = list(result)
    present = [m for m in masks if m is not None]
    if not present:
        return outs, [None] * len(outs)
    if type(layer).compute_mask is not Layer.compute_mask:
        raise unsupported(
            layer,
            "it computes its own output mask from an input mask, which its ONNX converter does not express",
            "Remove the mask upstream (mask_zero=False / no Masking layer) or give the converter the mask.",
        )
    if len(present) != 1 or len(outs) != 1:
        raise unsupported(layer, "it passes on masks from several inputs")
    return outs, [present[0]]
