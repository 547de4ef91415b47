"""keras.utils.visualize_util: model_to_dot names every layer and joins them as the
model does; plot renders a real PNG through Graphviz; clear errors without pydot or dot."""

import builtins
import os
import shutil

import pytest

from keras.layers import LSTM, Dense, Dropout, Embedding, Input, TimeDistributed, merge
from keras.models import Model, Sequential
from keras.utils import visualize_util
from keras.utils.visualize_util import model_to_dot, plot

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


pytestmark = pytest.mark.usefixtures("fresh_session")


def _sequential():
    model = Sequential()
    model.add(Dense(8, input_dim=4, name="hidden"))
    model.add(Dropout(0.5, name="drop"))
    model.add(Dense(2, activation="softmax", name="out"))
    return model


def _edges(dot):
    """(source label, destination label) of every edge of the dot graph."""
    labels = {n.get_name(): n.get_label().strip('"') for n in dot.get_nodes() if n.get_label()}
    return {(labels[e.get_source()], labels[e.get_destination()]) for e in dot.get_edges()}


def test_model_to_dot_sequential_nodes_and_edges():
    dot = model_to_dot(_sequential())
    source = dot.to_string()
    for name in ("hidden: Dense", "drop: Dropout", "out: Dense"):
        assert name in source
    input_label = [lbl for (lbl, _) in _edges(dot) if "InputLayer" in lbl][0]
    assert _edges(dot) == {
        (input_label, "hidden: Dense"),
        ("hidden: Dense", "drop: Dropout"),
        ("drop: Dropout", "out: Dense"),
    }
    assert "rankdir=TB" in source and "shape=record" in source


def test_model_to_dot_functional_merge_and_shapes():
    a = Input(shape=(5,), name="left")
    b = Input(shape=(5,), name="right")
    shared = Dense(3, name="shared")
    merged = merge([shared(a), shared(b)], mode="concat", name="joined")
    model = Model([a, b], Dense(1, name="score")(merged))
    dot = model_to_dot(model, show_shapes=True, show_layer_names=False)
    source = dot.to_string()
    assert "shared" not in source  # show_layer_names=False: class names only
    assert "InputLayer" in source and "Merge" in source
    assert "(None, 6)" in source and "(None, 1)" in source  # the merge's and score's outputs
    # the shared layer is one node fed by both inputs
    dense_nodes = [n for n in dot.get_nodes() if "Dense" in (n.get_label() or "")]
    assert len(dense_nodes) == 2
    assert len(dot.get_edges()) == 5


def test_model_to_dot_wrapper_label():
    model = Sequential()
    model.add(Embedding(20, 4, input_length=6, name="emb"))
    model.add(LSTM(3, return_sequences=True, name="rnn"))
    model.add(TimeDistributed(Dense(2, name="inner"), name="td"))
    source = model_to_dot(model).to_string()
    assert "td(inner): TimeDistributed(Dense)" in source


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot program is not installed")
def test_plot_writes_png(tmp_path):
    path = str(tmp_path / "model.png")
    plot(_sequential(), to_file=path, show_shapes=True)
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 1000
    # the extension picks the format
    svg = str(tmp_path / "model.svg")
    plot(_sequential(), to_file=svg)
    with open(svg) as f:
        text = f.read()
    assert "<svg" in text and "hidden: Dense" in text


def test_plot_without_graphviz_names_it(monkeypatch, tmp_path):
    monkeypatch.setattr(visualize_util.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="Graphviz"):
        plot(_sequential(), to_file=str(tmp_path / "m.png"))
    assert not os.path.exists(str(tmp_path / "m.png"))


def test_without_pydot_names_it(monkeypatch):
    real_import = builtins.__import__

    def no_pydot(name, *args, **kwargs):
        if name in ("pydot", "pydot_ng"):
            raise ImportError("No module named " + name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pydot)
    with pytest.raises(ImportError, match="pip install pydot"):
        model_to_dot(_sequential())
