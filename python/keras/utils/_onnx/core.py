"""Converters of the core layers: Dense, Activation, the inference-time identities
(Dropout, the noise layers, ActivityRegularization), Masking, Flatten, Reshape, Permute,
RepeatVector, MaxoutDense, Highway, TimeDistributedDense; Lambda is refused."""

from ...layers import core, noise
from .activations import apply_activation
from .registry import register_onnx_converter, unsupported


def dense_out(ctx, layer, x, W, b, hint):
    """x . W (+ b): MatMul broadcasts over any leading axes."""
    y = ctx.op("MatMul", [x, ctx.weight(layer, W, "W")], hint=hint)
    if b is not None:
        y = ctx.op("Add", [y, ctx.weight(layer, b, "b")], hint=hint)
    return y


def _weights_wb(layer):
    ws = layer.get_weights()
    return ws[0], (ws[1] if getattr(layer, "bias", True) and len(ws) > 1 else None)


@register_onnx_converter(core.Dense)
@register_onnx_converter(core.TimeDistributedDense)
def convert_dense(ctx, layer, node, inputs, masks):
    W, b = _weights_wb(layer)
    y = dense_out(ctx, layer, inputs[0], W, b, layer.name)
    return [apply_activation(ctx, layer, layer.activation, y)]


@register_onnx_converter(core.Activation)
def convert_activation(ctx, layer, node, inputs, masks):
    y = apply_activation(ctx, layer, layer.activation, inputs[0])
    if y == inputs[0]:
        y = ctx.op("Identity", [y], hint=layer.name)
    return [y]


def _identity(ctx, layer, node, inputs, masks):
    return [ctx.op("Identity", [inputs[0]], hint=layer.name)]


for _cls in (
    core.Dropout,
    core.SpatialDropout1D,
    core.SpatialDropout2D,
    core.SpatialDropout3D,
    core.ActivityRegularization,
    noise.GaussianNoise,
    noise.GaussianDropout,
):
    register_onnx_converter(_cls, _identity)


@register_onnx_converter(core.Masking)
def convert_masking(ctx, layer, node, inputs, masks):
    x = inputs[0]
    value = ctx.scalar(layer.mask_value)
    differs = ctx.op("Cast", [ctx.op("Not", [ctx.op("Equal", [x, value])])], to=1)
    keep = ctx.reduce("ReduceMax", differs, [-1], keepdims=True, hint=layer.name + "_keep")
    y = ctx.op("Mul", [x, keep], hint=layer.name)
    mask = ctx.op("Cast", [ctx.squeeze(keep, [-1])], hint=layer.name + "_mask", to=9)
    return [y], [mask]


@register_onnx_converter(core.Flatten)
def convert_flatten(ctx, layer, node, inputs, masks):
    return [ctx.op("Flatten", [inputs[0]], hint=layer.name, axis=1)]


@register_onnx_converter(core.Reshape)
def convert_reshape(ctx, layer, node, inputs, masks):
    target = node.output_shapes[0][1:]
    if any(d is None for d in target):
        raise unsupported(layer, "its output shape %s is not fully known" % (node.output_shapes[0],))
    if 0 in target:
        raise unsupported(layer, "its target shape has a zero dimension")
    return [ctx.reshape(inputs[0], [0] + list(target), hint=layer.name)]


@register_onnx_converter(core.Permute)
def convert_permute(ctx, layer, node, inputs, masks):
    return [ctx.op("Transpose", [inputs[0]], hint=layer.name, perm=[0] + [int(d) for d in layer.dims])]


@register_onnx_converter(core.RepeatVector)
def convert_repeat_vector(ctx, layer, node, inputs, masks):
    x = ctx.unsqueeze(inputs[0], [1])
    return [ctx.op("Expand", [x, ctx.ints([1, layer.n, 1])], hint=layer.name)]


@register_onnx_converter(core.MaxoutDense)
def convert_maxout_dense(ctx, layer, node, inputs, masks):
    W, b = _weights_wb(layer)  # W: (nb_feature, input_dim, output_dim)
    y = ctx.op("MatMul", [inputs[0], ctx.weight(layer, W, "W")])  # (nb_feature, batch, output_dim)
    if b is not None:
        y = ctx.op("Add", [y, ctx.weight(layer, b[:, None, :], "b")])
    return [ctx.reduce("ReduceMax", y, [0], keepdims=False, hint=layer.name)]


@register_onnx_converter(core.Highway)
def convert_highway(ctx, layer, node, inputs, masks):
    ws = layer.get_weights()
    W, W_carry = ws[0], ws[1]
    b, b_carry = (ws[2], ws[3]) if layer.bias else (None, None)
    x = inputs[0]
    gate = ctx.op("Sigmoid", [dense_out(ctx, layer, x, W_carry, b_carry, layer.name + "_gate")])
    act = apply_activation(ctx, layer, layer.activation, dense_out(ctx, layer, x, W, b, layer.name + "_h"))
    delta = ctx.op("Mul", [gate, ctx.op("Sub", [act, x])])
    return [ctx.op("Add", [x, delta], hint=layer.name)]


@register_onnx_converter(core.Lambda)
def convert_lambda(ctx, layer, node, inputs, masks):
    raise unsupported(
        layer,
        "a Lambda runs arbitrary Python code, which has no ONNX form",
        "Replace it by a small Layer subclass and register an ONNX converter for that class "
        "with keras.utils.onnx_utils.register_onnx_converter.",
    )
