"""Converters of SimpleRNN, GRU and LSTM as ONNX's RNN, GRU and LSTM operators.

- Weights: Keras 1 keeps one (W, U, b) per gate ('cpu'/'mem') or the gates side by side
  ('gpu'); ONNX wants them stacked, transposed, in its own gate order: LSTM gates i, f,
  c, o become ONNX's i, o, f, c; GRU's z, r, h stay z, r, h, and Keras 1's GRU applies the
  reset gate before the recurrent product (``linear_before_reset=0``). The bias goes in
  ``Wb``; ``Rb`` is zero.
- Activations: ``inner_activation`` is ONNX's ``f``, ``activation`` its ``g`` (and ``h``);
  hard_sigmoid is ``HardSigmoid(alpha=0.2, beta=0.5)``, linear is ``Affine(1, 0)``.
- ``go_backwards``: the sequence is reversed first and run forwards, so that the returned
  sequence is in processing order, as Keras returns it.
- Masks (``Embedding(mask_zero=True)``, ``Masking``): Keras carries the previous output
  and state through masked steps. When each sample's unmasked steps form one contiguous
  run (pre- or post-padding), that is exactly a run over the rotated sequence with
  ``sequence_lens``, which the graph computes from the mask at run time; a sample whose
  mask has holes gets NaN outputs (never a silently different value).
- Stateful layers: each state is a graph input (``<layer>_h_in``, ``<layer>_c_in``,
  defaulting to the layer's current state) and the final states graph outputs
  (``<layer>_h_out``, ``<layer>_c_out``).
"""

import numpy as np

from ... import backend as K
from ...layers import recurrent
from .activations import rnn_activation
from .registry import register_onnx_converter, unsupported

_INT64_MAX = np.iinfo(np.int64).max


def _gates(layer, names):
    """[(W, U, b)] per Keras gate, in `names` order, from `layer.get_weights()`."""
    ws = layer.get_weights()
    u = layer.output_dim
    if layer.consume_less == "gpu":
        W, U, b = ws
        return [
            (W[:, i * u : (i + 1) * u], U[:, i * u : (i + 1) * u], b[i * u : (i + 1) * u])
            for i in range(len(names))
        ]
    return [tuple(ws[3 * i : 3 * i + 3]) for i in range(len(names))]


def onnx_weights(layer):
    """(op_type, W, R, B, activations) of a recurrent layer in ONNX's layout."""
    if isinstance(layer, recurrent.LSTM):
        # 'gpu' columns are i, f, c, o; the per-gate weights come as i, c, f, o
        names = "ifco" if layer.consume_less == "gpu" else "icfo"
        g = dict(zip(names, _gates(layer, names)))
        order, op = "iofc", "LSTM"
        acts = [layer.inner_activation, layer.activation, layer.activation]
    elif isinstance(layer, recurrent.GRU):
        g = dict(zip("zrh", _gates(layer, "zrh")))
        order, op = "zrh", "GRU"
        acts = [layer.inner_activation, layer.activation]
    else:
        W, U, b = layer.get_weights()
        g, order, op = {"x": (W, U, b)}, "x", "RNN"
        acts = [layer.activation]
    W = np.concatenate([g[k][0].T for k in order], axis=0)[None]
    R = np.concatenate([g[k][1].T for k in order], axis=0)[None]
    Wb = np.concatenate([g[k][2] for k in order], axis=0)
    B = np.concatenate([Wb, np.zeros_like(Wb)])[None]
    return op, W, R, B, [rnn_activation(layer, a) for a in acts]


def _reverse_time(ctx, x, hint=None):
    return ctx.slice(x, [-1], [-_INT64_MAX], [1], [-1], hint=hint)


def _gather_time(ctx, x, idx):
    """x[b, idx[b, t], ...] for x (B, T, F) and idx (B, T) int64."""
    full = ctx.op("Expand", [ctx.unsqueeze(idx, [2]), ctx.op("Shape", [x])])
    return ctx.op("GatherElements", [x, full], axis=1)


