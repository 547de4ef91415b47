"""Locally-connected layers (``keras.layers.local``), Keras 1.2.2.

LocallyConnected1D/2D work like Convolution1D/2D with unshared weights: every output
location has its own filters. Weight names, shapes and the order of the features inside
a patch are Keras 1.2.2's, so its weight files give its outputs:

- LocallyConnected1D: ``<layer>_W`` (output_length, filter_length * input_dim,
  nb_filter), patch features ordered (step, input_dim); ``<layer>_b`` (output_length,
  nb_filter).
- LocallyConnected2D: ``<layer>_W`` (output_row * output_col, nb_row * nb_col * stack,
  nb_filter), locations in row-major order, patch features ordered (channel, row, col)
  for 'th' and (row, col, channel) for 'tf'; ``<layer>_b`` (output_row, output_col,
  nb_filter). With 'th' the bias is added as Keras 1.2.2 added it: its buffer
  *reshaped* (not transposed) to (1, nb_filter, output_row, output_col).

Implementation (a composition of existing engine ops, chosen over a dedicated op for
simplicity; the graph stays five nodes whatever the number of locations): the
input is flattened per sample and transposed to (features, samples), one ``gather``
with a constant (locations, patch) index table extracts every patch at once (its
backward scatter-adds overlapping patches), one ``batch_matmul`` applies each
location's (patch, nb_filter) matrix, and a permute/reshape puts the result in the
layer's layout. Cost: one copy of the patches plus a gemm per location, the same work
as Keras 1's slice-and-``batch_dot`` graph without its per-location nodes.
"""

import numpy as np

from .. import backend as K
from ..engine.topology import InputSpec, Layer, merged_config
from ..utils.generic_utils import shared_docs
from ._spatial import (
    channels_of,
    check_rank,
    image_axes,
    ordered_shape,
    positive_ints,
    spatial_sizes,
    temporal_input,
    temporal_input_dim,
)
from ._weighted import add_W_b, finish_build, set_kernel_args, set_weight_args
from .convolutional import (
    CONV2D_KERNEL_DOC,
    CONV2D_OUTPUT_DOC,
    CONV2D_WEIGHTS_DOC,
    IMAGE_INPUT_DOC,
    conv1d_config,
    conv2d_config,
)

__all__ = [
    "LocallyConnected1D",
    "LocallyConnected2D",
]


def _valid_len(layer, length, k, stride, input_shape, what):
    if length is None:
        raise ValueError(
            f"Layer {layer.name} ({layer.__class__.__name__}) needs a fully known input shape "
            f"(its weights depend on the {what}), got input shape {tuple(input_shape)}"
        )
    if k > length:
        raise ValueError(
            f"Layer {layer.name} ({layer.__class__.__name__}): the filter size {k} is larger than "
            f"the input size {length} along the {what} (border_mode='valid'), input shape "
            f"{tuple(input_shape)} gives an empty output"
        )
    return (length - k) // stride + 1


def _patches(x, index):
    """(locations, patch, samples) patches of ``x`` from a (locations, patch) table of
    indices into the per-sample flattened input."""
    flat = K.permute_dimensions(K.batch_flatten(x), (1, 0))
    return K.gather(flat, K.constant(index, dtype="int32"))


def _apply(patches, W):
    """(locations, samples, nb_filter) = each location's patch matrix times its W."""
    return K.batch_matmul(patches, W, transpose_a=True)


