"""Converters of SimpleRNN, GRU and LSTM as ONNX's RNN, GRU and LSTM operators.

- Weights: Keras 1 keeps one (W, U, b) per gate ('cpu'/'mem') or the gates side by side
  ('gpu'); ONNX wants them stacked, transposed, in its own gate order: LSTM gates i, f,
  c, o become ONNX's i, o, f, c; GRU's z, r, h stay z, r, h, and Keras 1's GRU applies the
  reset gate before the recurrent product (``linear_before_reset=0``). The bias goes in
  ``Wb``; ``Rb`` is zero.
- Activations: ``inner_activation`` is ONNX's ``f``, ``activation`` its ``g`` (and ``h``);
  hard_sigmoid is ``HardSigmoid(alpha=0.2, beta=0.5)``, linear is ``Affine(1, 0)``. An
  activation the operators lack (softmax) makes the layer run Keras 1's step in a Scan.
- ``go_backwards``: the sequence is reversed first and run forwards, so that the returned
  sequence is in processing order, as Keras returns it.
- Masks (``Embedding(mask_zero=True)``, ``Masking``): Keras carries the previous output
  and state through masked steps. When each sample's unmasked steps form one contiguous
  run (pre- or post-padding), that is exactly a run over the rotated sequence with
  ``sequence_lens``, which the graph computes from the mask at run time. When some
  sample's mask has holes, an If runs Keras 1's step instead, in a Scan (exact for any
  mask, slower).
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
    """The run-time quantities of a mask (B, T): first unmasked step, count, holes. The
    number of timesteps is read from the mask's shape, so it may be unknown at export."""

    def __init__(self, ctx, mask):
        mi = ctx.op("Cast", [mask], to=7)
        one = ctx.const(np.int64(1))
        self.T = ctx.squeeze(ctx.slice(ctx.op("Shape", [mask]), [1], [2], [0]), [0])
        self.t = ctx.unsqueeze(ctx.op("Range", [ctx.const(np.int64(0)), self.T, one]), [0], hint="steps")
        self.count = ctx.reduce("ReduceSum", mi, [1], keepdims=False)
        self.start = ctx.op("ArgMax", [mi], axis=1, keepdims=0)
        from_end = ctx.op("ArgMax", [_reverse_time(ctx, mi)], axis=1, keepdims=0)
        last = ctx.op("Sub", [ctx.op("Sub", [self.T, one]), from_end])
        span = ctx.op("Add", [ctx.op("Sub", [last, self.start]), one])
        nonempty = ctx.op("Greater", [self.count, ctx.const(np.int64(0))])
        self.hole = ctx.op("And", [nonempty, ctx.op("Not", [ctx.op("Equal", [span, self.count])])])
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


def keras_weights(layer):
    """(W, U, b) with the gates side by side in the order of Keras 1's step: LSTM i, f,
    c, o; GRU z, r, h."""
    if isinstance(layer, recurrent.LSTM):
        names = "ifco" if layer.consume_less == "gpu" else "icfo"
        g = dict(zip(names, _gates(layer, names)))
        order = "ifco"
    elif isinstance(layer, recurrent.GRU):
        g, order = dict(zip("zrh", _gates(layer, "zrh"))), "zrh"
    else:
        return tuple(layer.get_weights())
    return tuple(np.concatenate([g[k][j] for k in order], axis=-1) for j in range(3))


def _operator_run(ctx, layer, op, x, run, initial, n_states):
    """The ONNX RNN / GRU / LSTM operator over x (B, T, F), the mask (if any) given as
    sequence lengths over the rotated sequence. Returns (output, final states)."""
    _, W, R, B, acts = onnx_weights(layer)
    if run is not None:
        x = run.rotate(ctx, x, +1)
    op_inputs = [
        ctx.transpose(x, [1, 0, 2]),
        ctx.weight(layer, W, "W"),
        ctx.weight(layer, R, "R"),
        ctx.weight(layer, B, "B"),
        "" if run is None else ctx.op("Cast", [run.count], to=6),
    ]
    op_inputs += [ctx.unsqueeze(s, [0]) for s in initial]
    attrs = {"hidden_size": int(layer.output_dim), "activations": [a[0] for a in acts]}
    # the alphas and betas are consumed in order by the activations that take them
    alphas = [float(a[1]) for a in acts if a[1] is not None]
    betas = [float(a[2]) for a in acts if a[2] is not None]
    if alphas:
        attrs["activation_alpha"] = alphas
    if betas:
        attrs["activation_beta"] = betas
    if op == "GRU":
        attrs["linear_before_reset"] = 0
    while op_inputs[-1] == "":
        op_inputs.pop()
    outs = ctx.op(op, op_inputs, hint=layer.name + "_" + op.lower(), outputs=1 + n_states, **attrs)
    finals = [ctx.squeeze(s, [0]) for s in outs[1:]]
    if run is not None:
        # a sample with every step masked keeps its initial states
        empty = ctx.unsqueeze(ctx.op("Equal", [run.count, ctx.const(np.int64(0))]), [1])
        finals = [ctx.op("Where", [empty, s0, s]) for s0, s in zip(initial, finals)]
    if not layer.return_sequences:
        return finals[0], finals
    y = ctx.transpose(ctx.squeeze(outs[0], [1]), [1, 0, 2])
    if run is not None:
        # masked steps repeat the previous output: the initial state before the run,
        # the last state after it
        y = run.rotate(ctx, y, -1)
        before = ctx.unsqueeze(ctx.op("Less", [run.t, ctx.unsqueeze(run.start, [1])]), [2])
        y = ctx.op("Where", [before, ctx.unsqueeze(initial[0], [1]), y])
        after = ctx.unsqueeze(ctx.op("GreaterOrEqual", [run.t, ctx.unsqueeze(run.end, [1])]), [2])
        y = ctx.op("Where", [after, ctx.unsqueeze(finals[0], [1]), y])
    return y, finals


