"""Argument and input-shape checks the spatial layers share (convolution, pooling,
locally-connected, convolutional recurrent): the dim ordering, positive integer
tuples, the input's rank, the spatial sizes of a 5-D input."""

from .. import backend as K


def resolve_ordering(dim_ordering):
    """``'th'`` or ``'tf'`` (``'default'``: ``K.image_dim_ordering()``); a ValueError
    for anything else."""
    if dim_ordering == "default":
        dim_ordering = K.image_dim_ordering()
    if dim_ordering not in {"tf", "th"}:
        raise ValueError("dim_ordering must be in {tf, th}, got " + str(dim_ordering))
    return dim_ordering


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


def check_rank(layer, input_shape, ndim, what=""):
    """A ValueError naming the layer when ``input_shape`` is not of rank ``ndim``
    (``what`` describes the expected axes)."""
    if input_shape is None or len(input_shape) != ndim:
        raise ValueError(
            f"Layer {layer.name} ({layer.__class__.__name__}) expects a {ndim}-D input"
            f"{' ' + what if what else ''}, got shape {tuple(input_shape or ())}"
        )


def spatial3(layer, input_shape):
    """The three spatial sizes of a 5-D input in the layer's ``dim_ordering``."""
    if layer.dim_ordering == "th":
        return tuple(input_shape[2:5])
    return tuple(input_shape[1:4])
