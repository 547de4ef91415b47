"""Converter of BatchNormalization in its three Keras 1 modes, at inference:

- mode 0: the moving mean and variance (``running_std`` holds the variance), folded into
  one scale and one shift per feature;
- mode 1: sample-wise over the last axis, epsilon inside the square root and added to
  the standard deviation again (Keras 1's formula);
- mode 2: the statistics of the batch being run, over every axis but ``axis``.
"""

import numpy as np

from ...layers import normalization
from .registry import register_onnx_converter


def _along(v, axis, rank):
    """A per-feature vector shaped to broadcast along `axis` of a rank-`rank` tensor."""
    shape = [1] * rank
    shape[axis] = -1
    return np.asarray(v, dtype=np.float32).reshape(shape[1:] if axis > 0 else shape)


@register_onnx_converter(normalization.BatchNormalization)
def convert_batch_normalization(ctx, layer, node, inputs, masks):
    gamma, beta, mean, var = layer.get_weights()[:4]
    x = inputs[0]
    rank = len(node.input_shapes[0])
    eps = np.float32(layer.epsilon)
    if layer.mode == 1:
        m = ctx.reduce("ReduceMean", x, [-1], keepdims=True)
        centred = ctx.op("Sub", [x, m])
        v = ctx.reduce("ReduceMean", ctx.op("Mul", [centred, centred]), [-1], keepdims=True)
        std = ctx.op("Sqrt", [ctx.op("Add", [v, ctx.scalar(eps)])])
        normed = ctx.op("Div", [centred, ctx.op("Add", [std, ctx.scalar(eps)])])
        scaled = ctx.op("Mul", [normed, ctx.weight(layer, gamma, "gamma")])
        return [ctx.op("Add", [scaled, ctx.weight(layer, beta, "beta")], hint=layer.name)]
    axis = layer.axis % rank
    if layer.mode == 2:
        axes = [i for i in range(rank) if i != axis]
        m = ctx.reduce("ReduceMean", x, axes, keepdims=True)
        centred = ctx.op("Sub", [x, m])
        v = ctx.reduce("ReduceMean", ctx.op("Mul", [centred, centred]), axes, keepdims=True)
        inv = ctx.op("Reciprocal", [ctx.op("Sqrt", [ctx.op("Add", [v, ctx.scalar(eps)])])])
        scaled = ctx.op(
            "Mul", [ctx.op("Mul", [centred, inv]), ctx.weight(layer, _along(gamma, axis, rank), "gamma")]
        )
        return [ctx.op("Add", [scaled, ctx.weight(layer, _along(beta, axis, rank), "beta")], hint=layer.name)]
    scale = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + float(eps))
    shift = beta.astype(np.float64) - mean.astype(np.float64) * scale
    y = ctx.op("Mul", [x, ctx.weight(layer, _along(scale, axis, rank), "scale")])
    return [ctx.op("Add", [y, ctx.weight(layer, _along(shift, axis, rank), "shift")], hint=layer.name)]
