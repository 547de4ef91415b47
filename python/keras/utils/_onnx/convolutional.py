"""Converters of the convolutional layers: Convolution1D/2D/3D, AtrousConvolution1D/2D,
SeparableConvolution2D, Deconvolution2D, UpSampling1D/2D/3D, ZeroPadding1D/2D/3D and
Cropping1D/2D/3D.

ONNX convolutions are channels-first cross-correlations. 'th' layers in Keras 1 (and
here) compute a true convolution, so their kernels are flipped along the spatial axes;
'tf' kernels are transposed to ONNX's (out, in, spatial...) layout and the channels-last
input is transposed around the node.
"""

import numpy as np

from ... import backend as K
from ...layers import convolutional as conv
from .activations import apply_activation
from .registry import register_onnx_converter, unsupported


def ordering(layer):
    o = getattr(layer, "dim_ordering", "tf")
    return K.image_dim_ordering() if o == "default" else o


def to_channels_first(ctx, x, rank):
    """NHWC-like -> NCHW-like (rank = number of axes)."""
    return ctx.transpose(x, [0, rank - 1] + list(range(1, rank - 1)))


def to_channels_last(ctx, x, rank, hint=None):
    return ctx.transpose(x, [0] + list(range(2, rank)) + [1], hint=hint)


def onnx_pads(pairs):
    """[(before, after), ...] per spatial axis -> ONNX's [begins..., ends...]."""
    return [int(p[0]) for p in pairs] + [int(p[1]) for p in pairs]


def window_attrs(kernel_shape, strides, pads):
    """The ``kernel_shape``, ``strides`` and ``pads`` attributes of an ONNX Conv,
    ConvTranspose or pooling node (``pads``: (before, after) per spatial axis)."""
    return dict(
        kernel_shape=[int(k) for k in kernel_shape], strides=[int(s) for s in strides], pads=onnx_pads(pads)
    )


def _spatial(shape, order, rank):
    return list(shape[2:]) if order == "th" else list(shape[1 : rank - 1])


def _bias_act(ctx, layer, y, rank, hint):
    """Bias over the channels axis (channels-first here) and the activation."""
    if getattr(layer, "bias", True):
        b = layer.get_weights()[-1]
        y = ctx.op("Add", [y, ctx.weight(layer, b.reshape((-1,) + (1,) * (rank - 2)), "b")], hint=hint)
    return apply_activation(ctx, layer, layer.activation, y, hint=hint)


def _biased_channels_first(ctx, layer, x, order, rank, body):
    """``body(x)`` on ``x`` channels-first (transposed there from 'tf'), then the
    layer's bias and activation; the result back in the layer's ordering."""
    if order == "tf":
        x = to_channels_first(ctx, x, rank)
    y = _bias_act(ctx, layer, body(x), rank, layer.name if order == "th" else layer.name + "_cf")
    if order == "tf":
        y = to_channels_last(ctx, y, rank, hint=layer.name)
    return y


def _conv_nd(ctx, layer, node, x, kernel, strides, dilations, rank, order, group=1):
    """Conv (+ bias + activation) on input `x` in `order`, kernel in ONNX layout."""
    shape = node.input_shapes[0]
    spatial = _spatial(shape, order, rank)
    if any(s is None for s in spatial) and layer.border_mode == "same" and any(s > 1 for s in strides):
        raise unsupported(layer, "border_mode='same' with strides needs a known spatial size")
    ks = kernel.shape[2:]
    pads = [
        K.conv_padding(n, k, s, layer.border_mode, d) for n, k, s, d in zip(spatial, ks, strides, dilations)
    ]
    return _biased_channels_first(
        ctx,
        layer,
        x,
        order,
        rank,
        lambda x: ctx.op(
            "Conv",
            [x, ctx.weight(layer, kernel, "W")],
            hint=layer.name + "_conv",
            dilations=[int(d) for d in dilations],
            group=group,
            **window_attrs(ks, strides, pads),
        ),
    )


def _flip(kernel, rank):
    return np.ascontiguousarray(kernel[(slice(None), slice(None)) + (slice(None, None, -1),) * (rank - 2)])


