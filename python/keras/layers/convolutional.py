"""Convolutional layers (``keras.layers.convolutional``), Keras 1.2.2.

Convolution1D/2D, AtrousConvolution1D/2D, UpSampling1D/2D, ZeroPadding1D/2D and
Cropping1D/2D, with Keras 1's arguments, defaults, weight names and shapes
(``<layer>_W``: 'th' (nb_filter, stack, rows, cols), 'tf' (rows, cols, stack,
nb_filter); Convolution1D (filter_length, 1, input_dim, nb_filter); ``<layer>_b``
(nb_filter,)) and ``get_config()`` keys.

Kernel semantics: a layer with ``dim_ordering='th'`` computes a true convolution (the
kernel flipped spatially, as Keras 1 on Theano), one with ``'tf'`` a cross-correlation
(as Keras 1 on TensorFlow), so the weight files of each world load unchanged. The flip is
folded into the engine's kernel re-layout and costs nothing. Convolution1D is a 'tf'
convolution (a cross-correlation), as it is built on ``K.conv2d(..., dim_ordering='tf')``.

A convolution is one engine ``conv2d`` node (an implicit gemm: no column matrix is
written), a ``bias_add`` node and the activation's node; compiling folds the bias and a
relu, tanh or sigmoid into the ``conv2d`` node (other activations stay their own node).
'tf' layers (and Convolution1D) run the engine's channels-last convolution, with no
permute around it.
"""

import functools
import operator

from .. import activations
from .. import backend as K
from ..engine.topology import InputSpec, Layer, merged_config
from ..utils.generic_utils import shared_docs
from ..utils.np_utils import conv_output_length
from ._spatial import (
    channel_axis,
    channels_of,
    check_border_mode,
    check_rank,
    checked_build,
    image_axes,
    ordered_shape,
    positive_ints,
    resolve_ordering,
    spatial_sizes,
    temporal_input,
    temporal_input_dim,
    window_args,
)
from ._weighted import (
    add_bias,
    add_W_b,
    bias_activation,
    finish_build,
    set_kernel_args,
    set_named_weight_args,
    set_weight_args,
    weight_config,
)

__all__ = [
    "Convolution1D",
    "Convolution2D",
    "Convolution3D",
    "AtrousConvolution1D",
    "AtrousConvolution2D",
    "SeparableConvolution2D",
    "Deconvolution2D",
    "UpSampling1D",
    "UpSampling2D",
    "UpSampling3D",
    "ZeroPadding1D",
    "ZeroPadding2D",
    "ZeroPadding3D",
    "Cropping1D",
    "Cropping2D",
    "Cropping3D",
    "Conv1D",
    "Conv2D",
    "Conv3D",
    "Deconv2D",
    "AtrousConv1D",
    "AtrousConv2D",
    "SeparableConv2D",
]


# Activations the engine can apply in a convolution's own pass (elementwise, so they may
# run before Convolution1D's squeeze).
_ELEMENTWISE = (activations.relu, activations.tanh, activations.sigmoid, activations.linear)


# `# Arguments` and shape docs the 2-D window layers share (see ``shared_docs``).
CONV2D_KERNEL_DOC = """
nb_filter: Number of convolution filters to use.
nb_row: Number of rows in the convolution kernel.
nb_col: Number of columns in the convolution kernel.
init: name of initialization function for the weights of the layer.
activation: name of activation function to use; linear by default.
weights: list of numpy arrays to set as initial weights.
"""
CONV2D_WEIGHTS_DOC = """
W_regularizer, b_regularizer, activity_regularizer: regularizers.
W_constraint, b_constraint: constraints.
dim_ordering: 'th' or 'tf' ('default': ``K.image_dim_ordering()``).
bias: whether to include a bias.
"""
IMAGE_INPUT_DOC = """
# Input shape
    4D tensor (samples, channels, rows, cols) for 'th',
    (samples, rows, cols, channels) for 'tf'.
"""
CONV2D_OUTPUT_DOC = """
# Output shape
    4D tensor (samples, nb_filter, new_rows, new_cols) for 'th',
    (samples, new_rows, new_cols, nb_filter) for 'tf'.
"""


def _out_len(layer, length, k, border_mode, stride, dilation, input_shape, what="kernel"):
    """conv_output_length with a ValueError naming the layer when nothing fits."""
    if length is None:
        return None
    span = k + (k - 1) * (dilation - 1)
    out = conv_output_length(length, k, border_mode, stride, dilation)
    if (border_mode == "valid" and span > length) or out <= 0:
        raise ValueError(
            f"Layer {layer.name} ({layer.__class__.__name__}): the {what} size {span} is larger than "
            f"the input size {length} along a spatial axis (border_mode={border_mode!r}), input shape "
            f"{tuple(input_shape)} gives an empty output{_ordering_hint(layer, input_shape)}"
        )
    return out


def _ordering_hint(layer, input_shape):
    ordering = getattr(layer, "dim_ordering", None)
    if ordering is None or len(input_shape) != 4:
        return ""
    return " (dim_ordering={!r} expects {}; are the channels in the wrong place?)".format(
        ordering, image_axes(ordering)
    )


def _conv_output_shape(layer, input_shape, kernel, dilation):
    """The output shape of a convolution of ``layer``'s ``nb_filter``, ``border_mode`` and
    ``subsample`` with ``kernel`` and ``dilation`` (one size per spatial axis)."""
    spatial = [
        _out_len(layer, length, k, layer.border_mode, s, d, input_shape)
        for length, k, s, d in zip(spatial_sizes(layer, input_shape), kernel, layer.subsample, dilation)
    ]
    return ordered_shape(layer, input_shape[0], layer.nb_filter, spatial)


