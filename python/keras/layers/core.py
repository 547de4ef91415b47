"""Core layers (``keras.layers.core``), Keras 1.2.2.

Dense, Activation, Dropout, SpatialDropout1D/2D/3D, Flatten, Reshape, Permute,
RepeatVector, Lambda, ActivityRegularization, Masking, Highway, MaxoutDense and
TimeDistributedDense. Their
weight names (``<layer>_W``, ``<layer>_b``, ...), shapes, default initialisations,
masking support and ``get_config()`` keys are Keras 1's, so configs and weight files
move both ways between ferrokeras and Keras 1.

The hot paths use the engine's coarse ops: a Dense layer is one ``matmul`` node and one
``bias_add`` node that also applies a relu / tanh / sigmoid activation, whatever the
rank of its input.
"""

import inspect
import types
import warnings

import numpy as np

from .. import activations, initializations, regularizers
from .. import backend as K
from ..engine.topology import InputSpec, Layer, Merge, merge, merged_config  # noqa: F401 (Keras 1 re-exports them here)
from ..utils.generic_utils import func_dump, revive_function, shared_docs
from ._spatial import resolve_ordering, temporal_input, vector_input
from ._weighted import (
    WEIGHT_ARGS_DOC,
    add_bias,
    add_W,
    add_W_b,
    bias_activation,
    finish_build,
    set_weight_args,
    weight_config,
)

__all__ = [
    "Masking",
    "Dropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "Activation",
    "Reshape",
    "Permute",
    "Flatten",
    "RepeatVector",
    "Lambda",
    "Dense",
    "ActivityRegularization",
    "MaxoutDense",
    "Highway",
    "TimeDistributedDense",
]


# ---------------------------------------------------------------------------------------
# helpers


def _check_last_dim(layer, x, expected):
    """ValueError naming the layer when the last axis of ``x`` is not ``expected``."""
    shape = K.int_shape(x)
    if shape and shape[-1] is not None and shape[-1] != expected:
        raise ValueError(
            "Input 0 is incompatible with layer "
            + layer.name
            + ": expected the last dimension to be "
            + str(expected)
            + ", found shape="
            + str(shape)
        )


def _set_input_dim(layer, input_shape, axis=-1):
    """Sets (and returns) ``layer.input_dim``, the input's size along ``axis``; a
    ValueError when it is unknown."""
    dim = input_shape[axis]
    if dim is None:
        raise ValueError(
            "Layer "
            + layer.name
            + " ("
            + layer.__class__.__name__
            + ")"
            + " needs the last dimension of its input to be known, got input shape "
            + str(tuple(input_shape))
        )
    layer.input_dim = int(dim)
    return layer.input_dim


def _fix_vector_input(layer, input_shape):
    """At build, a (samples, input_dim) layer's ``input_dim`` (set and returned) and an
    input spec that holds it to that size."""
    input_dim = _set_input_dim(layer, input_shape, axis=1)
    layer.input_spec = [InputSpec(shape=(None, input_dim))]
    return input_dim


def _is_python_function(fn):
    # Keras 1 stores every Python function (def or lambda) as marshalled bytecode and
    # only other callables (builtins, ...) by name.
    return isinstance(fn, types.FunctionType)


def _accepts_kwarg(fn, name):
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    if name in params:
        return params[name].kind in (
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            inspect.Parameter.KEYWORD_ONLY,
        )
    return False


# ---------------------------------------------------------------------------------------
# Masking, Dropout, Activation


class Masking(Layer):
    """Masks a sequence by using a mask value to skip timesteps.

    For each timestep of the input tensor (dimension #1), if all values of the input at
    that timestep equal `mask_value`, the timestep is masked (skipped) in every
    downstream layer that supports masking; the output is the input with masked
    timesteps set to zero.

    # Arguments
        mask_value: the value marking a timestep to skip.

    # Input shape
        Arbitrary (usually `(samples, timesteps, features)`).

    # Output shape
        Same as the input.

    # Example

    ```python
        model = Sequential()
        model.add(Masking(mask_value=0., input_shape=(timesteps, input_dim)))
        model.add(LSTM(32))
    ```
    """

    def __init__(self, mask_value=0.0, **kwargs):
        self.supports_masking = True
        self.mask_value = mask_value
        self._last_mask = None
        super().__init__(**kwargs)

    def _timestep_mask(self, x):
        last = self._last_mask
        if last is not None and last[0] is x:
            return last[1]
        mask = K.any(K.not_equal(x, self.mask_value), axis=-1)
        self._last_mask = (x, mask)
        return mask

    def compute_mask(self, input, input_mask=None):
        return self._timestep_mask(input)

    def call(self, x, mask=None):
        keep = K.cast(self._timestep_mask(x), K.floatx())
        return x * K.expand_dims(keep, -1)

    def get_config(self):
        return merged_config(super().get_config(), {"mask_value": self.mask_value})


