"""The Keras 1 backend API ("K") on the ferrokeras native graph.

Every function adds nodes to one native graph (the session); ``function`` compiles a
native Program from it and ``gradients`` adds gradient nodes computed by the engine's
reverse sweep. Tensors are :class:`Tensor` objects wrapping a node id; they support the
Python operators so that user lambdas such as ``lambda x, y: x - y`` build graph nodes.
"""

import contextvars
import numbers
import os as _os
import threading

import numpy as np

from .. import _native
from .common import epsilon, floatx, get_uid, reset_uids

# ---------------------------------------------------------------------------------------
# Session: one native graph


class _Session:
    def __init__(self):
        self.graph = _native.Graph()
        self.scalars = {}


_SESSION = _Session()
_LEARNING_PHASE_VALUE = None  # set_learning_phase(0|1) makes the phase a Python int


def _graph():
    return _SESSION.graph


def clear_session():
    """Drops the graph (every tensor and variable made so far) and resets layer names."""
    global _SESSION, _LEARNING_PHASE_VALUE
    _SESSION = _Session()
    _LEARNING_PHASE_VALUE = None
    reset_uids()


def backend():
    """The backend name: ``'ferrokeras'``."""
    return "ferrokeras"


def manual_variable_initialization(value):
    """Accepted for compatibility and ignored: ferrokeras variables are always
    initialised at creation (there is no session to initialise them later)."""


def get_session():
    raise NotImplementedError("get_session: TensorFlow sessions do not exist in ferrokeras")


def set_session(session):
    raise NotImplementedError("set_session: TensorFlow sessions do not exist in ferrokeras")


# ---------------------------------------------------------------------------------------
# Tensors


def _named(fn, name):
    """``fn`` under the K name ``name`` (for the functions made by a factory)."""
    fn.__name__ = fn.__qualname__ = name
    return fn


def _operators(op):
    """A tensor's operator ``x <op> o`` and its reflected form ``o <op> x`` (the engine's
    binary op ``op``)."""

    def forward(self, o):
        return _binary(op, self, o)

    def reflected(self, o):
        return _binary(op, o, self)

    return forward, reflected


