"""Converters of the pooling layers: Max/AveragePooling1D/2D/3D (MaxPool / AveragePool,
'same' padding never winning a max nor counted in an average, as in Keras 1) and the
global poolings (ReduceMax / ReduceMean over the spatial axes)."""

from ... import backend as K
from ...layers import pooling
from .convolutional import ordering, to_channels_first, to_channels_last, window_attrs
from .registry import register_onnx_converter, unsupported

_MAX = (pooling.MaxPooling1D, pooling.MaxPooling2D, pooling.MaxPooling3D)


def _pool(ctx, layer, node, x, pool, strides, spatial, rank, order):
    if any(s is None for s in spatial) and layer.border_mode == "same" and any(s > 1 for s in strides):
        raise unsupported(layer, "border_mode='same' with strides needs a known spatial size")
    pads = [K.conv_padding(n, k, s, layer.border_mode) for n, k, s in zip(spatial, pool, strides)]
    if order == "tf":
        x = to_channels_first(ctx, x, rank)
    attrs = window_attrs(pool, strides, pads)
    if isinstance(layer, _MAX):
        y = ctx.op("MaxPool", [x], hint=layer.name + "_cf", **attrs)
    else:
        y = ctx.op("AveragePool", [x], hint=layer.name + "_cf", count_include_pad=0, **attrs)
    if order == "tf":
        y = to_channels_last(ctx, y, rank, hint=layer.name)
    return y


@register_onnx_converter(pooling.MaxPooling1D)
@register_onnx_converter(pooling.AveragePooling1D)
def convert_pool1d(ctx, layer, node, inputs, masks):
    spatial = [node.input_shapes[0][1]]
    return [_pool(ctx, layer, node, inputs[0], [layer.pool_length], [layer.stride], spatial, 3, "tf")]


@register_onnx_converter(pooling.MaxPooling2D)
@register_onnx_converter(pooling.AveragePooling2D)
@register_onnx_converter(pooling.MaxPooling3D)
@register_onnx_converter(pooling.AveragePooling3D)
def convert_pool(ctx, layer, node, inputs, masks):
    order = ordering(layer)
    shape = node.input_shapes[0]
    rank = len(shape)
    spatial = list(shape[2:]) if order == "th" else list(shape[1 : rank - 1])
    return [_pool(ctx, layer, node, inputs[0], layer.pool_size, layer.strides, spatial, rank, order)]


def _global(ctx, layer, node, inputs, axes):
    op = "ReduceMax" if "Max" in type(layer).__name__ else "ReduceMean"
    return [ctx.reduce(op, inputs[0], axes, keepdims=False, hint=layer.name)]


@register_onnx_converter(pooling.GlobalMaxPooling1D)
@register_onnx_converter(pooling.GlobalAveragePooling1D)
def convert_global1d(ctx, layer, node, inputs, masks):
    return _global(ctx, layer, node, inputs, [1])


@register_onnx_converter(pooling.GlobalMaxPooling2D)
@register_onnx_converter(pooling.GlobalAveragePooling2D)
@register_onnx_converter(pooling.GlobalMaxPooling3D)
@register_onnx_converter(pooling.GlobalAveragePooling3D)
def convert_global(ctx, layer, node, inputs, masks):
    rank = len(node.input_shapes[0])
    axes = list(range(2, rank)) if ordering(layer) == "th" else list(range(1, rank - 1))
    return _global(ctx, layer, node, inputs, axes)