class Dropout(Layer):
    """Applies Dropout to the input.

    Dropout sets a fraction `p` of the input units to 0 at each update during training
    (and scales the kept ones by `1 / (1 - p)`), which helps prevent overfitting. At
    test time it is the identity. It is the identity too unless `0 < p < 1`.

    # Arguments
        p: float between 0 and 1, the fraction of the input units to drop.
        noise_shape: shape of the binary dropout mask that multiplies the input
            (`None` entries take the input's size), e.g. `(batch, 1, features)` to
            drop the same features at every timestep.
        seed: a Python integer to use as random seed.

    # References
        - [Dropout: A Simple Way to Prevent Neural Networks from Overfitting](http://www.cs.toronto.edu/~rsalakhu/papers/srivastava14a.pdf)
    """

    def __init__(self, p, noise_shape=None, seed=None, **kwargs):
        self.p = p
        self.noise_shape = noise_shape
        self.seed = seed
        if 0.0 < self.p < 1.0:
            self.uses_learning_phase = True
        self.supports_masking = True
        super().__init__(**kwargs)

    def _get_noise_shape(self, x):
        return self.noise_shape

    def call(self, x, mask=None):
        if 0.0 < self.p < 1.0:
            return K.dropout_in_train_phase(x, self.p, self._get_noise_shape(x), seed=self.seed)
        return x

    def get_config(self):
        return merged_config(super().get_config(), {"p": self.p})


class SpatialDropout1D(Dropout):
    """Spatial 1D version of Dropout: drops entire 1D feature maps instead of individual
    elements, i.e. one decision per sample and feature, shared by every timestep.

    If adjacent frames within feature maps are strongly correlated (as is normally the
    case in early convolution layers), regular dropout will not regularize the
    activations and will otherwise just result in an effective learning rate decrease.
    In this case, SpatialDropout1D promotes independence between feature maps.

    # Arguments
        p: float between 0 and 1, the fraction of the feature maps to drop.

    # Input shape
        3D tensor with shape `(samples, timesteps, channels)`.

    # Output shape
        Same as the input.

    # References
        - [Efficient Object Localization Using Convolutional Networks](https://arxiv.org/pdf/1411.4280.pdf)
    """

    def __init__(self, p, **kwargs):
        super().__init__(p, **kwargs)
        self.input_spec = [InputSpec(ndim=3)]

    def _get_noise_shape(self, x):
        return (None, 1, None)


class _SpatialDropout(Dropout):
    """Dropout of whole feature maps: one decision per sample and channel, shared by
    the ``_rank`` spatial axes (SpatialDropout2D / 3D)."""

    _rank = 2

    def __init__(self, p, dim_ordering="default", **kwargs):
        self.dim_ordering = resolve_ordering(dim_ordering)
        super().__init__(p, **kwargs)
        self.input_spec = [InputSpec(ndim=self._rank + 2)]

    def _get_noise_shape(self, x):
        spatial = (1,) * self._rank
        if self.dim_ordering == "th":
            return (None, None) + spatial
        return (None,) + spatial + (None,)

    def get_config(self):
        return merged_config(super().get_config(), {"dim_ordering": self.dim_ordering})


class SpatialDropout2D(_SpatialDropout):
    """Spatial 2D version of Dropout: drops entire 2D feature maps (channels) instead of
    individual elements.

    # Arguments
        p: float between 0 and 1, the fraction of the feature maps to drop.
        dim_ordering: 'th' (channels at index 1) or 'tf' (channels at index 3);
            'default' resolves to `K.image_dim_ordering()` at construction.

    # Input shape
        4D tensor with shape `(samples, channels, rows, cols)` ('th') or
        `(samples, rows, cols, channels)` ('tf').

    # Output shape
        Same as the input.

    # References
        - [Efficient Object Localization Using Convolutional Networks](https://arxiv.org/pdf/1411.4280.pdf)
    """

    _rank = 2