def _stack_size(layer, input_shape):
    """The input's channel count; a ValueError when it is unknown."""
    stack_size = channels_of(layer, input_shape)
    if stack_size is None:
        raise ValueError(
            f"Layer {layer.name} ({layer.__class__.__name__}) needs the channel axis of its input "
            f"to be known (dim_ordering={layer.dim_ordering!r}), got input shape {tuple(input_shape)}"
        )
    return stack_size


def _build_kernel(layer, input_shape, kernel):
    """Builds a Convolution2D/3D: ``layer.W`` ('th' (nb_filter, stack, *kernel), 'tf'
    (*kernel, stack, nb_filter)) and ``layer.b``; a ValueError first for a channel axis
    that is not known or a kernel that does not fit the input."""
    stack_size = _stack_size(layer, input_shape)
    if layer.dim_ordering == "th":
        layer.W_shape = (layer.nb_filter, stack_size) + tuple(kernel)
    else:
        layer.W_shape = tuple(kernel) + (stack_size, layer.nb_filter)
    layer.get_output_shape_for(input_shape)
    spatial = (None,) * len(kernel)
    layer.input_spec = [
        InputSpec(ndim=len(kernel) + 2, shape=ordered_shape(layer, None, stack_size, spatial))
    ]
    add_W_b(
        layer,
        layer.W_shape,
        (layer.nb_filter,),
        functools.partial(layer.init, dim_ordering=layer.dim_ordering),
    )
    finish_build(layer)


def _resized_shape(layer, input_shape, resize, per_axis):
    """The input shape with each known spatial size ``d`` replaced by ``resize(d, arg)``,
    ``arg`` the axis's item of ``per_axis``."""
    spatial = [
        None if d is None else resize(d, arg) for d, arg in zip(spatial_sizes(layer, input_shape), per_axis)
    ]
    return ordered_shape(layer, input_shape[0], channels_of(layer, input_shape), spatial)


def _cropped(layer, x):
    """``x`` without ``layer.cropping``'s (start, end) units on each spatial axis."""
    spatial = tuple(_crop_slice(a, b) for a, b in layer.cropping)
    if layer.dim_ordering == "th":
        return x[(slice(None), slice(None)) + spatial]
    return x[(slice(None),) + spatial + (slice(None),)]


def conv2d_config(layer, weights=("W", "b"), **after_subsample):
    """The ``get_config`` entries of Convolution2D, which LocallyConnected2D shares;
    SeparableConvolution2D's with its ``weights`` names and its ``depth_multiplier`` in
    ``after_subsample`` (entries that stand between ``subsample`` and ``dim_ordering``)."""
    return {
        "nb_filter": layer.nb_filter,
        "nb_row": layer.nb_row,
        "nb_col": layer.nb_col,
        "init": layer.init.__name__,
        "activation": layer.activation.__name__,
        "border_mode": layer.border_mode,
        "subsample": layer.subsample,
        **after_subsample,
        "dim_ordering": layer.dim_ordering,
        **weight_config(layer, weights),
        "bias": layer.bias,
    }


def conv1d_config(layer):
    """The ``get_config`` entries of Convolution1D, which LocallyConnected1D shares."""
    return {
        "nb_filter": layer.nb_filter,
        "filter_length": layer.filter_length,
        "init": layer.init.__name__,
        "activation": layer.activation.__name__,
        "border_mode": layer.border_mode,
        "subsample_length": layer.subsample_length,
        **weight_config(layer),
        "bias": layer.bias,
        "input_dim": layer.input_dim,
        "input_length": layer.input_length,
    }


def _with_atrous_rate(layer, base_config, config):
    """``base_config`` updated with ``config`` and, for an Atrous layer, its
    ``atrous_rate`` (Keras 1's key order)."""
    if layer._dilated:
        config["atrous_rate"] = layer.atrous_rate
    return merged_config(base_config, config)


@shared_docs(image_input=IMAGE_INPUT_DOC, conv2d_output=CONV2D_OUTPUT_DOC)
class Convolution2D(Layer):
    """Convolution operator for filtering windows of two-dimensional inputs.

    # Arguments
        nb_filter: number of convolution filters.
        nb_row, nb_col: rows and columns of the kernel.
        init: weight initialization (name or function).
        activation: activation function (name or function); linear by default.
        weights: list of numpy arrays [W, b] to set as initial weights.
        border_mode: 'valid', 'same' or 'full'.
        subsample: (rows, cols) strides.
        dim_ordering: 'th' (channels first), 'tf' (channels last) or 'default'
            (``K.image_dim_ordering()`` at construction).
        W_regularizer, b_regularizer, activity_regularizer: regularizers.
        W_constraint, b_constraint: constraints.
        bias: whether to add a bias.

    {image_input}

    {conv2d_output}
    """

    _dilated = False

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
        atrous_rate=(1, 1),
        **kwargs,
    ):
        owner = self.__class__.__name__
        set_kernel_args(
            self,
            owner,
            init,
            activation,
            border_mode,
            dim_ordering,
            nb_filter=nb_filter,
            nb_row=nb_row,
            nb_col=nb_col,
        )
        self.subsample = positive_ints(subsample, 2, "subsample", owner)
        self.atrous_rate = positive_ints(atrous_rate, 2, "atrous_rate", owner)

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
        _build_kernel(self, input_shape, (self.nb_row, self.nb_col))

    def get_output_shape_for(self, input_shape):
        check_rank(self, input_shape, 4)
        return _conv_output_shape(self, input_shape, (self.nb_row, self.nb_col), self.atrous_rate)

    def call(self, x, mask=None):
        output = K.conv2d(
            x, self.W, filter_shape=self.W_shape, filter_dilation=self.atrous_rate, **window_args(self)
        )
        return bias_activation(self, output, channel_axis(self))

    def get_config(self):
        return _with_atrous_rate(self, super().get_config(), conv2d_config(self))


