"""Keras 1 recurrent layers: `Recurrent` (base), `SimpleRNN`, `GRU`, `LSTM`.

Each layer runs as ONE fused engine op over the whole sequence (`K.rnn_sequence`: the
engine's `simple_rnn_sequence`, `gru_sequence`, `lstm_sequence`, see
`rust/ferrokeras/src/ops/recurrent.rs`): the op
returns the hidden state of every processed step (B, T, U) (for a stateful LSTM one extra
step holding the final cell state); `return_sequences=False` slices the last step.

The fused op knows the activations in `_FUSED_ACTIVATIONS` (Keras' own functions of
those names). With any other `activation` / `inner_activation` ('softmax', a user
function) the layer runs Keras 1.2.2's per-step cell math through `K.rnn` (unrolled, so
the sequence length must be known) on the same weights, states, masks and dropout;
slower, same results.

Weights follow Keras 1.2.2 exactly (names, shapes, order, the 1.2.x init quirk of the
per-gate U matrices); with `consume_less` 'cpu'/'mem' the per-gate matrices are
concatenated into the fused layout inside `call` (cheap graph ops).
"""

import numpy as np

from .. import activations, initializations, regularizers
from .. import backend as K
from ..engine.topology import InputSpec, Layer, merged_config
from ..utils.generic_utils import shared_docs
from ._spatial import check_built_size, check_rank, temporal_input
from ._weighted import config_of, finish_build

__all__ = ["Recurrent", "SimpleRNN", "GRU", "LSTM"]

_FUSED_ACTIVATIONS = {"tanh", "sigmoid", "hard_sigmoid", "relu", "linear", "softsign", "softplus", "elu"}


def _fused_name(fn):
    """The fused op's name for activation `fn`, or None when the op lacks it: only Keras'
    own functions (`keras.activations` / backend) of a fused name, not a user function
    that happens to share the name."""
    name = getattr(fn, "__name__", None)
    if name in _FUSED_ACTIVATIONS and fn in (getattr(activations, name, None), getattr(K, name, None)):
        return name
    return None