class SpatialDropout3D(_SpatialDropout):
    """Spatial 3D version of Dropout: drops entire 3D feature maps (channels) instead of
    individual elements.

    # Arguments
        p: float between 0 and 1, the fraction of the feature maps to drop.
        dim_ordering: 'th' (channels at index 1) or 'tf' (channels at index 4);
            'default' resolves to `K.image_dim_ordering()` at construction.

    # Input shape
        5D tensor with shape `(samples, channels, dim1, dim2, dim3)` ('th') or
        `(samples, dim1, dim2, dim3, channels)` ('tf').

    # Output shape
        Same as the input.

    # References
        - [Efficient Object Localization Using Convolutional Networks](https://arxiv.org/pdf/1411.4280.pdf)
    """

    _rank = 3


class Activation(Layer):
    """Applies an activation function to an output.

    # Arguments
        activation: name of the activation function to use (see `keras.activations`),
            or a Theano/TensorFlow-style function of one tensor.

    # Input shape
        Arbitrary.

    # Output shape
        Same as the input.
    """

    def __init__(self, activation, **kwargs):
        self.supports_masking = True
        self.activation = activations.get(activation)
        super().__init__(**kwargs)

    def call(self, x, mask=None):
        return self.activation(x)

    def get_config(self):
        return merged_config(super().get_config(), {"activation": self.activation.__name__})


# ---------------------------------------------------------------------------------------
# Shape layers


class Reshape(Layer):
    """Reshapes an output to a certain shape.

    # Arguments
        target_shape: target shape, a tuple of integers without the samples dimension;
            one entry may be `-1` (inferred from the input size).

    # Input shape
        Arbitrary, all dimensions but the samples one known.

    # Output shape
        `(batch_size,) + target_shape`

    # Example

    ```python
        model = Sequential()
        model.add(Reshape((3, 4), input_shape=(12,)))
        # now: model.output_shape == (None, 3, 4)
        model.add(Reshape((6, 2)))
        # now: model.output_shape == (None, 6, 2)
        model.add(Reshape((-1, 2, 2)))
        # now: model.output_shape == (None, 3, 2, 2)
    ```
    """

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(int(d) for d in target_shape)
        if sum(1 for d in self.target_shape if d < 0) > 1:
            raise ValueError(
                "Reshape layer "
                + self.name
                + ": can only specify one unknown dimension (-1) in target_shape "
                + str(self.target_shape)
            )

    def _fix_unknown_dimension(self, input_shape, output_shape):
        """Resolves the `-1` entry of `output_shape` from the size of `input_shape`
        (both without the samples axis) and checks that the sizes agree."""
        output_shape = list(output_shape)
        known = 1
        unknown = None
        for index, dim in enumerate(output_shape):
            if dim < 0:
                unknown = index
            else:
                known *= dim
        if any(d is None for d in input_shape):
            # The input size is not known statically: nothing to resolve or check.
            if unknown is not None:
                output_shape[unknown] = None
            return tuple(output_shape)
        original = int(np.prod(input_shape, dtype=np.int64))
        msg = (
            "Reshape layer "
            + self.name
            + ": total size of new array must be unchanged (input shape "
            + str(tuple(input_shape))
            + ", target shape "
            + str(self.target_shape)
            + ")"
        )
        if unknown is not None:
            if known == 0 or original % known != 0:
                raise ValueError(msg)
            output_shape[unknown] = original // known
        elif original != known:
            raise ValueError(msg)
        return tuple(output_shape)

    def get_output_shape_for(self, input_shape):
        return (input_shape[0],) + self._fix_unknown_dimension(input_shape[1:], self.target_shape)

    def call(self, x, mask=None):
        target_shape = self._fix_unknown_dimension(K.int_shape(x)[1:], self.target_shape)
        if any(d is None for d in target_shape):
            raise ValueError(
                "Reshape layer "
                + self.name
                + ": cannot infer the -1 entry of target_shape "
                + str(self.target_shape)
                + " from an input of partially unknown shape "
                + str(K.int_shape(x))
            )
        return K.reshape(x, (-1,) + tuple(target_shape))

    def get_config(self):
        return merged_config(super().get_config(), {"target_shape": self.target_shape})


