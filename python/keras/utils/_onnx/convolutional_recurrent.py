"""Converter of ConvLSTM2D: ONNX has no convolutional LSTM operator, so the layer
becomes

- one Conv computing the four gates' input convolutions for every timestep at once
  (time folded into the batch, the kernels stacked i, f, c, o, the biases added);
- a Scan over time whose body convolves h_{t-1} with the four recurrent kernels ('same',
  stride 1) and applies Keras 1.2.2's cell: ``i = f_in(x_i + h_i)``, ``f = f_in(x_f +
  h_f)``, ``c = f * c_{t-1} + i * act(x_c + h_c)``, ``o = f_in(x_o + h_o)``, ``h = o *
  act(c)``.

Kernels are flipped for 'th' (true convolutions) and transposed from 'tf''s (rows, cols,
in, out); the states run channels-first and the outputs are transposed back for 'tf'.
``go_backwards`` reverses the sequence first; a stateful layer's states are graph inputs
and outputs, as for the other recurrent layers. The layer does not support masking in
Keras 1, so no mask arrives here.
"""

import numpy as np

from ... import backend as K
from ...layers import convolutional_recurrent
from .activations import apply_activation
from .convolutional import onnx_pads, window_attrs
from .recurrent import _reverse_time
from .registry import register_onnx_converter, unsupported


def _kernels(layer, order):
    """(W_all (4nf, C, r, c), U_all (4nf, nf, r, c), b_all (4nf,)) stacked i, f, c, o."""
    ws = layer.get_weights()  # W_i, U_i, b_i, W_c, U_c, b_c, W_f, U_f, b_f, W_o, U_o, b_o
    gate = {g: ws[3 * k : 3 * k + 3] for k, g in enumerate("icfo")}

    def onnx_kernel(w):
        if order == "th":
            return w[:, :, ::-1, ::-1]
        return w.transpose(3, 2, 0, 1)

    W = np.concatenate([onnx_kernel(gate[g][0]) for g in "ifco"], axis=0)
    U = np.concatenate([onnx_kernel(gate[g][1]) for g in "ifco"], axis=0)
    b = np.concatenate([gate[g][2] for g in "ifco"], axis=0)
    return np.ascontiguousarray(W), np.ascontiguousarray(U), b


def _cell_body(ctx, layer, nf, U, kr, kc):
    """The Scan body: inputs (h, c, xw_t), outputs (h', c', h')."""
    from onnx import TensorProto, helper

    body = ctx.subgraph()
    h, c, xw = body.fresh(layer.name + "_h"), body.fresh(layer.name + "_c"), body.fresh(layer.name + "_xw")
    pads = onnx_pads([K.conv_padding(None, kr, 1, "same"), K.conv_padding(None, kc, 1, "same")])
    hu = body.op("Conv", [h, ctx.weight(layer, U, "U")], kernel_shape=[kr, kc], pads=pads)
    z = body.op("Add", [xw, hu])
    zi, zf, zc, zo = body.split(z, [nf] * 4, axis=1)
    i = apply_activation(body, layer, layer.inner_activation, zi)
    f = apply_activation(body, layer, layer.inner_activation, zf)
    g = apply_activation(body, layer, layer.activation, zc)
    o = apply_activation(body, layer, layer.inner_activation, zo)
    c_new = body.op("Add", [body.op("Mul", [f, c]), body.op("Mul", [i, g])])
    h_new = body.op("Mul", [o, apply_activation(body, layer, layer.activation, c_new)])
    outs = [body.fresh(layer.name + n) for n in ("_h_next", "_c_next", "_h_seq")]
    body.op("Identity", [h_new], outputs=[outs[0]])
    body.op("Identity", [c_new], outputs=[outs[1]])
    body.op("Identity", [h_new], outputs=[outs[2]])

    def info(name):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, None)

    return helper.make_graph(
        body.nodes, layer.name + "_cell", [info(h), info(c), info(xw)], [info(n) for n in outs]
    )


@register_onnx_converter(convolutional_recurrent.ConvLSTM2D)
def convert_conv_lstm2d(ctx, layer, node, inputs, masks):
    order = layer.dim_ordering
    if order == "default":
        order = K.image_dim_ordering()
    shape = node.input_shapes[0]
    T = shape[1]
    if order == "th":
        C, H, W_ = shape[2], shape[3], shape[4]
    else:
        H, W_, C = shape[2], shape[3], shape[4]
    if None in (T, C, H, W_):
        raise unsupported(layer, "its input shape %s must be known but for the batch" % (shape,))
    nf = layer.nb_filter
    W, U, b = _kernels(layer, order)
    kr, kc = layer.nb_row, layer.nb_col
    state_shape = layer.get_output_shape_for(shape)
    Ho, Wo = (state_shape[-2], state_shape[-1]) if order == "th" else (state_shape[-3], state_shape[-2])

    x = inputs[0]
    if layer.go_backwards:
        x = _reverse_time(ctx, x)
    perm = [1, 0, 2, 3, 4] if order == "th" else [1, 0, 4, 2, 3]
    x = ctx.reshape(ctx.transpose(x, perm), [-1, C, H, W_])  # (T * B, C, H, W)
    pads = [
        K.conv_padding(H, kr, layer.subsample[0], layer.border_mode),
        K.conv_padding(W_, kc, layer.subsample[1], layer.border_mode),
    ]
    xw = ctx.op(
        "Conv",
        [x, ctx.weight(layer, W, "W"), ctx.weight(layer, b, "b")],
        **window_attrs((kr, kc), layer.subsample, pads),
    )
    xw = ctx.reshape(xw, [T, -1, 4 * nf, Ho, Wo], hint=layer.name + "_xw")

    if layer.stateful:
        states = [K.get_value(s) for s in layer.states]
        if order == "tf":
            states = [s.transpose(0, 3, 1, 2) for s in states]
        h0 = ctx.state_input(layer.name + "_h_in", np.ascontiguousarray(states[0]))
        c0 = ctx.state_input(layer.name + "_c_in", np.ascontiguousarray(states[1]))
    else:
        batch = ctx.slice(ctx.op("Shape", [inputs[0]]), [0], [1], [0])
        zshape = ctx.op("Concat", [batch, ctx.ints([nf, Ho, Wo])], axis=0)
        h0 = c0 = ctx.op("ConstantOfShape", [zshape], value=_zero_tensor())
    body = _cell_body(ctx, layer, nf, U, kr, kc)
    h_last, c_last, seq = ctx.op(
        "Scan", [h0, c0, xw], hint=layer.name + "_scan", outputs=3, body=body, num_scan_inputs=1
    )
    if layer.return_sequences:
        y = ctx.transpose(seq, [1, 0, 2, 3, 4] if order == "th" else [1, 0, 3, 4, 2], hint=layer.name)
    else:
        y = ctx.transpose(h_last, [0, 1, 2, 3] if order == "th" else [0, 2, 3, 1], hint=layer.name)
    if layer.stateful:
        batch = int(np.asarray(states[0]).shape[0])
        for name, s in (("h", h_last), ("c", c_last)):
            if order == "tf":
                s = ctx.transpose(s, [0, 2, 3, 1])
            dims = [batch, nf, Ho, Wo] if order == "th" else [batch, Ho, Wo, nf]
            ctx.state_output(s, "%s_%s_out" % (layer.name, name), dims)
    return [y]


def _zero_tensor():
    from onnx import helper

    return helper.make_tensor("zero", 1, [1], [0.0])
