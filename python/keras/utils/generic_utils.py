"""Generic helpers of Keras 1: the progress bar, identifier lookup, custom objects,
function (de)serialisation.
"""

# The printed texts are Keras 1's printf-style formats, kept as such.
# ruff: noqa: UP031

import hashlib
import marshal
import sys
import textwrap
import threading
import time
import types

import numpy as np  # noqa: F401  (visible to functions revived by func_load with default globals)

# ---------------------------------------------------------------------------------------
# Custom objects

_GLOBAL_CUSTOM_OBJECTS = {}


class CustomObjectScope:
    """Makes custom objects visible to `get_from_module` (and deserialisation) while active.

    Used as a context manager; on exit the global table is restored to what it was on
    entry, so scopes nest.

    # Arguments
        *args: dicts mapping names to classes or functions.

    # Example

    ```python
        with CustomObjectScope({'MyLayer': MyLayer}):
            layer = Dense(3, W_regularizer='MyRegularizer')
    ```
    """

    def __init__(self, *args):
        self.custom_objects = args
        self.backup = None

    def __enter__(self):
        self.backup = dict(_GLOBAL_CUSTOM_OBJECTS)
        for objects in self.custom_objects:
            _GLOBAL_CUSTOM_OBJECTS.update(objects)
        return self

    def __exit__(self, *args, **kwargs):
        _GLOBAL_CUSTOM_OBJECTS.clear()
        _GLOBAL_CUSTOM_OBJECTS.update(self.backup)


def custom_object_scope(*args):
    """A `CustomObjectScope` for the given dicts (use in a `with` statement).

    # Arguments
        *args: dicts mapping names to classes or functions.

    # Returns
        A `CustomObjectScope`.
    """
    return CustomObjectScope(*args)


def get_custom_objects():
    """The global custom-object table (a live dict: updating it registers objects).

    # Returns
        The dict mapping names to custom classes or functions.
    """
    return _GLOBAL_CUSTOM_OBJECTS


def _lookup(name, module_params):
    if name in _GLOBAL_CUSTOM_OBJECTS:
        return _GLOBAL_CUSTOM_OBJECTS[name]
    return module_params.get(name)


def get_from_module(identifier, module_params, module_name, instantiate=False, kwargs=None):
    """Resolves an identifier (name or config dict) to an object of a module.

    Custom objects (see `custom_object_scope`) are looked up before `module_params`.

    # Arguments
        identifier: a string (the name), a dict (`{'name': ..., <kwargs>}` as Keras 1
            writes them, or `{'class_name': ..., 'config': {...}}`), or anything else,
            which is returned unchanged (a function or an instance).
        module_params: dict of the module's names (usually `globals()`).
        module_name: what the identifier names, for the error message
            (e.g. `'optimizer'`).
        instantiate: for a string identifier, call the object found and return the
            result.
        kwargs: keyword arguments of that call.

    # Returns
        The object found (or its instance).

    # Raises
        ValueError: `Invalid <module_name>: <identifier>` when the name is unknown.
    """
    if isinstance(identifier, str):
        res = _lookup(identifier, module_params)
        if res is None:
            raise ValueError("Invalid " + str(module_name) + ": " + str(identifier))
        if instantiate:
            return res(**kwargs) if kwargs else res()
        return res
    if isinstance(identifier, dict):
        config = dict(identifier)
        if "class_name" in config:
            name = config.pop("class_name")
            config = dict(config.get("config") or {})
        elif "name" in config:
            name = config.pop("name")
        else:
            raise ValueError("Invalid " + str(module_name) + ": " + str(identifier))
        res = _lookup(name, module_params) if isinstance(name, str) else None
        if res is None:
            raise ValueError("Invalid " + str(module_name) + ": " + str(name))
        return res(**config)
    return identifier


def module_functions(module_globals):
    """The public functions of a module (given its ``globals()``), less ``get`` and
    ``get_from_module``: the names ``activations.get``, ``metrics.get`` and
    ``objectives.get`` resolve. Called at lookup time, so a function added to the module
    later (as Keras 1 users sometimes did) is found by name too."""
    return {
        k: v
        for k, v in module_globals.items()
        if not k.startswith("_")
        and k not in ("get", "get_from_module")
        and callable(v)
        and not isinstance(v, type)
    }