class Permute(Layer):
    """Permutes the dimensions of the input according to a given pattern.

    Useful e.g. for connecting RNNs and convnets together.

    # Arguments
        dims: tuple of integers, the permutation pattern, not including the samples
            dimension. Indexing starts at 1: `(2, 1)` swaps the first and second
            dimensions of the input.

    # Input shape
        Arbitrary.

    # Output shape
        Same as the input shape, with the dimensions re-ordered.

    # Example

    ```python
        model = Sequential()
        model.add(Permute((2, 1), input_shape=(10, 64)))
        # now: model.output_shape == (None, 64, 10)
    ```
    """

    def __init__(self, dims, **kwargs):
        self.dims = tuple(int(d) for d in dims)
        super().__init__(**kwargs)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError(
                "Permute layer "
                + self.name
                + ": invalid permutation `dims` "
                + str(self.dims)
                + "; it must be a permutation of 1.."
                + str(len(self.dims))
                + " (indexing starts at 1)."
            )
        self.input_spec = [InputSpec(ndim=len(self.dims) + 1)]

    def get_output_shape_for(self, input_shape):
        input_shape = list(input_shape)
        output_shape = list(input_shape)
        for i, dim in enumerate(self.dims):
            output_shape[i + 1] = input_shape[dim]
        return tuple(output_shape)

    def call(self, x, mask=None):
        return K.permute_dimensions(x, (0,) + self.dims)

    def get_config(self):
        return merged_config(super().get_config(), {"dims": self.dims})


class Flatten(Layer):
    """Flattens the input. Does not affect the batch size.

    # Input shape
        At least 3-D, all dimensions but the samples one known.

    # Output shape
        `(batch_size, product of the other dimensions)`

    # Example

    ```python
        model = Sequential()
        model.add(Convolution2D(64, 3, 3, border_mode='same', input_shape=(3, 32, 32)))
        # now: model.output_shape == (None, 64, 32, 32)
        model.add(Flatten())
        # now: model.output_shape == (None, 65536)
    ```
    """

    def __init__(self, **kwargs):
        self.input_spec = [InputSpec(ndim="3+")]
        super().__init__(**kwargs)

    def _check_known(self, input_shape):
        if not all(input_shape[1:]):
            raise ValueError(
                'The shape of the input to "Flatten" is not fully defined (got '
                + str(tuple(input_shape[1:]))
                + '). Make sure to pass a complete "input_shape" or "batch_input_shape" argument to the '
                "first layer in your model (layer " + self.name + ")."
            )

    def get_output_shape_for(self, input_shape):
        self._check_known(input_shape)
        return (input_shape[0], int(np.prod(input_shape[1:], dtype=np.int64)))

    def call(self, x, mask=None):
        self._check_known(K.int_shape(x))
        return K.batch_flatten(x)


class RepeatVector(Layer):
    """Repeats the input n times.

    # Arguments
        n: integer, repetition factor.

    # Input shape
        2-D tensor of shape `(nb_samples, features)`.

    # Output shape
        3-D tensor of shape `(nb_samples, n, features)`.

    # Example

    ```python
        model = Sequential()
        model.add(Dense(32, input_dim=32))
        # now: model.output_shape == (None, 32)
        model.add(RepeatVector(3))
        # now: model.output_shape == (None, 3, 32)
    ```
    """

    def __init__(self, n, **kwargs):
        self.n = n
        self.input_spec = [InputSpec(ndim=2)]
        super().__init__(**kwargs)

    def get_output_shape_for(self, input_shape):
        return (input_shape[0], self.n, input_shape[1])

    def call(self, x, mask=None):
        return K.repeat(x, self.n)

    def get_config(self):
        return merged_config(super().get_config(), {"n": self.n})


# ---------------------------------------------------------------------------------------
# Lambda


