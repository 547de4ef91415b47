"""Keras 1 `keras.layers.convolutional_recurrent`: `ConvLSTM2D`.

The cell runs as a Python `step` through `K.rnn` (unrolled into graph nodes): per
timestep four input convolutions (`K.conv2d` with the layer's border_mode / subsample)
and four hidden-to-hidden convolutions ('same', stride 1), as Keras 1.2.2 computes it.
Weights, their names, shapes and order are Keras 1.2.2's: `W_i, U_i, b_i, W_c, U_c,
b_c, W_f, U_f, b_f, W_o, U_o, b_o`.
"""

import functools

from .. import activations, initializations
from .. import backend as K
from ..engine.topology import InputSpec, merged_config
from ._spatial import positive_ints
from ._weighted import finish_build, set_kernel_args
from .convolutional import _out_len
from .recurrent import Recurrent

__all__ = ["ConvRecurrent2D", "ConvLSTM2D"]


class ConvRecurrent2D(Recurrent):
    """Abstract base class for convolutional recurrent layers (do not use in a model).

    # Arguments
        weights: list of numpy arrays to set as initial weights.
        return_sequences: Boolean. Whether to return the last output in the output
            sequence, or the full sequence.
        go_backwards: Boolean (default False). If True, process the input sequence
            backwards.
        stateful: Boolean (default False). If True, the last state for each sample at
            index i in a batch will be used as initial state for the sample of index i
            in the following batch.
        nb_filter: Number of convolution filters to use.
        nb_row: Number of rows in the convolution kernel.
        nb_col: Number of columns in the convolution kernel.

    # Input shape
        5D tensor with shape `(nb_samples, timesteps, channels, rows, cols)` ('th') or
        `(nb_samples, timesteps, rows, cols, channels)` ('tf').
    """

    def __init__(
        self,
        weights=None,
        nb_row=None,
        nb_col=None,
        nb_filter=None,
        return_sequences=False,
        go_backwards=False,
        stateful=False,
        dim_ordering=None,
        **kwargs,
    ):
        super().__init__(
            weights=weights,
            return_sequences=return_sequences,
            go_backwards=go_backwards,
            stateful=stateful,
            **kwargs,
        )
        self.nb_row = nb_row
        self.nb_col = nb_col
        self.nb_filter = nb_filter
        self.dim_ordering = dim_ordering
        self.input_spec = [InputSpec(ndim=5)]

    def _out_rows_cols(self, input_shape):
        if self.dim_ordering == "th":
            rows, cols = input_shape[3], input_shape[4]
        else:
            rows, cols = input_shape[2], input_shape[3]
        rows = _out_len(self, rows, self.nb_row, self.border_mode, self.subsample[0], 1, input_shape)
        cols = _out_len(self, cols, self.nb_col, self.border_mode, self.subsample[1], 1, input_shape)
        return rows, cols

    def _state_shape(self, batch, input_shape):
        rows, cols = self._out_rows_cols(input_shape)
        if self.dim_ordering == "th":
            return (batch, self.nb_filter, rows, cols)
        return (batch, rows, cols, self.nb_filter)

    def get_output_shape_for(self, input_shape):
        if len(input_shape) != 5:
            raise ValueError(
                f"Layer {self.name} ({self.__class__.__name__}) expects a 5D input, "
                f"got shape {tuple(input_shape)}"
            )
        state = self._state_shape(input_shape[0], input_shape)
        if self.return_sequences:
            return (state[0], input_shape[1]) + state[1:]
        return state

    def get_config(self):
        config = {
            "return_sequences": self.return_sequences,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
        }
        if self.stateful and getattr(self, "inbound_nodes", None):
            config["batch_input_shape"] = self.inbound_nodes[0].input_shapes[0]
        return merged_config(super(Recurrent, self).get_config(), config)