class Tensor:
    """A symbolic tensor: a node of the native graph."""

    __array_priority__ = 1000  # numpy defers to our operators (np_array + tensor)

    def __init__(self, node, name=None, session=None):
        self._session = session or _SESSION
        self.node = node
        self.name = name or self._session.graph.name(node)

    # static type
    @property
    def dtype(self):
        return self._session.graph.info(self.node)[0]

    @property
    def ndim(self):
        return len(self._session.graph.info(self.node)[1])

    def _static_shape(self):
        return tuple(self._session.graph.info(self.node)[1])

    def get_shape(self):
        return _StaticShape(self._static_shape())

    def __repr__(self):
        return "<keras tensor %s shape=%s dtype=%s>" % (self.name, self._static_shape(), self.dtype)

    def __hash__(self):
        return id(self)

    def __bool__(self):
        raise TypeError("a symbolic tensor has no truth value (use K.switch or K.equal inside the graph)")

    # arithmetic
    __add__, __radd__ = _operators("add")
    __sub__, __rsub__ = _operators("sub")
    __mul__, __rmul__ = _operators("mul")
    __truediv__, __rtruediv__ = _operators("div")
    __div__ = __truediv__
    __rdiv__ = __rtruediv__

    def __pow__(self, o):
        if isinstance(o, numbers.Number):
            return pow(self, o)
        return exp(_binary("mul", _to_tensor(o), log(self)))

    def __rpow__(self, o):
        return exp(_binary("mul", self, log(_to_tensor(o))))

    def __neg__(self):
        return _unary("neg", self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _unary("abs", self)

    def __lt__(self, o):
        return less(self, o)

    def __le__(self, o):
        return less_equal(self, o)

    def __gt__(self, o):
        return greater(self, o)

    def __ge__(self, o):
        return greater_equal(self, o)

    def __getitem__(self, key):
        return _getitem(self, key)

    def __iter__(self):
        # Without this Python would iterate through __getitem__(0), (1), ... forever
        # on a dynamic axis; TensorFlow's tensors refuse iteration the same way.
        raise TypeError("a symbolic tensor is not iterable; index it (x[i]) or unstack it explicitly")


class Variable(Tensor):
    """A variable of the graph's store."""

    def eval(self):
        return get_value(self)


class _StaticShape(tuple):
    """What ``x.get_shape()`` returns: a tuple with TensorFlow's ``as_list()``."""

    def as_list(self):
        return list(self)


def is_keras_tensor(x):
    """True for tensors produced by Keras layers (they carry ``_keras_shape``)."""
    return hasattr(x, "_keras_shape")


def _check_session(t):
    if t._session is not _SESSION:
        raise ValueError("tensor %r belongs to a graph dropped by K.clear_session(); rebuild it" % (t.name,))


def _constant_array(value, dtype=None):
    arr = np.asarray(value)
    if dtype is None:
        if arr.dtype.kind in "iu":
            dtype = "int32" if arr.ndim > 0 else floatx()
        elif arr.dtype.kind == "b":
            dtype = floatx()
        elif arr.dtype.kind == "f":
            dtype = floatx()
        else:
            raise TypeError("cannot make a tensor from an array of dtype %s" % arr.dtype)
    return as_engine_array(arr, dtype)


def as_engine_array(arr, dtype):
    """An array as the engine takes it: C-contiguous float32, or int32 for an integer
    ``dtype`` (checked: finite, within int32). An array that already is one is returned
    without a copy, so data converted once (as ``fit`` does) is not converted again per
    batch.

    # Arguments
        arr: a numpy array, or anything ``np.asarray`` takes (numbers, lists).
        dtype: the dtype of the placeholder it feeds (``'float32'``, ``'int32'``, ...).

    # Returns
        A numpy array for ``Function.run``.

    # Raises
        TypeError: for non-numeric data.
        ValueError: for NaN / infinite values or values outside int32 for an integer
            ``dtype``.
    """
    if dtype in ("int32", "int64", "int16", "int8", "uint8", "uint16", "uint32"):
        a = np.asarray(arr)
        if a.dtype.kind == "f":
            if not np.all(np.isfinite(a)):
                raise ValueError("cannot convert NaN or infinite values to int32")
        elif a.dtype.kind not in "iub":
            raise TypeError("expected numeric data, got an array of dtype %s" % a.dtype)
        if a.size and (a.min() < -(2**31) or a.max() >= 2**31):
            raise ValueError("integer values out of int32 range")
        return np.asarray(a, dtype=np.int32, order="C")  # keeps 0-d (ascontiguousarray makes it 1-d)
    a = np.asarray(arr)
    if a.dtype.kind not in "fiub":
        raise TypeError("expected numeric data, got an array of dtype %s" % a.dtype)
    return np.asarray(a, dtype=np.float32, order="C")


def _to_tensor(x, dtype=None):
    if isinstance(x, Tensor):
        _check_session(x)
        return x
    if isinstance(x, numbers.Number) and dtype is None:
        key = float(x)
        cache = _SESSION.scalars
        if key not in cache or cache[key]._session is not _SESSION:
            cache[key] = Tensor(_graph().constant(np.asarray(key, np.float32), "const"))
        return cache[key]
    return Tensor(_graph().constant(_constant_array(x, dtype), "const"))


def _op(name, inputs, **attrs):
    ins = [_to_tensor(i).node for i in inputs]
    attrs = {k: v for k, v in attrs.items() if v is not None}
    out = Tensor(_graph().op(name, ins, attrs))
    if "seed" in attrs:
        record = _RANDOM_RECORD.get()
        if record is not None:
            record.tensors.append(out)  # a random node made by a layer call
    return out


def _float(x):
    x = _to_tensor(x)
    if x.dtype != "float32":
        return cast(x, "float32")
    return x


def _unary(name, x, **attrs):
    return _op(name, [_float(x)], **attrs)


def _binary(name, a, b):
    a, b = _to_tensor(a), _to_tensor(b)
    if a.dtype != b.dtype or a.dtype != "int32" or name not in _COMPARISONS:
        a, b = _float(a), _float(b)
    return _op(name, [a, b])


_COMPARISONS = {"equal", "not_equal", "greater", "greater_equal", "less", "less_equal"}


def _axes(axis, ndim_):
    if axis is None:
        return None
    if isinstance(axis, (list, tuple)):
        return [int(a) % ndim_ if ndim_ else int(a) for a in axis]
    return [int(axis)]


# ---------------------------------------------------------------------------------------
# Variables, placeholders, constants


def variable(value, dtype=None, name=None):
    """A variable initialised from a numpy array (or scalar)."""
    dtype = dtype or floatx()
    if hasattr(value, "tocoo"):
        raise NotImplementedError("variable: sparse matrices are not supported by ferrokeras")
    arr = as_engine_array(np.asarray(value), dtype)
    name = name or "variable_%d" % get_uid("variable")
    return Variable(_graph().variable(arr, name), name)


def placeholder(shape=None, ndim=None, dtype=None, sparse=False, name=None):
    """A placeholder; unknown dimensions are None.

    ``sparse=True`` (Keras 1.2.2): ``K.is_sparse`` is True for it and ``K.function`` feeds
    it a ``scipy.sparse`` matrix; the engine computes on dense tensors, so the matrix is
    densified when fed and every op takes the placeholder as a dense tensor."""
    dtype = dtype or floatx()
    if shape is None:
        if ndim is None:
            raise ValueError("placeholder: give a shape or an ndim")
        shape = (None,) * ndim
    shape = [None if d is None else int(d) for d in shape]
    name = name or "placeholder_%d" % get_uid("placeholder")
    t = Tensor(
        _graph().placeholder(str(np.dtype(dtype).name if dtype != "bool" else "bool"), shape, name), name
    )
    t._keras_shape = tuple(shape)
    t._uses_learning_phase = False
    if sparse:
        t._is_sparse = True
    return t


def constant(value, dtype=None, shape=None, name=None):
    """A constant tensor."""
    arr = np.asarray(value)
    if shape is not None:
        arr = np.broadcast_to(arr, shape)
    return Tensor(_graph().constant(_constant_array(arr, dtype or floatx()), name or "constant"))


def is_sparse(tensor):
    """True for a placeholder made with ``sparse=True``."""
    return bool(getattr(tensor, "_is_sparse", False))


def to_dense(tensor):
    """The dense tensor of a sparse placeholder (the same graph node: the engine already
    holds it dense); any other tensor is returned as is."""
    if is_sparse(tensor):
        return Tensor(tensor.node, tensor.name, tensor._session)
    return tensor


def _is_scipy_sparse(x):
    """True for a scipy.sparse matrix or array; never imports scipy (a sparse value
    means scipy.sparse is already loaded)."""
    import sys

    sp = sys.modules.get("scipy.sparse")
    return sp is not None and sp.issparse(x)


def shape(x):
    """The symbolic shape of x as an int32 tensor."""
    return _op("shape_of", [x])


def int_shape(x):
    """The static shape as a tuple of ints / None."""
    if hasattr(x, "_keras_shape"):
        return tuple(x._keras_shape)
    return _to_tensor(x)._static_shape()


def ndim(x):
    """Rank of x."""
    return len(int_shape(x))


def dtype(x):
    """dtype name of x."""
    return _to_tensor(x).dtype


def eval(x):
    """Evaluates a tensor without inputs."""
    return function([], [x])([])[0]


def zeros(shape, dtype=None, name=None):
    return variable(np.zeros(shape), dtype, name)


def ones(shape, dtype=None, name=None):
    return variable(np.ones(shape), dtype, name)


def eye(size, dtype=None, name=None):
    return variable(np.eye(size), dtype, name)


def zeros_like(x, name=None):
    return _op("fill_like", [x], value=0.0)


def ones_like(x, name=None):
    return _op("fill_like", [x], value=1.0)


def random_uniform_variable(shape, low, high, dtype=None, name=None):
    return variable(np.random.uniform(low=low, high=high, size=shape), dtype, name)


def random_normal_variable(shape, mean, scale, dtype=None, name=None):
    return variable(np.random.normal(loc=mean, scale=scale, size=shape), dtype, name)


def count_params(x):
    """Number of scalars in a variable."""
    return int(np.prod(get_variable_shape(x)))


def cast(x, dtype):
    x = _to_tensor(x)
    if dtype == "int64":
        dtype = "int32"
    if x.dtype == dtype:
        return x
    return _op("cast", [x], dtype=dtype)


def get_value(x):
    """The value of a variable as a numpy array."""
    _check_variable(x, "get_value")
    return x._session.graph.get_value(x.node)


def batch_get_value(xs):
    return [get_value(x) for x in xs]


def set_value(x, value):
    """Writes a variable; the shape must match."""
    _check_variable(x, "set_value")
    arr = as_engine_array(np.asarray(value), x.dtype)
    x._session.graph.set_value(x.node, arr)


def batch_set_value(tuples):
    for x, value in tuples:
        set_value(x, value)


def get_variable_shape(x):
    _check_variable(x, "get_variable_shape")
    return tuple(x._static_shape())


def _check_variable(x, fn):
    if not isinstance(x, Variable):
        raise TypeError("%s: expected a variable (K.variable), got %r" % (fn, x))


def print_tensor(x, message=""):
    """Identity that prints ``message`` and the value to stderr each time it is computed."""
    return _op("print", [x], message=str(message))


# ---------------------------------------------------------------------------------------
# Updates


def update(x, new_x):
    return (x, new_x)


def update_add(x, increment):
    return (x, x + increment)


def update_sub(x, decrement):
    return (x, x - decrement)


def moving_average_update(variable, value, momentum):
    return (variable, variable * momentum + value * (1.0 - momentum))


# ---------------------------------------------------------------------------------------
# Linear algebra


def dot(x, y):
    """Keras ``K.dot``: contracts the last axis of x with the second-to-last of y."""
    x, y = _float(x), _float(y)
    if y.ndim == 2:
        return _op("matmul", [x, y])
    if y.ndim < 2 or x.ndim < 1:
        raise ValueError("dot: operands of rank %d and %d are not supported" % (x.ndim, y.ndim))
    ys = [d for d in y._static_shape()]
    if builtins_any(d is None for d in ys):
        raise ValueError("dot: the right operand must have a fully known shape, got %s" % (ys,))
    nd = y.ndim
    pattern = [nd - 2] + [i for i in range(nd) if i != nd - 2]
    y2 = reshape(permute_dimensions(y, pattern), (ys[nd - 2], -1))
    out = _op("matmul", [x, y2])
    xs = [(-1 if d is None else d) for d in x._static_shape()[:-1]]
    return reshape(out, xs + ys[:-2] + [ys[-1]])


def batch_dot(x, y, axes=None):
    """Batchwise dot product (Keras 1.2.2 semantics)."""
    x, y = _float(x), _float(y)
    if isinstance(axes, int):
        axes = (axes, axes)
    if axes is None:
        axes = [x.ndim - 1, y.ndim - 2]
    axes = [a % n for a, n in zip(axes, (x.ndim, y.ndim))]
    if x.ndim == 2 and y.ndim == 2:
        if axes[0] == axes[1]:
            out = sum(x * y, axis=axes[0])
        else:
            out = sum(transpose(x) * y, axis=axes[1])
    else:
        if x.ndim != 3 or y.ndim != 3:
            raise NotImplementedError("batch_dot: only 2-D and 3-D operands are supported")
        ta = axes[0] != x.ndim - 1
        tb = axes[1] == y.ndim - 1
        out = batch_matmul(x, y, transpose_a=ta, transpose_b=tb)
    if out.ndim == 1:
        out = expand_dims(out, 1)
    return out


def transpose(x):
    return permute_dimensions(x, list(range(_to_tensor(x).ndim))[::-1])


def gather(reference, indices):
    """Rows of ``reference`` picked by integer ``indices``."""
    indices = _to_tensor(indices)
    if indices.dtype != "int32":
        indices = cast(indices, "int32")
    return _op("gather", [_float(reference), indices])


# ---------------------------------------------------------------------------------------
# Elementwise math


def _reduce(name, x, axis, keepdims):
    x = _float(x)
    return _op(name, [x], axis=_axes(axis, x.ndim), keepdims=bool(keepdims))


def _reduction(name):
    """The K reduction ``name(x, axis=None, keepdims=False)`` (the engine op ``name``)."""

    def reduce(x, axis=None, keepdims=False):
        return _reduce(name, x, axis, keepdims)

    return _named(reduce, name)


max, min, sum, prod, mean, var, std, any, all = map(
    _reduction, ("max", "min", "sum", "prod", "mean", "var", "std", "any", "all")
)


def argmax(x, axis=-1):
    return _op("argmax", [_float(x)], axis=int(axis))


def argmin(x, axis=-1):
    return _op("argmin", [_float(x)], axis=int(axis))


def _elementwise(name):
    """The K function ``name(x)`` of the engine's elementwise op ``name``."""

    def apply(x):
        return _unary(name, x)

    return _named(apply, name)


square, abs, sqrt, exp, log, round, sign = map(
    _elementwise, ("square", "abs", "sqrt", "exp", "log", "round", "sign")
)


def pow(x, a):
    return _unary("pow", x, a=float(a))


def clip(x, min_value, max_value):
    if max_value is not None and min_value is not None and max_value < min_value:
        max_value = min_value
    return _unary(
        "clip",
        x,
        min_value=-np.inf if min_value is None else float(min_value),
        max_value=np.inf if max_value is None else float(max_value),
    )


def _pairwise(op, name=None):
    """The K function ``name(x, y)`` (default ``op``) of the engine's binary op ``op``."""

    def apply(x, y):
        return _binary(op, x, y)

    return _named(apply, name or op)


equal, not_equal, greater, greater_equal, maximum, minimum = map(
    _pairwise, ("equal", "not_equal", "greater", "greater_equal", "maximum", "minimum")
)
lesser = _pairwise("less", "lesser")
lesser_equal = _pairwise("less_equal", "lesser_equal")
less = lesser
less_equal = lesser_equal
sin, cos = map(_elementwise, ("sin", "cos"))


def _feature_axis(x, reduction_axes):
    """The one axis of ``x`` not in ``reduction_axes``, or None when there is not
    exactly one (then the fused batch-norm ops do not apply)."""
    nd = x.ndim
    red = sorted({int(a) % nd for a in reduction_axes})
    keep = [i for i in range(nd) if i not in red]
    return keep[0] if len(keep) == 1 else None


def _is_feature_vector(v, x, axis):
    v = _to_tensor(v)
    return v.ndim == 1 and v._static_shape()[0] in (None, x._static_shape()[axis])


def normalize_batch_in_training(x, gamma, beta, reduction_axes, epsilon=1e-3):
    """Batch statistics over ``reduction_axes``; returns (normed, mean, var) with the
    biased batch variance. When one axis is kept and gamma/beta are vectors along it,
    the statistics are one ``batch_moments`` pass that the fused normalisation node
    reads (its gradient includes the path through the batch statistics)."""
    x = _float(x)
    axis = _feature_axis(x, reduction_axes)
    if axis is not None and _is_feature_vector(gamma, x, axis) and _is_feature_vector(beta, x, axis):
        both = _op("batch_moments", [x], axis=axis, stat="both")
        normed = _op(
            "batch_norm_train", [x, _float(gamma), _float(beta), both], axis=axis, epsilon=float(epsilon)
        )
        return normed, both[0], both[1]
    m = mean(x, axis=reduction_axes, keepdims=True)
    v = mean(square(x - m), axis=reduction_axes, keepdims=True)
    keep = [i for i in range(x.ndim) if i not in [a % x.ndim for a in reduction_axes]]
    bshape = [1] * x.ndim
    for i in keep:
        bshape[i] = -1 if x._static_shape()[i] is None else x._static_shape()[i]
    g = reshape(gamma, bshape)
    b = reshape(beta, bshape)
    normed = (x - m) / sqrt(v + epsilon) * g + b
    flat = [-1 if x._static_shape()[i] is None else x._static_shape()[i] for i in keep]
    return normed, reshape(m, flat), reshape(v, flat)


def batch_normalization_in_train_phase(x, gamma, beta, moving_mean, moving_var, axis, epsilon=1e-3):
    """BatchNormalization mode 0 as one normalisation node: batch statistics in the
    training phase, the moving ones in the test phase (what
    ``in_train_phase(normed, normed_running)`` computes, without evaluating both
    branches). The batch statistics, for the moving-average updates, are one
    ``batch_moments`` node that the normalisation reads in the training phase (one
    pass over x for both) and that skips its pass in the test phase.

    # Arguments
        x: a float tensor.
        gamma, beta: scale and offset vectors along ``axis``.
        moving_mean, moving_var: the moving statistics (vectors along ``axis``).
        axis: the feature axis of ``x`` (statistics are taken over every other axis).
        epsilon: added to the variance.

    # Returns
        ``(normed, batch_mean, batch_var)``: the biased batch variance.
    """
    x = _float(x)
    axis = int(axis) % x.ndim
    ins = [x, _float(gamma), _float(beta)]
    lp = learning_phase()
    if isinstance(lp, int):
        both = _op("batch_moments", [x], axis=axis, stat="both")
        if lp:
            out = _op("batch_norm_train", ins + [both], axis=axis, epsilon=float(epsilon))
        else:
            out = _op(
                "batch_norm",
                [x, _float(moving_mean), _float(moving_var), ins[1], ins[2]],
                axis=axis,
                epsilon=float(epsilon),
            )
        return out, both[0], both[1]
    both = _op("batch_moments", [x, lp], axis=axis, stat="both")
    out = _op(
        "batch_norm_train",
        ins + [_float(moving_mean), _float(moving_var), lp, both],
        axis=axis,
        epsilon=float(epsilon),
    )
    out._uses_learning_phase = True
    return out, both[0], both[1]


def batch_normalization(x, mean, var, beta, gamma, epsilon=1e-3):
    """(x - mean) / sqrt(var + epsilon) * gamma + beta. Vectors along the last axis (or
    tensors of x's rank that are 1 everywhere but one axis) make one fused engine node;
    anything else broadcasts elementwise."""
    x = _float(x)
    params = [_float(t) for t in (mean, var, gamma, beta)]
    axis = None
    if x.ndim >= 1 and _builtins.all(_is_feature_vector(p, x, x.ndim - 1) for p in params):
        axis = x.ndim - 1
        flat = params
    elif _builtins.all(p.ndim == x.ndim for p in params):
        shapes = {tuple(p._static_shape()) for p in params}
        if len(shapes) == 1:
            shp = shapes.pop()
            wide = [i for i, d in enumerate(shp) if d != 1]
            if len(wide) == 1 and shp[wide[0]] in (None, x._static_shape()[wide[0]]):
                axis = wide[0]
                flat = [reshape(p, (-1,)) for p in params]
    if axis is not None:
        m, v, g, b = flat
        return _op("batch_norm", [x, m, v, g, b], axis=axis, epsilon=float(epsilon))
    m, v, g, b = params
    return (x - m) / sqrt(v + epsilon) * g + b


# ---------------------------------------------------------------------------------------
# Shapes


def concatenate(tensors, axis=-1):
    tensors = [_to_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("concatenate: no tensors given")
    if builtins_any(t.dtype == "float32" for t in tensors) or len({t.dtype for t in tensors}) > 1:
        tensors = [_float(t) for t in tensors]
    return _op("concat", tensors, axis=int(axis))


def reshape(x, shape):
    shape = [int(d) if d is not None else -1 for d in shape]
    return _op("reshape", [x], shape=shape)


def permute_dimensions(x, pattern):
    return _op("permute", [x], pattern=[int(p) for p in pattern])


def resize_images(X, height_factor, width_factor, dim_ordering):
    if dim_ordering == "th":
        return repeat_elements(repeat_elements(X, height_factor, 2), width_factor, 3)
    if dim_ordering == "tf":
        return repeat_elements(repeat_elements(X, height_factor, 1), width_factor, 2)
    raise ValueError("Invalid dim_ordering:", dim_ordering)


def resize_volumes(X, depth_factor, height_factor, width_factor, dim_ordering):
    if dim_ordering == "th":
        axes = (2, 3, 4)
    elif dim_ordering == "tf":
        axes = (1, 2, 3)
    else:
        raise ValueError("Invalid dim_ordering:", dim_ordering)
    out = X
    for f, a in zip((depth_factor, height_factor, width_factor), axes):
        out = repeat_elements(out, f, a)
    return out


def repeat_elements(x, rep, axis):
    return _op("repeat_elements", [x], rep=int(rep), axis=int(axis))


def repeat(x, n):
    """(samples, dim) -> (samples, n, dim)."""
    return _op("repeat", [_float(x)], n=int(n))


def arange(start, stop=None, step=1, dtype="int32"):
    if stop is None:
        start, stop = 0, start
    return constant(np.arange(start, stop, step), dtype=dtype)


def tile(x, n):
    if isinstance(n, int):
        n = [n]
    return _op("tile", [x], n=[int(v) for v in n])


def flatten(x):
    return _op("flatten", [x])


def batch_flatten(x):
    return _op("batch_flatten", [x])


def expand_dims(x, dim=-1):
    return _op("expand_dims", [x], axis=int(dim))


def squeeze(x, axis):
    return _op("squeeze", [x], axis=int(axis))


def stack(x):
    return concatenate([expand_dims(t, 0) for t in x], axis=0)


def one_hot(indices, nb_classes):
    indices = _to_tensor(indices)
    if indices.dtype != "int32":
        indices = cast(indices, "int32")
    return _op("one_hot", [indices], nb_classes=int(nb_classes))


def reverse(x, axes):
    if isinstance(axes, int):
        axes = [axes]
    return _op("reverse", [x], axes=[int(a) for a in axes])


def _pad(x, pairs):
    pads = []
    for before, after in pairs:
        pads += [int(before), int(after)]
    return _op("pad", [x], pads=pads)


def temporal_padding(x, padding=1):
    return asymmetric_temporal_padding(x, padding, padding)


def asymmetric_temporal_padding(x, left_pad=1, right_pad=1):
    return _pad(x, [(0, 0), (left_pad, right_pad), (0, 0)])


def spatial_2d_padding(x, padding=(1, 1), dim_ordering="default"):
    return asymmetric_spatial_2d_padding(x, padding[0], padding[0], padding[1], padding[1], dim_ordering)


def _ordering(dim_ordering):
    from .common import image_dim_ordering

    if dim_ordering == "default":
        dim_ordering = image_dim_ordering()
    if dim_ordering not in {"th", "tf"}:
        raise ValueError("Unknown dim_ordering " + str(dim_ordering))
    return dim_ordering


def asymmetric_spatial_2d_padding(
    x, top_pad=1, bottom_pad=1, left_pad=1, right_pad=1, dim_ordering="default"
):
    if _ordering(dim_ordering) == "th":
        pairs = [(0, 0), (0, 0), (top_pad, bottom_pad), (left_pad, right_pad)]
    else:
        pairs = [(0, 0), (top_pad, bottom_pad), (left_pad, right_pad), (0, 0)]
    return _pad(x, pairs)


def spatial_3d_padding(x, padding=(1, 1, 1), dim_ordering="default"):
    p = [(v, v) for v in padding]
    if _ordering(dim_ordering) == "th":
        pairs = [(0, 0), (0, 0)] + p
    else:
        pairs = [(0, 0)] + p + [(0, 0)]
    return _pad(x, pairs)


def _getitem(x, key):
    if not isinstance(key, tuple):
        key = (key,)
    if builtins_any(k is Ellipsis for k in key):
        i = key.index(Ellipsis)
        fill = x.ndim - (len(key) - 1)
        key = key[:i] + (slice(None),) * fill + key[i + 1 :]
    begin, end, step, shrink = [], [], [], []
    big = 2**62
    for axis, k in enumerate(key):
        if isinstance(k, slice):
            st = 1 if k.step is None else int(k.step)
            if st == 0:
                raise ValueError("slice step cannot be zero")
            b = k.start if k.start is not None else (0 if st > 0 else big)
            e = k.stop if k.stop is not None else (big if st > 0 else -big)
            begin.append(int(b))
            end.append(int(e))
            step.append(st)
        elif isinstance(k, (int, np.integer)):
            k = int(k)
            begin.append(k)
            end.append(k + 1 if k != -1 else big)
            step.append(1)
            shrink.append(axis)
        else:
            raise TypeError("tensor indices must be integers or slices, got %r" % (k,))
    return _op("slice", [x], begin=begin, end=end, step=step, shrink=shrink or None)


# ---------------------------------------------------------------------------------------
# Graph and functions


class Function:
    """A compiled native Program: called with a list of arrays, returns a list of arrays.

    ``f(inputs)`` checks and converts every input (Keras 1's ``K.function`` call).

    ``f.run(arrays, row_offset=0, rows=None)`` runs the compiled program on prepared arrays,
    without those checks: the training loops convert their data once
    (``as_engine_array``) and call ``run`` per batch.
        arrays: one array per input, each what ``as_engine_array`` returns for that
            input's dtype (``f.input_dtypes``), all with the same number of rows; a
            wrong count, dtype or shape is a ValueError from the engine.
        row_offset: the arrays are rows ``row_offset ..`` of a larger batch: random ops
            (dropout, Gaussian noise) draw the noise of those rows of the larger batch,
            for this call only (a data-parallel shard draws what the whole batch would
            have drawn for its rows).
        rows: a 1-D int64 array: the batch is these rows of every array of rank 1 or
            more (the program gathers them; scalar arrays such as the learning phase
            are fed whole), so a shuffled epoch needs no reordered copy of the data.
        Returns the list of output arrays.
    ``run`` is the native program itself, so a training step costs no Python frame
    beyond the engine call.

    ``f.run_batches(arrays, batch_size)`` runs an inference function over all the rows
    of ``arrays`` (prepared as for ``run``; scalar arrays such as the learning phase are
    fed whole to every batch) in consecutive batches of ``batch_size`` rows, with
    several batches side by side on the engine's threads, and returns the list of
    outputs with every batch's rows in order (a scalar output: one value per batch):
    bitwise what one ``run`` per batch gives. It returns None, having run nothing, when
    the function's runs are not independent of each other (it has updates or random
    ops) or an output is neither scalar nor batch-major; the caller then runs batch by
    batch. ``predict`` and ``evaluate`` use it.

    ``f.run_steps(arrays, order, batch_size)`` trains over a whole epoch in one engine
    call: step ``k`` is ``f.run(arrays, rows=order[k * batch_size:][:batch_size])``,
    exactly (same random draws, same updates, same bits). Returns ``(outs, error)``:
    ``outs`` a float32 array with one row of outputs (all scalars) per completed step,
    ``error`` None or the exception that stopped the epoch early (a failing step, or a
    signal such as Ctrl-C, checked between steps), for the caller to raise once it has
    logged the completed steps. ``fit`` uses it when no callback of the user's runs
    between the batches.
    """

    def __init__(self, inputs, outputs, updates=None, name=None, inference=False):
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        for t in self.inputs + self.outputs:
            if not isinstance(t, Tensor):
                raise TypeError("function: inputs and outputs must be tensors, got %r" % (t,))
            _check_session(t)
        assigns, fused = [], []
        for u in updates or []:
            if isinstance(u, _native.Update):
                fused.append(u)
            elif isinstance(u, FusedUpdate):
                fused.append(u.native)
            elif isinstance(u, (tuple, list)) and len(u) == 2:
                var_, new = u
                _check_variable(var_, "function updates")
                new = _to_tensor(new)
                if new.dtype != var_.dtype:
                    new = cast(new, var_.dtype)
                assigns.append((var_.node, new.node))
            else:
                raise TypeError("function: an update must be a (variable, new_value) pair, got %r" % (u,))
        self.input_dtypes = [t.dtype for t in self.inputs]
        self._program = _graph().compile(
            [t.node for t in self.inputs],
            [t.node for t in self.outputs],
            assigns,
            fused,
            inference=bool(inference),
        )
        self.run = self._program
        self.run_batches = self._program.run_batches
        self.run_steps = self._program.run_steps

    def __call__(self, inputs):
        if not isinstance(inputs, (list, tuple)):
            raise TypeError("a Keras function takes a list of arrays, got %r" % (type(inputs).__name__,))
        if len(inputs) != len(self.inputs):
            raise ValueError(
                "this function takes %d input(s) (%s), got %d"
                % (len(self.inputs), ", ".join(t.name for t in self.inputs), len(inputs))
            )
        arrays = [
            as_engine_array(a.toarray() if _is_scipy_sparse(a) else a, dt)
            for a, dt in zip(inputs, self.input_dtypes)
        ]
        return self._program(arrays)

    def op_names(self):
        """The engine op of every node the compiled program runs, in execution order
        (after fusion): what a test or a profile checks a layer compiles to."""
        return self._program.op_names()

    def save(self, filepath, metadata=None):
        """Writes the compiled program (graph, variables, optimizer state, random
        counters) as one program file that ``load_program`` and the Rust engine's
        ``Program::load`` read; ``metadata`` is a dict of strings stored with it. The
        file is written beside ``filepath`` and renamed onto it.

        # Raises
            NotImplementedError: the program holds an op or update that cannot be saved.
            IOError: the file cannot be written.
        """
        self._program.save(_os.fspath(filepath), dict(metadata or {}))


def program_format_version():
    """The newest program file format version this build reads and writes."""
    return _native.program_format_version()


class LoadedProgram:
    """A program read from a program file by ``load_program``: call it with a list of
    arrays (one per input, in file order) to get the list of outputs; a training program
    takes one optimizer step per call."""

    def __init__(self, native):
        self._program = native

    def __call__(self, inputs):
        return self._program(list(inputs))

    @property
    def metadata(self):
        """The string metadata stored with the program."""
        return dict(self._program.metadata)

    @property
    def input_names(self):
        """The engine's names of the program's inputs, in order."""
        return list(self._program.input_names)

    def save(self, filepath, metadata=None):
        """Writes the program back (with its current variables) to ``filepath``."""
        self._program.save(_os.fspath(filepath), dict(metadata or {}))

    def get_variable(self, name):
        """The current value of the variable ``name``."""
        return self._program.get_variable(name)

    def variable_names(self):
        """The names of the program's variables."""
        return self._program.variable_names()


def load_program(filepath):
    """Reads a program file (``Function.save``, ``model.save_program`` or the Rust
    engine's ``Program::save``).

    # Raises
        IOError: the file cannot be read.
        ValueError: the file is not a program file, or is corrupt.
        NotImplementedError: the file has a newer format version than this build reads.
    """
    return LoadedProgram(_native.load_program(_os.fspath(filepath)))


class FusedUpdate:
    """A fused native update (an optimizer step) usable in ``function(updates=...)``."""

    def __init__(self, native):
        self.native = native


def function(inputs, outputs, updates=None, inference=False, **kwargs):
    """Compiles a function from input placeholders to outputs, applying updates.

    ``inference=True`` (not in Keras 1) compiles for the test phase only: the learning
    phase is taken as 0, so dropout, Gaussian noise and ``in_train_phase`` branches are
    left out of the compiled program (a learning-phase input may still be given; it is
    ignored). ``Model.predict`` uses it."""
    for k in kwargs:
        if k not in ("name", "mode", "givens", "on_unused_input", "allow_input_downcast"):
            raise ValueError("Invalid argument '%s' passed to K.function" % k)
    return Function(inputs, outputs, updates=updates, name=kwargs.get("name"), inference=inference)


def gradients(loss, variables):
    """Gradient tensors of the scalar ``loss`` with respect to each variable. A single
    tensor instead of a list gives a single gradient (as Theano's ``grad`` did, which
    Keras 1 scripts such as the style-transfer and deep-dream examples rely on).

    Inside ``with given_gradients(loss, ...)`` (this thread only) the gradients of that
    loss are the given tensors instead."""
    given = _GIVEN_GRADIENTS.__dict__.get("top")
    if given is not None:
        return given.lookup(loss, variables)
    loss = _to_tensor(loss)
    if isinstance(variables, Tensor):
        return gradients(loss, [variables])[0]
    ids = [_to_tensor(v).node for v in variables]
    return [Tensor(n) for n in _graph().gradients(loss.node, ids)]


_GIVEN_GRADIENTS = threading.local()


class given_gradients:
    """A context in which ``gradients(loss, variables)`` returns given tensors.

    Keras 1 optimizers (built-in or user-defined) build their update from
    ``K.gradients(loss, params)``; inside this context that call is answered with
    ``grads`` instead, so the same ``optimizer.get_updates`` builds an update that
    applies gradients computed elsewhere (``Model._make_apply_function``: the averaged
    gradient of a data-parallel step). The context is per thread: another thread
    building a graph at the same time sees the ordinary ``gradients``.

    # Arguments
        loss: the loss tensor whose gradients are given.
        grads: ``[(variable, gradient tensor), ...]``.

    # Raises
        ValueError (from ``gradients`` inside the context): for another loss, or a
            variable without a given gradient.
    """

    def __init__(self, loss, grads):
        self.loss = loss
        self.by_variable = {id(v): g for v, g in grads}

    def lookup(self, loss, variables):
        if loss is not self.loss:
            raise ValueError("gradients: inside given_gradients only the given loss's gradients exist")
        if isinstance(variables, Tensor):
            return self.lookup(loss, [variables])[0]
        missing = [v for v in variables if id(v) not in self.by_variable]
        if missing:
            raise ValueError(
                "gradients: no gradient was given for %s"
                % ", ".join(getattr(v, "name", repr(v)) for v in missing)
            )
        return [self.by_variable[id(v)] for v in variables]

    def __enter__(self):
        self._outer = _GIVEN_GRADIENTS.__dict__.get("top")
        _GIVEN_GRADIENTS.top = self
        return self

    def __exit__(self, *exc):
        _GIVEN_GRADIENTS.top = self._outer
        return False


def stop_gradient(variables):
    if isinstance(variables, (list, tuple)):
        return [_unary("stop_gradient", v) for v in variables]
    return _op("stop_gradient", [variables])


# ---------------------------------------------------------------------------------------
# Engine ops beyond Keras 1's backend: what the layers, optimizers and training loops use
# instead of reaching into the graph (see ARCHITECTURE.md, "The backend door").


def is_variable(x):
    """True when ``x`` is a variable of the graph's store (``K.variable``, a layer
    weight); False for any other tensor or value."""
    return isinstance(x, Tensor) and x._session.graph.is_variable(x.node)


def identity(x):
    """A new graph node with the value of ``x`` (float32 ``identity``, with a gradient;
    a same-dtype ``cast`` for int32 / bool tensors)."""
    x = _to_tensor(x)
    if x.dtype != "float32":
        return _op("cast", [x], dtype=x.dtype)
    return _op("identity", [x])


def bias_add(x, bias, axis=None):
    """``x + bias`` with ``bias`` a vector along one axis of ``x``, as one engine node
    (into which the executor folds a following relu / tanh / sigmoid and, where the
    producer allows, the producer itself: matmul, convolution).

    # Arguments
        x: a float tensor.
        bias: a vector whose length is ``x``'s size along ``axis``.
        axis: the axis of ``x`` the bias runs along (None: the last).

    # Returns
        A tensor of ``x``'s shape.
    """
    return _op("bias_add", [_float(x), _float(bias)], axis=None if axis is None else int(axis))


def batch_matmul(x, y, transpose_a=False, transpose_b=False):
    """Batched matrix product of two 3-D tensors: ``out[i] = op(x[i]) . op(y[i])``.

    # Arguments
        x: (batch, n, k) tensor ((batch, k, n) with ``transpose_a``).
        y: (batch, k, m) tensor ((batch, m, k) with ``transpose_b``).
        transpose_a, transpose_b: multiply by the transpose of each ``x[i]`` /
            ``y[i]`` (no transposed copy is made).

    # Returns
        A (batch, n, m) tensor.
    """
    return _op(
        "batch_matmul", [_float(x), _float(y)], transpose_a=bool(transpose_a), transpose_b=bool(transpose_b)
    )


def flat_concat(tensors):
    """Every tensor of ``tensors`` flattened and concatenated into one float32 vector,
    in order (the flat gradient of a data-parallel step). A variable in the list is read
    through an ``identity`` node (the op reads computed values)."""
    return _op("concat_flat", [identity(t) if is_variable(t) else _float(t) for t in tensors])


def flat_slice(flat, offset, shape):
    """The elements ``offset .. offset + prod(shape)`` of the vector ``flat``, reshaped to
    ``shape`` (the inverse of ``flat_concat`` for one of its tensors)."""
    return _op("slice_flat", [flat], offset=int(offset), shape=[int(d) for d in shape])


_RNN_CELLS = {"simple_rnn": "simple_rnn_sequence", "gru": "gru_sequence", "lstm": "lstm_sequence"}


def rnn_sequence(
    cell,
    x,
    W,
    U,
    b,
    states,
    recurrent_mask=None,
    mask=None,
    go_backwards=False,
    activation="tanh",
    inner_activation=None,
    return_state=False,
):
    """A whole recurrent sequence as one fused engine op (forward and BPTT), the cells of
    Keras 1's SimpleRNN, GRU and LSTM.

    # Arguments
        cell: ``'simple_rnn'``, ``'gru'`` or ``'lstm'`` (G = 1, 3 or 4 gate blocks, in
            Keras 1's order: GRU z, r, h; LSTM i, f, c, o).
        x: (batch, timesteps, input_dim) input.
        W: (input_dim, G * units) input weights, gate blocks side by side.
        U: (units, G * units) recurrent weights.
        b: (G * units,) bias.
        states: initial states, each (batch, units): ``[h0]`` (``[h0, c0]`` for LSTM).
        recurrent_mask: optional (batch, G * units) Keras 1 ``dropout_U`` mask; column
            block g multiplies h_{t-1} before its product with gate g's U at every step.
        mask: optional (batch, timesteps) mask, nonzero for real steps; masked steps
            carry the states forward.
        go_backwards: process the sequence in reverse.
        activation: the output activation's name.
        inner_activation: the gates' activation's name (GRU and LSTM; None: the op's
            default ``'hard_sigmoid'``). The names the op knows are tanh, sigmoid,
            hard_sigmoid, relu, linear, softsign, softplus and elu.
        return_state: LSTM only: one more step at the end holding the final cell state.

    # Returns
        (batch, timesteps, units): the hidden state after each processed step, in
        processing order ((batch, timesteps + 1, units) with ``return_state``).

    # Raises
        ValueError: for an unknown cell, or an activation the op lacks.
    """
    if cell not in _RNN_CELLS:
        raise ValueError("rnn_sequence: unknown cell %r (expected one of %s)" % (cell, sorted(_RNN_CELLS)))
    inputs = [x, W, U, b] + list(states)
    if recurrent_mask is not None:
        inputs.append(recurrent_mask)
    if mask is not None:
        inputs.append(mask)
    attrs = {"go_backwards": bool(go_backwards), "activation": activation}
    if inner_activation is not None:
        attrs["inner_activation"] = inner_activation
    if recurrent_mask is not None:
        attrs["recurrent_dropout"] = True
    if return_state:
        attrs["return_state"] = True
    return _op(_RNN_CELLS[cell], inputs, **attrs)


def fused_optimizer_update(
    kind,
    params,
    grads,
    slots,
    hyper,
    epsilon,
    clipnorm=None,
    clipvalue=None,
    constraints=None,
    nesterov=False,
    schedule_decay=0.004,
):
    """One optimizer step of every parameter as a single in-place engine update, for
    ``function(updates=...)``: gradient clipping, Keras 1's update equations and the
    built-in constraints, computed by the engine (``rust/ferrokeras/src/optim``).

    # Arguments
        kind: ``'sgd'``, ``'rmsprop'``, ``'adagrad'``, ``'adadelta'``, ``'adam'``,
            ``'adamax'`` or ``'nadam'``.
        params: the variables to update.
        grads: one gradient tensor per parameter (a variable is read through an
            ``identity`` node).
        slots: the optimizer's state variables, ``slots[j][i]`` the j-th slot of
            parameter i (``[moments]`` for SGD, ``[m, v]`` for Adam, ...).
        hyper: ``{name: scalar variable or None}`` for ``lr``, ``iterations`` (both
            required), ``decay``, ``momentum``, ``rho``, ``beta_1``, ``beta_2``,
            ``m_schedule``; read at every step, so ``set_value`` changes training.
        epsilon: the fuzz factor.
        clipnorm, clipvalue: Keras 1's clipping (None: none); the norm is global over
            ``grads``.
        constraints: one entry per parameter, None or a constraint's ``native_spec()``.
        nesterov: SGD's Nesterov momentum.
        schedule_decay: Nadam's momentum schedule decay.

    # Returns
        A ``FusedUpdate``.

    # Raises
        ValueError: for an unknown kind, a missing hyper-parameter or mismatched shapes.
    """
    grads = [identity(g) if is_variable(g) else _to_tensor(g) for g in grads]
    native = _graph().optimizer_update(
        kind,
        [p.node for p in params],
        [g.node for g in grads],
        [[v.node for v in kind_slots] for kind_slots in slots],
        {k: (None if v is None else v.node) for k, v in hyper.items()},
        float(epsilon),
        clipnorm,
        clipvalue,
        constraints,
        nesterov=bool(nesterov),
        schedule_decay=float(schedule_decay),
    )
    return FusedUpdate(native)


def num_threads():
    """The number of threads the engine's kernels run on (``RAYON_NUM_THREADS`` when set
    before the first op runs, else one per core)."""
    return int(_native.num_threads())


# ---------------------------------------------------------------------------------------
# Control flow and learning phase


def learning_phase():
    """The learning phase: a scalar placeholder (1 = train, 0 = test), or the int set by
    ``set_learning_phase``."""
    if _LEARNING_PHASE_VALUE is not None:
        return _LEARNING_PHASE_VALUE
    return Tensor(_graph().learning_phase(), "keras_learning_phase")


def set_learning_phase(value):
    global _LEARNING_PHASE_VALUE
    if value not in {0, 1}:
        raise ValueError("Expected learning phase to be 0 or 1.")
    _LEARNING_PHASE_VALUE = value


def switch(condition, then_expression, else_expression):
    """Selects between two tensors on a scalar (or elementwise) condition."""
    if isinstance(condition, (int, bool, np.integer)):
        return then_expression if condition else else_expression
    return _op("switch", [_float(condition), _float(then_expression), _float(else_expression)])


def in_train_phase(x, alt):
    lp = learning_phase()
    if isinstance(lp, int):
        return x if lp == 1 else alt
    out = switch(lp, x, alt)
    out._uses_learning_phase = True
    return out


def in_test_phase(x, alt):
    return in_train_phase(alt, x)


def _static_length(x, axis, fn):
    n = _to_tensor(x)._static_shape()[axis]
    if n is None:
        raise NotImplementedError(
            "K.%s over an axis whose length is unknown when the graph is built is not supported "
            "(give the layer an input_length / a fixed shape)" % fn
        )
    return n


def rnn(
    step_function,
    inputs,
    initial_states,
    go_backwards=False,
    mask=None,
    constants=None,
    unroll=False,
    input_length=None,
):
    """Iterates `step_function` over the time axis (axis 1) of `inputs`, unrolled into graph
    nodes. User Recurrent subclasses with a Python `step` use it, and so do the built-in
    LSTM/GRU/SimpleRNN when an activation is one the fused sequence op lacks (softmax, a
    user function); otherwise they run as one fused op.

    # Returns
        (last_output, outputs (samples, time, ...), new_states). Masked timesteps (mask 0)
        carry the previous output and states forward, as Keras 1.
    """
    inputs = _float(inputs)
    ndim_ = inputs.ndim
    if ndim_ < 3:
        raise ValueError("Input should be at least 3D.")
    steps = _static_length(inputs, 1, "rnn")
    constants = list(constants or [])
    states = list(initial_states)
    if mask is not None:
        mask = _float(mask)
    order = range(steps - 1, -1, -1) if go_backwards else range(steps)
    outputs = []
    last_output = None
    for t in order:
        x_t = inputs[:, t]
        output, new_states = step_function(x_t, states + constants)
        if mask is not None:
            m_col = mask[:, t]
            if last_output is None:
                last_output = zeros_like(output)

            def _keep(new, old, m_col=m_col):
                # the (samples,) mask broadcast over every other axis of the value
                m = reshape(m_col, (-1,) + (1,) * (new.ndim - 1))
                return new * m + old * (1.0 - m)

            output = _keep(output, last_output)
            new_states = [_keep(ns, s) for ns, s in zip(new_states, states)]
        outputs.append(output)
        last_output = output
        states = list(new_states)
    stacked = concatenate([expand_dims(o, 1) for o in outputs], axis=1)
    return last_output, stacked, states


def map_fn(fn, elems, name=None):
    """`fn` applied to each slice of `elems` along its first axis (unrolled)."""
    n = _static_length(elems, 0, "map_fn")
    return concatenate([expand_dims(fn(elems[i]), 0) for i in range(n)], axis=0)


def foldl(fn, elems, initializer=None, name=None):
    """Reduces `elems` along its first axis from the left with `fn(acc, x)`."""
    n = _static_length(elems, 0, "foldl")
    start = 0
    acc = initializer
    if acc is None:
        acc, start = elems[0], 1
    for i in range(start, n):
        acc = fn(acc, elems[i])
    return acc


def foldr(fn, elems, initializer=None, name=None):
    """Reduces `elems` along its first axis from the right with `fn(acc, x)`."""
    n = _static_length(elems, 0, "foldr")
    stop = n
    acc = initializer
    if acc is None:
        acc, stop = elems[n - 1], n - 1
    for i in range(stop - 1, -1, -1):
        acc = fn(acc, elems[i])
    return acc


def conv_padding(length, k, stride, border_mode, dilation=1, what="conv2d"):
    """(before, after) padding of one spatial axis of ``length`` for a kernel or pool of
    size ``k`` under a Keras 1 ``border_mode``, as the convolutions and poolings here pad
    ('same' as TensorFlow: the odd unit after). ``what`` names the caller in errors."""
    span = dilation * (k - 1) + 1
    if border_mode == "valid":
        return 0, 0
    if border_mode == "full":
        return span - 1, span - 1
    if border_mode == "same":
        if stride == 1:
            total = span - 1
        elif length is None:
            raise ValueError(
                "%s: border_mode='same' with stride %d needs a known spatial size" % (what, stride)
            )
        else:
            out = (length + stride - 1) // stride
            total = _builtins.max((out - 1) * stride + span - length, 0)
        return total // 2, total - total // 2
    raise ValueError("Invalid border mode: " + str(border_mode))


def _spatial_pads(sizes, window, strides, border_mode, dilation=None, what="conv2d"):
    """``conv_padding`` of every spatial axis, flattened [before_0, after_0, before_1, ...]."""
    dilation = dilation or (1,) * len(sizes)
    pads = []
    for length, k, stride, d in zip(sizes, window, strides, dilation):
        pads += conv_padding(length, k, stride, border_mode, d, what)
    return pads


def _spatial_axes(shape, ordering):
    """The spatial sizes of an input shape (channels at 1 for 'th', last for 'tf')."""
    return tuple(shape[2:]) if ordering == "th" else tuple(shape[1:-1])


def _kernel_window(kernel_shape, ordering):
    """The spatial sizes of a kernel: ('th') (out, in, *window), ('tf') (*window, in, out)."""
    return tuple(kernel_shape[2:]) if ordering == "th" else tuple(kernel_shape[:-2])


def _n_ints(n, v, name):
    """``v`` as ``n`` ints (an int: repeated ``n`` times); a ValueError naming it otherwise."""
    if isinstance(v, int):
        return (v,) * n
    v = tuple(int(a) for a in v)
    if len(v) != n:
        raise ValueError("%s must be %d integers, got %s" % (name, n, v))
    return v


def conv2d(
    x,
    kernel,
    strides=(1, 1),
    border_mode="valid",
    dim_ordering="default",
    image_shape=None,
    filter_shape=None,
    filter_dilation=(1, 1),
):
    """2-D convolution. 'th': x (N, C, H, W), kernel (nb_filter, stack, rows, cols),
    a true convolution (kernel flipped, as Keras 1 on Theano); 'tf': x (N, H, W, C),
    kernel (rows, cols, stack, nb_filter), a cross-correlation (as Keras 1 on
    TensorFlow). One engine node in either ordering: 'tf' runs the engine's
    channels-last convolution (``layout="nhwc"``), with no permute around it."""
    return _conv(2, x, kernel, strides, border_mode, dim_ordering, filter_dilation)


def _window_inputs(nd, dim_ordering, strides, *tensors):
    """What the convolution ops start from: the resolved ordering, ``strides`` as ``nd``
    ints, the ``tensors`` (the input, the kernels) as float32 tensors and their static
    shapes."""
    ordering = _ordering(dim_ordering)
    tensors = [_float(t) for t in tensors]
    return ordering, _n_ints(nd, strides, "strides"), tensors, [int_shape(t) for t in tensors]


def _conv(nd, x, kernel, strides, border_mode, dim_ordering, dilation=None):
    """``conv2d`` (nd=2, with a ``dilation``) and ``conv3d`` (nd=3): the engine's
    ``conv<nd>d`` node."""
    ordering, strides, (x, kernel), (xs, ks) = _window_inputs(nd, dim_ordering, strides, x, kernel)
    if dilation is not None:
        dilation = _n_ints(nd, dilation, "filter_dilation")
    if len(xs) != nd + 2 or len(ks) != nd + 2:
        raise ValueError(
            "conv%dd expects a %d-D input and a %d-D kernel, got shapes %s and %s"
            % (nd, nd + 2, nd + 2, xs, ks)
        )
    what = "conv%dd" % nd
    window = _kernel_window(ks, ordering)
    axes = {2: "hw", 3: "dhw"}[nd]
    return _op(
        what,
        [x, kernel],
        layout="nc" + axes if ordering == "th" else "n" + axes + "c",
        strides=list(strides),
        pads=_spatial_pads(_spatial_axes(xs, ordering), window, strides, border_mode, dilation, what),
        dilation=None if dilation is None else list(dilation),
        kernel_layout="oi" + axes if ordering == "th" else axes + "io",
        flip=ordering == "th",
    )


def conv1d(x, kernel, stride=1, border_mode="valid", image_shape=None, filter_shape=None):
    """1-D convolution (cross-correlation) of x (N, steps, input_dim) with a kernel
    (filter_length, input_dim, nb_filter)."""
    x = _float(x)
    ks = int_shape(kernel)
    if len(ks) != 3:
        raise ValueError("conv1d expects a 3-D kernel, got shape %s" % (ks,))
    k4 = reshape(kernel, (ks[0], 1, ks[1], ks[2]))
    y = conv2d(expand_dims(x, 2), k4, strides=(stride, 1), border_mode=border_mode, dim_ordering="tf")
    return squeeze(y, 2)


def pool2d(x, pool_size, strides=(1, 1), border_mode="valid", dim_ordering="default", pool_mode="max"):
    """2-D max / average pooling ('same' pads as TensorFlow; padding never wins a max
    and is not counted in an average). One engine node in either ordering: 'tf' runs
    the channels-last kernel (``layout="nhwc"``), no permutes."""
    return _pool(2, x, pool_size, strides, border_mode, dim_ordering, pool_mode)


def _pool(nd, x, pool_size, strides, border_mode, dim_ordering, pool_mode):
    """``pool2d`` (nd=2) and ``pool3d`` (nd=3): the engine's ``maxpool<nd>d`` or
    ``avgpool<nd>d`` node."""
    ordering = _ordering(dim_ordering)
    if pool_mode not in ("max", "avg"):
        raise ValueError("Invalid pooling mode: " + str(pool_mode))
    if border_mode not in ("valid", "same"):
        raise ValueError("Invalid border mode: " + str(border_mode))
    x = _float(x)
    pool_size = _n_ints(nd, pool_size, "pool_size")
    strides = _n_ints(nd, strides, "strides")
    xs = int_shape(x)
    if len(xs) != nd + 2:
        raise ValueError("pool%dd expects a %d-D input, got shape %s" % (nd, nd + 2, xs))
    pads = _spatial_pads(_spatial_axes(xs, ordering), pool_size, strides, border_mode, what="pool%dd" % nd)
    layout = {2: "hw", 3: "dhw"}[nd]
    return _op(
        "%spool%dd" % (pool_mode, nd),
        [x],
        pool=list(pool_size),
        strides=list(strides),
        pads=pads,
        layout="n" + layout + "c" if ordering == "tf" else "nc" + layout,
    )


def deconv2d(
    x,
    kernel,
    output_shape,
    strides=(1, 1),
    border_mode="valid",
    dim_ordering="default",
    image_shape=None,
    filter_shape=None,
):
    """2-D transposed convolution ("deconvolution"): the input gradient of the
    convolution that maps a tensor of ``output_shape`` to ``x`` with ``kernel``,
    ``strides`` and ``border_mode``. The kernel has Convolution2D's layout with stack =
    the channels of ``x``: 'th' (nb_filter, stack, rows, cols), 'tf' (rows, cols, stack,
    nb_filter). As with ``conv2d``, 'th' transposes a true convolution (Keras 1 on
    Theano) and 'tf' a cross-correlation (Keras 1 on TensorFlow). ``output_shape`` is
    the full 4-tuple in ``dim_ordering``; its batch entry may be None (the batch of
    ``x`` is used) and its rows/cols must be known. 'same' pads as TensorFlow does
    (the extra row/column of an even total at the bottom/right). One engine
    ``conv2d_transpose`` node in either ordering: 'tf' runs the channels-last kernel
    (``layout="nhwc"``), no permutes."""
    if border_mode not in ("valid", "same", "full"):
        raise ValueError("Invalid border mode for deconv2d: " + str(border_mode))
    ordering, strides, (x, kernel), (xs, ks) = _window_inputs(2, dim_ordering, strides, x, kernel)
    output_shape = tuple(output_shape)
    if len(xs) != 4 or len(ks) != 4 or len(output_shape) != 4:
        raise ValueError(
            "deconv2d expects a 4-D input, a 4-D kernel and a 4-D output_shape, got shapes "
            "%s, %s and output_shape %s" % (xs, ks, output_shape)
        )
    if ordering == "th":
        nb_filter, stack, kh, kw = ks
        out_c, oh, ow = output_shape[1:]
        in_c = xs[1]
    else:
        kh, kw, stack, nb_filter = ks
        oh, ow, out_c = output_shape[1:]
        in_c = xs[3]
    if oh is None or ow is None:
        raise ValueError(
            "deconv2d: the rows and cols of output_shape must be known, got %s" % (output_shape,)
        )
    if out_c is not None and out_c != nb_filter:
        raise ValueError(
            "deconv2d: output_shape %s has %s channels but the kernel %s makes %s"
            % (output_shape, out_c, ks, nb_filter)
        )
    if in_c is not None and in_c != stack:
        raise ValueError(
            "deconv2d: input %s has %s channels but the kernel %s expects %s" % (xs, in_c, ks, stack)
        )
    out_hw = [int(oh), int(ow)]
    return _op(
        "conv2d_transpose",
        [x, kernel],
        layout="nchw" if ordering == "th" else "nhwc",
        out_hw=out_hw,
        strides=list(strides),
        pads=_spatial_pads(out_hw, (kh, kw), strides, border_mode, what="deconv2d"),
        kernel_layout="oihw" if ordering == "th" else "hwio",
        flip=ordering == "th",
    )


def atrous_conv2d(
    x, kernel, rate=1, border_mode="valid", dim_ordering="default", image_shape=None, filter_shape=None
):
    """2-D atrous (dilated) convolution: ``conv2d`` with the kernel taps ``rate`` apart
    (an int, or a (rows, cols) pair), stride 1."""
    return conv2d(
        x,
        kernel,
        strides=(1, 1),
        border_mode=border_mode,
        dim_ordering=dim_ordering,
        filter_dilation=_n_ints(2, rate, "rate"),
    )


def separable_conv2d(
    x, depthwise_kernel, pointwise_kernel, strides=(1, 1), border_mode="valid", dim_ordering="default"
):
    """Depthwise-separable 2-D convolution (Keras 1's TensorFlow semantics: both steps
    are cross-correlations, depthwise output channel ``c * depth_multiplier + m``).
    Kernels in Keras 1's SeparableConvolution2D layouts: 'tf' depthwise (rows, cols,
    stack, depth_multiplier) and pointwise (1, 1, stack * depth_multiplier, nb_filter);
    'th' depthwise (depth_multiplier, stack, rows, cols) and pointwise (nb_filter,
    stack * depth_multiplier, 1, 1). ``strides`` apply to the depthwise step; 'same'
    pads as TensorFlow. An engine ``depthwise_conv2d`` node followed by a 1x1 ``conv2d``,
    both channels-last in 'tf' (``layout="nhwc"``; the 1x1 is one gemm over the rows),
    no permutes."""
    if border_mode not in ("valid", "same"):
        raise ValueError("Invalid border mode for separable_conv2d: " + str(border_mode))
    ordering, strides, (x, depthwise_kernel, pointwise_kernel), (xs, ds, ps) = _window_inputs(
        2, dim_ordering, strides, x, depthwise_kernel, pointwise_kernel
    )
    if len(xs) != 4 or len(ds) != 4 or len(ps) != 4:
        raise ValueError(
            "separable_conv2d expects a 4-D input and 4-D kernels, got shapes %s, %s and %s" % (xs, ds, ps)
        )
    layout = "nchw" if ordering == "th" else "nhwc"
    window = _kernel_window(ds, ordering)
    y = _op(
        "depthwise_conv2d",
        [x, depthwise_kernel],
        layout=layout,
        strides=list(strides),
        pads=_spatial_pads(
            _spatial_axes(xs, ordering), window, strides, border_mode, what="separable_conv2d"
        ),
        kernel_layout="mchw" if ordering == "th" else "hwcm",
    )
    return _op(
        "conv2d", [y, pointwise_kernel], layout=layout, kernel_layout="oihw" if ordering == "th" else "hwio"
    )


def conv3d(
    x,
    kernel,
    strides=(1, 1, 1),
    border_mode="valid",
    dim_ordering="default",
    volume_shape=None,
    filter_shape=None,
):
    """3-D convolution. 'th': x (N, C, D, H, W), kernel (nb_filter, stack, k1, k2, k3),
    a true convolution (kernel flipped, as Keras 1 on Theano); 'tf': x (N, D, H, W, C),
    kernel (k1, k2, k3, stack, nb_filter), a cross-correlation (as Keras 1 on
    TensorFlow). One engine node in either ordering: 'tf' runs the channels-last kernel
    (``layout="ndhwc"``), no permutes."""
    return _conv(3, x, kernel, strides, border_mode, dim_ordering)


def pool3d(x, pool_size, strides=(1, 1, 1), border_mode="valid", dim_ordering="default", pool_mode="max"):
    """3-D max / average pooling ('same' pads as TensorFlow; padding never wins a max
    and is not counted in an average). One engine node in either ordering: 'tf' runs
    the channels-last kernel (``layout="ndhwc"``), no permutes."""
    return _pool(3, x, pool_size, strides, border_mode, dim_ordering, pool_mode)


def _tf_only(name):
    def fn(*args, **kwargs):
        raise NotImplementedError(
            "K.%s exists only in Keras 1's TensorFlow backend; ferrokeras does not provide it" % name
        )

    fn.__name__ = name
    return fn


ctc_batch_cost = _tf_only("ctc_batch_cost")
ctc_decode = _tf_only("ctc_decode")
ctc_label_dense_to_sparse = _tf_only("ctc_label_dense_to_sparse")


# ---------------------------------------------------------------------------------------
# NN


def relu(x, alpha=0.0, max_value=None):
    return _unary("relu", x, alpha=float(alpha), max_value=None if max_value is None else float(max_value))


def elu(x, alpha=1.0):
    return _unary("elu", x, alpha=float(alpha))


softmax, softplus, softsign, sigmoid, hard_sigmoid, tanh = map(
    _elementwise, ("softmax", "softplus", "softsign", "sigmoid", "hard_sigmoid", "tanh")
)


def _crossentropy(op, inputs, from_logits):
    return _op(op, inputs, from_logits=bool(from_logits), epsilon=float(epsilon()))


def categorical_crossentropy(output, target, from_logits=False):
    """Per-sample crossentropy; ``output`` is renormalised and clipped to [eps, 1-eps]."""
    return _crossentropy("categorical_crossentropy", [_float(output), _float(target)], from_logits)


def sparse_categorical_crossentropy(output, target, from_logits=False):
    target = _to_tensor(target)
    if target.dtype != "int32":
        target = cast(target, "int32")
    return _crossentropy("sparse_categorical_crossentropy", [_float(output), target], from_logits)


def binary_crossentropy(output, target, from_logits=False):
    return _crossentropy("binary_crossentropy", [_float(output), _float(target)], from_logits)


# Seeds of the random nodes each layer call creates. `Node.create_node` opens a
# `random_scope` around `layer.call`: every seed drawn inside it, and every random node
# made, is recorded in the scope's `RandomRecord`, which the caller keeps. A `SeedPlan`
# (keras.distributed's replicas rebuild the driver's model under one) makes those draws
# take given seeds instead, so that a rebuilt model's random nodes draw the driver's
# noise. Both are context variables: a thread building a graph sees only its own.
_RANDOM_RECORD = contextvars.ContextVar("keras_random_record", default=None)
_SEED_PLAN = contextvars.ContextVar("keras_seed_plan", default=None)


class SeedPlan:
    """The seeds the random nodes of layer calls take, by layer name and node index.

    Used as a context (``with K.SeedPlan(plan): model = model_from_config(...)``):
    inside it, the k-th seed a layer's call number ``node_index`` draws is
    ``plan[layer name][node_index][k]`` where the plan has one, whatever ``seed`` the
    layer asked for.

    # Arguments
        seeds: ``{layer name: {node index: [seed, ...]}}``, as recorded by
            ``random_scope`` (``RandomRecord.seeds``) on another model of the same
            config.
    """

    def __init__(self, seeds):
        self.seeds = {
            name: {int(i): [int(v) for v in s] for i, s in by_node.items()} for name, by_node in seeds.items()
        }

    def seeds_for(self, layer_name, node_index):
        """The planned seeds of one layer call (empty: none planned)."""
        return self.seeds.get(layer_name, {}).get(int(node_index), [])

    def __enter__(self):
        self._token = _SEED_PLAN.set(self)
        return self

    def __exit__(self, *exc):
        _SEED_PLAN.reset(self._token)
        return False


class RandomRecord:
    """What one layer call drew (see ``random_scope``): ``seeds``, the seed of each
    random node in draw order, and ``tensors``, the random nodes in creation order."""

    def __init__(self, planned):
        self.planned = list(planned)
        self.seeds = []
        self.tensors = []


class random_scope:
    """A context recording the random nodes made inside it, for one layer call.

    ``with K.random_scope(layer.name, node_index) as record:`` around a layer call
    yields a ``RandomRecord``; under a ``SeedPlan`` the draws take the plan's seeds for
    that call. Scopes nest: the innermost one records.

    # Arguments
        layer_name: the called layer's name.
        node_index: the index of the call (the layer's inbound node it makes).
    """

    def __init__(self, layer_name, node_index):
        plan = _SEED_PLAN.get()
        self.record = RandomRecord(plan.seeds_for(layer_name, node_index) if plan is not None else [])

    def __enter__(self):
        self._token = _RANDOM_RECORD.set(self.record)
        return self.record

    def __exit__(self, *exc):
        _RANDOM_RECORD.reset(self._token)
        return False


def get_random_counter(x):
    """The call counter of random node ``x``'s stream (how many times the programs
    containing it have run): with the seed it fixes the noise of the next call.

    # Arguments
        x: a tensor made by a random op (``RandomRecord.tensors``).
    """
    return int(x._session.graph.random_counter(x.node))


def set_random_counter(x, counter):
    """Moves random node ``x``'s stream to ``counter`` (from ``get_random_counter`` of
    the same node of another model of the same config): its next call draws what that
    node's would."""
    x._session.graph.set_random_counter(x.node, int(counter))


def _seed(seed):
    record = _RANDOM_RECORD.get()
    if record is not None and len(record.planned) > len(record.seeds):
        s = int(record.planned[len(record.seeds)])
    elif seed is None:
        s = int(np.random.randint(10e6))
    else:
        s = int(seed)
    if record is not None:
        record.seeds.append(s)
    return s


def _noise_shape(noise_shape):
    if noise_shape is None:
        return None
    return [-1 if d is None else int(d) for d in noise_shape]


def dropout(x, level, noise_shape=None, seed=None):
    """Inverted dropout, always active (layers wrap it in the learning phase)."""
    return _op(
        "dropout",
        [_float(x), _to_tensor(1.0)],
        level=float(level),
        seed=_seed(seed),
        noise_shape=_noise_shape(noise_shape),
    )


def dropout_in_train_phase(x, level, noise_shape=None, seed=None):
    """Inverted dropout in the training phase, the identity in the test phase, as ONE
    node (what ``in_train_phase(dropout(x, ...), x)`` computes, without building both
    branches): the Dropout layer and recurrent dropout masks.

    # Arguments
        x: a float tensor.
        level: the fraction of entries to drop, in [0, 1).
        noise_shape: the shape of the binary mask (None entries: x's size; 1 entries
            share one decision along that axis), None for x's shape.
        seed: the seed of the node's random stream (None: drawn from ``np.random``).

    # Returns
        A tensor of x's shape (x itself when the learning phase is set to 0).
    """
    lp = learning_phase()
    if isinstance(lp, int):
        return dropout(x, level, noise_shape, seed) if lp else x
    out = _op(
        "dropout",
        [_float(x), lp],
        level=float(level),
        seed=_seed(seed),
        noise_shape=_noise_shape(noise_shape),
    )
    out._uses_learning_phase = True
    return out


def _noise_in_train_phase(op, x, seed, **attrs):
    lp = learning_phase()
    if isinstance(lp, int):
        if not lp:
            return x
        return _op(op, [_float(x), _to_tensor(1.0)], seed=_seed(seed), **attrs)
    out = _op(op, [_float(x), lp], seed=_seed(seed), **attrs)
    out._uses_learning_phase = True
    return out


def gaussian_noise_in_train_phase(x, sigma, seed=None):
    """``x`` plus zero-centred Gaussian noise of standard deviation ``sigma`` in the
    training phase, ``x`` in the test phase, as one node (the GaussianNoise layer).

    # Arguments
        x: a float tensor.
        sigma: the noise's standard deviation.
        seed: the seed of the node's random stream (None: drawn from ``np.random``).
    """
    return _noise_in_train_phase("gaussian_noise", x, seed, sigma=float(sigma))


def gaussian_dropout_in_train_phase(x, p, seed=None):
    """``x`` times Gaussian noise of mean 1 and standard deviation
    ``sqrt(p / (1 - p))`` in the training phase, ``x`` in the test phase, as one node
    (the GaussianDropout layer).

    # Arguments
        x: a float tensor.
        p: the drop probability the noise stands for, in (0, 1).
        seed: the seed of the node's random stream (None: drawn from ``np.random``).
    """
    return _noise_in_train_phase("gaussian_dropout", x, seed, p=float(p))


def l2_normalize(x, axis):
    return _unary("l2_normalize", x, axis=int(axis))


def in_top_k(predictions, targets, k):
    """True where the target class is among the k largest predictions (ties count in)."""
    predictions = _float(predictions)
    nb = predictions._static_shape()[-1]
    if nb is None:
        raise ValueError("in_top_k: the number of classes must be known")
    onehot = one_hot(targets, nb)
    target_score = sum(predictions * onehot, axis=-1, keepdims=True)
    n_better = sum(cast(greater(predictions, target_score), "float32"), axis=-1)
    return less(n_better, float(k))


def _static_random_shape(shape, fn):
    if isinstance(shape, Tensor):
        raise NotImplementedError("%s with a symbolic shape is not supported; give a tuple" % fn)
    shape = [int(d) for d in shape]
    return shape


def _random(op, shape, seed, **params):
    """A node of the engine's random op ``op``: its static ``shape``, float ``params``,
    a ``seed``."""
    floats = {name: float(value) for name, value in params.items()}
    return _op(op, [], shape=_static_random_shape(shape, op), **floats, seed=_seed(seed))


def random_normal(shape, mean=0.0, std=1.0, dtype=None, seed=None):
    return _random("random_normal", shape, seed, mean=mean, std=std)


def random_uniform(shape, low=0.0, high=1.0, dtype=None, seed=None):
    return _random("random_uniform", shape, seed, low=low, high=high)


def random_binomial(shape, p=0.0, dtype=None, seed=None):
    return _random("random_binomial", shape, seed, p=p)


import builtins as _builtins  # noqa: E402

builtins_any = _builtins.any
