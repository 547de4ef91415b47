"""Converter of the Merge layer (``Merge`` / ``merge``) in every named mode: sum, ave,
mul, max, concat, dot and cos (``batch_dot`` over ``dot_axes``). A callable mode runs
Python code and is refused. Masks merge as Keras 1 merges them (all of them for sum, ave
and mul; along the concatenation for concat)."""

from ... import backend as K
from ...engine.topology import Merge
from .registry import register_onnx_converter, unsupported


def _batch_dot(ctx, layer, a, b, rank_a, rank_b, axes):
    """Keras 1 batch_dot of a and b over axes (a_axis, b_axis), for 2-D or 3-D inputs."""
    ax, bx = axes
    if rank_a == 2 and rank_b == 2:
        return ctx.reduce("ReduceSum", ctx.op("Mul", [a, b]), [1], keepdims=True)
    if rank_a == 3 and rank_b == 3:
        a = ctx.transpose(a, [0, 3 - ax, ax] if ax in (1, 2) else [0, 1, 2])  # dot axis last
        b = ctx.transpose(b, [0, bx, 3 - bx] if bx in (1, 2) else [0, 1, 2])  # dot axis second
        return ctx.op("MatMul", [a, b])
    raise unsupported(layer, "dot/cos merges are exported for two 2-D or two 3-D inputs only")


def _axes(layer, ranks):
    axes = layer.dot_axes
    if isinstance(axes, int):
        axes = [axes, axes]
    return [int(a) % r for a, r in zip(axes, ranks)]


def _fold(ctx, op, values):
    """``op`` applied pairwise, left to right, over ``values`` (And and Mul take two
    inputs in ONNX)."""
    out = values[0]
    for v in values[1:]:
        out = ctx.op(op, [out, v])
    return out


def _merged_mask(ctx, layer, node, masks):
    present = [m for m in masks if m is not None]
    if not present:
        return None
    if layer.mode in ("sum", "mul", "ave"):
        return _fold(ctx, "And", present)
    if layer.mode == "concat":
        rank = len(node.input_shapes[0])
        axis = layer.concat_axis % rank
        mrank = len(node.input_shapes[0]) - 1
        if axis == rank - 1:
            # masks (B, T) of the same steps; an input without one is all ones
            return _fold(ctx, "And", present)
        if axis < mrank and len(present) == len(masks):
            return ctx.op("Concat", masks, axis=axis)
        raise unsupported(layer, "it concatenates masked and unmasked inputs along axis %d" % axis)
    if layer.mode in ("dot", "cos"):
        return None
    raise unsupported(layer, "merge mode %r has no mask rule" % (layer.mode,))


@register_onnx_converter(Merge)
def convert_merge(ctx, layer, node, inputs, masks):
    mode = layer.mode
    if callable(mode):
        raise unsupported(
            layer,
            "its mode is a Python callable, which has no ONNX form",
            "Use one of the named modes (sum, ave, mul, max, concat, dot, cos) or a layer "
            "class with a registered ONNX converter.",
        )
    shapes = node.input_shapes
    if mode in ("sum", "ave", "mul", "max"):
        op = {"sum": "Sum", "ave": "Sum", "mul": "Mul", "max": "Max"}[mode]
        y = _fold(ctx, op, inputs) if op == "Mul" else ctx.op(op, inputs)
        if mode == "ave":
            y = ctx.op("Div", [y, ctx.scalar(float(len(inputs)))])
    elif mode == "concat":
        y = ctx.op("Concat", inputs, axis=int(layer.concat_axis % len(shapes[0])))
    else:
        ranks = [len(s) for s in shapes]
        axes = _axes(layer, ranks)
        a, b = inputs
        y = _batch_dot(ctx, layer, a, b, ranks[0], ranks[1], axes)
        if mode == "cos":
            aa = _batch_dot(ctx, layer, a, a, ranks[0], ranks[0], [axes[0], axes[0]])
            bb = _batch_dot(ctx, layer, b, b, ranks[1], ranks[1], [axes[1], axes[1]])
            denom = ctx.op("Sqrt", [ctx.op("Mul", [aa, bb])])
            denom = ctx.op("Max", [denom, ctx.scalar(K.epsilon())])
            y = ctx.op("Div", [y, denom])
    out = node.output_shapes[0]
    if out is not None and all(d is not None for d in out[1:]):
        y = ctx.reshape(y, [0] + list(out[1:]), hint=layer.name)
    else:
        y = ctx.op("Identity", [y], hint=layer.name)
    return [y], [_merged_mask(ctx, layer, node, masks)]
