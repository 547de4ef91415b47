"""A restricted unpickler for Keras' dataset files.

Keras 1.2.2's dataset files (``mnist.pkl.gz``, ``reuters.pkl``, ``reuters_word_index.pkl``,
``imdb_full.pkl``, ``imdb_word_index.pkl``, the CIFAR batches) are Python 2 cPickles, and
the object arrays of the later ``imdb.npz`` / ``reuters.npz`` are pickles too. All they
hold is tuples, lists, dicts, strings, numbers and numpy arrays. Lists, tuples, dicts,
sets, strings, bytes, ints, floats, bools and None are built by pickle opcodes that
import nothing; a general unpickler imports and calls whatever global a file names (that
is how a pickle runs code), so `load` imports nothing and resolves only these names:

- ``numpy.core.multiarray._reconstruct`` (NumPy 1) / ``numpy._core.multiarray._reconstruct``
  (NumPy 2) with ``numpy.ndarray``: an array, whose ``BUILD`` state is
  ``(version, shape, dtype, fortran_order, data)``;
- ``numpy.dtype``: its ``BUILD`` state is ``(3, byteorder, None, None, None, elsize,
  alignment, flags)`` (version 4 adds metadata);
- ``numpy.core.multiarray.scalar`` / ``numpy._core.multiarray.scalar``: a numpy scalar
  (``scalar(dtype, raw bytes)``);
- ``numpy.core.numeric._frombuffer`` / ``numpy._core.numeric._frombuffer``: an array as
  NumPy writes it at pickle protocol 5 (``_frombuffer(buffer, dtype, shape, order)``);
- ``_codecs.encode(text, 'latin1')`` and ``__builtin__.bytes()`` / ``builtins.bytes()``:
  how Python 3 writes `bytes` at protocol 2 (a cache file a user wrote with
  ``pickle.dump(..., protocol=2)``), restricted to exactly those calls.

Python 2 module names are mapped to Python 3 ones as pickle's ``fix_imports`` does.
``copy_reg._reconstructor`` (with ``__builtin__.object``) appears only for instances of
plain classes pickled at protocols 0/1, which these files do not hold, so it is refused
like every other global: `UnsafePickleError` (a `pickle.UnpicklingError`) naming the
global and the file, before anything it names is imported.

NumPy's own ``dtype.__setstate__`` / ``ndarray.__setstate__`` are not safe on a crafted
state (a dtype state can declare an object dtype "without objects", and an array of it
then reads raw bytes as object pointers: a crash or worse), so they never see a state
from the file: the numpy globals above build inert placeholders; their states are
checked (simple dtypes only: bool, int, uint, float, complex, bytes, str, object; no
structured, sub-array or datetime dtypes; data exactly as long as shape x itemsize; an
object array's items as a list of the right length), and the arrays, dtypes and scalars
are built afterwards with numpy's ordinary constructors from the checked values.
"""

import _compat_pickle
import io
import math
import pickle
import re

import numpy as np

from ..utils.data_utils import UnsafePickleError

__all__ = ["load", "loads", "UnsafePickleError"]

# Types a restricted load can produce without a global: no placeholder can hide in them.
_ATOMIC = frozenset([type(None), bool, int, float, complex, str, bytes, bytearray])

_DTYPE_SPEC = re.compile(r"^(?:[biufc]\d+|O\d*|[SU]\d+)$")


def _ascii(value, what):
    if isinstance(value, bytes):  # a Python 2 str read with encoding='bytes'
        try:
            return value.decode("ascii")
        except UnicodeDecodeError:
            pass
    if not isinstance(value, str):
        raise UnsafePickleError("%s: expected a string, got %s" % (what, type(value).__name__))
    return value


def _raw_bytes(data, what):
    """The bytes of an array's data: bytes, or a Python 2 str read with encoding='latin1'
    (NumPy's documented way to read Python 2 array pickles)."""
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    if isinstance(data, str):
        try:
            return data.encode("latin1")
        except UnicodeEncodeError:
            raise UnsafePickleError("%s: the data is not a latin-1 string" % what) from None
    raise UnsafePickleError("%s: expected the raw data as bytes, got %s" % (what, type(data).__name__))


