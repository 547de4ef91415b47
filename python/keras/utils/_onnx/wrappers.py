"""Converters of the wrappers: TimeDistributed (the inner layer's converter applied to
the batch and time axes folded together) and Bidirectional (the forward and backward
recurrent layers, the backward sequence reversed back, then merged)."""

from types import SimpleNamespace

from ...layers import wrappers
from .recurrent import _reverse_time
from .registry import register_onnx_converter, unsupported


def _inner_node(input_shape, output_shape):
    return SimpleNamespace(
        input_shapes=[tuple(input_shape)],
        output_shapes=[tuple(output_shape)],
        input_masks=[None],
        output_masks=[None],
    )


@register_onnx_converter(wrappers.TimeDistributed)
def convert_time_distributed(ctx, layer, node, inputs, masks):
    from .walker import convert_node

    shape = node.input_shapes[0]
    if any(d is None for d in shape[2:]):
        raise unsupported(layer, "the per-timestep input shape %s is not fully known" % (shape[2:],))
    inner_in = (None,) + tuple(shape[2:])
    inner_out = layer.layer.get_output_shape_for(inner_in)
    x = inputs[0]
    folded = ctx.reshape(x, [-1] + list(shape[2:]), hint=layer.name + "_folded")
    outs, _ = convert_node(ctx, layer.layer, _inner_node(inner_in, inner_out), [folded], [None])
    lead = ctx.slice(ctx.op("Shape", [x]), [0], [2], [0])
    target = ctx.op("Concat", [lead, ctx.ints(inner_out[1:])], axis=0)
    return [ctx.op("Reshape", [outs[0], target], hint=layer.name)]


@register_onnx_converter(wrappers.Bidirectional)
def convert_bidirectional(ctx, layer, node, inputs, masks):
    from .walker import convert_node

    fwd, _ = convert_node(ctx, layer.forward_layer, node, inputs, masks)
    bwd, _ = convert_node(ctx, layer.backward_layer, node, inputs, masks)
    y, y_rev = fwd[0], bwd[0]
    if layer.return_sequences:
        y_rev = _reverse_time(ctx, y_rev)
    mask = masks[0] if layer.return_sequences else None
    mode = layer.merge_mode
    if mode is None:
        return [y, y_rev], [mask, mask]
    if mode == "concat":
        out = ctx.op("Concat", [y, y_rev], hint=layer.name, axis=-1)
    elif mode == "sum":
        out = ctx.op("Add", [y, y_rev], hint=layer.name)
    elif mode == "ave":
        out = ctx.op("Div", [ctx.op("Add", [y, y_rev]), ctx.scalar(2.0)], hint=layer.name)
    else:
        out = ctx.op("Mul", [y, y_rev], hint=layer.name)
    return [out], [mask]
