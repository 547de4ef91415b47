"""Runs every Keras 1 example of examples/ in its shortened mode
(FERROKERAS_EXAMPLE_QUICK=1: few samples, one epoch) as a subprocess, and checks that
it exits 0 and prints its result line."""

import functools
import os
import subprocess
import sys

from example_runner import EXAMPLES, NUMBER
from example_runner import result as _result
from example_runner import run_example as _run_example

from conftest import shared_data

run_example = functools.partial(_run_example, timeout=120)


def test_mnist_cnn():
    out = run_example("mnist_cnn.py")
    assert "512 train samples" in out
    acc = _result(out, r"^Test accuracy: (%s)$" % NUMBER)
    assert 0.0 <= acc <= 1.0


def test_mnist_siamese_graph():
    out = run_example("mnist_siamese_graph.py")
    _result(out, r"^\* Accuracy on training set: (%s)%%$" % NUMBER)
    acc = _result(out, r"^\* Accuracy on test set: (%s)%%$" % NUMBER)
    assert 0.0 <= acc <= 100.0


def test_imdb_lstm():
    shared_data("imdb/aclImdb_subset.tar.gz")
    out = run_example("imdb_lstm.py")
    assert "X_train shape: (128, 80)" in out
    acc = _result(out, r"^Test accuracy: (%s)$" % NUMBER)
    assert 0.0 <= acc <= 1.0


def test_imdb_cnn():
    shared_data("imdb/aclImdb_subset.tar.gz")
    out = run_example("imdb_cnn.py")
    assert "X_train shape: (256, 100)" in out
    acc = _result(out, r"^Test accuracy: (%s)$" % NUMBER)
    assert 0.0 <= acc <= 1.0


def test_lstm_text_generation():
    shared_data("text/nietzsche.txt")
    out = run_example("lstm_text_generation.py")
    assert "total chars: 57" in out  # Keras 1's printed count for the whole corpus
    assert out.count("----- Generating with seed:") == 2
    loss = _result(out, r"^Final training loss: (%s)$" % NUMBER)
    assert loss > 0


def test_stateful_lstm():
    out = run_example("stateful_lstm.py")
    assert "Input shape: (1000, 1, 1)" in out
    mse = _result(out, r"^Prediction MSE: (%s) " % NUMBER)
    assert mse >= 0


def test_addition_rnn():
    out = run_example("addition_rnn.py")
    assert "Total addition questions: 2000" in out
    assert out.count("\nQ ") == 10
    right = _result(out, r"^Validation answers entirely right: (%s)$" % NUMBER)
    assert 0.0 <= right <= 1.0


def test_cifar10_cnn():
    out = run_example("cifar10_cnn.py")
    assert "Using real-time data augmentation." in out
    acc = _result(out, r"^Test accuracy: (%s)$" % NUMBER)
    assert 0.0 <= acc <= 1.0


def test_quick_flag_equals_environment_variable():
    env = {k: v for k, v in os.environ.items() if k != "FERROKERAS_EXAMPLE_QUICK"}
    code = "import sys; sys.path.insert(0, %r); import example_utils as u; print(u.quick_mode())" % EXAMPLES
    plain = subprocess.run([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, check=True)
    flag = subprocess.run(
        [sys.executable, "-c", code, "--quick"], env=env, stdout=subprocess.PIPE, check=True
    )
    env["FERROKERAS_EXAMPLE_QUICK"] = "1"
    var = subprocess.run([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, check=True)
    assert (plain.stdout.strip(), flag.stdout.strip(), var.stdout.strip()) == (b"False", b"True", b"True")