class Lambda(Layer):
    """Wraps an arbitrary expression as a layer.

    # Arguments
        function: the function to evaluate. It takes the input tensor (or list of
            tensors) as first argument, and the input mask as `mask` keyword argument
            when it accepts one.
        output_shape: expected output shape from the function: a tuple (without the
            samples dimension) or a function of the input shape (with it) returning the
            full output shape. When None, ferrokeras infers it from the static shape
            of the tensor the function returns.
        arguments: optional dict of keyword arguments passed to the function.

    # Input shape
        Arbitrary.

    # Output shape
        Given by `output_shape` (or inferred).

    # Examples

    ```python
        # add a x -> x^2 layer
        model.add(Lambda(lambda x: x ** 2))

        # a layer returning the concatenation of the positive and negative parts
        def antirectifier(x):
            x -= K.mean(x, axis=1, keepdims=True)
            x = K.l2_normalize(x, axis=1)
            pos = K.relu(x)
            neg = K.relu(-x)
            return K.concatenate([pos, neg], axis=1)

        def antirectifier_output_shape(input_shape):
            shape = list(input_shape)
            shape[-1] *= 2
            return tuple(shape)

        model.add(Lambda(antirectifier, output_shape=antirectifier_output_shape))
    ```

    # Serialisation
        `get_config()` stores a Python function as marshalled bytecode
        (`function_type` 'lambda') as Keras 1 did, and other callables by name
        (`function_type` 'function'). `from_config` refuses to revive bytecode (that
        would run code taken from the config) unless called with `safe_mode=False`.
    """

    def __init__(self, function, output_shape=None, arguments=None, **kwargs):
        self.function = function
        self.arguments = dict(arguments) if arguments else {}
        self.supports_masking = False
        if output_shape is None:
            self._output_shape = None
        elif isinstance(output_shape, (tuple, list)):
            self._output_shape = tuple(output_shape)
        else:
            if not callable(output_shape):
                raise TypeError("In Lambda, `output_shape` must be a list, a tuple, or a function.")
            self._output_shape = output_shape
        self._inferred_shapes = {}
        super().__init__(**kwargs)

    @staticmethod
    def _shape_key(input_shape):
        if isinstance(input_shape, list) and input_shape and isinstance(input_shape[0], (tuple, list)):
            return tuple(tuple(s) for s in input_shape)
        return tuple(input_shape)

    def get_output_shape_for(self, input_shape):
        if self._output_shape is None:
            key = self._shape_key(input_shape)
            if key not in self._inferred_shapes:
                # Not called on this input shape yet: apply the function to placeholders
                # of that shape and read the static shape of the result.
                if isinstance(input_shape, list):
                    xs = [K.placeholder(shape=s) for s in input_shape]
                else:
                    xs = K.placeholder(shape=input_shape)
                self.call(xs)
            return self._inferred_shapes[key]
        if isinstance(self._output_shape, tuple):
            if isinstance(input_shape, list):
                nb_samples = input_shape[0][0]
            else:
                nb_samples = input_shape[0] if input_shape else None
            return (nb_samples,) + self._output_shape
        shape = self._output_shape(input_shape)
        if isinstance(shape, list) and shape and isinstance(shape[0], (tuple, list)):
            return [tuple(s) for s in shape]
        if not isinstance(shape, (list, tuple)):
            raise ValueError(
                "Lambda layer "
                + self.name
                + ": the `output_shape` function must return a tuple, got "
                + str(shape)
            )
        return tuple(shape)

    def call(self, x, mask=None):
        arguments = dict(self.arguments)
        if _accepts_kwarg(self.function, "mask"):
            arguments["mask"] = mask
        output = self.function(x, **arguments)
        if self._output_shape is None:
            if isinstance(x, list):
                input_shape = [K.int_shape(t) for t in x]
            else:
                input_shape = K.int_shape(x)
            if isinstance(output, (list, tuple)):
                self._inferred_shapes[self._shape_key(input_shape)] = [K.int_shape(o) for o in output]
            else:
                self._inferred_shapes[self._shape_key(input_shape)] = K.int_shape(output)
        return output

    def get_config(self):
        if _is_python_function(self.function):
            function = func_dump(self.function)
            function_type = "lambda"
        else:
            function = self.function.__name__
            function_type = "function"

        if _is_python_function(self._output_shape):
            output_shape = func_dump(self._output_shape)
            output_shape_type = "lambda"
        elif callable(self._output_shape):
            output_shape = self._output_shape.__name__
            output_shape_type = "function"
        else:
            output_shape = self._output_shape
            output_shape_type = "raw"

        config = {
            "function": function,
            "function_type": function_type,
            "output_shape": output_shape,
            "output_shape_type": output_shape_type,
            "arguments": self.arguments,
        }
        return merged_config(super().get_config(), config)

    @classmethod
    def from_config(cls, config, custom_objects=None, safe_mode=True):
        """Re-creates a Lambda from its config.

        # Arguments
            config: the dict `get_config()` returned.
            custom_objects: dict of functions looked up by name (before the global
                custom objects and this module's names).
            safe_mode: when True (default), refuse to revive marshalled bytecode
                (`function_type` 'lambda'): loading it would run code taken from the
                config. Pass False only for configs you trust.

        # Raises
            ValueError: bytecode in safe mode, or an unknown function name.
        """
        config = dict(config)
        name = config.get("name")

        def revive(value, kind, what):
            return revive_function(value, kind, name, what, custom_objects, safe_mode, globs=globals())

        config["function"] = revive(config["function"], config.pop("function_type", "function"), "function")
        output_shape = config.get("output_shape")
        output_shape_type = config.pop("output_shape_type", "raw")
        if output_shape is not None:
            config["output_shape"] = revive(output_shape, output_shape_type, "output_shape function")
        return cls(**config)


