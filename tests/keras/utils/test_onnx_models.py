"""ONNX export of whole models: every model the Keras 1 Sequential guide
(../shared/seed/getting-started-sequential-ja.md) defines, read from the guide at test
time and built by its own code (up to its compile call); VGG16 and ResNet50 at a small
input with random weights; and the real Keras 1 files of ../shared/data/keras1-models,
compared with `predict` and with the outputs Keras 1 stored beside them."""

import os
import re
import subprocess
import sys

import h5py
import numpy as np
import pytest
from onnx_check import MIN_OPSET, NEWEST_OPSET, assert_close, check_export, onnx, run

from conftest import REPO, shared_data
from keras.layers.embeddings import Embedding
from keras.models import Model, Sequential
from keras.utils.onnx_utils import OnnxExportError, export_onnx

GUIDE = os.path.normpath(os.path.join(REPO, "..", "shared", "seed", "getting-started-sequential-ja.md"))

PRELUDE = """
import numpy as np
from keras.models import Sequential
from keras.layers import Dense, Dropout, Activation, Flatten, Merge
from keras.layers import LSTM, GRU, Embedding, Convolution2D, MaxPooling2D
from keras.layers import TimeDistributedDense, RepeatVector
max_features, maxlen = 50, 12
"""


def _guide_models():
    """(block index, definition code) of every guide block that builds a model: the
    block up to its first compile / fit / load_weights line."""
    path = shared_data(os.path.relpath(GUIDE, os.path.join(REPO, "..", "shared", "data")))
    text = open(path, encoding="utf-8").read()
    out = []
    for i, block in enumerate(re.findall(r"```python\n(.*?)```", text, flags=re.S)):
        lines = []
        for line in block.splitlines():
            if re.search(r"\.(compile|fit|evaluate|load_weights|train_on_batch)\(", line):
                break
            lines.append(line)
        code = "\n".join(lines)
        if "Sequential(" in code:
            out.append((i, code))
    return out


def _models_in(ns):
    seen, models = set(), []
    for name, value in ns.items():
        if isinstance(value, (Sequential, Model)) and id(value) not in seen:
            seen.add(id(value))
            models.append((name, value))
    return models


def _inputs_for(model, batch):
    feeds = []
    for x in model.inputs:
        shape = tuple(x._keras_shape)
        batch_ = shape[0] or batch
        consumers = [n.outbound_layer for n in x._keras_history[0].outbound_nodes]
        embed = [layer for layer in consumers if isinstance(layer, Embedding)]
        inner = [layer for layer in consumers if isinstance(layer, Sequential)]
        for seq in inner:
            embed += [layer for layer in seq.layers[:1] if isinstance(layer, Embedding)]
        if embed:
            feeds.append(
                np.random.randint(0, embed[0].input_dim, size=(batch_,) + shape[1:]).astype("float32")
            )
        else:
            feeds.append(np.random.uniform(0, 1, size=(batch_,) + shape[1:]).astype("float32"))
    return feeds


def test_every_model_of_the_sequential_guide():
    blocks = _guide_models()
    assert len(blocks) >= 10, "the guide's model blocks were not found"
    exported, refused = 0, 0
    for index, code in blocks:
        ns = {}
        exec(compile(PRELUDE, "<prelude>", "exec"), ns)
        exec(compile(code, "<guide block %d>" % index, "exec"), ns)
        for name, model in _models_in(ns):
            if not model.layers:
                continue
            if "mode=lambda" in code and name in ("merged_model", "model", "final_model"):
                with pytest.raises(OnnxExportError, match="callable"):
                    export_onnx(model)
                refused += 1
                continue
            check_export(model, _inputs_for(model, 2))
            exported += 1
    assert exported >= 15 and refused <= 1, (exported, refused)


@pytest.mark.parametrize("order", ["tf", "th"])
def test_vgg16_small_input_random_weights(order):
    from keras import backend as K
    from keras.applications.vgg16 import VGG16

    old = K.image_dim_ordering()
    K.set_image_dim_ordering(order)
    try:
        shape = (48, 48, 3) if order == "tf" else (3, 48, 48)
        model = VGG16(weights=None, include_top=False, input_shape=shape)
    finally:
        K.set_image_dim_ordering(old)
    # 59 MB of weights: one opset per ordering ('th' the lowest, 'tf' the newest)
    opset = MIN_OPSET if order == "th" else NEWEST_OPSET
    check_export(
        model, np.random.uniform(0, 1, size=(1,) + shape).astype("float32"), opsets=[opset], tol=1e-4
    )


def test_resnet50_small_input_random_weights():
    from keras import backend as K
    from keras.applications.resnet50 import ResNet50

    old = K.image_dim_ordering()
    K.set_image_dim_ordering("tf")
    try:
        model = ResNet50(weights=None, include_top=False, input_shape=(197, 197, 3))
    finally:
        K.set_image_dim_ordering(old)
    # one opset: the 94 MB of weights make each export and check take seconds
    check_export(
        model,
        np.random.uniform(0, 1, size=(1, 197, 197, 3)).astype("float32"),
        opsets=[NEWEST_OPSET],
        tol=1e-4,
    )


def _reference(path):
    with h5py.File(path, "r") as f:
        inputs = [np.asarray(f["inputs"][k]) for k in sorted(f["inputs"].keys())]
        preds = [np.asarray(f["predictions"][k]) for k in sorted(f["predictions"].keys())]
    return inputs, preds


def test_real_keras1_mlp_file():
    from keras.models import model_from_json

    base = "keras1-models/mnist_mlp/mnist_mlp_tf_keras_1_"
    with open(shared_data(base + "config.json")) as f:
        model = model_from_json(f.read())
    model.load_weights(shared_data(base + "weights.h5"))
    inputs, preds = _reference(shared_data(base + "inputs_and_outputs.h5"))
    proto = check_export(model, [inputs[0].astype("float32")])
    assert_close(run(proto, [inputs[0]])[0], preds[0], "against Keras 1's stored predictions", tol=1e-5)


def test_real_keras1_lstm_file_through_the_command_line(tmp_path):
    base = "keras1-models/simple_lstm/simple_lstm_tf_keras_1_"
    h5 = shared_data(base + "model.h5")
    out = tmp_path / "simple_lstm.onnx"
    proc = subprocess.run(
        [sys.executable, "-m", "keras.utils.onnx_utils", h5, str(out)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    proto = onnx.load(str(out))
    onnx.checker.check_model(proto, full_check=True)
    from keras.models import load_model

    model = load_model(h5)
    inputs, preds = _reference(shared_data(base + "inputs_and_outputs.h5"))
    x = inputs[0].astype("float32")
    got = run(proto, [x])[0]
    assert_close(got, model.predict(x), "against predict")
    assert_close(got, preds[0], "against Keras 1's stored predictions", tol=1e-5)
