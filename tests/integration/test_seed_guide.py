"""The contract: every code block of the Keras 1.0 "Getting started with the Sequential
model" guide (../shared/seed/getting-started-sequential-ja.md) runs verbatim.

The blocks are extracted from the guide at test time (not copied here) and each runs in a
fresh namespace after a small prelude that supplies only imports and dummy arrays of the
shapes the block implies.
"""

import os
import re

import numpy as np
import pytest

from conftest import REPO

SEED = os.path.normpath(os.path.join(REPO, "..", "shared", "seed", "getting-started-sequential-ja.md"))


def _blocks():
    if not os.path.exists(SEED):
        return []
    text = open(SEED, encoding="utf-8").read()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


BLOCKS = _blocks()
# Blocks that need layer families still to come.
LATER = ()


def _kind(block):
    if LATER and any(name in block for name in LATER):
        return "later"
    if "Convolution2D" in block:
        return "conv"
    if any(name in block for name in ("LSTM", "GRU", "Embedding")):
        return "recurrent"
    return "dense"


# Dummy data some blocks imply beyond the shared prelude (keyed by a line of the block).
EXTRA = {
    "sgd = SGD(lr=0.1, decay=1e-6, momentum=0.9, nesterov=True)\nmodel.compile(loss='categorical_crossentropy', optimizer=sgd)": """
X_train = np.random.random((32, 3, 100, 100))
Y_train = to_categorical(np.random.randint(10, size=(32, 1)), 10)
""",
    "image_model.load_weights('weight_file.h5')": """
# the guide loads pre-trained weights: save an identical CNN's weights first
cnn = Sequential()
cnn.add(Convolution2D(32, 3, 3, border_mode='valid', input_shape=(3, 100, 100)))
cnn.add(Activation('relu'))
cnn.add(Convolution2D(32, 3, 3))
cnn.add(Activation('relu'))
cnn.add(MaxPooling2D(pool_size=(2, 2)))
cnn.add(Convolution2D(64, 3, 3, border_mode='valid'))
cnn.add(Activation('relu'))
cnn.add(Convolution2D(64, 3, 3))
cnn.add(Activation('relu'))
cnn.add(MaxPooling2D(pool_size=(2, 2)))
cnn.add(Flatten())
cnn.add(Dense(128))
cnn.save_weights('weight_file.h5')
images = np.random.random((16, 3, 100, 100))
partial_captions = np.random.randint(10000, size=(16, 16))
next_words = to_categorical(np.random.randint(10000, size=(16, 1)), 10000)
""",
    "model.add(Embedding(max_features, 256, input_length=maxlen))": """
X_train = np.random.randint(max_features, size=(32, maxlen))
Y_train = np.random.randint(2, size=(32, 1))
X_test = np.random.randint(max_features, size=(16, maxlen))
Y_test = np.random.randint(2, size=(16, 1))
""",
}


def _run(block, index):
    ns = {}
    exec(compile(PRELUDE, "<prelude>", "exec"), ns)
    for key, extra in EXTRA.items():
        if key in block:
            exec(compile(extra, "<extra prelude>", "exec"), ns)
    exec(compile(block, "<guide block %d>" % index, "exec"), ns)
    return ns


PRELUDE = """
import numpy as np
from keras.models import Sequential
from keras.layers import Dense, Dropout, Activation, Flatten, Merge
from keras.layers import LSTM, GRU, Embedding, Convolution2D, MaxPooling2D
from keras.layers import TimeDistributedDense, RepeatVector
from keras.optimizers import SGD
from keras.utils.np_utils import to_categorical

np.random.seed(0)
X_train = np.random.random((320, 20))
y_train = to_categorical(np.random.randint(10, size=(320, 1)), 10)
X_test = np.random.random((64, 20))
y_test = to_categorical(np.random.randint(10, size=(64, 1)), 10)

left_branch = Sequential()
left_branch.add(Dense(32, input_dim=784))
right_branch = Sequential()
right_branch.add(Dense(32, input_dim=784))

model = Sequential()
model.add(Dense(10, input_dim=784, activation='softmax'))

max_features = 1000
maxlen = 80
"""


def test_the_guide_was_found():
    if not BLOCKS:
        from conftest import shared_data

        shared_data("../seed/getting-started-sequential-ja.md")
    assert len(BLOCKS) == 22, "the guide has 22 python blocks"
    assert sum(_kind(b) == "dense" for b in BLOCKS) == 13
    assert sum(_kind(b) == "recurrent" for b in BLOCKS) == 7
    assert sum(_kind(b) == "conv" for b in BLOCKS) == 2


@pytest.mark.parametrize("index", [i for i, b in enumerate(BLOCKS) if _kind(b) != "later"])
def test_block_runs_verbatim(index, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ns = _run(BLOCKS[index], index)
    out = capsys.readouterr().out
    if "model.fit(" in BLOCKS[index]:
        # fit printed Keras 1's progress output
        assert "Epoch 1/" in out
    if "score = model.evaluate" in BLOCKS[index]:
        assert np.isfinite(ns["score"]).all()


def test_merge_blocks_build_the_shapes_the_guide_says():
    ns = {}
    exec(compile(PRELUDE, "<prelude>", "exec"), ns)
    concat = next(b for b in BLOCKS if "mode='concat')" in b and "final_model" in b)
    exec(compile(concat, "<concat block>", "exec"), ns)
    assert ns["final_model"].output_shape == (None, 10)
    assert ns["merged"].output_shape == (None, 64)
    lam = next(b for b in BLOCKS if "lambda x, y: x - y" in b)
    exec(compile(lam, "<lambda block>", "exec"), ns)
    merged = ns["merged"]
    m = ns["Sequential"]()
    m.add(merged)
    a = np.random.random((3, 784)).astype("float32")
    b = np.random.random((3, 784)).astype("float32")
    out = m.predict([a, b])
    left = ns["left_branch"].predict(a)
    right = ns["right_branch"].predict(b)
    np.testing.assert_allclose(out, left - right, rtol=1e-5, atol=1e-5)
