"""Converter of Embedding: a Gather of the token ids (cast to int64) from the weight
matrix; with ``mask_zero`` the mask ``ids != 0`` follows the output."""

import numpy as np

from ... import backend as K
from ...layers import embeddings
from .registry import register_onnx_converter


@register_onnx_converter(embeddings.Embedding)
def convert_embedding(ctx, layer, node, inputs, masks):
    W = layer.get_weights()[0]
    ids = ctx.op("Cast", [inputs[0]], to=7)
    y = ctx.op("Gather", [ctx.weight(layer, W, "W"), ids], hint=layer.name, axis=0)
    mask = None
    if layer.mask_zero:
        dtype = K.dtype(node.input_tensors[0]) if getattr(node, "input_tensors", None) else "float32"
        zero = ctx.const(np.zeros((), dtype=dtype), "zero")
        mask = ctx.op("Not", [ctx.op("Equal", [inputs[0], zero])], hint=layer.name + "_mask")
    return [y], [mask]
