"""Docstrings that are written once and filled in at import (``shared_docs``, the
ImageNet builders' ``_documented``) must leave ``python -OO`` (no docstrings) importable,
and must fill every placeholder when docstrings are present."""

import importlib
import pkgutil
import subprocess
import sys

import keras

IMPORT_ALL = """
import importlib, pkgutil, keras
names = [m.name for m in pkgutil.walk_packages(keras.__path__, 'keras.')
         if '._onnx' not in m.name and not m.name.endswith('__main__')]
for name in names:
    try:
        importlib.import_module(name)
    except ImportError as e:  # optional extras (onnx, ray, h5py) may be absent
        if 'No module named' not in str(e) or e.name.startswith('keras'):
            raise
print(len(names))
"""


def _modules():
    return [
        m.name for m in pkgutil.walk_packages(keras.__path__, "keras.") if not m.name.endswith("__main__")
    ]


def test_every_module_imports_without_docstrings():
    r = subprocess.run([sys.executable, "-OO", "-c", IMPORT_ALL], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert int(r.stdout.split()[-1]) > 50


def test_shared_docs_leave_no_placeholder():
    unfilled = []
    for name in _modules():
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        for attr, obj in vars(module).items():
            doc = getattr(obj, "__doc__", None)
            if getattr(obj, "__module__", None) != name or not isinstance(doc, str):
                continue
            for line in doc.splitlines():
                s = line.strip()
                if s.startswith("{") and s.endswith("}") and s[1:-1].isidentifier():
                    unfilled.append(f"{name}.{attr}: {s}")
    assert not unfilled, unfilled


def test_shared_argument_docs_are_filled_in():
    from keras.applications import VGG16
    from keras.layers import LSTM, Convolution2D

    assert "W_regularizer" in LSTM.__doc__
    assert "border_mode" in Convolution2D.__doc__
    assert "include_top" in VGG16.__doc__
