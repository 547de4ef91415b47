"""Runs every Keras 1 example of examples/ in its shortened mode
(FERROKERAS_EXAMPLE_QUICK=1: few samples, one epoch) as a subprocess, and checks that
it exits 0 and prints its result line."""

import os
import subprocess
import sys

import pytest
from example_runner import EXAMPLES, FRACTION, NUMBER, Case, Range, check

IMDB = "imdb/aclImdb_subset.tar.gz"
ACCURACY = r"^Test accuracy: (%s)$" % NUMBER

CASES = [
    Case("mnist_cnn.py", ACCURACY, FRACTION, says=["512 train samples"]),
    Case(
        "mnist_siamese_graph.py",
        r"^\* Accuracy on test set: (%s)%%$" % NUMBER,
        Range(0.0, 100.0),
        lines=[r"^\* Accuracy on training set: (%s)%%$" % NUMBER],
    ),
    Case("imdb_lstm.py", ACCURACY, FRACTION, says=["X_train shape: (128, 80)"], data=IMDB),
    Case("imdb_cnn.py", ACCURACY, FRACTION, says=["X_train shape: (256, 100)"], data=IMDB),
    Case(
        "lstm_text_generation.py",
        r"^Final training loss: (%s)$" % NUMBER,
        Range(0.0, strict=True),
        says=["total chars: 57"],  # Keras 1's printed count for the whole corpus
        counts={"----- Generating with seed:": 2},
        data="text/nietzsche.txt",
    ),
    Case(
        "stateful_lstm.py", r"^Prediction MSE: (%s) " % NUMBER, Range(0.0), says=["Input shape: (1000, 1, 1)"]
    ),
    Case(
        "addition_rnn.py",
        r"^Validation answers entirely right: (%s)$" % NUMBER,
        FRACTION,
        says=["Total addition questions: 2000"],
        counts={"\nQ ": 10},
    ),
    Case("cifar10_cnn.py", ACCURACY, FRACTION, says=["Using real-time data augmentation."]),
]


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_example(case):
    check(case, timeout=120)


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