class _MaskRun:
    """The run-time quantities of a mask (B, T): first unmasked step, count, holes."""

    def __init__(self, ctx, mask, T):
        mi = ctx.op("Cast", [mask], to=7)
        self.count = ctx.reduce("ReduceSum", mi, [1], keepdims=False)
        self.start = ctx.op("ArgMax", [mi], axis=1, keepdims=0)
        last = ctx.op(
            "Sub",
            [ctx.const(np.int64(T - 1)), ctx.op("ArgMax", [_reverse_time(ctx, mi)], axis=1, keepdims=0)],
        )
        span = ctx.op("Add", [ctx.op("Sub", [last, self.start]), ctx.const(np.int64(1))])
        nonempty = ctx.op("Greater", [self.count, ctx.const(np.int64(0))])
        self.hole = ctx.op("And", [nonempty, ctx.op("Not", [ctx.op("Equal", [span, self.count])])])
        self.t = ctx.const(np.arange(T, dtype=np.int64)[None], "steps")
        self.T = ctx.const(np.int64(T))
        self.end = ctx.op("Add", [self.start, self.count])

    def rotate(self, ctx, x, sign):
        """x[b, (t + sign * start_b) mod T]."""
        s = ctx.unsqueeze(self.start, [1])
        shifted = ctx.op("Add" if sign > 0 else "Sub", [self.t, s])
        idx = ctx.op("Mod", [ctx.op("Add", [shifted, self.T]), self.T])
        return _gather_time(ctx, x, idx)


def _state_values(layer, n):
    states = getattr(layer, "states", None) or []
    return [K.get_value(s) for s in states[:n]]


def convert_rnn(ctx, layer, node, inputs, masks, hint=None):
    """ONNX nodes of one recurrent layer; returns (output, final states)."""
    hint = hint or layer.name
    op, W, R, B, acts = onnx_weights(layer)
    shape = node.input_shapes[0]
    T = shape[1]
    x, mask = inputs[0], masks[0]
    if layer.go_backwards:
        x = _reverse_time(ctx, x)
        if mask is not None:
            mask = _reverse_time(ctx, mask)
    run = None
    if mask is not None:
        if T is None:
            raise unsupported(layer, "a masked input needs a known number of timesteps")
        run = _MaskRun(ctx, mask, T)
        x = run.rotate(ctx, x, +1)
    u = layer.output_dim
    op_inputs = [
        ctx.transpose(x, [1, 0, 2]),
        ctx.weight(layer, W, "W"),
        ctx.weight(layer, R, "R"),
        ctx.weight(layer, B, "B"),
        "" if run is None else ctx.op("Cast", [run.count], to=6),
    ]
    n_states = 2 if op == "LSTM" else 1
    state_names = ["h", "c"][:n_states]
    batch = None
    if layer.stateful:
        values = _state_values(layer, n_states)
        if len(values) != n_states:
            raise unsupported(
                layer, "it is stateful but its states are not created yet", "Build the model first."
            )
        batch = int(np.asarray(values[0]).shape[0])
        for name, v in zip(state_names, values):
            op_inputs.append(ctx.state_input("%s_%s_in" % (layer.name, name), np.asarray(v)[None]))
    attrs = {
        "hidden_size": int(u),
        "activations": [a[0] for a in acts],
    }
    # the alphas and betas are consumed in order by the activations that take them
    alphas = [float(a[1]) for a in acts if a[1] is not None]
    betas = [float(a[2]) for a in acts if a[2] is not None]
    if alphas:
        attrs["activation_alpha"] = alphas
    if betas:
        attrs["activation_beta"] = betas
    if op == "GRU":
        attrs["linear_before_reset"] = 0
    while op_inputs and op_inputs[-1] == "":
        op_inputs.pop()
    outs = ctx.op(op, op_inputs, hint=hint + "_" + op.lower(), outputs=1 + n_states, **attrs)
    Y, finals = outs[0], [ctx.squeeze(s, [0]) for s in outs[1:]]
    h_last = finals[0]
    if layer.return_sequences:
        y = ctx.transpose(ctx.squeeze(Y, [1]), [1, 0, 2])
        if run is not None:
            y = run.rotate(ctx, y, -1)
            after = ctx.unsqueeze(ctx.op("GreaterOrEqual", [run.t, ctx.unsqueeze(run.end, [1])]), [2])
            y = ctx.op("Where", [after, ctx.unsqueeze(h_last, [1]), y])
    else:
        y = h_last
    if run is not None:
        hole = ctx.unsqueeze(run.hole, [1, 2] if layer.return_sequences else [1])
        y = ctx.op("Where", [hole, ctx.scalar(np.float32("nan")), y])
    y = ctx.op("Identity", [y], hint=hint)
    if layer.stateful:
        for name, s in zip(state_names, finals):
            ctx.state_output(s, "%s_%s_out" % (layer.name, name), [batch, u])
    return y, finals


@register_onnx_converter(recurrent.SimpleRNN)
@register_onnx_converter(recurrent.GRU)
@register_onnx_converter(recurrent.LSTM)
def convert_recurrent(ctx, layer, node, inputs, masks):
    y, _ = convert_rnn(ctx, layer, node, inputs, masks)
    return [y], [masks[0] if layer.return_sequences else None]