class AtrousConvolution2D(Convolution2D):
    """Atrous (dilated) Convolution2D: ``atrous_rate`` (rows, cols) spaces the kernel
    taps. Same weights and orderings as Convolution2D."""

    _dilated = True

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
        atrous_rate=(1, 1),
        dim_ordering="default",
        W_regularizer=None,
        b_regularizer=None,
        activity_regularizer=None,
        W_constraint=None,
        b_constraint=None,
        bias=True,
        **kwargs,
    ):
        check_border_mode("AtrousConv2D", border_mode)
        super().__init__(
            nb_filter,
            nb_row,
            nb_col,
            init=init,
            activation=activation,
            weights=weights,
            border_mode=border_mode,
            subsample=subsample,
            dim_ordering=dim_ordering,
            W_regularizer=W_regularizer,
            b_regularizer=b_regularizer,
            activity_regularizer=activity_regularizer,
            W_constraint=W_constraint,
            b_constraint=b_constraint,
            bias=bias,
            atrous_rate=atrous_rate,
            **kwargs,
        )


class Convolution1D(Layer):
    """Convolution operator for filtering neighborhoods of one-dimensional inputs
    (a cross-correlation, as Keras 1 on TensorFlow).

    # Arguments
        nb_filter, filter_length, init, activation, weights, border_mode ('valid',
        'same' or 'full'), subsample_length, W_regularizer, b_regularizer,
        activity_regularizer, W_constraint, b_constraint, bias, input_dim,
        input_length: as in Keras 1.

    # Input shape
        3D tensor (samples, steps, input_dim).

    # Output shape
        3D tensor (samples, new_steps, nb_filter).
    """

    _dilated = False

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
        atrous_rate=1,
        **kwargs,
    ):
        set_kernel_args(
            self,
            "Convolution1D",
            init,
            activation,
            border_mode,
            nb_filter=nb_filter,
            filter_length=filter_length,
        )
        self.subsample_length = positive_ints(
            subsample_length, None, "subsample_length", self.__class__.__name__
        )
        self.subsample = (self.subsample_length, 1)
        self.atrous_rate = positive_ints(atrous_rate, None, "atrous_rate", self.__class__.__name__)

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
        self.get_output_shape_for(input_shape)
        self.input_spec = [InputSpec(ndim=3, shape=(None, None, input_dim))]
        self.W_shape = (self.filter_length, 1, input_dim, self.nb_filter)
        add_W_b(self, self.W_shape, (self.nb_filter,))
        finish_build(self)

    def get_output_shape_for(self, input_shape):
        check_rank(self, input_shape, 3, "(samples, steps, input_dim)")
        length = _out_len(
            self,
            input_shape[1],
            self.filter_length,
            self.border_mode,
            self.subsample[0],
            self.atrous_rate,
            input_shape,
        )
        return (input_shape[0], length, self.nb_filter)

    def call(self, x, mask=None):
        x = K.expand_dims(x, 2)  # (samples, steps, 1, input_dim)
        output = K.conv2d(
            x,
            self.W,
            strides=self.subsample,
            border_mode=self.border_mode,
            dim_ordering="tf",
            filter_dilation=(self.atrous_rate, 1),
        )
        # The bias and an elementwise activation are applied before the squeeze, on the
        # conv2d node's own output, so that compiling folds them into it.
        if self.bias:
            output = K.bias_add(output, self.b, axis=-1)
        if self.activation in _ELEMENTWISE:
            return K.squeeze(self.activation(output), 2)
        return self.activation(K.squeeze(output, 2))

    def get_config(self):
        return _with_atrous_rate(self, super().get_config(), conv1d_config(self))


class AtrousConvolution1D(Convolution1D):
    """Atrous (dilated) Convolution1D: ``atrous_rate`` spaces the kernel taps."""

    _dilated = True

    def __init__(
        self,
        nb_filter,
        filter_length,
        init="glorot_uniform",
        activation=None,
        weights=None,
        border_mode="valid",
        subsample_length=1,
        atrous_rate=1,
        W_regularizer=None,
        b_regularizer=None,
        activity_regularizer=None,
        W_constraint=None,
        b_constraint=None,
        bias=True,
        **kwargs,
    ):
        super().__init__(
            nb_filter,
            filter_length,
            init=init,
            activation=activation,
            weights=weights,
            border_mode=border_mode,
            subsample_length=subsample_length,
            W_regularizer=W_regularizer,
            b_regularizer=b_regularizer,
            activity_regularizer=activity_regularizer,
            W_constraint=W_constraint,
            b_constraint=b_constraint,
            bias=bias,
            atrous_rate=atrous_rate,
            **kwargs,
        )


class UpSampling1D(Layer):
    """Repeats each temporal step `length` times along the time axis."""

    def __init__(self, length=2, **kwargs):
        self.length = positive_ints(length, None, "length", "UpSampling1D")
        self.input_spec = [InputSpec(ndim=3)]
        super().__init__(**kwargs)

    def get_output_shape_for(self, input_shape):
        check_rank(self, input_shape, 3, "(samples, steps, features)")
        length = self.length * input_shape[1] if input_shape[1] is not None else None
        return (input_shape[0], length, input_shape[2])

    def call(self, x, mask=None):
        return K.repeat_elements(x, self.length, axis=1)

    def get_config(self):
        return merged_config(super().get_config(), {"length": self.length})


