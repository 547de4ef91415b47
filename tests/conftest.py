"""Test-suite setup.

- HOME points at a fresh temporary directory before keras is imported, so a developer's
  own ~/.keras/keras.json never changes the outcome.
- ``shared_data(relpath)`` returns a path under ../shared/data (relative to the repository
  root); when the file is absent the test is skipped with the reason, except when
  FERROKERAS_REQUIRE_DATA is set (CI sets it), where it fails. ``mnist_test_set()`` reads
  the MNIST test set from there.
- ``examples_module(name)`` imports a module of examples/, so that tests share the
  examples' data helpers and models (``keras1_mnist_mlp()``) instead of copying them.
- Every test starts from the same global numpy and ``random`` seeds, so a learning test's
  initial weights and shuffles do not depend on which tests ran before it.
- ``require_ray(*submodules)`` returns the optional ``ray`` module or skips (fails in CI);
  the ``fit_loop_calls`` fixture records which batch source and step each
  ``keras.engine.loop.fit_loop`` call ran with.
"""

import importlib
import os
import random
import sys
import tempfile

os.environ["HOME"] = tempfile.mkdtemp(prefix="ferrokeras-home-")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.path.normpath(os.path.join(REPO, "..", "shared", "data"))
EXAMPLES = os.path.join(REPO, "examples")


def shared_data(relpath):
    """Absolute path of a file of ../shared/data, or skip (fail in CI) when missing."""
    path = os.path.join(SHARED_DATA, relpath)
    if not os.path.exists(path):
        msg = "shared data file %s is missing (expected at %s)" % (relpath, path)
        if os.environ.get("FERROKERAS_REQUIRE_DATA"):
            pytest.fail(msg + "; FERROKERAS_REQUIRE_DATA is set, so this is a failure")
        pytest.skip(msg)
    return path


def mnist_test_set():
    """The shared MNIST test set (t10k): images uint8 (10000, 28, 28), labels uint8
    (10000,); skipped like ``shared_data`` when missing."""
    images = shared_data("mnist/t10k-images-idx3-ubyte.gz")
    shared_data("mnist/t10k-labels-idx1-ubyte.gz")
    return examples_module("mnist_data").load_mnist_test_set(os.path.dirname(images))


def require_ray(*submodules):
    """The ``ray`` module, with ``submodules`` (e.g. "ray.cluster_utils") importable, or
    skip the test: Ray is optional (pip install '.[distributed]'), except in CI (CI or
    FERROKERAS_REQUIRE_DATA set), where its absence fails the test."""
    import importlib

    try:
        ray = importlib.import_module("ray")
        for name in submodules:
            importlib.import_module(name)
    except ImportError as e:
        msg = "ray is not installed (%s): pip install '.[distributed]'" % e
        if os.environ.get("CI") or os.environ.get("FERROKERAS_REQUIRE_DATA"):
            pytest.fail(msg + "; in CI this is a failure")
        pytest.skip(msg)
    return ray


def examples_module(name):
    """The module ``name`` of examples/ (its helpers, or an example whose model a test
    trains), imported from there."""
    if EXAMPLES not in sys.path:
        sys.path.insert(0, EXAMPLES)
    return importlib.import_module(name)


def keras1_mnist_mlp():
    """Keras 1's examples/mnist_mlp.py model, uncompiled: Dense(512) relu Dropout(0.2),
    twice, then Dense(10) softmax, on 784 inputs."""
    return examples_module("mnist_mlp").build_model()


@pytest.fixture
def data_path():
    return shared_data


@pytest.fixture
def fit_loop_calls(monkeypatch):
    """A list that gets (batch source class name, step class name) for every call of
    ``keras.engine.loop.fit_loop`` in the test (which still runs)."""
    from keras.engine import loop

    calls = []
    real = loop.fit_loop

    def spy(model, batches, step, *args, **kwargs):
        calls.append((type(batches).__name__, type(step).__name__))
        return real(model, batches, step, *args, **kwargs)

    monkeypatch.setattr(loop, "fit_loop", spy)
    return calls


@pytest.fixture
def fresh_session():
    """A cleared Keras session (graph, uids, learning phase) before and after the test;
    a module opts in with ``pytestmark = pytest.mark.usefixtures("fresh_session")``."""
    from keras import backend as K

    K.clear_session()
    yield
    K.clear_session()


@pytest.fixture(autouse=True)
def _fixed_global_seeds():
    np.random.seed(1337)
    random.seed(1337)