def _stepped_run(ctx, layer, op, x, mask, initial, n_states):
    """Keras 1's recurrence step by step in a Scan: exact for any mask (a masked step
    keeps the previous output and states) and any activation. Returns (output, final
    states)."""
    from onnx import TensorProto, helper

    from .activations import apply_activation

    W, U, b = keras_weights(layer)
    u = layer.output_dim
    xw = ctx.op(
        "Add", [ctx.op("MatMul", [x, ctx.weight(layer, W, "W_keras")]), ctx.weight(layer, b, "b_keras")]
    )
    xs = ctx.transpose(xw, [1, 0, 2])  # (T, B, gates * u)
    scanned = [xs]
    if mask is not None:
        scanned.append(ctx.unsqueeze(ctx.transpose(mask, [1, 0]), [2]))  # (T, B, 1)

    body = ctx.subgraph()
    states = [body.fresh("%s_s%d" % (layer.name, i)) for i in range(n_states)]
    x_t, m_t = body.fresh(layer.name + "_x_t"), body.fresh(layer.name + "_m_t")
    h = states[0]
    Uw = ctx.weight(layer, U, "U_keras")

    def act(v):
        return apply_activation(body, layer, layer.activation, v)

    def inner(v):
        return apply_activation(body, layer, layer.inner_activation, v)

    if op == "LSTM":
        z = body.op("Add", [x_t, body.op("MatMul", [h, Uw])])
        zi, zf, zc, zo = body.split(z, [u] * 4, axis=1)
        c = body.op("Add", [body.op("Mul", [inner(zf), states[1]]), body.op("Mul", [inner(zi), act(zc)])])
        new = [body.op("Mul", [inner(zo), act(c)]), c]
    elif op == "GRU":
        xz, xr, xh = body.split(x_t, [u] * 3, axis=1)
        Uz, Ur, Uh = (
            ctx.weight(layer, U[:, k * u : (k + 1) * u], "U_keras_" + g) for k, g in enumerate("zrh")
        )
        zg = inner(body.op("Add", [xz, body.op("MatMul", [h, Uz])]))
        rg = inner(body.op("Add", [xr, body.op("MatMul", [h, Ur])]))
        hh = act(body.op("Add", [xh, body.op("MatMul", [body.op("Mul", [rg, h]), Uh])]))
        keep = body.op("Mul", [zg, h])
        new = [body.op("Add", [keep, body.op("Mul", [body.op("Sub", [body.scalar(1.0), zg]), hh])])]
    else:
        new = [act(body.op("Add", [x_t, body.op("MatMul", [h, Uw])]))]
    outs = [body.fresh("%s_s%d_next" % (layer.name, i)) for i in range(n_states)]
    for o, n, s in zip(outs, new, states):
        if mask is None:
            body.op("Identity", [n], outputs=[o])
        else:
            body.op("Where", [m_t, n, s], outputs=[o])
    seq_out = body.fresh(layer.name + "_y_t")
    body.op("Identity", [outs[0]], outputs=[seq_out])

    def info(name, width, elem=TensorProto.FLOAT):
        # onnxruntime wants the shapes of a Scan body's outputs
        return helper.make_tensor_value_info(name, elem, ["N", width])

    gates = int(W.shape[1])
    graph = helper.make_graph(
        body.nodes,
        layer.name + "_masked_step",
        [info(n, u) for n in states]
        + [info(x_t, gates)]
        + ([info(m_t, 1, TensorProto.BOOL)] if mask is not None else []),
        [info(n, u) for n in outs + [seq_out]],
    )
    res = ctx.op(
        "Scan",
        list(initial) + scanned,
        hint=layer.name + "_scan",
        outputs=n_states + 1,
        body=graph,
        num_scan_inputs=len(scanned),
    )
    finals = res[:n_states]
    if layer.return_sequences:
        return ctx.transpose(res[n_states], [1, 0, 2]), finals
    return finals[0], finals