class UpSampling2D(Layer):
    """Repeats the rows and columns of the data by size[0] and size[1]."""

    def __init__(self, size=(2, 2), dim_ordering="default", **kwargs):
        self.dim_ordering = resolve_ordering(dim_ordering)
        self.size = positive_ints(size, 2, "size", "UpSampling2D")
        self.input_spec = [InputSpec(ndim=4)]
        super().__init__(**kwargs)

    def get_output_shape_for(self, input_shape):
        check_rank(self, input_shape, 4)
        return _resized_shape(self, input_shape, operator.mul, self.size)

    def call(self, x, mask=None):
        return K.resize_images(x, self.size[0], self.size[1], self.dim_ordering)

    def get_config(self):
        return merged_config(super().get_config(), {"size": self.size, "dim_ordering": self.dim_ordering})


def _set_pads(layer, padding, keys, gap):
    """Sets each of ``keys`` from a ``padding`` dict (0 where absent); Keras 1's
    ValueError (its 1-D message has a space before "Found", ``gap``) for another key."""
    if not set(padding.keys()) <= set(keys):
        raise ValueError(
            "Unexpected key found in `padding` dictionary. Keys have to be in {"
            + ", ".join(f'"{key}"' for key in keys)
            + "}."
            + gap
            + "Found: "
            + str(padding.keys())
        )
    for key in keys:
        setattr(layer, key, padding.get(key, 0))


class ZeroPadding1D(Layer):
    """Zero-padding layer for 1D input (e.g. temporal sequence).

    # Arguments
        padding: int (both sides), tuple of 2 ints (left_pad, right_pad) or a dict
            with keys 'left_pad', 'right_pad'.
    """

    def __init__(self, padding=1, **kwargs):
        super().__init__(**kwargs)
        self.padding = padding
        if isinstance(padding, int):
            self.left_pad = padding
            self.right_pad = padding
        elif isinstance(padding, dict):
            _set_pads(self, padding, ("left_pad", "right_pad"), " ")
        else:
            padding = tuple(padding)
            if len(padding) != 2:
                raise ValueError(
                    "`padding` should be int, or dict with keys "
                    '{"left_pad", "right_pad"}, or tuple of length 2. '
                    "Found: " + str(padding)
                )
            self.left_pad = padding[0]
            self.right_pad = padding[1]
        self.input_spec = [InputSpec(ndim=3)]

    def get_output_shape_for(self, input_shape):
        check_rank(self, input_shape, 3, "(samples, steps, features)")
        length = input_shape[1] + self.left_pad + self.right_pad if input_shape[1] is not None else None
        return (input_shape[0], length, input_shape[2])

    def call(self, x, mask=None):
        return K.asymmetric_temporal_padding(x, left_pad=self.left_pad, right_pad=self.right_pad)

    def get_config(self):
        return merged_config(super().get_config(), {"padding": self.padding})


class ZeroPadding2D(Layer):
    """Zero-padding layer for 2D input (e.g. picture).

    # Arguments
        padding: tuple of 2 ints (symmetric rows, cols padding), tuple of 4 ints
            (top_pad, bottom_pad, left_pad, right_pad) or a dict with keys
            'top_pad', 'bottom_pad', 'left_pad', 'right_pad'.
        dim_ordering: 'th', 'tf' or 'default'.
    """

    def __init__(self, padding=(1, 1), dim_ordering="default", **kwargs):
        super().__init__(**kwargs)
        self.dim_ordering = resolve_ordering(dim_ordering)
        self.padding = padding
        if isinstance(padding, dict):
            _set_pads(self, padding, ("top_pad", "bottom_pad", "left_pad", "right_pad"), "")
        else:
            padding = tuple(padding)
            if len(padding) == 2:
                self.top_pad = padding[0]
                self.bottom_pad = padding[0]
                self.left_pad = padding[1]
                self.right_pad = padding[1]
            elif len(padding) == 4:
                self.top_pad, self.bottom_pad, self.left_pad, self.right_pad = padding
            else:
                raise TypeError(
                    "`padding` should be tuple of int of length 2 or 4, or dict. Found: " + str(padding)
                )
        self.input_spec = [InputSpec(ndim=4)]

    def get_output_shape_for(self, input_shape):
        check_rank(self, input_shape, 4)
        pads = ((self.top_pad, self.bottom_pad), (self.left_pad, self.right_pad))
        return _resized_shape(self, input_shape, _padded_len, pads)

    def call(self, x, mask=None):
        return K.asymmetric_spatial_2d_padding(
            x,
            top_pad=self.top_pad,
            bottom_pad=self.bottom_pad,
            left_pad=self.left_pad,
            right_pad=self.right_pad,
            dim_ordering=self.dim_ordering,
        )

    def get_config(self):
        return merged_config(
            super().get_config(), {"padding": self.padding, "dim_ordering": self.dim_ordering}
        )


def _crop_len(layer, length, a, b, input_shape):
    if length is None:
        return None
    out = length - a - b
    # Keras 1 allowed cropping everything away (a zero-length axis); cropping more than
    # the axis holds had no meaning (a negative static shape), so it is refused.
    if out < 0:
        raise ValueError(
            f"Layer {layer.name} ({layer.__class__.__name__}): cropping {layer.cropping} removes more "
            f"than input shape {tuple(input_shape)} holds"
        )
    return out


def _crop_slice(a, b):
    return slice(a, -b if b else None)


def _padded_len(length, pads):
    return length + pads[0] + pads[1]


def _cropped_shape(layer, input_shape):
    """The input shape less ``layer.cropping`` on each spatial axis."""
    spatial = [
        _crop_len(layer, d, a, b, input_shape)
        for d, (a, b) in zip(spatial_sizes(layer, input_shape), layer.cropping)
    ]
    return ordered_shape(layer, input_shape[0], channels_of(layer, input_shape), spatial)