@register_onnx_converter(conv.Convolution2D)
@register_onnx_converter(conv.AtrousConvolution2D)
def convert_conv2d(ctx, layer, node, inputs, masks):
    W = layer.get_weights()[0]
    order = ordering(layer)
    if order == "th":
        kernel = _flip(W, 4)  # (nb_filter, stack, rows, cols), true convolution
    else:
        kernel = W.transpose(3, 2, 0, 1)  # (rows, cols, stack, nb_filter)
    return [
        _conv_nd(
            ctx,
            layer,
            node,
            inputs[0],
            kernel,
            layer.subsample,
            getattr(layer, "atrous_rate", (1, 1)),
            4,
            order,
        )
    ]


@register_onnx_converter(conv.Convolution1D)
@register_onnx_converter(conv.AtrousConvolution1D)
def convert_conv1d(ctx, layer, node, inputs, masks):
    W = layer.get_weights()[0]  # (filter_length, 1, input_dim, nb_filter), cross-correlation
    kernel = W[:, 0].transpose(2, 1, 0)  # (nb_filter, input_dim, filter_length)
    rate = getattr(layer, "atrous_rate", 1)
    rate = rate[0] if isinstance(rate, (tuple, list)) else rate
    return [_conv_nd(ctx, layer, node, inputs[0], kernel, [layer.subsample_length], [rate], 3, "tf")]


@register_onnx_converter(conv.Convolution3D)
def convert_conv3d(ctx, layer, node, inputs, masks):
    W = layer.get_weights()[0]
    order = ordering(layer)
    kernel = _flip(W, 5) if order == "th" else W.transpose(4, 3, 0, 1, 2)
    return [_conv_nd(ctx, layer, node, inputs[0], kernel, layer.subsample, (1, 1, 1), 5, order)]


@register_onnx_converter(conv.SeparableConvolution2D)
def convert_separable(ctx, layer, node, inputs, masks):
    ws = layer.get_weights()
    depthwise, pointwise = ws[0], ws[1]
    order = ordering(layer)
    if order == "th":
        dw = depthwise.transpose(1, 0, 2, 3)  # (dm, stack, r, c) -> (stack, dm, r, c)
        pw = pointwise  # (nb_filter, stack * dm, 1, 1)
    else:
        dw = depthwise.transpose(2, 3, 0, 1)  # (r, c, stack, dm) -> (stack, dm, r, c)
        pw = pointwise.transpose(3, 2, 0, 1)
    stack, dm = dw.shape[0], dw.shape[1]
    dw = dw.reshape((stack * dm, 1) + dw.shape[2:])
    spatial = _spatial(node.input_shapes[0], order, 4)
    pads = [
        K.conv_padding(n, k, s, layer.border_mode) for n, k, s in zip(spatial, dw.shape[2:], layer.subsample)
    ]

    def separable(x):
        y = ctx.op(
            "Conv",
            [x, ctx.weight(layer, dw, "depthwise")],
            hint=layer.name + "_depthwise",
            group=int(stack),
            **window_attrs(dw.shape[2:], layer.subsample, pads),
        )
        return ctx.op(
            "Conv",
            [y, ctx.weight(layer, pw, "pointwise")],
            hint=layer.name + "_pointwise",
            kernel_shape=[1, 1],
        )

    return [_biased_channels_first(ctx, layer, inputs[0], order, 4, separable)]


@register_onnx_converter(conv.Deconvolution2D)
def convert_deconv2d(ctx, layer, node, inputs, masks):
    W = layer.get_weights()[0]
    order = ordering(layer)
    if order == "th":
        kernel = _flip(W, 4).transpose(1, 0, 2, 3)  # (nb_filter, stack, r, c) -> (stack, nb_filter, r, c)
    else:
        kernel = W.transpose(2, 3, 0, 1)  # (r, c, stack, nb_filter) -> (stack, nb_filter, r, c)
    in_spatial = _spatial(node.input_shapes[0], order, 4)
    out_spatial = _spatial(node.output_shapes[0], order, 4)
    if any(d is None for d in in_spatial + out_spatial):
        raise unsupported(layer, "its input and output rows/cols must be known")
    pads, extra = [], []
    for n_in, n_out, k, s in zip(in_spatial, out_spatial, kernel.shape[2:], layer.subsample):
        before, after = K.conv_padding(n_out, k, s, layer.border_mode)
        natural = s * (n_in - 1) + k - before - after
        if not 0 <= n_out - natural < s:
            raise unsupported(
                layer, "its output_shape %s does not follow from its input" % (node.output_shapes[0],)
            )
        pads.append((before, after))
        extra.append(n_out - natural)
    return [
        _biased_channels_first(
            ctx,
            layer,
            inputs[0],
            order,
            4,
            lambda x: ctx.op(
                "ConvTranspose",
                [x, ctx.weight(layer, kernel, "W")],
                hint=layer.name + "_deconv",
                output_padding=[int(e) for e in extra] if any(extra) else None,
                **window_attrs(kernel.shape[2:], layer.subsample, pads),
            ),
        )
    ]


