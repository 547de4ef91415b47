"""Converter of Embedding: a Gather of the token ids (cast to int64) from the weight
matrix; with ``mask_zero`` the mask ``ids != 0`` follows the output."""

from ...layers import embeddings
from .registry import register_onnx_converter


@register_onnx_converter(embeddings.Embedding)
def convert_embedding(ctx, layer, node, inputs, masks):
    W = layer.get_weights()[0]
    ids = ctx.op("Cast", [inputs[0]], to=7)
    y = ctx.op("Gather", [ctx.weight(layer, W, "W"), ids], hint=layer.name, axis=0)
    mask = None
    if layer.mask_zero:
        zero = ctx.op("CastLike", [ctx.scalar(0.0), inputs[0]])
        mask = ctx.op("Not", [ctx.op("Equal", [inputs[0], zero])], hint=layer.name + "_mask")
    return [y], [mask]