class Cropping1D(Layer):
    """Crops along the time dimension (axis 1).

    # Arguments
        cropping: tuple of 2 ints, units to trim at the beginning and the end.
    """

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(**kwargs)
        self.cropping = tuple(int(c) for c in cropping)
        if len(self.cropping) != 2:
            raise ValueError("`cropping` must be a tuple length of 2.")
        self.input_spec = [InputSpec(ndim=3)]

    def get_output_shape_for(self, input_shape):
        check_rank(self, input_shape, 3, "(samples, steps, features)")
        length = _crop_len(self, input_shape[1], self.cropping[0], self.cropping[1], input_shape)
        return (input_shape[0], length, input_shape[2])

    build = checked_build

    def call(self, x, mask=None):
        return x[:, _crop_slice(*self.cropping), :]

    def get_config(self):
        return merged_config(super().get_config(), {"cropping": self.cropping})


class _SpatialCropping(Layer):
    """Cropping2D and Cropping3D: ``cropping`` ((start, end) per spatial axis) trimmed off
    an input in ``dim_ordering``."""

    _nb_axes = None

    def __init__(self, cropping, dim_ordering, **kwargs):
        super().__init__(**kwargs)
        self.dim_ordering = resolve_ordering(dim_ordering)
        cropping = tuple(tuple(int(c) for c in pair) for pair in cropping)
        if len(cropping) != self._nb_axes or any(len(p) != 2 for p in cropping):
            raise ValueError(f"`cropping` must be a tuple length of {self._nb_axes} of tuples of length 2.")
        self.cropping = cropping
        self.input_spec = [InputSpec(ndim=self._nb_axes + 2)]

    def _expected_axes(self):
        return ""

    def get_output_shape_for(self, input_shape):
        check_rank(self, input_shape, self._nb_axes + 2, self._expected_axes())
        return _cropped_shape(self, input_shape)

    build = checked_build

    def call(self, x, mask=None):
        return _cropped(self, x)

    def get_config(self):
        return merged_config(
            super().get_config(), {"cropping": self.cropping, "dim_ordering": self.dim_ordering}
        )


class Cropping2D(_SpatialCropping):
    """Crops along the rows and columns of a 2D input.

    # Arguments
        cropping: tuple of 2 tuples of 2 ints: ((top, bottom), (left, right)).
        dim_ordering: 'th', 'tf' or 'default'.
    """

    _nb_axes = 2

    def __init__(self, cropping=((0, 0), (0, 0)), dim_ordering="default", **kwargs):
        super().__init__(cropping, dim_ordering, **kwargs)


# Aliases (Keras 1.2.2)
Conv1D = Convolution1D
Conv2D = Convolution2D
AtrousConv1D = AtrousConvolution1D
AtrousConv2D = AtrousConvolution2D


def _deconv_in_len(out, k, border_mode, stride):
    """Length of the input a Deconvolution2D of output length ``out`` accepts (the
    output length of the associated convolution)."""
    return conv_output_length(out, k, border_mode, stride)


