"""`keras.backend` is the only door into the engine (ARCHITECTURE.md, "The backend door").

Every module under python/keras outside backend/ is parsed (ast, nothing imported) and
may not:
  * import `keras._native` (absolutely, relatively, or by name in a string);
  * reach the backend's implementation module (`keras.backend.ferrokeras_backend`)
    instead of `keras.backend`;
  * use a private name of the backend module (`K._op`, `from ..backend import _seed`);
  * use a private member of a backend class (`Function._program`, `Tensor._session`).
The Keras 1 tensor attributes that layers and the engine share by design
(`_keras_shape`, `_keras_history`, `_uses_learning_phase`, `_is_sparse`) are allowed.
"""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "python" / "keras"
BACKEND = PACKAGE / "backend"
KERAS1_TENSOR_ATTRS = {"_keras_shape", "_keras_history", "_uses_learning_phase", "_is_sparse"}
IMPLEMENTATION = "ferrokeras_backend"


def _private(name):
    return name.startswith("_") and not name.startswith("__")


def backend_class_members(backend_dir=BACKEND):
    """Private method and attribute names of the classes defined in backend/."""
    names = set()
    for path in backend_dir.glob("*.py"):
        for cls in ast.walk(ast.parse(path.read_text())):
            if not isinstance(cls, ast.ClassDef):
                continue
            for node in ast.walk(cls):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _private(node.name):
                    names.add(node.name)
                elif (
                    isinstance(node, ast.Attribute)
                    and isinstance(node.ctx, ast.Store)
                    and _private(node.attr)
                ):
                    names.add(node.attr)
    return names - KERAS1_TENSOR_ATTRS


def _module_name(path, package_root):
    parts = list(path.relative_to(package_root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _resolve(node, current, is_package):
    """The absolute module an ImportFrom names."""
    if not node.level:
        return node.module or ""
    base = current.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _is_backend(module):
    return module == "keras.backend" or module.startswith("keras.backend.")


def violations_in(source, module, is_package=False, members=None):
    """(line, what) for every way `source` (the module `module`) goes past the door."""
    members = backend_class_members() if members is None else members
    tree = ast.parse(source)
    found = []
    backend_names = set()  # local names bound to keras.backend (or its submodules)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "keras._native" or alias.name.startswith("keras._native."):
                    found.append((node.lineno, "imports keras._native"))
                if alias.name.startswith("keras.backend." + IMPLEMENTATION):
                    found.append((node.lineno, "imports the backend's implementation module"))
                if _is_backend(alias.name):
                    backend_names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(node, module, is_package)
            for alias in node.names:
                full = target + "." + alias.name
                if target.startswith("keras._native") or full == "keras._native":
                    found.append((node.lineno, "imports keras._native"))
                elif _is_backend(target) and (_private(alias.name) or alias.name == IMPLEMENTATION):
                    found.append((node.lineno, "imports %s from %s" % (alias.name, target)))
                elif target.startswith("keras.backend." + IMPLEMENTATION):
                    found.append((node.lineno, "imports from the backend's implementation module"))
                if _is_backend(full):
                    backend_names.add(alias.asname or alias.name)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value == "keras._native" or node.value.startswith("keras._native."):
                found.append((node.lineno, "names keras._native in a string"))
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        owner = node.value
        if isinstance(owner, ast.Name) and owner.id in backend_names:
            if _private(node.attr):
                found.append((node.lineno, "uses the private backend name %s.%s" % (owner.id, node.attr)))
            elif node.attr == IMPLEMENTATION:
                found.append((node.lineno, "reaches the backend's implementation module"))
        elif node.attr in members and not (isinstance(owner, ast.Name) and owner.id in ("self", "cls")):
            found.append((node.lineno, "uses the private backend member .%s" % node.attr))
    return sorted(set(found))


def package_violations(package_root=PACKAGE):
    members = backend_class_members(package_root / "backend")
    out = []
    for path in sorted(package_root.rglob("*.py")):
        if (package_root / "backend") in path.parents:
            continue
        module = _module_name(path, package_root)
        for line, what in violations_in(path.read_text(), module, path.name == "__init__.py", members):
            out.append("%s:%d: %s" % (path.relative_to(package_root.parent), line, what))
    return out


def test_no_module_outside_the_backend_goes_past_the_door():
    assert package_violations() == []


def test_the_package_is_scanned():
    # the scan sees the modules that talk to the engine the most
    scanned = {p.name for p in PACKAGE.rglob("*.py") if BACKEND not in p.parents}
    assert {"training.py", "topology.py", "recurrent.py", "optimizers.py", "_replica.py"} <= scanned
    assert {"_program", "_session"} <= backend_class_members()


@pytest.mark.parametrize(
    "source, module, what",
    [
        ("import keras._native\n", "keras.layers.core", "imports keras._native"),
        ("from keras import _native\n", "keras.layers.core", "imports keras._native"),
        ("from .. import _native\n", "keras.layers.core", "imports keras._native"),
        ("from . import _native\n", "keras", "imports keras._native"),
        ("from .._native import Graph\n", "keras.engine.training", "imports keras._native"),
        ("import importlib\nimportlib.import_module('keras._native')\n", "keras.utils.x", "string"),
        ("from .. import backend as K\nK._op('add', [])\n", "keras.layers.core", "private backend name"),
        ("from keras import backend as K\nK._graph()\n", "keras.models", "private backend name"),
        ("import keras.backend as B\nB._seed(1)\n", "keras.models", "private backend name"),
        ("from .. import backend\nbackend._dropout_in_phase(x, .5)\n", "keras.layers.core", "private"),
        (
            "from .. import backend as K\nK.ferrokeras_backend.dropout(x, .5)\n",
            "keras.layers.core",
            "implementation",
        ),
        ("from ..backend import ferrokeras_backend as FK\n", "keras.engine.training", "ferrokeras_backend"),
        ("from ..backend.ferrokeras_backend import dropout\n", "keras.engine.training", "implementation"),
        ("from ..backend import _seed\n", "keras.engine.training", "_seed"),
        ("def f(fn, xs):\n    return fn._program(xs)\n", "keras.engine.training", "member ._program"),
        ("def f(t):\n    return t._session\n", "keras.engine.topology", "member ._session"),
    ],
)
def test_the_check_catches(source, module, what):
    found = violations_in(source, module, is_package=module == "keras")
    assert found, source
    assert any(what in w for _, w in found), found


@pytest.mark.parametrize(
    "source, module",
    [
        (
            "from .. import backend as K\nK.bias_add(x, b)\nK.dropout_in_train_phase(x, .5)\n",
            "keras.layers.core",
        ),
        (
            "def f(t):\n    t._keras_shape = (None, 3)\n    return t._uses_learning_phase\n",
            "keras.engine.topology",
        ),
        ("class L:\n    def _program(self):\n        return self._program\n", "keras.layers.core"),
        ("from .. import backend as K\nf = K.function([], [])\nf.run([])\n", "keras.engine.training"),
        ("from ..layers import _weighted\n_weighted.config_of(None)\n", "keras.layers.core"),
    ],
)
def test_the_check_allows(source, module):
    assert violations_in(source, module) == []
