"""Argument and input-shape checks the layers share: the dim ordering, border modes,
positive integer tuples, the input's rank, the spatial and channel axes in either
ordering, the window keywords of the ``K`` ops, and Keras 1's ``input_dim`` /
``input_length`` arguments."""

from .. import backend as K
from ..engine.topology import InputSpec


def resolve_ordering(dim_ordering):
    """``'th'`` or ``'tf'`` (``'default'``: ``K.image_dim_ordering()``); a ValueError
    for anything else."""
    if dim_ordering == "default":
        dim_ordering = K.image_dim_ordering()
    if dim_ordering not in {"tf", "th"}:
        raise ValueError("dim_ordering must be in {tf, th}, got " + str(dim_ordering))
    return dim_ordering


def checked_build(layer, input_shape):
    """``build`` of a layer without weights (the poolings, the croppings):
    ``get_output_shape_for`` raises its ValueError for an input the layer cannot take,
    then the layer is built."""
    layer.get_output_shape_for(input_shape)
    layer.built = True


BORDER_MODES = ("valid", "same", "full")


def check_border_mode(owner, border_mode, modes=BORDER_MODES):
    """A ValueError (Keras 1's message) for a ``border_mode`` not in ``modes``."""
    if border_mode in modes:
        return
    if len(modes) == 1:
        raise ValueError(
            f"Invalid border mode for {owner} (only {modes[0]!r} is supported): {border_mode!r}; "
            "use ZeroPadding to get 'same'-sized outputs"
        )
    raise ValueError(f"Invalid border mode for {owner}: {border_mode}")


def channel_axis(layer):
    """The channel axis of the layer's ``dim_ordering``: 1 ('th') or -1 ('tf')."""
    return 1 if layer.dim_ordering == "th" else -1


def window_args(layer):
    """The ``strides``, ``border_mode`` and ``dim_ordering`` keywords of the ``K``
    convolution or pooling op a spatial layer runs."""
    return {"strides": layer.subsample, "border_mode": layer.border_mode, "dim_ordering": layer.dim_ordering}


def temporal_input(layer, input_dim, input_length, kwargs):
    """Keras 1's ``input_dim`` / ``input_length`` arguments of a layer on (samples,
    steps, features) inputs: stored, and an ``input_dim`` turned into the
    ``input_shape`` keyword of ``kwargs`` (the Layer's); the layer takes 3-D inputs."""
    layer.input_spec = [InputSpec(ndim=3)]
    layer.input_dim = input_dim
    layer.input_length = input_length
    if layer.input_dim:
        kwargs["input_shape"] = (layer.input_length, layer.input_dim)


def vector_input(layer, input_dim, kwargs, ndim=2):
    """Keras 1's ``input_dim`` argument of a layer on (samples, features) inputs:
    stored, and when given turned into the ``input_shape`` keyword of ``kwargs``; the
    layer takes inputs of rank ``ndim`` (an int, or '2+' for 2 or more)."""
    layer.input_spec = [InputSpec(ndim=ndim)]
    layer.input_dim = input_dim
    if layer.input_dim:
        kwargs["input_shape"] = (layer.input_dim,)


def positive_ints(value, n, name, owner):
    """`value` as a tuple of `n` integers >= 1 (one integer when `n` is None); a ValueError
    naming the argument otherwise (a stride, pool or kernel step of 0 would divide by
    zero later)."""
    items = (value,) if n is None else value
    try:
        items = tuple(items)
        ok = len(items) == (n or 1) and all(
            not isinstance(v, bool) and int(v) == v and int(v) >= 1 for v in items
        )
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        what = "a positive integer" if n is None else f"a tuple of {n} positive integers"
        raise ValueError(f"{owner}: `{name}` must be {what}, got {value!r}")
    ints = tuple(int(v) for v in items)
    return ints[0] if n is None else ints


def temporal_input_dim(layer, input_shape):
    """The ``input_dim`` (last axis) of a (samples, steps, input_dim) input; a ValueError
    naming the layer for another rank or an unknown last axis."""
    check_rank(layer, input_shape, 3, "(samples, steps, input_dim)")
    if input_shape[2] is None:
        raise ValueError(
            f"Layer {layer.name} ({layer.__class__.__name__}) needs the last axis of its input "
            f"to be known, got input shape {tuple(input_shape)}"
        )
    return input_shape[2]


def check_rank(layer, input_shape, ndim, what=""):
    """A ValueError naming the layer when ``input_shape`` is not of rank ``ndim``
    (``what`` describes the expected axes)."""
    if input_shape is None or len(input_shape) != ndim:
        raise ValueError(
            f"Layer {layer.name} ({layer.__class__.__name__}) expects a {ndim}-D input"
            f"{' ' + what if what else ''}, got shape {tuple(input_shape or ())}"
        )


def check_built_size(layer, input_shape, axis, size, name):
    """A ValueError naming the layer when axis ``axis`` of ``input_shape`` is known and is
    not ``size``, the layer's ``name`` argument (no check when ``size`` is not set)."""
    if size and input_shape[axis] is not None and input_shape[axis] != size:
        raise ValueError(
            f"Layer {layer.name} ({layer.__class__.__name__}) was built for {name}={size}, "
            f"got input shape {tuple(input_shape)}"
        )


def spatial_sizes(layer, input_shape):
    """The spatial sizes of an input in the layer's ``dim_ordering`` (all the axes but
    the samples and the channels)."""
    if layer.dim_ordering == "th":
        return tuple(input_shape[2:])
    return tuple(input_shape[1:-1])


def channels_of(layer, input_shape):
    """The channel count of an input in the layer's ``dim_ordering``."""
    return input_shape[1] if layer.dim_ordering == "th" else input_shape[-1]


def ordered_shape(layer, batch, channels, spatial):
    """A shape from its batch size, channel count and spatial sizes, in the layer's
    ``dim_ordering``."""
    if layer.dim_ordering == "th":
        return (batch, channels) + tuple(spatial)
    return (batch,) + tuple(spatial) + (channels,)


def image_axes(dim_ordering):
    """The axes of a 4-D input in ``dim_ordering``, for error messages."""
    return "(samples, channels, rows, cols)" if dim_ordering == "th" else "(samples, rows, cols, channels)"