def shared_docs(**parts):
    """A decorator that replaces each line ``{name}`` of the decorated function's or
    class's docstring with the text ``parts[name]``, indented as that line: argument
    docs several classes share are written once."""

    def fill(obj):
        if obj.__doc__ is None:  # python -OO strips docstrings
            return obj
        lines = []
        for line in obj.__doc__.split("\n"):
            name = line.strip()[1:-1] if line.strip().startswith("{") else None
            if name in parts:
                indent = line[: len(line) - len(line.lstrip())]
                line = textwrap.indent(textwrap.dedent(parts[name]).strip("\n"), indent)
            lines.append(line)
        obj.__doc__ = "\n".join(lines)
        return obj

    return fill


def make_tuple(*args):
    """The positional arguments as a tuple."""
    return args


# ---------------------------------------------------------------------------------------
# Function serialisation (Lambda layers, custom merge modes)


# Bytecode this process serialised itself from a live function, keyed by the SHA-256 of
# the exact marshalled bytes: the code object (kept alive so the entry stays meaningful)
# and the globals of the function it came from. Reviving such bytecode runs nothing that was not already running here, so it is
# trusted without `safe_mode=False` (Keras 1 revived it unconditionally); bytecode from a
# file another process wrote has no entry and still needs the opt-in. Entries live as long
# as the process (a few hundred bytes per distinct function serialised).
_OWN_BYTECODE = {}
_OWN_BYTECODE_LOCK = threading.Lock()


def _bytecode_digest(code_text):
    return hashlib.sha256(code_text.encode("raw_unicode_escape")).hexdigest()


def _own_bytecode(code_text):
    """`(code object, globals)` when `code_text` is bytecode this process dumped, else None."""
    if not isinstance(code_text, str):
        return None
    with _OWN_BYTECODE_LOCK:
        return _OWN_BYTECODE.get(_bytecode_digest(code_text))


def func_dump(func):
    """Serialises a Python function (bytecode, defaults, closure values).

    The bytecode is `marshal`-ed and decoded as `raw_unicode_escape`, as Keras 1 did, so
    the result is a JSON-friendly string tied to the Python version that wrote it. The
    process remembers what it dumped, so `revive_function` trusts the same bytes later in
    this process (see `_OWN_BYTECODE`).

    # Arguments
        func: the function.

    # Returns
        A tuple `(code, defaults, closure)`.
    """
    code = marshal.dumps(func.__code__).decode("raw_unicode_escape")
    with _OWN_BYTECODE_LOCK:
        _OWN_BYTECODE[_bytecode_digest(code)] = (func.__code__, func.__globals__)
    defaults = func.__defaults__
    if func.__closure__:
        closure = tuple(cell.cell_contents for cell in func.__closure__)
    else:
        closure = None
    return code, defaults, closure


def func_load(code, defaults=None, closure=None, globs=None):
    """Rebuilds a function written by `func_dump`.

    # Arguments
        code: the code string, or the whole `(code, defaults, closure)` tuple/list.
        defaults: default argument values (a list, as JSON gives back, is accepted).
        closure: values of the closure variables.
        globs: globals of the new function (default: this module's globals).

    # Returns
        The function.

    # Raises
        ValueError: the bytecode was written by another Python version (marshalled code
            objects are specific to one version) or is corrupt.
    """
    if isinstance(code, (tuple, list)):
        code, defaults, closure = code
    try:
        code = marshal.loads(code.encode("raw_unicode_escape"))
    except (ValueError, EOFError, TypeError, UnicodeError, AttributeError) as e:
        raise ValueError(
            "Cannot revive a function stored as Python bytecode: it was written by another Python version "
            "(Keras 1 files usually come from Python 2.7 or 3.5) or is corrupt (%s). Bytecode only loads in the "
            "Python version that wrote it; pass the function in `custom_objects` instead." % e
        ) from e
    if not isinstance(code, types.CodeType):
        raise ValueError("Cannot revive a function stored as Python bytecode: the data is not a code object")
    if defaults is not None:
        defaults = tuple(defaults)
    if closure is not None:
        closure = tuple(c if isinstance(c, types.CellType) else types.CellType(c) for c in closure)
    if (len(closure) if closure else 0) != len(code.co_freevars):
        raise ValueError(
            "Cannot revive a function stored as Python bytecode: it needs %d closure value(s), the config has %d"
            % (len(code.co_freevars), len(closure) if closure else 0)
        )
    if globs is None:
        globs = globals()
    return types.FunctionType(code, globs, name=code.co_name, argdefs=defaults, closure=closure)