def _shape(shape, what):
    if not isinstance(shape, tuple) or not all(type(n) is int and n >= 0 for n in shape):
        raise UnsafePickleError("%s: the shape %r is not a tuple of non-negative ints" % (what, shape))
    return shape


class _Frozen:
    """Base of the objects a load hands to pickle: no instance dict, no attribute can be
    set (a ``BUILD`` opcode aimed at them fails instead of changing them)."""

    __slots__ = ()

    def __setattr__(self, name, value):
        raise UnsafePickleError("a pickle tried to set the attribute %r of %r" % (name, self))


class _Global(_Frozen):
    """An allowed global: calls a checking function (never the numpy callable itself)."""

    __slots__ = ("_name", "_fn")

    def __init__(self, name, fn):
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_fn", fn)

    def __call__(self, *args):
        if self._fn is None:
            raise UnsafePickleError("%s is only accepted as the first argument of _reconstruct" % self._name)
        return self._fn(*args)

    def __repr__(self):
        return "<allowed global %s>" % self._name


class _DType(_Frozen):
    """A ``numpy.dtype(spec, align, copy)`` call; `dtype` is the checked numpy dtype."""

    __slots__ = ("spec", "dtype", "_built")

    def __init__(self, spec, align=False, copy=False):
        spec = _ascii(spec, "numpy.dtype")
        if not _DTYPE_SPEC.match(spec):
            raise UnsafePickleError(
                "numpy.dtype(%r): only bool, int, uint, float, complex, bytes, str and object dtypes are read"
                % spec
            )
        object.__setattr__(self, "spec", spec)
        object.__setattr__(self, "dtype", _numpy_dtype("O" if spec[0] == "O" else spec))
        object.__setattr__(self, "_built", False)

    def __setstate__(self, state):
        what = "numpy.dtype(%r) state" % self.spec
        if self._built:
            raise UnsafePickleError(what + ": set twice")
        if not isinstance(state, tuple) or len(state) not in (8, 9) or state[0] not in (3, 4):
            raise UnsafePickleError("%s: unsupported state %r" % (what, state))
        byteorder = _ascii(state[1], what)
        subarray, names, fields, elsize = state[2:6]
        metadata = state[8] if len(state) == 9 else None
        if byteorder not in ("<", ">", "|", "=") or (subarray, names, fields) != (None, None, None):
            raise UnsafePickleError(
                what + ": only simple dtypes are read (no structured or sub-array dtypes)"
            )
        if metadata not in (None, {}) or type(elsize) is not int:
            raise UnsafePickleError("%s: unsupported state %r" % (what, state))
        kind = self.spec[0]
        if kind == "O":
            dtype = np.dtype("O")
        elif kind in "SU":
            size = elsize if elsize >= 0 else int(self.spec[1:]) * (4 if kind == "U" else 1)
            if kind == "U" and size % 4:
                raise UnsafePickleError("%s: a str dtype of %d bytes" % (what, size))
            order = "" if byteorder == "|" else byteorder
            dtype = _numpy_dtype("%s%s%d" % (order, kind, size // 4 if kind == "U" else size))
        else:
            dtype = _numpy_dtype(self.spec)
            if elsize not in (-1, dtype.itemsize):
                raise UnsafePickleError("%s: item size %d for a %s" % (what, elsize, dtype))
            if byteorder in "<>" and dtype.itemsize > 1:
                dtype = dtype.newbyteorder(byteorder)
        object.__setattr__(self, "dtype", dtype)
        object.__setattr__(self, "_built", True)

    def __repr__(self):
        return "<dtype placeholder %s>" % self.dtype


def _numpy_dtype(spec):
    try:
        return np.dtype(spec)
    except TypeError:
        raise UnsafePickleError("numpy.dtype(%r): not a dtype" % spec) from None


def _checked_dtype(dtype, what):
    if not isinstance(dtype, _DType):
        raise UnsafePickleError("%s: expected a numpy.dtype, got %s" % (what, type(dtype).__name__))
    return dtype.dtype


class _Array(_Frozen):
    """An array: from ``_reconstruct`` (its state comes with ``BUILD``) or
    ``_frombuffer``. `value()` builds the numpy array from the checked state."""

    __slots__ = ("_state", "_array", "_busy")

    def __init__(self):
        for name, value in (("_state", None), ("_array", None), ("_busy", False)):
            object.__setattr__(self, name, value)

    def __setstate__(self, state):
        what = "numpy array state"
        if self._state is not None:
            raise UnsafePickleError(what + ": set twice")
        if isinstance(state, tuple) and len(state) == 5 and state[0] == 1:
            state = state[1:]
        if not isinstance(state, tuple) or len(state) != 4:
            raise UnsafePickleError("%s: expected (version, shape, dtype, fortran_order, data)" % what)
        shape, dtype, fortran, data = state
        shape = _shape(shape, what)
        dtype = _checked_dtype(dtype, what)
        if type(fortran) not in (bool, int) or fortran not in (0, 1):
            raise UnsafePickleError("%s: fortran_order %r" % (what, fortran))
        n = math.prod(shape)
        if dtype.hasobject:
            if type(data) is not list or len(data) != n:
                raise UnsafePickleError(
                    "%s: an object array of %d items needs a list of %d items" % (what, n, n)
                )
        else:
            data = _raw_bytes(data, what)
            if len(data) != n * dtype.itemsize:
                raise UnsafePickleError(
                    "%s: %d bytes of data for shape %s of %s (%d expected)"
                    % (what, len(data), shape, dtype, n * dtype.itemsize)
                )
        object.__setattr__(self, "_state", (shape, dtype, bool(fortran), data))

    def value(self, memo):
        if self._array is not None:
            return self._array
        if self._state is None:
            raise UnsafePickleError("a numpy array without its state")
        if self._busy:
            raise UnsafePickleError("an object array that contains itself")
        shape, dtype, fortran, data = self._state
        order = "F" if fortran else "C"
        if dtype.hasobject and len(data) != math.prod(shape):  # the list grew after BUILD
            raise UnsafePickleError("an object array whose item list changed")
        if dtype.hasobject:
            object.__setattr__(self, "_busy", True)
            flat = np.empty(len(data), dtype=object)
            for i, item in enumerate(data):  # items in C order, as NumPy pickles them
                flat[i] = _resolve(item, memo)
            array = flat.reshape(shape)
            if fortran:
                array = np.asfortranarray(array)
        elif dtype.itemsize == 0:
            array = np.zeros(shape, dtype=dtype, order=order)
        else:
            array = np.frombuffer(data, dtype=dtype).reshape(shape, order=order).copy(order="K")
        object.__setattr__(self, "_array", array)
        object.__setattr__(self, "_state", None)
        return array

    def __repr__(self):
        return "<array placeholder>"


class _Scalar(_Frozen):
    __slots__ = ("_value",)

    def __init__(self, value):
        object.__setattr__(self, "_value", value)

    def value(self, memo):
        return self._value


def _resolve_in_place(container, items, memo):
    """Replaces each ``(key, item)`` of a list's or dict's ``items`` that ``_resolve``
    changes (the keys stay; a dict does not change size)."""
    for key, item in items:
        new = _resolve(item, memo)
        if new is not item:
            container[key] = new


def _resolve(obj, memo):
    """`obj` with the placeholders replaced by numpy objects (lists and dicts in place)."""
    t = type(obj)
    if t in _ATOMIC:
        return obj
    if t is _Array or t is _Scalar:
        return obj.value(memo)
    if t is _DType:
        return obj.dtype
    key = id(obj)
    if key in memo:
        return memo[key]
    if t is list:
        memo[key] = obj
        if not _ATOMIC.issuperset(map(type, obj)):
            _resolve_in_place(obj, enumerate(obj), memo)
        return obj
    if t is dict:
        memo[key] = obj
        if not _ATOMIC.issuperset(map(type, obj)):
            raise UnsafePickleError("a dict key that is not a string or a number")
        if not _ATOMIC.issuperset(map(type, obj.values())):
            _resolve_in_place(obj, obj.items(), memo)
        return obj
    if t is tuple:
        memo[key] = obj
        items = [_resolve(item, memo) for item in obj]
        if any(new is not old for new, old in zip(items, obj)):
            memo[key] = tuple(items)
        return memo[key]
    if t is set or t is frozenset:
        if not _ATOMIC.issuperset(map(type, obj)):
            raise UnsafePickleError("a set member that is not a string or a number")
        return obj
    raise UnsafePickleError("unexpected object of type %s" % t.__name__)


def _reconstruct(subtype, shape, typecode):
    if subtype is not _NDARRAY:
        raise UnsafePickleError("_reconstruct of %r: only numpy.ndarray is read" % (subtype,))
    return _Array()


def _scalar(dtype, data=None):
    dtype = _checked_dtype(dtype, "numpy scalar")
    if dtype.hasobject:
        raise UnsafePickleError("numpy scalar: object scalars are not read")
    data = _raw_bytes(data, "numpy scalar")
    if len(data) != dtype.itemsize:
        raise UnsafePickleError("numpy scalar: %d bytes for a %s" % (len(data), dtype))
    return _Scalar(np.frombuffer(data, dtype=dtype)[0] if dtype.itemsize else dtype.type())


def _frombuffer(buf, dtype, shape, order):
    what = "numpy array (_frombuffer)"
    array = _Array()
    if order not in ("C", "F"):
        raise UnsafePickleError("%s: order %r" % (what, order))
    if isinstance(buf, pickle.PickleBuffer):
        buf = buf.raw().tobytes()
    array.__setstate__((1, _shape(shape, what), dtype, order == "F", buf))
    return array


def _codecs_encode(text, encoding="utf-8", errors="strict"):
    # Python 3 writes bytes at protocol < 3 as _codecs.encode(bytes.decode('latin1'), 'latin1').
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1") or errors != "strict":
        raise UnsafePickleError("_codecs.encode is read only as encode(str, 'latin1')")
    return text.encode("latin1")


def _empty_bytes(*args):
    # ... and an empty bytes object as bytes().
    if args:
        raise UnsafePickleError("builtins.bytes is read only as bytes() (an empty bytes object)")
    return b""


_NDARRAY = _Global("numpy.ndarray", None)
_ALLOWED = {
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _Global("numpy.dtype", _DType),
    ("_codecs", "encode"): _Global("_codecs.encode", _codecs_encode),
    ("builtins", "bytes"): _Global("builtins.bytes", _empty_bytes),
}
for _core in ("numpy.core", "numpy._core"):
    _ALLOWED[(_core + ".multiarray", "_reconstruct")] = _Global(
        _core + ".multiarray._reconstruct", _reconstruct
    )
    _ALLOWED[(_core + ".multiarray", "scalar")] = _Global(_core + ".multiarray.scalar", _scalar)
    _ALLOWED[(_core + ".numeric", "_frombuffer")] = _Global(_core + ".numeric._frombuffer", _frombuffer)
del _core


class _RestrictedUnpickler(pickle.Unpickler):
    # Whether the file named a numpy global (else it holds no placeholder to replace).
    names_numpy = False

    def find_class(self, module, name):
        # Python 2 names, as pickle's fix_imports maps them (__builtin__ -> builtins, ...).
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        found = _ALLOWED.get((module, name))
        if found is None:
            raise UnsafePickleError(
                "it names the forbidden global %s.%s, which a general unpickler would import and call "
                "(Keras' dataset files hold only tuples, lists, dicts, strings, numbers and numpy arrays)"
                % (module, name)
            )
        if module.startswith("numpy"):
            self.names_numpy = True
        return found

    def persistent_load(self, pid):
        raise UnsafePickleError("persistent ids are not read")


def load(file, source, encoding="latin1"):
    """Unpickles `file` (a binary file object) with the restricted unpickler.

    `source` names the file in errors. `encoding` is how Python 2 `str` objects are read
    ('latin1', NumPy's choice for its arrays, or 'bytes'). Raises `UnsafePickleError`
    naming `source` for anything outside what the module docstring lists; nothing the
    file names is imported or called.
    """
    try:
        unpickler = _RestrictedUnpickler(file, encoding=encoding)
        obj = unpickler.load()
        return _resolve(obj, {}) if unpickler.names_numpy else obj
    except UnsafePickleError as e:
        raise UnsafePickleError("Refusing to unpickle %s: %s." % (source, e)) from None
    except RecursionError:
        raise UnsafePickleError("Refusing to unpickle %s: it is nested too deeply." % source) from None


def loads(data, source="<bytes>", encoding="latin1"):
    return load(io.BytesIO(data), source, encoding)