class Recurrent(Layer):
    """Abstract base class for recurrent layers.

    # Arguments
        weights: list of Numpy arrays to set as initial weights.
        return_sequences: Boolean. Whether to return the last output in the output
            sequence, or the full sequence.
        go_backwards: Boolean (default False). If True, process the input sequence
            backwards (and return the sequence in reversed order).
        stateful: Boolean (default False). If True, the last state for each sample at
            index i in a batch will be used as initial state for the sample of index i
            in the following batch. Requires a fixed batch size.
        unroll: accepted for compatibility; the fused op gives the same result.
        consume_less: one of "cpu", "mem" (per-gate weight matrices) or "gpu" (one
            combined matrix per kind).
        input_dim: dimensionality of the input (integer).
        input_length: length of input sequences, when it is constant.

    # Input shape
        3D tensor with shape `(nb_samples, timesteps, input_dim)`.

    # Output shape
        - if `return_sequences`: 3D tensor `(nb_samples, timesteps, output_dim)`.
        - else, 2D tensor `(nb_samples, output_dim)`.

    # Masking
        Masked timesteps (from `Embedding(mask_zero=True)` or `Masking`) copy the
        previous output and states forward.
    """

    def __init__(
        self,
        weights=None,
        return_sequences=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        consume_less="cpu",
        input_dim=None,
        input_length=None,
        **kwargs,
    ):
        self.return_sequences = return_sequences
        self.initial_weights = weights
        self.go_backwards = go_backwards
        self.stateful = stateful
        self.unroll = unroll
        if consume_less not in ("cpu", "mem", "gpu"):
            raise ValueError(f"consume_less must be one of 'cpu', 'mem', 'gpu', got {consume_less!r}")
        self.consume_less = consume_less

        self.supports_masking = True
        temporal_input(self, input_dim, input_length, kwargs)
        super().__init__(**kwargs)

    def get_output_shape_for(self, input_shape):
        self._check_3d(input_shape)
        if self.return_sequences:
            return (input_shape[0], input_shape[1], self.output_dim)
        return (input_shape[0], self.output_dim)

    def compute_mask(self, input, mask):
        if self.return_sequences:
            return mask
        return None

    # states ----------------------------------------------------------------------------

    def _n_states(self):
        return 1

    def get_initial_states(self, x):
        """Zero states (samples, output_dim), one per state of the cell."""
        z = K.sum(K.zeros_like(x[:, 0, :]), axis=-1, keepdims=True)
        z = K.tile(z, [1, self.output_dim])
        states = getattr(self, "states", None)
        n = len(states) if isinstance(states, list) and states else self._n_states()
        return [z for _ in range(n)]

    def _state_batch(self):
        shape = getattr(self, "_batch_input_shape_seen", None)
        return None if shape is None else shape[0]

    def _make_states(self, input_shape):
        self._batch_input_shape_seen = tuple(input_shape)
        if self.stateful:
            self.reset_states()
        else:
            self.states = [None] * self._n_states()

    def _state_shape(self, batch, input_shape):
        """The shape of one state for batches of ``batch`` samples of ``input_shape``."""
        return (batch, self.output_dim)

    def reset_states(self, states=None):
        """Resets the states of a stateful layer to zeros (or to the given arrays)."""
        if not self.stateful:
            raise AttributeError("Layer must be stateful.")
        shape = getattr(self, "_batch_input_shape_seen", None)
        batch = self._state_batch()
        if not batch:
            raise ValueError(
                "If a RNN is stateful, a complete input_shape must be provided (including batch size). "
                f"Layer {self.name} got input shape {shape}"
            )
        want = self._state_shape(batch, shape)
        n = self._n_states()
        if states is not None:
            states = states if isinstance(states, (list, tuple)) else [states]
            if len(states) != n:
                raise ValueError(f"Layer {self.name} expects {n} states, got {len(states)}")
            values = []
            for s in states:
                s = np.asarray(s, dtype="float32")
                if s.shape != want:
                    raise ValueError(f"Layer {self.name}: a state must have shape {want}, got {s.shape}")
                values.append(s)
        else:
            values = [np.zeros(want, dtype="float32") for _ in range(n)]
        if getattr(self, "states", None) and self.states[0] is not None:
            for var, v in zip(self.states, values):
                K.set_value(var, v)
        else:
            self.states = [K.variable(v) for v in values]

    # call ------------------------------------------------------------------------------

    def _check_input(self, x):
        shape = K.int_shape(x)
        check_rank(self, shape, 3, "(samples, steps, input_dim)")
        check_built_size(self, shape, 2, self.input_dim, "input_dim")
        self._check_state_batch(shape)

    def _check_state_batch(self, shape):
        """A ValueError when a stateful layer gets an input ``shape`` whose batch size
        is not its states'."""
        if self.stateful:
            batch = self._state_batch()
            if shape[0] is not None and shape[0] != batch:
                raise ValueError(
                    f"Layer {self.name} is stateful with batch size {batch}, got input shape {shape}"
                )

    def _dropped_input(self, x):
        if 0.0 < self.dropout_W < 1.0:
            # one mask per sample, reused at every timestep (Keras 1); one mask for all gates
            ones = K.ones_like(x[:, 0:1, :])
            kept = K.dropout_in_train_phase(ones, self.dropout_W)
            return K.in_train_phase(x * kept, x)
        return x

    # Keras 1's generic path, for user subclasses that implement `step` in Python: the
    # built-in cells (those with a `_cell`) go through `_cell_call` instead.

    def preprocess_input(self, x):
        """Hook applied to the input before `step` runs (identity by default)."""
        return x

    def get_constants(self, x):
        """Extra tensors passed to every `step` after the states (none by default)."""
        return []

    def step(self, x, states):
        """One timestep: `(output, new_states)` from the input slice and the states."""
        raise NotImplementedError("Recurrent subclasses must implement `step` (or `call`)")

    def call(self, x, mask=None):
        if self._cell is not None:
            return self._cell_call(x, mask)
        if self.stateful:
            initial_states = self.states
        else:
            initial_states = self.get_initial_states(x)
        constants = self.get_constants(x)
        preprocessed = self.preprocess_input(x)
        last_output, outputs, states = K.rnn(
            self.step,
            preprocessed,
            initial_states,
            go_backwards=self.go_backwards,
            mask=mask,
            constants=constants,
            unroll=self.unroll,
            input_length=K.int_shape(x)[1],
        )
        if self.stateful:
            self.add_update([(s, n) for s, n in zip(self.states, states)], x)
        return outputs if self.return_sequences else last_output

    def _recurrent_mask(self, x, n_gates):
        """Keras 1 `dropout_U`: the (samples, n_gates * output_dim) mask applied to h_{t-1}
        before its product with each gate's U, drawn once per batch (fixed across
        timesteps), ones in the test phase. 'cpu'/'mem' draw one mask per gate, 'gpu' one
        shared mask, as Keras 1 did. None without recurrent dropout."""
        if not 0.0 < self.dropout_U < 1.0:
            return None
        ones = K.sum(K.zeros_like(x[:, 0, :]), axis=-1, keepdims=True) + 1.0
        ones = K.tile(ones, [1, self.output_dim])
        if self.consume_less == "gpu" or n_gates == 1:
            masks = [K.dropout_in_train_phase(ones, self.dropout_U)] * n_gates
        else:
            masks = [K.dropout_in_train_phase(ones, self.dropout_U) for _ in range(n_gates)]
        return masks[0] if n_gates == 1 else K.concatenate(masks, axis=1)

    def _run(self, x, mask, W, U, b, states, **attrs):
        return K.rnn_sequence(
            self._cell,
            x,
            W,
            U,
            b,
            states,
            recurrent_mask=self._recurrent_mask(x, self._gates),
            mask=mask,
            go_backwards=self.go_backwards,
            **attrs,
        )

    def _finish(self, seq, new_states, x):
        """Output of the layer from the hidden sequence, and the stateful updates."""
        if self.stateful:
            self.add_update([(s, n) for s, n in zip(self.states, new_states)], x)
        if self.return_sequences:
            return seq
        return seq[:, -1, :]

    # built-in cells --------------------------------------------------------------------

    _cell = None  # the cell of the fused sequence op (K.rnn_sequence)
    _gates = 1  # gate blocks in the fused weight layout
    _gate_names = None  # the suffixes of the per-gate weights, in the fused layout's order

    def _fused_weights(self):
        """(W, U, b) in the fused op's layout (gate blocks side by side): the packed
        weights, or the per-gate ones (consume_less 'cpu' / 'mem') concatenated."""
        if self._gate_names is None or self.consume_less == "gpu":
            return self.W, self.U, self.b
        W, U, b = ([getattr(self, kind + "_" + g) for g in self._gate_names] for kind in "WUb")
        return K.concatenate(W, axis=1), K.concatenate(U, axis=1), K.concatenate(b, axis=0)

    def _fused_acts(self):
        """{attribute: name} of the cell's activations for the fused op, or None when the
        op lacks one of them."""
        acts = {}
        for attr in ("activation", "inner_activation"):
            fn = getattr(self, attr, None)
            if fn is not None:
                acts[attr] = _fused_name(fn)
                if acts[attr] is None:
                    return None
        return acts

    def _cell_call(self, x, mask):
        """A built-in cell over the sequence: the fused op, or Keras 1's step through
        `K.rnn` when the op lacks one of the activations."""
        self._check_input(x)
        states = self.states if self.stateful else self.get_initial_states(x)
        W, U, b = self._fused_weights()
        acts = self._fused_acts()
        if acts is None:
            seq, new_states = self._stepped(x, mask, W, U, b, states)
        else:
            seq, new_states = self._fused_run(x, mask, W, U, b, states, acts)
        return self._finish(seq, new_states, x)

    def _fused_run(self, x, mask, W, U, b, states, attrs):
        """(hidden sequence, new states) from the fused op."""
        seq = self._run(self._dropped_input(x), mask, W, U, b, states, **attrs)
        return seq, [seq[:, -1, :]]

    def _stepped(self, x, mask, W, U, b, states):
        """(hidden sequence in processing order, new states) from the cell's Keras 1.2.2
        step (`_cell_step`) through `K.rnn`, on the fused-layout weights and the same
        dropout masks as `_fused_run` (drawn in the same order)."""
        if K.int_shape(x)[1] is None:
            fns = [(a, getattr(self, a, None)) for a in ("activation", "inner_activation")]
            lacking = ", ".join(
                f"{a} {getattr(fn, '__name__', fn)!r}"
                for a, fn in fns
                if fn is not None and not _fused_name(fn)
            )
            raise ValueError(
                f"Layer {self.name}: the fused recurrent op lacks {lacking} (it has "
                f"{', '.join(sorted(_FUSED_ACTIVATIONS))}), so the cell runs step by step, which "
                "needs a known sequence length: give the layer input_length (or a full input_shape)"
            )
        u = self.output_dim
        xw = K.dot(self._dropped_input(x), W) + b
        rmask = self._recurrent_mask(x, self._gates)
        blocks = [slice(g * u, (g + 1) * u) for g in range(self._gates)]
        Us = [U[:, s] for s in blocks]
        drops = [None if rmask is None else rmask[:, s] for s in blocks]

        def rec(h, g):
            """h_{t-1} (times gate g's dropout_U mask) . U_g"""
            return K.dot(h if drops[g] is None else h * drops[g], Us[g])

        def step(x_t, st):
            return self._cell_step([x_t[:, s] for s in blocks], st, rec)

        _, seq, new_states = K.rnn(
            step, xw, list(states), go_backwards=self.go_backwards, mask=mask, input_length=K.int_shape(x)[1]
        )
        return seq, new_states

    def get_config(self):
        config = {
            "return_sequences": self.return_sequences,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "consume_less": self.consume_less,
        }
        if self.stateful and getattr(self, "inbound_nodes", None):
            config["batch_input_shape"] = self.inbound_nodes[0].input_shapes[0]
        else:
            config["input_dim"] = self.input_dim
            config["input_length"] = self.input_length
        return merged_config(super().get_config(), config)

    def _set_cell_args(self, output_dim, init, inner_init, activation):
        """The output size, the input / recurrent initializations and the activation of
        a cell."""
        self.output_dim = output_dim
        self.init = initializations.get(init)
        self.inner_init = initializations.get(inner_init)
        self.activation = activations.get(activation)

    def _set_regularization(self, W_regularizer, U_regularizer, b_regularizer, dropout_W, dropout_U):
        """The W / U / b regularizers and the input / recurrent dropout of a cell."""
        self.W_regularizer = regularizers.get(W_regularizer)
        self.U_regularizer = regularizers.get(U_regularizer)
        self.b_regularizer = regularizers.get(b_regularizer)
        self.dropout_W = float(dropout_W)
        self.dropout_U = float(dropout_U)
        if self.dropout_W or self.dropout_U:
            self.uses_learning_phase = True

    def _regularization_config(self):
        """The ``get_config`` entries of ``_set_regularization``'s arguments."""
        return {
            "W_regularizer": config_of(self.W_regularizer),
            "U_regularizer": config_of(self.U_regularizer),
            "b_regularizer": config_of(self.b_regularizer),
            "dropout_W": self.dropout_W,
            "dropout_U": self.dropout_U,
        }

    def _common_config(self):
        return {
            "output_dim": self.output_dim,
            "init": self.init.__name__,
            "inner_init": self.inner_init.__name__,
            "activation": self.activation.__name__,
            **self._regularization_config(),
        }

    def _check_3d(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(
                f"Layer {self.name} expects a 3D input (samples, timesteps, input_dim), "
                f"got shape {tuple(input_shape)}"
            )

    def _prepare_build(self, input_shape):
        self._check_3d(input_shape)
        self.input_spec = [InputSpec(shape=tuple(input_shape))]
        if input_shape[2] is None:
            raise ValueError(
                f"Layer {self.name} needs a known input_dim, got input shape {tuple(input_shape)}"
            )
        self.input_dim = int(input_shape[2])
        self._make_states(input_shape)
        return self.input_dim

    def _add_packed(self, input_dim, n_gates, b_init="zero"):
        """``W`` (input_dim, n_gates * output_dim), ``U`` (output_dim, n_gates *
        output_dim) and ``b``: SimpleRNN's weights, and those of consume_less='gpu'."""
        n, u = self.name, self.output_dim
        self.W = self.add_weight(
            (input_dim, n_gates * u), initializer=self.init, name=n + "_W", regularizer=self.W_regularizer
        )
        self.U = self.add_weight(
            (u, n_gates * u), initializer=self.inner_init, name=n + "_U", regularizer=self.U_regularizer
        )
        self.b = self.add_weight(
            (n_gates * u,), initializer=b_init, name=n + "_b", regularizer=self.b_regularizer
        )

    def _add_per_gate(
        self, gates, W_shape, U_shape, b_shape, W_init, U_init, U_regularizer, forget_init=None
    ):
        """``W_g``, ``U_g``, ``b_g`` for each gate ``g`` in that order (the bias of gate
        'f' initialised by ``forget_init``, the others zero)."""
        for g in gates:
            W = self.add_weight(
                W_shape, initializer=W_init, name=f"{self.name}_W_{g}", regularizer=self.W_regularizer
            )
            U = self.add_weight(
                U_shape, initializer=U_init, name=f"{self.name}_U_{g}", regularizer=U_regularizer
            )
            b = self.add_weight(
                b_shape,
                initializer=forget_init if g == "f" else "zero",
                name=f"{self.name}_b_{g}",
                regularizer=self.b_regularizer,
            )
            setattr(self, "W_" + g, W)
            setattr(self, "U_" + g, U)
            setattr(self, "b_" + g, b)


# The `# Arguments` entries SimpleRNN, GRU and LSTM share (see ``shared_docs``).
_CELL_ARGS_DOC = """
output_dim: dimension of the internal projections and the final output.
init, inner_init: initializations of the input / recurrent weights.
"""
_CELL_REGULARIZATION_DOC = """
W_regularizer, U_regularizer, b_regularizer: regularizers.
dropout_W: fraction of the input units to drop (one mask per sample).
dropout_U: fraction of the recurrent units to drop (one mask per sample and
    gate, fixed across timesteps; one shared mask with consume_less='gpu').
"""


@shared_docs(cell_args=_CELL_ARGS_DOC, cell_regularization=_CELL_REGULARIZATION_DOC)
class SimpleRNN(Recurrent):
    """Fully-connected RNN where the output is to be fed back to input:
    `h = activation(x . W + b + h_tm1 . U)`.

    # Arguments
        {cell_args}
        activation: activation function (tanh by default).
        {cell_regularization}
    """

    def __init__(
        self,
        output_dim,
        init="glorot_uniform",
        inner_init="orthogonal",
        activation="tanh",
        W_regularizer=None,
        U_regularizer=None,
        b_regularizer=None,
        dropout_W=0.0,
        dropout_U=0.0,
        **kwargs,
    ):
        self._set_cell_args(output_dim, init, inner_init, activation)
        self._set_regularization(W_regularizer, U_regularizer, b_regularizer, dropout_W, dropout_U)
        super().__init__(**kwargs)

    def build(self, input_shape):
        self._add_packed(self._prepare_build(input_shape), 1)
        finish_build(self)

    _cell = "simple_rnn"

    def _cell_step(self, xs, states, rec):
        """Keras 1.2.2's step: `xs` the input projection (x W + b), `rec(h, 0)` = h U."""
        h = self.activation(xs[0] + rec(states[0], 0))
        return h, [h]

    def get_config(self):
        return merged_config(super().get_config(), self._common_config())


@shared_docs(cell_args=_CELL_ARGS_DOC, cell_regularization=_CELL_REGULARIZATION_DOC)
class GRU(Recurrent):
    """Gated Recurrent Unit - Cho et al. 2014 (Keras 1 form: the candidate uses
    `(r * h_tm1) . U_h`).

    # Arguments
        {cell_args}
        activation, inner_activation: activations of the candidate / of the gates.
        {cell_regularization}
    """

    def __init__(
        self,
        output_dim,
        init="glorot_uniform",
        inner_init="orthogonal",
        activation="tanh",
        inner_activation="hard_sigmoid",
        W_regularizer=None,
        U_regularizer=None,
        b_regularizer=None,
        dropout_W=0.0,
        dropout_U=0.0,
        **kwargs,
    ):
        self._set_cell_args(output_dim, init, inner_init, activation)
        self._set_regularization(W_regularizer, U_regularizer, b_regularizer, dropout_W, dropout_U)
        self.inner_activation = activations.get(inner_activation)
        super().__init__(**kwargs)

    def build(self, input_shape):
        input_dim = self._prepare_build(input_shape)
        u = self.output_dim
        if self.consume_less == "gpu":
            self._add_packed(input_dim, 3)
        else:
            # Keras 1.2.x: the per-gate U use `init` and W_regularizer (see keras1-formats §1.3)
            self._add_per_gate("zrh", (input_dim, u), (u, u), (u,), self.init, self.init, self.W_regularizer)
        finish_build(self)

    _cell = "gru"
    _gates = 3
    _gate_names = "zrh"

    def _cell_step(self, xs, states, rec):
        """Keras 1.2.2's step: `xs` the z, r, h input projections, `rec(v, g)` = v U_g."""
        h_tm1 = states[0]
        z = self.inner_activation(xs[0] + rec(h_tm1, 0))
        r = self.inner_activation(xs[1] + rec(h_tm1, 1))
        hh = self.activation(xs[2] + rec(r * h_tm1, 2))
        h = z * h_tm1 + (1.0 - z) * hh
        return h, [h]

    def get_config(self):
        config = self._common_config()
        config["inner_activation"] = self.inner_activation.__name__
        return merged_config(super().get_config(), config)


@shared_docs(cell_args=_CELL_ARGS_DOC, cell_regularization=_CELL_REGULARIZATION_DOC)
class LSTM(Recurrent):
    """Long-Short Term Memory unit - Hochreiter 1997.

    # Arguments
        {cell_args}
        forget_bias_init: initialization of the forget gate bias ('one', Jozefowicz
            et al.).
        activation, inner_activation: activations of the cell / of the gates.
        {cell_regularization}
    """

    def __init__(
        self,
        output_dim,
        init="glorot_uniform",
        inner_init="orthogonal",
        forget_bias_init="one",
        activation="tanh",
        inner_activation="hard_sigmoid",
        W_regularizer=None,
        U_regularizer=None,
        b_regularizer=None,
        dropout_W=0.0,
        dropout_U=0.0,
        **kwargs,
    ):
        self._set_cell_args(output_dim, init, inner_init, activation)
        self._set_regularization(W_regularizer, U_regularizer, b_regularizer, dropout_W, dropout_U)
        self.forget_bias_init = initializations.get(forget_bias_init)
        self.inner_activation = activations.get(inner_activation)
        super().__init__(**kwargs)

    def _n_states(self):
        return 2

    def build(self, input_shape):
        input_dim = self._prepare_build(input_shape)
        u = self.output_dim
        if self.consume_less == "gpu":

            def b_reg(shape, name=None):
                fb = K.get_value(self.forget_bias_init((u,)))
                return K.variable(np.hstack((np.zeros(u), fb, np.zeros(u), np.zeros(u))), name=name)

            self._add_packed(input_dim, 4, b_reg)
        else:
            # Keras 1.2.x: the per-gate U use `init` and W_regularizer (keras1-formats §1.3)
            self._add_per_gate(
                "icfo",
                (input_dim, u),
                (u, u),
                (u,),
                self.init,
                self.init,
                self.W_regularizer,
                self.forget_bias_init,
            )
        finish_build(self)

    _cell = "lstm"
    _gates = 4
    _gate_names = "ifco"  # (Keras 1 creates the weights in the order i, c, f, o)

    def _fused_run(self, x, mask, W, U, b, states, attrs):
        if not self.stateful:
            return super()._fused_run(x, mask, W, U, b, states, attrs)[0], None
        # a stateful LSTM also needs the final cell state: one extra output step
        out = super()._fused_run(x, mask, W, U, b, states, dict(attrs, return_state=True))[0]
        return out[:, :-1, :], [out[:, -2, :], out[:, -1, :]]

    def _cell_step(self, xs, states, rec):
        """Keras 1.2.2's step: `xs` the i, f, c, o input projections, `rec(h, g)` = h U_g."""
        h_tm1, c_tm1 = states
        i = self.inner_activation(xs[0] + rec(h_tm1, 0))
        f = self.inner_activation(xs[1] + rec(h_tm1, 1))
        c = f * c_tm1 + i * self.activation(xs[2] + rec(h_tm1, 2))
        o = self.inner_activation(xs[3] + rec(h_tm1, 3))
        h = o * self.activation(c)
        return h, [h, c]

    def get_config(self):
        config = self._common_config()
        config["forget_bias_init"] = self.forget_bias_init.__name__
        config["inner_activation"] = self.inner_activation.__name__
        return merged_config(super().get_config(), config)