# --- upsampling, padding, cropping ---------------------------------------------------


def repeat_axes(ctx, layer, x, shape, factors):
    """Repeat every element `factors[a]` times along axis a (nearest upsampling); `shape`
    the static Keras shape of x (batch first, others known)."""
    if any(d is None for d in shape[1:]):
        raise unsupported(layer, "upsampling is exported for a known input shape, got %s" % (shape,))
    hint = layer.name
    rank = len(shape)
    unsq, expand, final = [], [1], [0]
    pos = 1
    for a in range(1, rank):
        expand.append(1)
        f = factors.get(a, 1)
        if f > 1:
            pos += 1
            unsq.append(pos)
            expand.append(f)
        pos += 1
        final.append(shape[a] * f)
    y = ctx.unsqueeze(x, unsq) if unsq else x
    y = ctx.op("Expand", [y, ctx.ints(expand)])
    return ctx.reshape(y, final, hint=hint)


def _spatial_axes(order, n):
    return list(range(2, 2 + n)) if order == "th" else list(range(1, 1 + n))


@register_onnx_converter(conv.UpSampling1D)
def convert_upsampling1d(ctx, layer, node, inputs, masks):
    return [repeat_axes(ctx, layer, inputs[0], node.input_shapes[0], {1: layer.length})]


@register_onnx_converter(conv.UpSampling2D)
@register_onnx_converter(conv.UpSampling3D)
def convert_upsampling(ctx, layer, node, inputs, masks):
    axes = _spatial_axes(ordering(layer), len(layer.size))
    return [repeat_axes(ctx, layer, inputs[0], node.input_shapes[0], dict(zip(axes, layer.size)))]


def _pad(ctx, layer, x, rank, per_axis):
    """Zero padding: per_axis {axis: (before, after)}."""
    pads = [0] * (2 * rank)
    for a, (b, e) in per_axis.items():
        pads[a], pads[rank + a] = int(b), int(e)
    return ctx.op("Pad", [x, ctx.ints(pads)], hint=layer.name, mode="constant")


@register_onnx_converter(conv.ZeroPadding1D)
def convert_zero_padding1d(ctx, layer, node, inputs, masks):
    return [_pad(ctx, layer, inputs[0], 3, {1: (layer.left_pad, layer.right_pad)})]


@register_onnx_converter(conv.ZeroPadding2D)
def convert_zero_padding2d(ctx, layer, node, inputs, masks):
    r, c = _spatial_axes(ordering(layer), 2)
    per = {r: (layer.top_pad, layer.bottom_pad), c: (layer.left_pad, layer.right_pad)}
    return [_pad(ctx, layer, inputs[0], 4, per)]


@register_onnx_converter(conv.ZeroPadding3D)
def convert_zero_padding3d(ctx, layer, node, inputs, masks):
    axes = _spatial_axes(ordering(layer), 3)
    return [_pad(ctx, layer, inputs[0], 5, {a: (p, p) for a, p in zip(axes, layer.padding)})]


def _crop(ctx, layer, node, x, per_axis):
    shape = node.input_shapes[0]
    axes, starts, ends = [], [], []
    for a, (b, e) in per_axis.items():
        if shape[a] is None:
            raise unsupported(layer, "cropping needs a known input size along axis %d" % a)
        axes.append(a)
        starts.append(int(b))
        ends.append(int(shape[a] - e))
    return ctx.slice(x, starts, ends, axes, hint=layer.name)


@register_onnx_converter(conv.Cropping1D)
def convert_cropping1d(ctx, layer, node, inputs, masks):
    return [_crop(ctx, layer, node, inputs[0], {1: tuple(layer.cropping)})]


@register_onnx_converter(conv.Cropping2D)
@register_onnx_converter(conv.Cropping3D)
def convert_cropping(ctx, layer, node, inputs, masks):
    n = len(layer.cropping)
    axes = _spatial_axes(ordering(layer), n)
    return [_crop(ctx, layer, node, inputs[0], {a: tuple(c) for a, c in zip(axes, layer.cropping)})]