def _branch(ctx, build, n_out):
    """An If branch: the nodes `build(sub_ctx)` adds and its outputs, via Identity."""
    from onnx import TensorProto, helper

    sub = ctx.subgraph()
    values = build(sub)
    names = [sub.fresh("branch_out") for _ in range(n_out)]
    for v, n in zip(values, names):
        sub.op("Identity", [v], outputs=[n])
    return helper.make_graph(
        sub.nodes,
        sub.fresh("branch"),
        [],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in names],
    )


def _operator_activations(layer):
    """Whether ONNX's RNN / GRU / LSTM operator has the layer's activations."""
    try:
        onnx_weights(layer)
    except NotImplementedError:
        return False
    return True


def convert_rnn(ctx, layer, node, inputs, masks):
    """ONNX nodes of one recurrent layer; returns (output, final states).

    The ONNX operator when it has the layer's activations, Keras 1's step in a Scan
    otherwise (softmax, ...). With a mask: an If on whether some sample's mask has holes,
    the operator with sequence lengths when none has, the Scan otherwise."""
    from .activations import apply_activation

    if isinstance(layer, recurrent.LSTM):
        op, n_states = "LSTM", 2
    elif isinstance(layer, recurrent.GRU):
        op, n_states = "GRU", 1
    else:
        op, n_states = "RNN", 1
    fused = _operator_activations(layer)
    if not fused:
        # the Scan applies the activations as nodes: refuse the ones with no ONNX form
        probe = ctx.subgraph()
        for fn in (layer.activation, getattr(layer, "inner_activation", layer.activation)):
            apply_activation(probe, layer, fn, "probe")
    state_names = ["h", "c"][:n_states]
    u = layer.output_dim
    x, mask = inputs[0], masks[0]
    if layer.go_backwards:
        x = _reverse_time(ctx, x)
        if mask is not None:
            mask = _reverse_time(ctx, mask)
    initial, batch = [], None
    if layer.stateful:
        values = _state_values(layer, n_states)
        if len(values) != n_states:
            raise unsupported(
                layer, "it is stateful but its states are not created yet", "Build the model first."
            )
        batch = int(np.asarray(values[0]).shape[0])
        initial = [
            ctx.state_input("%s_%s_in" % (layer.name, n), np.asarray(v)) for n, v in zip(state_names, values)
        ]
    if not initial and (mask is not None or not fused):
        batch_dim = ctx.slice(ctx.op("Shape", [x]), [0], [1], [0])
        zeros = ctx.op(
            "ConstantOfShape", [ctx.op("Concat", [batch_dim, ctx.ints([u])], axis=0)], value=_zero_tensor()
        )
        initial = [zeros] * n_states
    if not fused:
        y, finals = _stepped_run(ctx, layer, op, x, mask, initial, n_states)
    elif mask is None:
        y, finals = _operator_run(ctx, layer, op, x, None, initial, n_states)
    else:
        run = _MaskRun(ctx, mask)
        any_hole = ctx.op(
            "Cast", [ctx.reduce("ReduceMax", ctx.op("Cast", [run.hole], to=6), [0], keepdims=False)], to=9
        )

        def fast(sub):
            y, finals = _operator_run(sub, layer, op, x, run, initial, n_states)
            return [y] + finals

        def exact(sub):
            y, finals = _stepped_run(sub, layer, op, x, mask, initial, n_states)
            return [y] + finals

        res = ctx.op(
            "If",
            [any_hole],
            hint=layer.name + "_masked",
            outputs=1 + n_states,
            then_branch=_branch(ctx, exact, 1 + n_states),
            else_branch=_branch(ctx, fast, 1 + n_states),
        )
        y, finals = res[0], res[1:]
    y = ctx.op("Identity", [y], hint=layer.name)
    if layer.stateful:
        for name, s in zip(state_names, finals):
            ctx.state_output(s, "%s_%s_out" % (layer.name, name), [batch, u])
    return y, finals


def _zero_tensor():
    from onnx import helper

    return helper.make_tensor("zero", 1, [1], [0.0])


@register_onnx_converter(recurrent.SimpleRNN)
@register_onnx_converter(recurrent.GRU)
@register_onnx_converter(recurrent.LSTM)
def convert_recurrent(ctx, layer, node, inputs, masks):
    y, _ = convert_rnn(ctx, layer, node, inputs, masks)
    return [y], [masks[0] if layer.return_sequences else None]