# ---------------------------------------------------------------------------------------
# Dense family


class Dense(Layer):
    """Just your regular densely-connected NN layer: `output = activation(x . W + b)`.

    # Example

    ```python
        # as first layer in a sequential model:
        model = Sequential()
        model.add(Dense(32, input_dim=16))
        # now the model will take as input arrays of shape (*, 16)
        # and output arrays of shape (*, 32)

        # this is equivalent to the above:
        model = Sequential()
        model.add(Dense(32, input_shape=(16,)))

        # after the first layer, you don't need to specify
        # the size of the input anymore:
        model.add(Dense(32))
    ```

    # Arguments
        output_dim: int > 0.
        init: name of initialization function for the weights of the layer
            (see [initializations](../initializations.md)), or alternatively,
            Theano function to use for weights initialization.
            This parameter is only relevant if you don't pass a `weights` argument.
        activation: name of activation function to use
            (see [activations](../activations.md)), or alternatively,
            elementwise Theano function.
            If you don't specify anything, no activation is applied
            (ie. "linear" activation: a(x) = x).
        weights: list of Numpy arrays to set as initial weights.
            The list should have 2 elements, of shape `(input_dim, output_dim)`
            and (output_dim,) for weights and biases respectively.
        W_regularizer: instance of [WeightRegularizer](../regularizers.md)
            (eg. L1 or L2 regularization), applied to the main weights matrix.
        b_regularizer: instance of [WeightRegularizer](../regularizers.md),
            applied to the bias.
        activity_regularizer: instance of [ActivityRegularizer](../regularizers.md),
            applied to the network output.
        W_constraint: instance of the [constraints](../constraints.md) module
            (eg. maxnorm, nonneg), applied to the main weights matrix.
        b_constraint: instance of the [constraints](../constraints.md) module,
            applied to the bias.
        bias: whether to include a bias
            (i.e. make the layer affine rather than linear).
        input_dim: dimensionality of the input (integer). This argument
            (or alternatively, the keyword argument `input_shape`)
            is required when using this layer as the first layer in a model.

    # Input shape
        nD tensor with shape: `(nb_samples, ..., input_dim)`.
        The most common situation would be
        a 2D input with shape `(nb_samples, input_dim)`.

    # Output shape
        nD tensor with shape: `(nb_samples, ..., output_dim)`.
        For instance, for a 2D input with shape `(nb_samples, input_dim)`,
        the output would have shape `(nb_samples, output_dim)`.
    """

    def __init__(
        self,
        output_dim,
        init="glorot_uniform",
        activation=None,
        weights=None,
        W_regularizer=None,
        b_regularizer=None,
        activity_regularizer=None,
        W_constraint=None,
        b_constraint=None,
        bias=True,
        input_dim=None,
        **kwargs,
    ):
        self.init = initializations.get(init)
        self.activation = activations.get(activation)
        self.output_dim = output_dim

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
        vector_input(self, input_dim, kwargs, ndim="2+")
        super().__init__(**kwargs)

    def build(self, input_shape):
        self._check_rank(input_shape)
        input_dim = _set_input_dim(self, input_shape)
        self.input_spec = [InputSpec(dtype=None, ndim="2+")]

        add_W_b(self, (input_dim, self.output_dim), (self.output_dim,))

        finish_build(self)

    def call(self, x, mask=None):
        _check_last_dim(self, x, self.input_dim)
        output = K.dot(x, self.W)
        return bias_activation(self, output)

    def _check_rank(self, input_shape):
        if not input_shape or len(input_shape) < 2:
            raise ValueError(
                "Layer " + self.name + " expects an input of rank >= 2, got shape " + str(input_shape)
            )

    def get_output_shape_for(self, input_shape):
        self._check_rank(input_shape)
        if input_shape[-1] is not None and self.input_dim and input_shape[-1] != self.input_dim:
            raise ValueError(
                "Layer "
                + self.name
                + " was built for inputs of last dimension "
                + str(self.input_dim)
                + ", got input shape "
                + str(tuple(input_shape))
            )
        output_shape = list(input_shape)
        output_shape[-1] = self.output_dim
        return tuple(output_shape)

    def get_config(self):
        return merged_config(super().get_config(), _dense_config(self))