class ConvLSTM2D(ConvRecurrent2D):
    """Convolutional LSTM (Shi et al. 2015, without the peephole connections).

    # Arguments
        nb_filter: Number of convolution filters to use.
        nb_row: Number of rows in the convolution kernel.
        nb_col: Number of columns in the convolution kernel.
        border_mode: 'valid' or 'same'.
        subsample: tuple of length 2. Factor by which to subsample output. Also called
            strides elsewhere.
        dim_ordering: 'tf' if the feature are at the last dimension or 'th'
            ('default': `K.image_dim_ordering()`).
        stateful: Boolean (default False). If True, the last state for each sample at
            index i in a batch will be used as initial state for the sample of index i
            in the following batch.
        init: weight initialization function of the input kernels.
        inner_init: initialization function of the hidden-to-hidden kernels.
        forget_bias_init: initialization function for the bias of the forget gate.
        activation: activation function.
        inner_activation: activation function for the inner cells.
        W_regularizer, U_regularizer, b_regularizer: regularizers of the input kernels,
            the hidden kernels and the biases.
        dropout_W: float between 0 and 1. Fraction of the input units to drop for
            input gates.
        dropout_U: float between 0 and 1. Fraction of the input units to drop for
            recurrent connections.

    # Input shape
        - 'th': 5D tensor `(samples, time, channels, rows, cols)`
        - 'tf': 5D tensor `(samples, time, rows, cols, channels)`

    # Output shape
        - if `return_sequences`: 5D `(samples, time, nb_filter, output_row,
          output_col)` ('th') or `(samples, time, output_row, output_col, nb_filter)`
          ('tf')
        - else 4D `(samples, nb_filter, output_row, output_col)` ('th') or
          `(samples, output_row, output_col, nb_filter)` ('tf')
    """

    def __init__(
        self,
        nb_filter,
        nb_row,
        nb_col,
        init="glorot_uniform",
        inner_init="orthogonal",
        forget_bias_init="one",
        activation="tanh",
        inner_activation="hard_sigmoid",
        dim_ordering="default",
        border_mode="valid",
        subsample=(1, 1),
        W_regularizer=None,
        U_regularizer=None,
        b_regularizer=None,
        dropout_W=0.0,
        dropout_U=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        set_kernel_args(
            self,
            "ConvLSTM2D",
            init,
            activation,
            border_mode,
            dim_ordering,
            ("valid", "same"),
            nb_filter=nb_filter,
            nb_row=nb_row,
            nb_col=nb_col,
        )
        self.inner_init = initializations.get(inner_init)
        self.forget_bias_init = initializations.get(forget_bias_init)
        self.inner_activation = activations.get(inner_activation)
        self.subsample = positive_ints(subsample, 2, "subsample", "ConvLSTM2D")
        self._set_regularization(W_regularizer, U_regularizer, b_regularizer, dropout_W, dropout_U)
        # Keras 1 ConvLSTM2D does not declare masking support; K.rnn still honours a
        # mask passed explicitly.
        self.supports_masking = False

    def _n_states(self):
        return 2

    def build(self, input_shape):
        if len(input_shape) != 5:
            raise ValueError(
                f"Layer {self.name} (ConvLSTM2D) expects a 5D input "
                + (
                    "(samples, time, channels, rows, cols)"
                    if self.dim_ordering == "th"
                    else "(samples, time, rows, cols, channels)"
                )
                + f", got shape {tuple(input_shape)}"
            )
        stack_size = input_shape[2] if self.dim_ordering == "th" else input_shape[4]
        if stack_size is None:
            raise ValueError(
                f"Layer {self.name} (ConvLSTM2D) needs a known channel axis, got input shape {tuple(input_shape)}"
            )
        self._state_shape(input_shape[0], input_shape)  # ValueError on a kernel that does not fit
        self.input_spec = [InputSpec(shape=tuple(input_shape))]
        nf, r, c = self.nb_filter, self.nb_row, self.nb_col
        if self.dim_ordering == "th":
            self.W_shape = (nf, stack_size, r, c)
            self.W_shape1 = (nf, nf, r, c)
        else:
            self.W_shape = (r, c, stack_size, nf)
            self.W_shape1 = (r, c, nf, nf)
        self._add_per_gate(
            "icfo",
            self.W_shape,
            self.W_shape1,
            (nf,),
            functools.partial(self.init, dim_ordering=self.dim_ordering),
            self.inner_init,
            self.U_regularizer,
            self.forget_bias_init,
        )
        self._make_states(input_shape)
        finish_build(self)

    # cell ------------------------------------------------------------------------------

    def _bias_shape(self):
        return (1, self.nb_filter, 1, 1) if self.dim_ordering == "th" else (1, 1, 1, self.nb_filter)

    def conv_step(self, x, W, b=None, border_mode="valid"):
        out = K.conv2d(x, W, strides=self.subsample, border_mode=border_mode, dim_ordering=self.dim_ordering)
        if b is not None:
            out = out + K.reshape(b, self._bias_shape())
        return out

    def conv_step_hidden(self, x, W, border_mode="valid"):
        return K.conv2d(x, W, strides=(1, 1), border_mode=border_mode, dim_ordering=self.dim_ordering)

    def get_initial_states(self, x):
        # zeros of the state shape, (samples, [filters,] rows, cols[, filters])
        z = K.sum(K.zeros_like(x), axis=1)
        z = self.conv_step(z, K.zeros(self.W_shape), border_mode=self.border_mode)
        return [z, z]

    def get_constants(self, x):
        constants = []
        if 0 < self.dropout_U < 1:
            ones = K.sum(K.zeros_like(x), axis=1)
            ones = self.conv_step(ones, K.zeros(self.W_shape), border_mode=self.border_mode) + 1.0
            constants.append([K.dropout_in_train_phase(ones, self.dropout_U) for _ in range(4)])
        else:
            constants.append([1.0 for _ in range(4)])
        if 0 < self.dropout_W < 1:
            ones = K.sum(K.zeros_like(x), axis=1) + 1.0
            constants.append([K.dropout_in_train_phase(ones, self.dropout_W) for _ in range(4)])
        else:
            constants.append([1.0 for _ in range(4)])
        return constants

    def step(self, x, states):
        h_tm1, c_tm1, B_U, B_W = states[0], states[1], states[2], states[3]
        bm = self.border_mode
        x_i = self.conv_step(x * B_W[0], self.W_i, self.b_i, border_mode=bm)
        x_f = self.conv_step(x * B_W[1], self.W_f, self.b_f, border_mode=bm)
        x_c = self.conv_step(x * B_W[2], self.W_c, self.b_c, border_mode=bm)
        x_o = self.conv_step(x * B_W[3], self.W_o, self.b_o, border_mode=bm)
        h_i = self.conv_step_hidden(h_tm1 * B_U[0], self.U_i, border_mode="same")
        h_f = self.conv_step_hidden(h_tm1 * B_U[1], self.U_f, border_mode="same")
        h_c = self.conv_step_hidden(h_tm1 * B_U[2], self.U_c, border_mode="same")
        h_o = self.conv_step_hidden(h_tm1 * B_U[3], self.U_o, border_mode="same")
        i = self.inner_activation(x_i + h_i)
        f = self.inner_activation(x_f + h_f)
        c = f * c_tm1 + i * self.activation(x_c + h_c)
        o = self.inner_activation(x_o + h_o)
        h = o * self.activation(c)
        return h, [h, c]

    def call(self, x, mask=None):
        shape = K.int_shape(x)
        if len(shape) != 5:
            raise ValueError(f"Layer {self.name} (ConvLSTM2D) expects a 5D input, got shape {shape}")
        if shape[1] is None:
            raise ValueError(
                f"Layer {self.name} (ConvLSTM2D) needs a known number of timesteps, got input shape {shape}"
            )
        self._check_state_batch(shape)
        return super().call(x, mask)

    def get_config(self):
        config = {
            "nb_filter": self.nb_filter,
            "nb_row": self.nb_row,
            "nb_col": self.nb_col,
            "init": self.init.__name__,
            "inner_init": self.inner_init.__name__,
            "forget_bias_init": self.forget_bias_init.__name__,
            "activation": self.activation.__name__,
            "dim_ordering": self.dim_ordering,
            "border_mode": self.border_mode,
            "inner_activation": self.inner_activation.__name__,
            "subsample": self.subsample,
            **self._regularization_config(),
        }
        return merged_config(super().get_config(), config)
