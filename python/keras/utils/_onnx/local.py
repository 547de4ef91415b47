"""Converters of LocallyConnected1D/2D: the patches are gathered from the flattened
sample with the layer's own (location, patch) index table, and each location's patch is
multiplied by its own weight matrix (one batched MatMul)."""

import numpy as np

from ...layers import local
from .activations import apply_activation
from .convolutional import ordering
from .registry import register_onnx_converter


def _index_1d(layer, input_dim):
    output_length, feature_dim, _ = layer.get_weights()[0].shape
    start = np.arange(output_length) * layer.subsample_length * input_dim
    return start[:, None] + np.arange(feature_dim)[None, :]


def _index_2d(layer, order, rows, cols, channels):
    sr, sc = layer.subsample
    out_r, out_c = layer.output_row, layer.output_col
    loc_r = np.repeat(np.arange(out_r) * sr, out_c)
    loc_c = np.tile(np.arange(out_c) * sc, out_r)
    r = loc_r[:, None, None, None] + np.arange(layer.nb_row)[None, :, None, None]
    c = loc_c[:, None, None, None] + np.arange(layer.nb_col)[None, None, :, None]
    ch = np.arange(channels)[None, None, None, :]
    if order == "th":
        flat = (ch * rows * cols + r * cols + c).transpose(0, 3, 1, 2)
    else:
        flat = (r * cols + c) * channels + ch
    return flat.reshape(out_r * out_c, -1)


def _locally_connected(ctx, layer, x, index):
    ws = layer.get_weights()
    W = ws[0]  # (locations, patch, nb_filter)
    flat = ctx.op("Flatten", [x], axis=1)
    patches = ctx.op("Gather", [flat, ctx.const(index.astype(np.int64), layer.name + "_index")], axis=1)
    patches = ctx.transpose(patches, [1, 0, 2])  # (locations, samples, patch)
    y = ctx.transpose(ctx.op("MatMul", [patches, ctx.weight(layer, W, "W")]), [1, 0, 2])
    return y, (ws[1] if layer.bias else None)


@register_onnx_converter(local.LocallyConnected1D)
def convert_locally_connected1d(ctx, layer, node, inputs, masks):
    input_dim = node.input_shapes[0][2]
    y, b = _locally_connected(ctx, layer, inputs[0], _index_1d(layer, input_dim))
    if b is not None:
        y = ctx.op("Add", [y, ctx.weight(layer, b.reshape((1,) + b.shape[-2:]), "b")])
    return [apply_activation(ctx, layer, layer.activation, y, hint=layer.name)]


@register_onnx_converter(local.LocallyConnected2D)
def convert_locally_connected2d(ctx, layer, node, inputs, masks):
    order = ordering(layer)
    shape = node.input_shapes[0]
    rows, cols, ch = (shape[2], shape[3], shape[1]) if order == "th" else (shape[1], shape[2], shape[3])
    y, b = _locally_connected(ctx, layer, inputs[0], _index_2d(layer, order, rows, cols, ch))
    nb_filter = layer.nb_filter
    if order == "th":
        y = ctx.reshape(ctx.transpose(y, [0, 2, 1]), [0, nb_filter, layer.output_row, layer.output_col])
    else:
        y = ctx.reshape(y, [0, layer.output_row, layer.output_col, nb_filter])
    if b is not None:
        out = node.output_shapes[0][1:]
        y = ctx.op("Add", [y, ctx.weight(layer, b.reshape(out), "b")])
    return [apply_activation(ctx, layer, layer.activation, y, hint=layer.name)]