def _dense_config(layer):
    """Dense's ``get_config`` entries, which TimeDistributedDense extends."""
    return {
        "output_dim": layer.output_dim,
        "init": layer.init.__name__,
        "activation": layer.activation.__name__,
        **weight_config(layer),
        "bias": layer.bias,
        "input_dim": layer.input_dim,
    }


class ActivityRegularization(Layer):
    """Layer that passes through its input unchanged, but applies an update to the cost
    function based on the activity (`l1 * sum(|x|) + l2 * sum(x**2)`).

    # Arguments
        l1: L1 regularization factor (positive float).
        l2: L2 regularization factor (positive float).

    # Input shape
        Arbitrary.

    # Output shape
        Same as the input.
    """

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        self.supports_masking = True
        self.l1 = l1
        self.l2 = l2
        super().__init__(**kwargs)
        self.activity_regularizer = regularizers.L1L2Regularizer(l1=l1, l2=l2)

    def get_config(self):
        return merged_config(super().get_config(), {"l1": self.l1, "l2": self.l2})


@shared_docs(weight_args=WEIGHT_ARGS_DOC)
class MaxoutDense(Layer):
    """A dense maxout layer.

    A `MaxoutDense` layer takes the element-wise maximum of `nb_feature` `Dense(input_dim,
    output_dim)` linear layers. This allows the layer to learn a convex, piecewise
    linear activation function over the inputs. Note that this is a *linear* layer; if
    you wish to apply an activation function (you shouldn't need to: they are universal
    function approximators), an `Activation` layer must be added after.

    # Arguments
        output_dim: int > 0.
        nb_feature: number of Dense layers to use internally.
        init: name of initialization function for the weights of the layer, or a
            function. Only relevant if you don't pass a `weights` argument.
        weights: list of Numpy arrays to set as initial weights: `W` of shape
            `(nb_feature, input_dim, output_dim)` and `b` of shape
            `(nb_feature, output_dim)`.
        {weight_args}
        input_dim: dimensionality of the input (integer); required when using this
            layer as the first layer in a model (or `input_shape`).

    # Input shape
        2D tensor with shape: `(nb_samples, input_dim)`.

    # Output shape
        2D tensor with shape: `(nb_samples, output_dim)`.

    # References
        - [Maxout Networks](http://arxiv.org/abs/1302.4389)
    """

    def __init__(
        self,
        output_dim,
        nb_feature=4,
        init="glorot_uniform",
        weights=None,
        W_regularizer=None,
        b_regularizer=None,
        activity_regularizer=None,
        W_constraint=None,
        b_constraint=None,
        bias=True,
        input_dim=None,
        **kwargs,
    ):
        self.output_dim = output_dim
        self.nb_feature = nb_feature
        self.init = initializations.get(init)

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
        vector_input(self, input_dim, kwargs)
        super().__init__(**kwargs)

    def build(self, input_shape):
        input_dim = _fix_vector_input(self, input_shape)

        add_W_b(self, (self.nb_feature, input_dim, self.output_dim), (self.nb_feature, self.output_dim))

        finish_build(self)

    def get_output_shape_for(self, input_shape):
        assert input_shape and len(input_shape) == 2
        return (input_shape[0], self.output_dim)

    def call(self, x, mask=None):
        # (batch, input_dim) . (nb_feature, input_dim, output_dim) -> (batch, nb_feature, output_dim)
        output = K.dot(x, self.W)
        if self.bias:
            output = output + self.b
        return K.max(output, axis=1)

    def get_config(self):
        config = {
            "output_dim": self.output_dim,
            "init": self.init.__name__,
            "nb_feature": self.nb_feature,
            **weight_config(self),
            "bias": self.bias,
            "input_dim": self.input_dim,
        }
        return merged_config(super().get_config(), config)


