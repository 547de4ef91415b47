"""Runs our versions of the Keras 1.2.2 example scripts that examples/ adds beside the
original set (babi_rnn, babi_memnn, imdb_bidirectional_lstm, imdb_cnn_lstm,
imdb_fasttext, lstm_benchmark, mnist_irnn, antirectifier, mnist_transfer_cnn,
mnist_hierarchical_rnn, mnist_net2net, mnist_sklearn_wrapper, variational_autoencoder,
variational_autoencoder_deconv, reuters_mlp, pretrained_word_embeddings, conv_lstm,
neural_style_transfer, deep_dream, conv_filter_visualization) in their shortened mode (FERROKERAS_EXAMPLE_QUICK=1) as subprocesses, and checks that each exits
0 and prints its result line (and, where the example states one, its invariant)."""

import functools
import math
import re

import pytest
from example_runner import NUMBER
from example_runner import result as _result
from example_runner import run_example as _run_example

from conftest import shared_data

run_example = functools.partial(_run_example, timeout=180)


def _accuracy(out, prefix="Test accuracy: "):
    acc = _result(out, r"^%s(%s)$" % (re.escape(prefix), NUMBER))
    assert 0.0 <= acc <= 1.0
    return acc


def test_babi_rnn():
    out = run_example("babi_rnn.py")
    assert "bAbI task 1: 200 generated training and 100 test stories" in out
    acc = _result(out, r"^Test loss / test accuracy = %s / (%s)$" % (NUMBER, NUMBER))
    assert 0.0 <= acc <= 1.0


def test_babi_memnn():
    out = run_example("babi_memnn.py")
    assert "Number of training stories: 200" in out
    acc = _result(out, r"^Test loss / test accuracy = %s / (%s)$" % (NUMBER, NUMBER))
    assert 0.0 <= acc <= 1.0


def test_imdb_bidirectional_lstm():
    shared_data("imdb/aclImdb_subset.tar.gz")
    out = run_example("imdb_bidirectional_lstm.py")
    assert "X_train shape: (256, 50)" in out
    _accuracy(out)


def test_imdb_cnn_lstm():
    shared_data("imdb/aclImdb_subset.tar.gz")
    out = run_example("imdb_cnn_lstm.py")
    assert "X_train shape: (240, 100)" in out
    _accuracy(out)


def test_imdb_fasttext():
    shared_data("imdb/aclImdb_subset.tar.gz")
    out = run_example("imdb_fasttext.py")
    assert "Adding 2-gram features" in out
    assert "X_train shape: (256, 400)" in out
    _accuracy(out)


def test_mnist_irnn():
    out = run_example("mnist_irnn.py")
    assert "X_train shape: (256, 784, 1)" in out
    _accuracy(out, "IRNN test accuracy: ")


def test_antirectifier():
    out = run_example("antirectifier.py")
    assert "512 train samples" in out
    _accuracy(out)


def test_mnist_transfer_cnn():
    out = run_example("mnist_transfer_cnn.py")
    assert "Frozen convolution weights unchanged: True" in out
    assert out.count("Training time:") == 2
    _result(out, r"^Digits 0-4 accuracy: (%s), " % NUMBER)


def test_mnist_hierarchical_rnn():
    out = run_example("mnist_hierarchical_rnn.py")
    assert "X_train shape: (256, 28, 28, 1)" in out
    _accuracy(out)


def test_variational_autoencoder():
    out = run_example("variational_autoencoder.py")
    assert "Decoded a 15x15 grid of latent points: figure (420, 420)" in out
    loss = _result(out, r"^Test loss: (%s)$" % NUMBER)
    assert 0 < loss < 1000


def test_mnist_net2net_transforms_preserve_the_function():
    out = run_example("mnist_net2net.py")
    rows = dict(re.findall(r"^(\S+)\s+(.+)$", out.split("Validation loss: before training")[1], re.M))

    def start(name):
        return float(rows[name].split("|")[0])

    teacher = float(rows["teacher"].split("|")[1].split()[-1])
    # net2deeper adds identity layers: the student starts exactly where the teacher ended
    assert abs(start("deeper_net2deeper") - teacher) < 1e-3
    # net2wider splits units (plus a little noise on the copies)
    assert abs(start("wider_net2wider") - teacher) < 0.02


def test_reuters_mlp_on_generated_newswires():
    out = run_example("reuters_mlp.py")
    assert "400 GENERATED newswires" in out
    assert "X_train shape: (320, 1000)" in out
    _accuracy(out)


def test_neural_style_transfer_small_random_weights():
    out = run_example("neural_style_transfer.py")
    assert "Image size: 48 x 48" in out
    assert "RANDOM VGG16 weights" in out
    loss = _result(out, r"^Final loss: (%s)$" % NUMBER)
    assert loss > 0 and math.isfinite(loss)


def test_lstm_benchmark_all_consume_less_modes():
    shared_data("imdb/aclImdb_subset.tar.gz")
    out = run_example("lstm_benchmark.py")
    # per-gate weights in 'cpu' and 'mem', concatenated ones in 'gpu', as in Keras 1
    assert re.findall(r"^LSTM weights: (\d+) arrays$", out, re.M) == ["12", "12", "3"]
    for mode in ("cpu", "mem", "gpu"):
        _result(out, r"^%s\s+\| (%s) \|" % (mode, NUMBER))


def test_variational_autoencoder_deconv():
    out = run_example("variational_autoencoder_deconv.py")
    assert "Decoded a 5x5 grid of latent points: figure (140, 140)" in out
    loss = _result(out, r"^Test loss: (%s)$" % NUMBER)
    assert 0 < loss < 1000


def test_mnist_sklearn_wrapper():
    pytest.importorskip("sklearn")
    out = run_example("mnist_sklearn_wrapper.py")
    assert "The parameters of the best model are:" in out
    acc = _result(out, r"^acc :  (%s)$" % NUMBER)
    assert 0.0 <= acc <= 1.0


def test_pretrained_word_embeddings_stay_frozen():
    shared_data("imdb/aclImdb_subset.tar.gz")
    out = run_example("pretrained_word_embeddings.py")
    assert "Shape of data tensor: (160, 1000)" in out
    assert "Embedding unchanged by training: True" in out
    _accuracy(out, "Validation accuracy: ")


def test_conv_lstm():
    out = run_example("conv_lstm.py")
    err = _result(out, r"^Mean absolute error of the predicted frames: (%s)$" % NUMBER)
    assert 0.0 <= err <= 1.0


def test_deep_dream_small_random_weights():
    out = run_example("deep_dream.py")
    assert "RANDOM VGG16 weights" in out
    loss = _result(out, r"^Final loss: (%s)$" % NUMBER)
    assert math.isfinite(loss)


def test_conv_filter_visualization_small_random_weights():
    out = run_example("conv_filter_visualization.py")
    assert "RANDOM VGG16 weights" in out
    assert out.count("Processing filter") == 2
    assert re.search(r"^Kept [0-2] of 2 filters$", out, re.M)
