"""Pooling layers (``keras.layers.pooling``), Keras 1.2.2.

MaxPooling1D/2D/3D, AveragePooling1D/2D/3D and GlobalMax/GlobalAveragePooling1D/2D/3D,
with Keras 1's arguments, defaults and ``get_config()`` keys. 2-D and 3-D pooling are one
engine node each (``maxpool2d``/``maxpool3d`` keep their argmax for the backward;
``avgpool2d``/``avgpool3d``); 'same' pads as TensorFlow does, and padding never wins a
max nor counts in an average.
"""

from .. import backend as K
from ..engine.topology import InputSpec, Layer, merged_config
from ..utils.np_utils import conv_output_length
from ._spatial import check_rank, checked_build, positive_ints, resolve_ordering

__all__ = [
    "MaxPooling1D",
    "MaxPooling2D",
    "MaxPooling3D",
    "AveragePooling1D",
    "AveragePooling2D",
    "AveragePooling3D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "GlobalMaxPooling3D",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalAveragePooling3D",
]


def _pool_len(layer, length, pool, border_mode, stride, input_shape):
    if length is None:
        return None
    if border_mode == "valid" and pool > length:
        hint = ""
        ordering = getattr(layer, "dim_ordering", None)
        if ordering is not None:
            hint = f" (dim_ordering={ordering!r}; are the channels in the wrong place?)"
        raise ValueError(
            f"Layer {layer.name} ({layer.__class__.__name__}): pool size {pool} is larger than the "
            f"input size {length} (border_mode='valid'), input shape {tuple(input_shape)}{hint}"
        )
    out = conv_output_length(length, pool, border_mode, stride)
    if out <= 0:
        raise ValueError(
            f"Layer {layer.name} ({layer.__class__.__name__}): empty output for input shape "
            f"{tuple(input_shape)}"
        )
    return out


class _Pooling1D(Layer):
    """Abstract class for the 1-D pooling layers."""

    _mode = "max"

    def __init__(self, pool_length=2, stride=None, border_mode="valid", **kwargs):
        super().__init__(**kwargs)
        if stride is None:
            stride = pool_length
        if border_mode not in {"valid", "same"}:
            raise ValueError("`border_mode` must be in {valid, same}, got " + str(border_mode))
        self.pool_length = positive_ints(pool_length, None, "pool_length", self.__class__.__name__)
        self.stride = positive_ints(stride, None, "stride", self.__class__.__name__)
        self.st = (self.stride, 1)
        self.pool_size = (self.pool_length, 1)
        self.border_mode = border_mode
        self.input_spec = [InputSpec(ndim=3)]

    def get_output_shape_for(self, input_shape):
        check_rank(self, input_shape, 3)
        length = _pool_len(self, input_shape[1], self.pool_length, self.border_mode, self.stride, input_shape)
        return (input_shape[0], length, input_shape[2])

    build = checked_build

    def call(self, x, mask=None):
        x = K.expand_dims(x, 2)  # (samples, steps, 1, features)
        output = K.pool2d(
            x,
            pool_size=self.pool_size,
            strides=self.st,
            border_mode=self.border_mode,
            dim_ordering="tf",
            pool_mode=self._mode,
        )
        return K.squeeze(output, 2)

    def get_config(self):
        return merged_config(
            super().get_config(),
            {"stride": self.stride, "pool_length": self.pool_length, "border_mode": self.border_mode},
        )


class MaxPooling1D(_Pooling1D):
    """Max pooling operation for temporal data.

    # Input shape
        3D tensor with shape: `(samples, steps, features)`.
    # Output shape
        3D tensor with shape: `(samples, downsampled_steps, features)`.
    # Arguments
        pool_length: size of the region to which max pooling is applied
        stride: integer, or None. factor by which to downscale (default: pool_length).
        border_mode: 'valid' or 'same'.
    """

    _mode = "max"


class AveragePooling1D(_Pooling1D):
    """Average pooling for temporal data (arguments as MaxPooling1D)."""

    _mode = "avg"