class LocallyConnected1D(Layer):
    """Locally-connected layer for 1D inputs.

    Works like Convolution1D except that weights are unshared: a different set of
    filters is applied at each patch of the input. Needs a fully specified input shape.

    # Arguments
        nb_filter: Dimensionality of the output.
        filter_length: The extension (spatial or temporal) of each filter.
        init: name of initialization function for the weights of the layer.
        activation: name of activation function to use; linear by default.
        weights: list of numpy arrays to set as initial weights.
        border_mode: Only support 'valid'. Please make good use of
            ZeroPadding1D to achieve same output length.
        subsample_length: factor by which to subsample output.
        W_regularizer, b_regularizer, activity_regularizer: regularizers.
        W_constraint, b_constraint: constraints.
        bias: whether to include a bias.
        input_dim: Number of channels/dimensions in the input.
        input_length: Length of input sequences, when it is constant.

    # Input shape
        3D tensor with shape: `(samples, steps, input_dim)`.

    # Output shape
        3D tensor with shape: `(samples, new_steps, nb_filter)`.
    """

    def __init__(
        self,
        nb_filter,
        filter_length,
        init="glorot_uniform",
        activation=None,
        weights=None,
        border_mode="valid",
        subsample_length=1,
        W_regularizer=None,
        b_regularizer=None,
        activity_regularizer=None,
        W_constraint=None,
        b_constraint=None,
        bias=True,
        input_dim=None,
        input_length=None,
        **kwargs,
    ):
        set_kernel_args(
            self,
            "LocallyConnected1D",
            init,
            activation,
            border_mode,
            modes=("valid",),
            nb_filter=nb_filter,
            filter_length=filter_length,
            subsample_length=subsample_length,
        )

        set_weight_args(
            self,
            W_regularizer,
            b_regularizer,
            activity_regularizer,
            W_constraint,
            b_constraint,
            bias,
            weights,
        )
        temporal_input(self, input_dim, input_length, kwargs)
        super().__init__(**kwargs)

    def build(self, input_shape):
        input_dim = temporal_input_dim(self, input_shape)
        _, output_length, nb_filter = self.get_output_shape_for(input_shape)
        self.input_spec = [InputSpec(ndim=3, shape=(None, input_shape[1], input_dim))]
        self.W_shape = (output_length, self.filter_length * input_dim, nb_filter)
        add_W_b(self, self.W_shape, (output_length, self.nb_filter))
        finish_build(self)

    def get_output_shape_for(self, input_shape):
        check_rank(self, input_shape, 3, "(samples, steps, input_dim)")
        length = _valid_len(
            self, input_shape[1], self.filter_length, self.subsample_length, input_shape, "steps axis"
        )
        return (input_shape[0], length, self.nb_filter)

    def call(self, x, mask=None):
        output_length, feature_dim, nb_filter = self.W_shape
        input_dim = feature_dim // self.filter_length
        start = np.arange(output_length) * self.subsample_length * input_dim
        index = start[:, None] + np.arange(feature_dim)[None, :]
        output = _apply(_patches(x, index), self.W)  # (output_length, samples, nb_filter)
        output = K.permute_dimensions(output, (1, 0, 2))
        if self.bias:
            output = output + K.reshape(self.b, (1, output_length, nb_filter))
        return self.activation(output)

    def get_config(self):
        return merged_config(super().get_config(), conv1d_config(self))