def _named_function_allowlist():
    """The functions a config may name with kind 'function' without `custom_objects`:
    the public functions of `keras.activations`, `keras.objectives` and
    `keras.metrics` (what a Lambda or Merge written by Keras 1 can legitimately
    reference by name). Module internals, classes and helpers are not reachable."""
    from .. import activations, metrics, objectives

    allowed = {}
    for module in (activations, objectives, metrics):
        for name, value in vars(module).items():
            if (
                not name.startswith("_")
                and name != "get"
                and isinstance(value, types.FunctionType)
                and value.__module__ == module.__name__
            ):
                allowed.setdefault(name, value)
    return allowed


def revive_function(value, kind, layer_name, what, custom_objects=None, safe_mode=True, globs=None):
    """A function argument of a layer config (Lambda's `function`, Merge's `mode`, ...)
    in Keras 1's encoding, revived.

    `kind` is 'function', 'lambda' (marshalled bytecode) or 'raw' (returned as is).

    A 'function' is looked up by name in `custom_objects`, then the global custom
    objects (`custom_object_scope`), then an explicit allowlist: the public functions of
    `keras.activations`, `keras.objectives` and `keras.metrics`. It is never looked up
    in a module's globals, so a file cannot name an internal helper (Keras 1 looked in
    `keras.layers.core`'s / `keras.engine.topology`'s globals).

    Bytecode would run code taken from the config, so it is revived only when
    `custom_objects` holds a function under the layer's name (used instead of the
    bytecode), when this process itself serialised those exact bytes from a live function
    (`func_dump` remembers them: a same-script `to_json`/`model_from_json` or
    `save`/`load_model` round trip), or when `safe_mode` is False. Revived bytecode sees
    `globs` (the defining Keras module's globals, as in Keras 1) and the custom objects.

    # Raises
        ValueError: bytecode in safe mode (naming the layer and how to opt in), a
            function name that is neither a custom object nor allowlisted, bytecode from
            another Python version, or an unknown function type.
    """
    if kind == "function":
        allowed = _named_function_allowlist()
        allowed.update(_GLOBAL_CUSTOM_OBJECTS)
        if custom_objects:
            allowed.update(custom_objects)
        if not isinstance(value, str) or value not in allowed:
            raise ValueError(
                "Layer %s: unknown %s %r; a function stored by name must be passed in `custom_objects` "
                "(only Keras' activations, objectives and metrics are found without it)."
                % (layer_name, what, value)
            )
        return allowed[value]
    if kind == "lambda":
        if custom_objects and layer_name in custom_objects and callable(custom_objects[layer_name]):
            return custom_objects[layer_name]
        lookup = dict(globs or {})
        lookup.update(_GLOBAL_CUSTOM_OBJECTS)
        if custom_objects:
            lookup.update(custom_objects)
        code_text = value[0] if isinstance(value, (tuple, list)) and value else value
        own = _own_bytecode(code_text)
        if own is not None:
            # this process's own function: it also sees (a snapshot of) the globals of the
            # module it was defined in, which Keras 1's revived functions did not
            lookup.update(own[1])
        elif safe_mode:
            raise ValueError(
                "Layer '%s' stores its %s as Python bytecode; reviving it would run code taken from the file or "
                "config. Pass safe_mode=False (to load_model / model_from_json / from_config) if you trust it, or "
                "pass the function as custom_objects={%r: function}." % (layer_name, what, layer_name)
            )
        try:
            return func_load(value, globs=lookup)
        except ValueError as e:
            raise ValueError("Layer '%s' (%s): %s" % (layer_name, what, e)) from e
    if kind == "raw":
        return value
    raise ValueError("Layer %s: unknown function type %r for its %s" % (layer_name, kind, what))


# ---------------------------------------------------------------------------------------
# Progress bar