@shared_docs(conv2d_weights=CONV2D_WEIGHTS_DOC, image_input=IMAGE_INPUT_DOC)
class Deconvolution2D(Convolution2D):
    """Transposed convolution operator for filtering windows of 2-D inputs.

    The need for transposed convolutions generally arises from the desire to use a
    transformation going in the opposite direction of a normal convolution: this layer
    is the input gradient of the Convolution2D that maps a tensor of ``output_shape`` to
    this layer's input. Weights as Convolution2D's (``<layer>_W`` 'th' (nb_filter,
    stack, nb_row, nb_col), 'tf' (nb_row, nb_col, stack, nb_filter) with stack = the
    input channels; ``<layer>_b`` (nb_filter,)); 'th' transposes a true convolution
    (Keras 1 on Theano), 'tf' a cross-correlation (Keras 1 on TensorFlow). One engine
    ``conv2d_transpose`` node (gemm + col2im), a ``bias_add`` and the activation; 'tf'
    runs the channels-last kernel (no permutes), into which compiling folds the bias and
    a relu, tanh or sigmoid.

    # Arguments
        nb_filter: Number of transposed convolution filters to use.
        nb_row: Number of rows in the transposed convolution kernel.
        nb_col: Number of columns in the transposed convolution kernel.
        output_shape: Output shape of the transposed convolution operation.
            tuple of integers
            `(nb_samples, nb_filter, nb_output_rows, nb_output_cols)` ('th') or
            `(nb_samples, nb_output_rows, nb_output_cols, nb_filter)` ('tf');
            nb_samples may be None. A convolution of this shape (same kernel size,
            border_mode and subsample) must give the input's rows and cols.
        init: name of initialization function for the weights of the layer.
        activation: name of activation function to use; linear by default.
        weights: list of numpy arrays to set as initial weights.
        border_mode: 'valid', 'same' or 'full'.
        subsample: tuple of length 2. Factor by which to oversample output.
            Also called strides elsewhere.
        {conv2d_weights}

    {image_input}

    # Output shape
        4D tensor (samples, nb_filter, nb_output_rows, nb_output_cols) for 'th',
        (samples, nb_output_rows, nb_output_cols, nb_filter) for 'tf'.
    """

    def __init__(
        self,
        nb_filter,
        nb_row,
        nb_col,
        output_shape,
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
        output_shape = tuple(output_shape)
        if len(output_shape) != 4:
            raise ValueError(
                "Deconvolution2D: output_shape must be the full 4-tuple including the samples axis "
                f"(e.g. (None, 3, 14, 14) for 'th'), got {output_shape}"
            )
        self.output_shape_ = output_shape
        super().__init__(
            nb_filter,
            nb_row,
            nb_col,
            init=init,
            activation=activation,
            weights=weights,
            border_mode=border_mode,
            subsample=subsample,
            dim_ordering=dim_ordering,
            W_regularizer=W_regularizer,
            b_regularizer=b_regularizer,
            activity_regularizer=activity_regularizer,
            W_constraint=W_constraint,
            b_constraint=b_constraint,
            bias=bias,
            **kwargs,
        )

    def get_output_shape_for(self, input_shape):
        check_rank(self, input_shape, 4, image_axes(self.dim_ordering))
        channels = channels_of(self, self.output_shape_)
        rows, cols = spatial_sizes(self, self.output_shape_)
        in_rows, in_cols = spatial_sizes(self, input_shape)
        if rows is None or cols is None:
            raise ValueError(
                f"Layer {self.name} (Deconvolution2D): the rows and cols of output_shape must be "
                f"known, got output_shape {self.output_shape_}"
            )
        if channels is not None and channels != self.nb_filter:
            raise ValueError(
                f"Layer {self.name} (Deconvolution2D): output_shape {self.output_shape_} has "
                f"{channels} channels but nb_filter is {self.nb_filter}"
            )
        for out, k, stride, have in (
            (rows, self.nb_row, self.subsample[0], in_rows),
            (cols, self.nb_col, self.subsample[1], in_cols),
        ):
            if have is None:
                continue
            want = _deconv_in_len(out, k, self.border_mode, stride)
            if want != have:
                raise ValueError(
                    f"Layer {self.name} (Deconvolution2D): output_shape {self.output_shape_} is "
                    f"inconsistent with the input shape {tuple(input_shape)}: a "
                    f"{self.border_mode!r} convolution with kernel size {k} and stride {stride} "
                    f"maps an output length of {out} to {want}, but the input has {have}"
                    f"{_ordering_hint(self, input_shape)}"
                )
        return ordered_shape(self, input_shape[0], self.nb_filter, (rows, cols))

    def call(self, x, mask=None):
        output = K.deconv2d(x, self.W, self.output_shape_, filter_shape=self.W_shape, **window_args(self))
        return bias_activation(self, output, channel_axis(self))

    def get_config(self):
        return merged_config(super().get_config(), {"output_shape": self.output_shape_})


@shared_docs(conv2d_kernel=CONV2D_KERNEL_DOC, image_input=IMAGE_INPUT_DOC, conv2d_output=CONV2D_OUTPUT_DOC)
class SeparableConvolution2D(Layer):
    """Separable convolution operator for 2D inputs: a depthwise spatial convolution
    (each input channel separately, ``depth_multiplier`` kernels each) followed by a
    pointwise (1x1) convolution mixing the resulting channels.

    Keras 1.2.2 had this layer on TensorFlow only; both steps are cross-correlations
    in either dim_ordering here (the weights of a Keras 1 TensorFlow model load
    unchanged). Weights, in order: ``<layer>_depthwise_kernel`` ('th' (depth_multiplier,
    stack, nb_row, nb_col), 'tf' (nb_row, nb_col, stack, depth_multiplier)),
    ``<layer>_pointwise_kernel`` ('th' (nb_filter, depth_multiplier * stack, 1, 1), 'tf'
    (1, 1, depth_multiplier * stack, nb_filter)), ``<layer>_b`` (nb_filter,). Engine
    nodes: ``depthwise_conv2d`` (direct loops), a 1x1 ``conv2d`` (one gemm), a
    ``bias_add`` and the activation; 'tf' runs both convolutions channels-last (no
    permutes).

    # Arguments
        {conv2d_kernel}
        border_mode: 'valid' or 'same'.
        subsample: tuple of length 2. Factor by which to subsample output.
            Also called strides elsewhere.
        depth_multiplier: how many output channel to use per input channel
            for the depthwise convolution step.
        depthwise_regularizer, pointwise_regularizer, b_regularizer,
            activity_regularizer: regularizers.
        depthwise_constraint, pointwise_constraint, b_constraint: constraints.
        dim_ordering: 'th' or 'tf' ('default': ``K.image_dim_ordering()``).
        bias: whether to include a bias.

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
        depth_multiplier=1,
        dim_ordering="default",
        depthwise_regularizer=None,
        pointwise_regularizer=None,
        b_regularizer=None,
        activity_regularizer=None,
        depthwise_constraint=None,
        pointwise_constraint=None,
        b_constraint=None,
        bias=True,
        **kwargs,
    ):
        set_kernel_args(
            self,
            "SeparableConv2D",
            init,
            activation,
            border_mode,
            dim_ordering,
            ("valid", "same"),
            nb_filter=nb_filter,
            nb_row=nb_row,
            nb_col=nb_col,
            depth_multiplier=depth_multiplier,
        )
        self.subsample = positive_ints(subsample, 2, "subsample", "SeparableConvolution2D")

        set_named_weight_args(
            self,
            {"depthwise": depthwise_regularizer, "pointwise": pointwise_regularizer, "b": b_regularizer},
            {"depthwise": depthwise_constraint, "pointwise": pointwise_constraint, "b": b_constraint},
            activity_regularizer,
            bias,
            weights,
        )
        self.input_spec = [InputSpec(ndim=4)]
        super().__init__(**kwargs)

    def build(self, input_shape):
        check_rank(self, input_shape, 4, image_axes(self.dim_ordering))
        dm = self.depth_multiplier
        stack_size = _stack_size(self, input_shape)
        if self.dim_ordering == "th":
            depthwise_shape = (dm, stack_size, self.nb_row, self.nb_col)
            pointwise_shape = (self.nb_filter, dm * stack_size, 1, 1)
        else:
            depthwise_shape = (self.nb_row, self.nb_col, stack_size, dm)
            pointwise_shape = (1, 1, dm * stack_size, self.nb_filter)
        self.get_output_shape_for(input_shape)  # ValueError on a kernel that does not fit
        self.input_spec = [InputSpec(ndim=4, shape=ordered_shape(self, None, stack_size, (None, None)))]
        init = functools.partial(self.init, dim_ordering=self.dim_ordering)
        for kind, shape in (("depthwise", depthwise_shape), ("pointwise", pointwise_shape)):
            kernel = self.add_weight(
                shape,
                initializer=init,
                name=f"{self.name}_{kind}_kernel",
                regularizer=getattr(self, kind + "_regularizer"),
                constraint=getattr(self, kind + "_constraint"),
            )
            setattr(self, kind + "_kernel", kernel)
        add_bias(self, (self.nb_filter,))
        finish_build(self)

    def get_output_shape_for(self, input_shape):
        check_rank(self, input_shape, 4)
        return _conv_output_shape(self, input_shape, (self.nb_row, self.nb_col), (1, 1))

    def call(self, x, mask=None):
        output = K.separable_conv2d(x, self.depthwise_kernel, self.pointwise_kernel, **window_args(self))
        return bias_activation(self, output, channel_axis(self))

    def get_config(self):
        config = conv2d_config(self, ("depthwise", "pointwise", "b"), depth_multiplier=self.depth_multiplier)
        return merged_config(super().get_config(), config)


Deconv2D = Deconvolution2D
SeparableConv2D = SeparableConvolution2D


# ---------------------------------------------------------------------------------------
# 3-D layers (Keras 1.2.2): Convolution3D (one engine ``conv3d`` node: volumetric im2col
# + gemm; 'th' a true convolution, 'tf' a cross-correlation, as the 2-D layers),
# UpSampling3D, ZeroPadding3D, Cropping3D.


def _what3(layer):
    if layer.dim_ordering == "th":
        return "(samples, channels, conv_dim1, conv_dim2, conv_dim3)"
    return "(samples, conv_dim1, conv_dim2, conv_dim3, channels)"


class Convolution3D(Layer):
    """Convolution operator for filtering windows of three-dimensional inputs.

    When using this layer as the first layer in a model, provide the keyword argument
    `input_shape` (tuple of integers, does not include the sample axis), e.g.
    `input_shape=(3, 10, 128, 128)` for 10 frames of 128x128 RGB pictures.

    # Arguments
        nb_filter: Number of convolution filters to use.
        kernel_dim1: Length of the first dimension in the convolution kernel.
        kernel_dim2: Length of the second dimension in the convolution kernel.
        kernel_dim3: Length of the third dimension in the convolution kernel.
        init: name of initialization function for the weights of the layer, or
            alternatively, a function to use for weights initialization.
        activation: name of activation function to use, or alternatively, an
            elementwise function. If you don't specify anything, no activation is
            applied (ie. "linear" activation: a(x) = x).
        weights: list of Numpy arrays to set as initial weights.
        border_mode: 'valid', 'same' or 'full' ('full' requires the Theano backend
            in Keras 1; ferrokeras accepts it in both orderings).
        subsample: tuple of length 3. Factor by which to subsample output.
            Also called strides elsewhere.
        W_regularizer: instance of WeightRegularizer (eg. L1 or L2 regularization),
            applied to the main weights matrix.
        b_regularizer: instance of WeightRegularizer, applied to the bias.
        activity_regularizer: instance of ActivityRegularizer, applied to the network
            output.
        W_constraint: instance of the constraints module (eg. maxnorm, nonneg),
            applied to the main weights matrix.
        b_constraint: instance of the constraints module, applied to the bias.
        dim_ordering: 'th' or 'tf'. In 'th' mode, the channels dimension (the depth)
            is at index 1, in 'tf' mode is it at index 4. It defaults to the
            `image_dim_ordering` value found in your Keras config file at
            `~/.keras/keras.json`.
        bias: whether to include a bias (i.e. make the layer affine rather than
            linear).

    # Input shape
        5D tensor with shape:
        `(samples, channels, conv_dim1, conv_dim2, conv_dim3)` if dim_ordering='th'
        or 5D tensor with shape:
        `(samples, conv_dim1, conv_dim2, conv_dim3, channels)` if dim_ordering='tf'.

    # Output shape
        5D tensor with shape:
        `(samples, nb_filter, new_conv_dim1, new_conv_dim2, new_conv_dim3)` if
        dim_ordering='th' or 5D tensor with shape:
        `(samples, new_conv_dim1, new_conv_dim2, new_conv_dim3, nb_filter)` if
        dim_ordering='tf'. `new_conv_dim1`, `new_conv_dim2` and `new_conv_dim3` values
        might have changed due to padding.
    """

    def __init__(
        self,
        nb_filter,
        kernel_dim1,
        kernel_dim2,
        kernel_dim3,
        init="glorot_uniform",
        activation=None,
        weights=None,
        border_mode="valid",
        subsample=(1, 1, 1),
        dim_ordering="default",
        W_regularizer=None,
        b_regularizer=None,
        activity_regularizer=None,
        W_constraint=None,
        b_constraint=None,
        bias=True,
        **kwargs,
    ):
        kernel = {"kernel_dim1": kernel_dim1, "kernel_dim2": kernel_dim2, "kernel_dim3": kernel_dim3}
        set_kernel_args(
            self, "Convolution3D", init, activation, border_mode, dim_ordering, nb_filter=nb_filter, **kernel
        )
        self.subsample = positive_ints(subsample, 3, "subsample", "Convolution3D")

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
        self.input_spec = [InputSpec(ndim=5)]
        super().__init__(**kwargs)

    def build(self, input_shape):
        check_rank(self, input_shape, 5, _what3(self))
        _build_kernel(self, input_shape, (self.kernel_dim1, self.kernel_dim2, self.kernel_dim3))

    def get_output_shape_for(self, input_shape):
        check_rank(self, input_shape, 5, _what3(self))
        kdims = (self.kernel_dim1, self.kernel_dim2, self.kernel_dim3)
        return _conv_output_shape(self, input_shape, kdims, (1, 1, 1))

    def call(self, x, mask=None):
        output = K.conv3d(x, self.W, filter_shape=self.W_shape, **window_args(self))
        return bias_activation(self, output, channel_axis(self))

    def get_config(self):
        config = {
            "nb_filter": self.nb_filter,
            "kernel_dim1": self.kernel_dim1,
            "kernel_dim2": self.kernel_dim2,
            "kernel_dim3": self.kernel_dim3,
            "dim_ordering": self.dim_ordering,
            "init": self.init.__name__,
            "activation": self.activation.__name__,
            "border_mode": self.border_mode,
            "subsample": self.subsample,
            **weight_config(self),
            "bias": self.bias,
        }
        return merged_config(super().get_config(), config)


class UpSampling3D(Layer):
    """Repeat the first, second and third dimension of the data by size[0], size[1]
    and size[2] respectively.

    # Arguments
        size: tuple of 3 integers. The upsampling factors for dim1, dim2 and dim3.
        dim_ordering: 'th' or 'tf'. In 'th' mode, the channels dimension (the depth)
            is at index 1, in 'tf' mode is it at index 4. It defaults to the
            `image_dim_ordering` value found in your Keras config file at
            `~/.keras/keras.json`.

    # Input shape
        5D tensor with shape `(samples, channels, dim1, dim2, dim3)` if
        dim_ordering='th' or `(samples, dim1, dim2, dim3, channels)` if
        dim_ordering='tf'.

    # Output shape
        5D tensor with shape `(samples, channels, upsampled_dim1, upsampled_dim2,
        upsampled_dim3)` if dim_ordering='th' or `(samples, upsampled_dim1,
        upsampled_dim2, upsampled_dim3, channels)` if dim_ordering='tf'.
    """

    def __init__(self, size=(2, 2, 2), dim_ordering="default", **kwargs):
        self.dim_ordering = resolve_ordering(dim_ordering)
        self.size = positive_ints(size, 3, "size", "UpSampling3D")
        self.input_spec = [InputSpec(ndim=5)]
        super().__init__(**kwargs)

    def get_output_shape_for(self, input_shape):
        check_rank(self, input_shape, 5, _what3(self))
        return _resized_shape(self, input_shape, operator.mul, self.size)

    def call(self, x, mask=None):
        return K.resize_volumes(x, self.size[0], self.size[1], self.size[2], self.dim_ordering)

    def get_config(self):
        return merged_config(super().get_config(), {"size": self.size, "dim_ordering": self.dim_ordering})


class ZeroPadding3D(Layer):
    """Zero-padding layer for 3D data (spatial or spatio-temporal).

    # Arguments
        padding: tuple of int (length 3). How many zeros to add at the beginning and
            end of the 3 padding dimensions (axis 3, 4 and 5).
        dim_ordering: 'th' or 'tf'. In 'th' mode, the channels dimension (the depth)
            is at index 1, in 'tf' mode is it at index 4. It defaults to the
            `image_dim_ordering` value found in your Keras config file at
            `~/.keras/keras.json`.

    # Input shape
        5D tensor with shape `(samples, channels, dim1, dim2, dim3)` ('th') or
        `(samples, dim1, dim2, dim3, channels)` ('tf').

    # Output shape
        5D tensor with the three spatial dimensions padded.
    """

    def __init__(self, padding=(1, 1, 1), dim_ordering="default", **kwargs):
        super().__init__(**kwargs)
        self.dim_ordering = resolve_ordering(dim_ordering)
        self.padding = tuple(int(p) for p in padding)
        if len(self.padding) != 3 or min(self.padding) < 0:
            raise ValueError(f"ZeroPadding3D: padding must be 3 non-negative integers, got {padding}")
        self.input_spec = [InputSpec(ndim=5)]

    def get_output_shape_for(self, input_shape):
        check_rank(self, input_shape, 5, _what3(self))
        return _resized_shape(self, input_shape, _padded_len, [(p, p) for p in self.padding])

    def call(self, x, mask=None):
        return K.spatial_3d_padding(x, padding=self.padding, dim_ordering=self.dim_ordering)

    def get_config(self):
        return merged_config(
            super().get_config(), {"padding": self.padding, "dim_ordering": self.dim_ordering}
        )


class Cropping3D(_SpatialCropping):
    """Cropping layer for 3D data (e.g. spatial or spatio-temporal).

    # Arguments
        cropping: tuple of tuple of int (length 3): how many units should be trimmed
            off at the beginning and end of the 3 cropping dimensions
            (kernel_dim1, kernel_dim2, kernerl_dim3).
        dim_ordering: 'th' or 'tf'. In 'th' mode, the channels dimension (the depth)
            is at index 1, in 'tf' mode is it at index 4. It defaults to the
            `image_dim_ordering` value found in your Keras config file at
            `~/.keras/keras.json`.

    # Input shape
        5D tensor with shape `(samples, depth, first_axis_to_crop, second_axis_to_crop,
        third_axis_to_crop)` ('th') or the channels last ('tf').

    # Output shape
        5D tensor with the three spatial dimensions cropped.
    """

    _nb_axes = 3

    def __init__(self, cropping=((1, 1), (1, 1), (1, 1)), dim_ordering="default", **kwargs):
        super().__init__(cropping, dim_ordering, **kwargs)

    def _expected_axes(self):
        return _what3(self)


Conv3D = Convolution3D


# Keras 1.2.2 re-exported the pooling layers here ("for backwards namespace
# compatibility"), and scripts import them from this module.
from .pooling import (  # noqa: E402
    AveragePooling1D,
    AveragePooling2D,
    AveragePooling3D,
    MaxPooling1D,
    MaxPooling2D,
    MaxPooling3D,
)

__all__ += [
    "AveragePooling1D",
    "AveragePooling2D",
    "AveragePooling3D",
    "MaxPooling1D",
    "MaxPooling2D",
    "MaxPooling3D",
]
