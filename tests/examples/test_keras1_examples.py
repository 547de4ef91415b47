"""Runs our versions of the Keras 1.2.2 example scripts that examples/ adds beside the
original set (babi_rnn, babi_memnn, imdb_bidirectional_lstm, imdb_cnn_lstm,
imdb_fasttext, lstm_benchmark, mnist_irnn, antirectifier, mnist_transfer_cnn,
mnist_hierarchical_rnn, mnist_net2net, mnist_sklearn_wrapper, variational_autoencoder,
variational_autoencoder_deconv, reuters_mlp, pretrained_word_embeddings, conv_lstm,
neural_style_transfer, deep_dream, conv_filter_visualization) in their shortened mode (FERROKERAS_EXAMPLE_QUICK=1) as subprocesses, and checks that each exits
0 and prints its result line (and, where the example states one, its invariant)."""

import re

import pytest
from example_runner import FRACTION, NUMBER, Case, Range, check, result
from example_runner import run_example as _run_example

from conftest import shared_data

TIMEOUT = 180
IMDB = "imdb/aclImdb_subset.tar.gz"
BABI = r"^Test loss / test accuracy = %s / (%s)$" % (NUMBER, NUMBER)
LOSS = r"^Test loss: (%s)$" % NUMBER
FINAL_LOSS = r"^Final loss: (%s)$" % NUMBER
RANDOM_VGG = "RANDOM VGG16 weights"


def accuracy(prefix="Test accuracy: "):
    return r"^%s(%s)$" % (re.escape(prefix), NUMBER)


def decoder_case(script, grid, side):
    """A variational autoencoder: its test loss, and the figure of its decoded grid."""
    says = "Decoded a %dx%d grid of latent points: figure (%d, %d)" % (grid, grid, side, side)
    return Case(script, LOSS, Range(0, 1000, strict=True), says=[says])


CASES = [
    Case("babi_rnn.py", BABI, FRACTION, says=["bAbI task 1: 200 generated training and 100 test stories"]),
    Case("babi_memnn.py", BABI, FRACTION, says=["Number of training stories: 200"]),
    Case("imdb_bidirectional_lstm.py", accuracy(), FRACTION, says=["X_train shape: (256, 50)"], data=IMDB),
    Case("imdb_cnn_lstm.py", accuracy(), FRACTION, says=["X_train shape: (240, 100)"], data=IMDB),
    Case(
        "imdb_fasttext.py",
        accuracy(),
        FRACTION,
        says=["Adding 2-gram features", "X_train shape: (256, 400)"],
        data=IMDB,
    ),
    Case("mnist_irnn.py", accuracy("IRNN test accuracy: "), FRACTION, says=["X_train shape: (256, 784, 1)"]),
    Case("antirectifier.py", accuracy(), FRACTION, says=["512 train samples"]),
    Case(
        "mnist_transfer_cnn.py",
        r"^Digits 0-4 accuracy: (%s), " % NUMBER,
        says=["Frozen convolution weights unchanged: True"],
        counts={"Training time:": 2},
    ),
    Case("mnist_hierarchical_rnn.py", accuracy(), FRACTION, says=["X_train shape: (256, 28, 28, 1)"]),
    decoder_case("variational_autoencoder.py", 15, 420),
    Case(
        "reuters_mlp.py",
        accuracy(),
        FRACTION,
        says=["400 GENERATED newswires", "X_train shape: (320, 1000)"],
    ),
    Case(
        "neural_style_transfer.py",
        FINAL_LOSS,
        Range(0, strict=True),
        says=["Image size: 48 x 48", RANDOM_VGG],
    ),
    decoder_case("variational_autoencoder_deconv.py", 5, 140),
    Case(
        "pretrained_word_embeddings.py",
        accuracy("Validation accuracy: "),
        FRACTION,
        says=["Shape of data tensor: (160, 1000)", "Embedding unchanged by training: True"],
        data=IMDB,
    ),
    Case("conv_lstm.py", r"^Mean absolute error of the predicted frames: (%s)$" % NUMBER, FRACTION),
    Case("deep_dream.py", FINAL_LOSS, Range(strict=True), says=[RANDOM_VGG]),
    Case(
        "conv_filter_visualization.py",
        says=[RANDOM_VGG],
        counts={"Processing filter": 2},
        lines=[r"^Kept [0-2] of 2 filters$"],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_keras1_example(case):
    check(case, timeout=TIMEOUT)


def test_mnist_sklearn_wrapper():
    pytest.importorskip("sklearn")
    check(
        Case(
            "mnist_sklearn_wrapper.py",
            r"^acc :  (%s)$" % NUMBER,
            FRACTION,
            says=["The parameters of the best model are:"],
        ),
        TIMEOUT,
    )


def test_mnist_net2net_transforms_preserve_the_function():
    out = _run_example("mnist_net2net.py", TIMEOUT)
    rows = dict(re.findall(r"^(\S+)\s+(.+)$", out.split("Validation loss: before training")[1], re.M))

    def start(name):
        return float(rows[name].split("|")[0])

    teacher = float(rows["teacher"].split("|")[1].split()[-1])
    # net2deeper adds identity layers: the student starts exactly where the teacher ended
    assert abs(start("deeper_net2deeper") - teacher) < 1e-3
    # net2wider splits units (plus a little noise on the copies)
    assert abs(start("wider_net2wider") - teacher) < 0.02


def test_lstm_benchmark_all_consume_less_modes():
    shared_data(IMDB)
    out = _run_example("lstm_benchmark.py", TIMEOUT)
    # per-gate weights in 'cpu' and 'mem', concatenated ones in 'gpu', as in Keras 1
    assert re.findall(r"^LSTM weights: (\d+) arrays$", out, re.M) == ["12", "12", "3"]
    for mode in ("cpu", "mem", "gpu"):
        result(out, r"^%s\s+\| (%s) \|" % (mode, NUMBER))