class _SpatialPooling(Layer):
    """Abstract class for the 2-D and 3-D pooling layers: ``_rank`` spatial axes, one
    engine node (``K.pool2d`` / ``K.pool3d``)."""

    _mode = "max"
    _rank = 2

    def __init__(self, pool_size, strides, border_mode, dim_ordering, **kwargs):
        super().__init__(**kwargs)
        n = self._rank
        self.pool_size = positive_ints(pool_size, n, "pool_size", self.__class__.__name__)
        if strides is None:
            strides = self.pool_size
        self.strides = positive_ints(strides, n, "strides", self.__class__.__name__)
        if border_mode not in {"valid", "same"}:
            raise ValueError("`border_mode` must be in {valid, same}, got " + str(border_mode))
        self.border_mode = border_mode
        self.dim_ordering = resolve_ordering(dim_ordering)
        self.input_spec = [InputSpec(ndim=n + 2)]

    def get_output_shape_for(self, input_shape):
        check_rank(self, input_shape, self._rank + 2)
        first = 2 if self.dim_ordering == "th" else 1
        spatial = tuple(
            _pool_len(self, length, p, self.border_mode, s, input_shape)
            for length, p, s in zip(input_shape[first : first + self._rank], self.pool_size, self.strides)
        )
        if self.dim_ordering == "th":
            return (input_shape[0], input_shape[1]) + spatial
        return (input_shape[0],) + spatial + (input_shape[-1],)

    build = checked_build

    def call(self, x, mask=None):
        pool = K.pool2d if self._rank == 2 else K.pool3d
        return pool(
            x,
            pool_size=self.pool_size,
            strides=self.strides,
            border_mode=self.border_mode,
            dim_ordering=self.dim_ordering,
            pool_mode=self._mode,
        )

    def get_config(self):
        config = {
            "pool_size": self.pool_size,
            "border_mode": self.border_mode,
            "strides": self.strides,
            "dim_ordering": self.dim_ordering,
        }
        return merged_config(super().get_config(), config)


class _Pooling2D(_SpatialPooling):
    """Abstract class for the 2-D pooling layers."""

    def __init__(self, pool_size=(2, 2), strides=None, border_mode="valid", dim_ordering="default", **kwargs):
        super().__init__(pool_size, strides, border_mode, dim_ordering, **kwargs)


class MaxPooling2D(_Pooling2D):
    """Max pooling operation for spatial data.

    # Arguments
        pool_size: tuple of 2 integers, factors by which to downscale (vertical, horizontal).
        strides: tuple of 2 integers, or None. Strides values (default: pool_size).
        border_mode: 'valid' or 'same'.
        dim_ordering: 'th', 'tf' or 'default'.
    """

    _mode = "max"


class AveragePooling2D(_Pooling2D):
    """Average pooling operation for spatial data (arguments as MaxPooling2D)."""

    _mode = "avg"


