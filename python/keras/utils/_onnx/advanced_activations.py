"""Converters of the advanced activations: LeakyReLU, PReLU, ELU, ParametricSoftplus,
ThresholdedReLU and SReLU, each with Keras 1's formula."""

import numpy as np

from ...layers import advanced_activations as adv
from .registry import register_onnx_converter


@register_onnx_converter(adv.LeakyReLU)
def convert_leaky_relu(ctx, layer, node, inputs, masks):
    return [ctx.op("LeakyRelu", [inputs[0]], hint=layer.name, alpha=float(layer.alpha))]


@register_onnx_converter(adv.ELU)
def convert_elu(ctx, layer, node, inputs, masks):
    return [ctx.op("Elu", [inputs[0]], hint=layer.name, alpha=float(layer.alpha))]


@register_onnx_converter(adv.ThresholdedReLU)
def convert_thresholded_relu(ctx, layer, node, inputs, masks):
    return [ctx.op("ThresholdedRelu", [inputs[0]], hint=layer.name, alpha=float(layer.theta))]


@register_onnx_converter(adv.PReLU)
def convert_prelu(ctx, layer, node, inputs, masks):
    # relu(x) + alphas * (x - |x|) / 2, with alphas broadcast as Keras broadcasts them
    x = inputs[0]
    alphas = layer.get_weights()[0]
    neg = ctx.op("Mul", [ctx.op("Sub", [x, ctx.op("Abs", [x])]), ctx.scalar(0.5)])
    return [
        ctx.op(
            "Add",
            [ctx.op("Relu", [x]), ctx.op("Mul", [ctx.weight(layer, alphas, "alphas"), neg])],
            hint=layer.name,
        )
    ]


@register_onnx_converter(adv.ParametricSoftplus)
def convert_parametric_softplus(ctx, layer, node, inputs, masks):
    alphas, betas = layer.get_weights()[:2]
    scaled = ctx.op("Mul", [ctx.weight(layer, betas, "betas"), inputs[0]])
    return [
        ctx.op("Mul", [ctx.op("Softplus", [scaled]), ctx.weight(layer, alphas, "alphas")], hint=layer.name)
    ]


@register_onnx_converter(adv.SReLU)
def convert_srelu(ctx, layer, node, inputs, masks):
    t_left, a_left, t_right, a_right = layer.get_weights()[:4]
    x = inputs[0]
    tl = ctx.weight(layer, t_left, "t_left")
    t_right_actual = t_left + np.abs(t_right)
    z = ctx.op("Sub", [x, tl])
    centre = ctx.op("Min", [ctx.op("Relu", [z]), ctx.weight(layer, t_right_actual - t_left, "width")])
    left = ctx.op("Mul", [ctx.weight(layer, a_left, "a_left"), ctx.op("Relu", [ctx.op("Neg", [z])])])
    y = ctx.op("Sub", [ctx.op("Add", [tl, centre]), left])
    right = ctx.op("Relu", [ctx.op("Sub", [x, ctx.weight(layer, t_right_actual, "t_right_actual")])])
    y_right = ctx.op("Mul", [right, ctx.weight(layer, a_right, "a_right")])
    return [ctx.op("Add", [y, y_right], hint=layer.name)]