def _fmt_abs(avg):
    """verbose=1 value format: %.4f when |v| > 1e-3, else %.4e."""
    try:
        if abs(avg) > 1e-3:
            return " %.4f" % avg
        return " %.4e" % avg
    except (TypeError, ValueError):  # not a scalar
        return " %s" % (avg,)


def _fmt_signed(avg):
    """verbose=2 value format: %.4f when v > 1e-3 (no abs), else %.4e."""
    try:
        if avg > 1e-3:
            return " %.4f" % avg
        return " %.4e" % avg
    except (TypeError, ValueError):  # not a scalar
        return " %s" % (avg,)


class Progbar:
    """Keras 1's text progress bar.

    verbose=1 redraws one line in place (`'\\b' * previous width`, then `'\\r'`):
    `  128/60000 [..............................] - ETA: 41s - loss: 0.6931`, and at the
    end `60000/60000 [==============================] - 12s - loss: 0.2315` plus a
    newline. Redraws are throttled to one per `interval` seconds unless forced; a
    throttled update only accumulates the running averages.
    verbose=2 prints one line `<elapsed>s - loss: ...` when `current` reaches `target`.

    # Arguments
        target: total number of steps (samples) expected.
        width: width of the bar in characters.
        verbose: 1 (bar) or 2 (one line at the end); anything else prints nothing.
        interval: minimum time between two redraws, in seconds.
    """

    def __init__(self, target, width=30, verbose=1, interval=0.05):
        self.width = width
        self.target = target
        self.sum_values = {}
        self.unique_values = []
        self.start = time.time()
        self.last_update = 0
        self.interval = interval
        self.total_width = 0
        self.seen_so_far = 0
        self.verbose = verbose
        target = int(target) if target else 0
        digits = len("%d" % target) if target > 0 else 1
        self._count_fmt = "%%%dd/%%%dd [" % (digits, digits)

    def update(self, current, values=None, force=False):
        """Moves the bar to `current` and folds `values` into the running averages.

        # Arguments
            current: index of the current step (samples seen so far).
            values: list of `(name, value)` tuples; each value is weighted by the number
                of steps since the previous update.
            force: redraw even when the last redraw is less than `interval` ago.
        """
        step = current - self.seen_so_far
        if values:
            sums = self.sum_values
            for k, v in values:
                try:
                    v = float(v)
                except (TypeError, ValueError):
                    pass
                entry = sums.get(k)
                if entry is None:
                    sums[k] = [v * step, step]
                    self.unique_values.append(k)
                else:
                    entry[0] += v * step
                    entry[1] += step
        self.seen_so_far = current

        now = time.time()
        verbose = self.verbose
        if verbose == 1:
            if not force and (now - self.last_update) < self.interval:
                return
            self._draw(current, now)
        elif verbose == 2:
            if current >= self.target:
                parts = ["%ds" % (now - self.start)]
                for k in self.unique_values:
                    total, count = self.sum_values[k]
                    parts.append(" - %s:" % k)
                    parts.append(_fmt_signed(total / max(1, count)))
                parts.append("\n")
                sys.stdout.write("".join(parts))
                sys.stdout.flush()
        self.last_update = now

    def _draw(self, current, now):
        target = self.target
        prev_total_width = self.total_width
        bar = self._count_fmt % (current, target)
        prog = float(current) / target if target else 1.0
        prog_width = int(self.width * prog)
        if prog_width > 0:
            bar += "=" * (prog_width - 1)
            bar += ">" if current < target else "="
        bar += "." * (self.width - prog_width)
        bar += "]"

        if current < target:
            time_per_unit = (now - self.start) / current if current else 0
            info = " - ETA: %ds" % (time_per_unit * (target - current))
        else:
            info = " - %ds" % (now - self.start)
        for k in self.unique_values:
            total, count = self.sum_values[k]
            info += " - %s:" % k
            info += _fmt_abs(total / max(1, count))

        self.total_width = len(bar) + len(info)
        if prev_total_width > self.total_width:
            info += " " * (prev_total_width - self.total_width)
        out = "\b" * prev_total_width + "\r" + bar + info
        if current >= target:
            out += "\n"
        sys.stdout.write(out)
        sys.stdout.flush()

    def add(self, n, values=None):
        """Advances the bar by `n` steps (see `update`)."""
        self.update(self.seen_so_far + n, values)
