"""The TensorBoard callback writes real event files through tensorboardX: per-epoch
scalars (loss, metrics, val_*), weight and layer-output histograms every
histogram_freq epochs, weight images, and the layer graph; read back here with a
reader of the TFRecord framing (checksums verified) and tensorboardX's Event proto."""

import glob
import struct
import sys

import numpy as np
import pytest
from tensorboardX.crc32c import crc32c
from tensorboardX.proto import event_pb2, graph_pb2

from keras.callbacks import TensorBoard
from keras.layers import Dense, Dropout, Input, merge
from keras.models import Model, Sequential

pytestmark = pytest.mark.usefixtures("fresh_session")


def _masked_crc(data):
    crc = crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def read_events(log_dir):
    """Every Event of every event file under log_dir, in file then record order."""
    files = sorted(glob.glob(str(log_dir) + "/events.out.tfevents.*"))
    assert files, "no event file in %s" % log_dir
    events = []
    for path in files:
        with open(path, "rb") as f:
            raw = f.read()
        pos = 0
        while pos < len(raw):
            header = raw[pos : pos + 8]
            (length,) = struct.unpack("<Q", header)
            (header_crc,) = struct.unpack("<I", raw[pos + 8 : pos + 12])
            assert header_crc == _masked_crc(header)
            data = raw[pos + 12 : pos + 12 + length]
            (data_crc,) = struct.unpack("<I", raw[pos + 12 + length : pos + 16 + length])
            assert data_crc == _masked_crc(data)
            events.append(event_pb2.Event.FromString(data))
            pos += 16 + length
    return events


def summaries(events, kind):
    """{tag: {step: value}} of the summary values of one kind ('simple_value', 'histo', 'image')."""
    out = {}
    for ev in events:
        if not ev.HasField("summary"):
            continue
        for v in ev.summary.value:
            if v.WhichOneof("value") == kind:
                out.setdefault(v.tag, {})[ev.step] = getattr(v, kind)
    return out


def _data(n=64, seed=0):
    rng = np.random.RandomState(seed)
    x = rng.uniform(-1, 1, (n, 4)).astype("float32")
    y = (x[:, :1] + x[:, 1:2] > 0).astype("float32")
    return x, y


def test_scalars_per_epoch_match_history(tmp_path):
    np.random.seed(0)
    x, y = _data()
    model = Sequential([Dense(8, input_dim=4, activation="relu"), Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    tb = TensorBoard(log_dir=str(tmp_path))
    hist = model.fit(x, y, nb_epoch=3, batch_size=16, verbose=0, validation_split=0.25, callbacks=[tb])
    scalars = summaries(read_events(tmp_path), "simple_value")
    assert set(scalars) == {"loss", "acc", "val_loss", "val_acc"}
    for tag, values in scalars.items():
        assert sorted(values) == [0, 1, 2]
        np.testing.assert_allclose([values[e] for e in range(3)], hist.history[tag], rtol=1e-6)
    assert tb.writer is None  # closed at the end of training


def test_histograms_images_and_graph(tmp_path):
    np.random.seed(1)
    x, y = _data()
    model = Sequential()
    model.add(Dense(6, input_dim=4, activation="relu", name="hidden"))
    model.add(Dropout(0.2, name="drop"))
    model.add(Dense(1, activation="sigmoid", name="out"))
    model.compile("sgd", "binary_crossentropy")
    tb = TensorBoard(log_dir=str(tmp_path), histogram_freq=2, write_graph=True, write_images=True)
    model.fit(x, y, nb_epoch=5, batch_size=16, verbose=0, validation_data=(x[:16], y[:16]), callbacks=[tb])
    events = read_events(tmp_path)

    histos = summaries(events, "histo")
    weight_tags = {"hidden_W", "hidden_b", "out_W", "out_b"}
    assert weight_tags <= set(histos)
    for tag in weight_tags:
        assert sorted(histos[tag]) == [0, 2, 4]  # every histogram_freq epochs
    final_w = model.layers[0].get_weights()[0]
    h = histos["hidden_W"][4]
    assert h.num == final_w.size
    assert h.min == pytest.approx(final_w.min()) and h.max == pytest.approx(final_w.max())
    assert h.sum == pytest.approx(final_w.sum(), abs=1e-4)
    assert sum(h.bucket) == final_w.size
    # layer outputs on the validation data (dropout off: test phase)
    assert {"hidden_out", "drop_out", "out_out"} <= set(histos)
    assert histos["out_out"][4].num == 16
    assert 0.0 <= histos["out_out"][4].min <= histos["out_out"][4].max <= 1.0

    images = summaries(events, "image")
    assert images["hidden_W"][4].height == 4 and images["hidden_W"][4].width == 6  # (4, 6): as is
    assert images["out_W"][4].height == 1 and images["out_W"][4].width == 6  # (6, 1): transposed
    assert images["hidden_W"][4].encoded_image_string[:8] == b"\x89PNG\r\n\x1a\n"

    graph_events = [ev for ev in events if ev.HasField("graph_def")]
    assert len(graph_events) == 1
    graph = graph_pb2.GraphDef.FromString(graph_events[0].graph_def)
    nodes = {n.name: n for n in graph.node}
    assert nodes["hidden"].op == "Dense" and nodes["drop"].op == "Dropout" and nodes["out"].op == "Dense"
    assert list(nodes["drop"].input) == ["hidden"] and list(nodes["out"].input) == ["drop"]
    dims = [d.size for d in nodes["hidden"].attr["_output_shapes"].list.shape[0].dim]
    assert dims == [-1, 6]


def test_histograms_without_validation_data_are_weights_only(tmp_path):
    np.random.seed(2)
    x, y = _data()
    a = Input(shape=(4,), name="a")
    b = Input(shape=(4,), name="b")
    joined = merge([Dense(2, name="da")(a), Dense(2, name="db")(b)], mode="sum", name="joined")
    model = Model([a, b], Dense(1, name="o")(joined))
    model.compile("sgd", "mse", metrics=["mae"])
    tb = TensorBoard(log_dir=str(tmp_path), histogram_freq=1, write_graph=True)
    model.fit([x, x], y, nb_epoch=2, batch_size=32, verbose=0, callbacks=[tb])
    events = read_events(tmp_path)
    histos = summaries(events, "histo")
    assert set(histos) == {"da_W", "da_b", "db_W", "db_b", "o_W", "o_b"}
    assert set(summaries(events, "simple_value")) == {"loss", "mean_absolute_error"}
    graph = graph_pb2.GraphDef.FromString([ev for ev in events if ev.HasField("graph_def")][0].graph_def)
    nodes = {n.name: n for n in graph.node}
    assert sorted(nodes["joined"].input) == ["da", "db"]
    assert nodes["joined"].op == "Merge"


def test_write_graph_false_writes_no_graph(tmp_path):
    x, y = _data(n=8)
    model = Sequential([Dense(1, input_dim=4)])
    model.compile("sgd", "mse")
    model.fit(x, y, nb_epoch=1, verbose=0, callbacks=[TensorBoard(log_dir=str(tmp_path), write_graph=False)])
    events = read_events(tmp_path)
    assert not any(ev.HasField("graph_def") for ev in events)
    assert set(summaries(events, "simple_value")) == {"loss"}


def test_missing_tensorboardx_names_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(ImportError, match="pip install tensorboardX"):
        TensorBoard()
