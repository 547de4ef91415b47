"""Runs every Keras 1 example of examples/ in its shortened mode
(FERROKERAS_EXAMPLE_QUICK=1: few samples, one epoch) as a subprocess, and checks that
it exits 0 and prints its result line."""

import os
import subprocess
import sys

import pytest
from example_runner import EXAMPLES, FRACTION, NUMBER, Case, Range, check

from conftest import examples_module

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


def test_example_arguments_read_the_flags_and_the_shortened_mode(monkeypatch):
    """What example_utils.example_arguments gives main(): the flags as parsed (defaults
    when absent, renamed flags, --epochs as nb_epoch), and in the shortened mode the
    quick settings over them, the flags they do not name kept."""
    utils = examples_module("example_utils")
    monkeypatch.delenv("FERROKERAS_EXAMPLE_QUICK", raising=False)
    options = dict(
        no_augmentation=dict(action="store_true"), nb_chars=dict(flag="--chars", type=int, default=7)
    )
    quick = dict(nb_epoch=1, nb_chars=3, verbose=2)

    def parse(*argv):
        monkeypatch.setattr(sys, "argv", ["example.py", *argv])
        return utils.example_arguments("shortened", quick, epochs=12, **options)

    assert parse() == dict(nb_epoch=12, no_augmentation=False, nb_chars=7)
    assert parse("--epochs", "4", "--no-augmentation", "--chars", "9") == dict(
        nb_epoch=4, no_augmentation=True, nb_chars=9
    )
    assert parse("--no-augmentation", "--quick") == dict(
        nb_epoch=1, no_augmentation=True, nb_chars=3, verbose=2
    )
    monkeypatch.setenv("FERROKERAS_EXAMPLE_QUICK", "1")
    assert parse("--epochs", "4") == dict(nb_epoch=1, no_augmentation=False, nb_chars=3, verbose=2)
    with pytest.raises(SystemExit):
        parse("--nb-chars", "5")  # a renamed flag answers to its new name only