@shared_docs(
    conv2d_kernel=CONV2D_KERNEL_DOC,
    conv2d_weights=CONV2D_WEIGHTS_DOC,
    image_input=IMAGE_INPUT_DOC,
    conv2d_output=CONV2D_OUTPUT_DOC,
)
class LocallyConnected2D(Layer):
    """Locally-connected layer for 2D inputs.

    Works like Convolution2D except that weights are unshared: a different set of
    filters is applied at each patch of the input. Needs a fully specified input shape.

    # Arguments
        {conv2d_kernel}
        border_mode: Only support 'valid'. Please make good use of
            ZeroPadding2D to achieve same output shape.
        subsample: tuple of length 2. Factor by which to subsample output.
            Also called strides elsewhere.
        {conv2d_weights}

    {image_input}

    {conv2d_output}
    """

    def __init__(
        self,
        nb_filter,
        nb_row,
        nb_col,
        init="glorot_uniform",
        activation=None,
        weights=None,
        border_mode="valid",
        subsample=(1, 1),
        dim_ordering="default",
        W_regularizer=None,
        b_regularizer=None,
        activity_regularizer=None,
        W_constraint=None,
        b_constraint=None,
        bias=True,
        **kwargs,
    ):
        kernel = {"nb_filter": nb_filter, "nb_row": nb_row, "nb_col": nb_col}
        set_kernel_args(
            self, "LocallyConnected2D", init, activation, border_mode, dim_ordering, ("valid",), **kernel
        )
        self.subsample = positive_ints(subsample, 2, "subsample", "LocallyConnected2D")

        set_weight_args(
            self,
            W_regularizer,
            b_regularizer,
            activity_regularizer,
            W_constraint,
            b_constraint,
            bias,
            weights,
        )
        self.input_spec = [InputSpec(ndim=4)]
        super().__init__(**kwargs)

    def build(self, input_shape):
        check_rank(self, input_shape, 4, image_axes(self.dim_ordering))
        output_shape = self.get_output_shape_for(input_shape)
        nb_filter = channels_of(self, output_shape)
        output_row, output_col = spatial_sizes(self, output_shape)
        input_filter = channels_of(self, input_shape)
        if input_filter is None:
            raise ValueError(
                f"Layer {self.name} (LocallyConnected2D) needs a fully known input shape, "
                f"got input shape {tuple(input_shape)}"
            )
        self.input_spec = [InputSpec(ndim=4, shape=(None,) + tuple(input_shape[1:]))]
        self.input_filter = input_filter
        self.output_row = output_row
        self.output_col = output_col
        self.W_shape = (output_row * output_col, self.nb_row * self.nb_col * input_filter, nb_filter)
        add_W_b(self, self.W_shape, (output_row, output_col, nb_filter))
        finish_build(self)

    def get_output_shape_for(self, input_shape):
        check_rank(self, input_shape, 4, image_axes(self.dim_ordering))
        rows, cols = spatial_sizes(self, input_shape)
        rows = _valid_len(self, rows, self.nb_row, self.subsample[0], input_shape, "rows axis")
        cols = _valid_len(self, cols, self.nb_col, self.subsample[1], input_shape, "cols axis")
        return ordered_shape(self, input_shape[0], self.nb_filter, (rows, cols))

    def _index(self, rows, cols):
        """(locations, patch) indices into a flattened sample, Keras 1's patch order."""
        sr, sc = self.subsample
        loc_r = np.repeat(np.arange(self.output_row) * sr, self.output_col)
        loc_c = np.tile(np.arange(self.output_col) * sc, self.output_row)
        kr = np.arange(self.nb_row)
        kc = np.arange(self.nb_col)
        ch = np.arange(self.input_filter)
        r = loc_r[:, None, None, None] + kr[None, :, None, None]
        c = loc_c[:, None, None, None] + kc[None, None, :, None]
        ch = ch[None, None, None, :]
        if self.dim_ordering == "th":
            # flat (channel, row, col); patch order (channel, kr, kc)
            flat = ch * rows * cols + r * cols + c
            flat = flat.transpose(0, 3, 1, 2)
        else:
            # flat (row, col, channel); patch order (kr, kc, channel)
            flat = (r * cols + c) * self.input_filter + ch
        return flat.reshape(self.output_row * self.output_col, -1)

    def call(self, x, mask=None):
        _, feature_dim, nb_filter = self.W_shape
        rows, cols = spatial_sizes(self, K.int_shape(x))
        output = _apply(_patches(x, self._index(rows, cols)), self.W)  # (locations, samples, nb_filter)
        locations = (self.output_row, self.output_col)
        output = K.permute_dimensions(output, (1, 2, 0) if self.dim_ordering == "th" else (1, 0, 2))
        output = K.reshape(output, ordered_shape(self, -1, nb_filter, locations))
        if self.bias:
            # Keras 1.2.2 reshaped (not transposed) the bias to the 'th' layout
            output = output + K.reshape(self.b, ordered_shape(self, 1, nb_filter, locations))
        return self.activation(output)

    def get_config(self):
        return merged_config(super().get_config(), conv2d_config(self))