@shared_docs(weight_args=WEIGHT_ARGS_DOC)
class Highway(Layer):
    """Densely connected highway network, a natural extension of LSTMs to feedforward
    networks: `y = T * activation(x . W + b) + (1 - T) * x` with the transform gate
    `T = sigmoid(x . W_carry + b_carry)`.

    # Arguments
        init: name of initialization function for the weights of the layer, or a
            function. Only relevant if you don't pass a `weights` argument.
        activation: name of activation function to use, or an elementwise function.
            If you don't specify anything, no activation is applied ("linear").
        weights: list of Numpy arrays to set as initial weights: `W`, `W_carry` of
            shape `(input_dim, input_dim)` and `b`, `b_carry` of shape `(input_dim,)`.
        {weight_args}
        input_dim: dimensionality of the input (integer); required when using this
            layer as the first layer in a model (or `input_shape`).

    # Input shape
        2D tensor with shape: `(nb_samples, input_dim)`.

    # Output shape
        2D tensor with shape: `(nb_samples, input_dim)`.

    # References
        - [Highway Networks](http://arxiv.org/abs/1505.00387v2)
    """

    def __init__(
        self,
        init="glorot_uniform",
        activation=None,
        weights=None,
        W_regularizer=None,
        b_regularizer=None,
        activity_regularizer=None,
        W_constraint=None,
        b_constraint=None,
        bias=True,
        input_dim=None,
        **kwargs,
    ):
        if "transform_bias" in kwargs:
            kwargs.pop("transform_bias")
            warnings.warn(
                "`transform_bias` argument is deprecated and will be removed after 5/2017.", stacklevel=2
            )
        self.init = initializations.get(init)
        self.activation = activations.get(activation)

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
        vector_input(self, input_dim, kwargs)
        super().__init__(**kwargs)

    def build(self, input_shape):
        input_dim = _fix_vector_input(self, input_shape)

        # Keras 1's weight order is W, W_carry, b, b_carry (add_W_b would put b second).
        add_W(self, (input_dim, input_dim))
        self.W_carry = self.add_weight(
            (input_dim, input_dim), initializer=self.init, name=f"{self.name}_W_carry"
        )
        add_bias(self, (input_dim,))
        self.b_carry = None
        if self.bias:
            self.b_carry = self.add_weight((input_dim,), initializer="one", name=f"{self.name}_b_carry")

        finish_build(self)

    def call(self, x, mask=None):
        gate = K.dot(x, self.W_carry)
        if self.bias:
            gate = K.bias_add(gate, self.b_carry)
        transform_weight = activations.sigmoid(gate)
        y = K.dot(x, self.W)
        if self.bias:
            y = K.bias_add(y, self.b)
        act = self.activation(y)
        # T * act + (1 - T) * x  ==  x + T * (act - x)
        return x + transform_weight * (act - x)

    def get_config(self):
        config = {
            "init": self.init.__name__,
            "activation": self.activation.__name__,
            **weight_config(self),
            "bias": self.bias,
            "input_dim": self.input_dim,
        }
        return merged_config(super().get_config(), config)


@shared_docs(weight_args=WEIGHT_ARGS_DOC)
class TimeDistributedDense(Layer):
    """Applies the same Dense layer to every timestep of a 3-D input (deprecated in
    Keras 1: a `Dense` layer applies to the last axis of any input).

    # Arguments
        output_dim: int > 0.
        init: name of initialization function for the weights of the layer, or a
            function. Only relevant if you don't pass a `weights` argument.
        activation: name of activation function to use, or an elementwise function.
            If you don't specify anything, no activation is applied ("linear").
        weights: list of Numpy arrays to set as initial weights: `W` of shape
            `(input_dim, output_dim)` and `b` of shape `(output_dim,)`.
        {weight_args}
        input_dim: dimensionality of the input (integer).
        input_length: length of the input sequences (integer), or None.

    # Input shape
        3D tensor with shape `(nb_sample, time_dimension, input_dim)`.

    # Output shape
        3D tensor with shape `(nb_sample, time_dimension, output_dim)`.
    """

    def __init__(
        self,
        output_dim,
        init="glorot_uniform",
        activation=None,
        weights=None,
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
        warnings.warn(
            "`TimeDistributedDense` is deprecated, And will be removed on May 1st, 2017. "
            "Please use a `Dense` layer instead.",
            stacklevel=2,
        )
        self.output_dim = output_dim
        self.init = initializations.get(init)
        self.activation = activations.get(activation)

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
        self.supports_masking = True
        temporal_input(self, input_dim, input_length, kwargs)
        super().__init__(**kwargs)

    def build(self, input_shape):
        self.input_spec = [InputSpec(shape=(None,) + tuple(input_shape[1:]))]
        input_dim = _set_input_dim(self, input_shape, axis=2)

        add_W_b(self, (input_dim, self.output_dim), (self.output_dim,))

        finish_build(self)

    def get_output_shape_for(self, input_shape):
        return (input_shape[0], input_shape[1], self.output_dim)

    def call(self, x, mask=None):
        # One matmul over the last axis for all timesteps at once.
        output = K.dot(x, self.W)
        return bias_activation(self, output)

    def get_config(self):
        return merged_config(super().get_config(), {**_dense_config(self), "input_length": self.input_length})