class _GlobalPooling1D(Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.input_spec = [InputSpec(ndim=3)]

    def get_output_shape_for(self, input_shape):
        check_rank(self, input_shape, 3)
        return (input_shape[0], input_shape[2])


class GlobalAveragePooling1D(_GlobalPooling1D):
    """Global average pooling operation for temporal data: (samples, steps, features)
    -> (samples, features)."""

    def call(self, x, mask=None):
        return K.mean(x, axis=1)


class GlobalMaxPooling1D(_GlobalPooling1D):
    """Global max pooling operation for temporal data: (samples, steps, features)
    -> (samples, features)."""

    def call(self, x, mask=None):
        return K.max(x, axis=1)


class _GlobalSpatialPooling(Layer):
    """Abstract class for the 2-D and 3-D global pooling layers (``_rank`` spatial
    axes reduced)."""

    _rank = 2

    def __init__(self, dim_ordering="default", **kwargs):
        super().__init__(**kwargs)
        self.dim_ordering = resolve_ordering(dim_ordering)
        self.input_spec = [InputSpec(ndim=self._rank + 2)]

    def get_output_shape_for(self, input_shape):
        check_rank(self, input_shape, self._rank + 2)
        if self.dim_ordering == "tf":
            return (input_shape[0], input_shape[-1])
        return (input_shape[0], input_shape[1])

    def _axes(self):
        first = 1 if self.dim_ordering == "tf" else 2
        return list(range(first, first + self._rank))

    def get_config(self):
        return merged_config(super().get_config(), {"dim_ordering": self.dim_ordering})


class _GlobalPooling2D(_GlobalSpatialPooling):
    _rank = 2


class GlobalAveragePooling2D(_GlobalPooling2D):
    """Global average pooling operation for spatial data: 4D input -> (samples,
    channels)."""

    def call(self, x, mask=None):
        return K.mean(x, axis=self._axes())


class GlobalMaxPooling2D(_GlobalPooling2D):
    """Global max pooling operation for spatial data: 4D input -> (samples,
    channels)."""

    def call(self, x, mask=None):
        return K.max(x, axis=self._axes())


# ---------------------------------------------------------------------------------------
# 3-D pooling (Keras 1.2.2): one engine node each (``maxpool3d`` keeps its argmax for the
# backward; ``avgpool3d``), 'same' padded as the 2-D layers; global pooling reduces the
# three spatial axes.


class _Pooling3D(_SpatialPooling):
    """Abstract class for the 3-D pooling layers."""

    _rank = 3

    def __init__(
        self, pool_size=(2, 2, 2), strides=None, border_mode="valid", dim_ordering="default", **kwargs
    ):
        super().__init__(pool_size, strides, border_mode, dim_ordering, **kwargs)


class MaxPooling3D(_Pooling3D):
    """Max pooling operation for 3D data (spatial or spatio-temporal).

    # Arguments
        pool_size: tuple of 3 integers, factors by which to downscale (dim1, dim2,
            dim3). (2, 2, 2) will halve the size of the 3D input in each dimension.
        strides: tuple of 3 integers, or None. Strides values (default: pool_size).
        border_mode: 'valid' or 'same'.
        dim_ordering: 'th' or 'tf'. In 'th' mode, the channels dimension (the depth)
            is at index 1, in 'tf' mode is it at index 4. It defaults to the
            `image_dim_ordering` value found in your Keras config file at
            `~/.keras/keras.json`.

    # Input shape
        5D tensor with shape `(samples, channels, len_pool_dim1, len_pool_dim2,
        len_pool_dim3)` if dim_ordering='th' or `(samples, len_pool_dim1,
        len_pool_dim2, len_pool_dim3, channels)` if dim_ordering='tf'.

    # Output shape
        5D tensor with shape `(nb_samples, channels, pooled_dim1, pooled_dim2,
        pooled_dim3)` if dim_ordering='th' or `(samples, pooled_dim1, pooled_dim2,
        pooled_dim3, channels)` if dim_ordering='tf'.
    """

    _mode = "max"


class AveragePooling3D(_Pooling3D):
    """Average pooling operation for 3D data (spatial or spatio-temporal); arguments,
    input and output shapes as MaxPooling3D."""

    _mode = "avg"


class _GlobalPooling3D(_GlobalSpatialPooling):
    _rank = 3


class GlobalAveragePooling3D(_GlobalPooling3D):
    """Global Average pooling operation for 3D data: 5D input (channels at index 1
    for 'th', index 4 for 'tf') -> (samples, channels).

    # Arguments
        dim_ordering: 'th' or 'tf' (default: `K.image_dim_ordering()`).
    """

    def call(self, x, mask=None):
        return K.mean(x, axis=self._axes())


class GlobalMaxPooling3D(_GlobalPooling3D):
    """Global Max pooling operation for 3D data: 5D input (channels at index 1 for
    'th', index 4 for 'tf') -> (samples, channels).

    # Arguments
        dim_ordering: 'th' or 'tf' (default: `K.image_dim_ordering()`).
    """

    def call(self, x, mask=None):
        return K.max(x, axis=self._axes())
