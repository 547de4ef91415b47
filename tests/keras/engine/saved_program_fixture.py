"""Writes the saved-program fixture the Rust integration test
(`rust/ferrokeras/tests/saved_program.rs`) loads:

- `cnn_predict.fkp`: the inference program of a small 'th' CNN (conv, max pooling,
  dense, dropout, batch normalization, softmax), trained for one epoch;
- `mlp_train.fkp`: the training step of an MLP with dropout and RMSprop, saved after
  two steps (so its optimizer state and dropout counters are not the initial ones);
- `expected.safetensors`: inputs and what Python computed from them: `predict.x` and
  `predict.y` (`model.predict` on the whole batch), and for three further training
  steps `train.x.{i}`, `train.y.{i}`, `train.out.{i}` (loss and accuracy) and the
  final weights `train.final.{name}`.

    python tests/keras/engine/saved_program_fixture.py   # rewrites the committed files

`tests/keras/engine/test_saved_program.py` writes the fixture again and checks the
bytes equal the committed ones, so the fixture cannot drift from what the code writes.
"""

import os
import sys

import numpy as np

FIXTURE_DIR = os.path.join(
    os.path.dirname(os.path.abspath(__file__)),
    "..",
    "..",
    "..",
    "rust",
    "ferrokeras",
    "tests",
    "data",
    "saved_program",
)


def _cnn():
    from keras.layers import BatchNormalization, Convolution2D, Dense, Dropout, Flatten, Input, MaxPooling2D
    from keras.models import Model

    x = Input(shape=(1, 8, 8), name="pixels")
    h = Convolution2D(3, 3, 3, activation="relu", dim_ordering="th", name="conv")(x)
    h = MaxPooling2D((2, 2), dim_ordering="th", name="pool")(h)
    h = Flatten(name="flat")(h)
    h = Dense(16, activation="relu", name="hidden")(h)
    h = Dropout(0.3, name="drop")(h)
    h = BatchNormalization(name="norm")(h)
    y = Dense(4, activation="softmax", name="probs")(h)
    return Model(x, y)


def _mlp():
    from keras.layers import Dense, Dropout, Input
    from keras.models import Model
    from keras.optimizers import RMSprop

    x = Input(shape=(6,), name="features")
    h = Dense(8, activation="relu", name="hidden")(x)
    h = Dropout(0.25, name="drop")(h)
    y = Dense(3, activation="softmax", name="probs")(h)
    m = Model(x, y)
    m.compile(optimizer=RMSprop(lr=0.01), loss="categorical_crossentropy", metrics=["accuracy"])
    return m


def _onehot(rng, n, k):
    return np.eye(k, dtype="float32")[rng.randint(0, k, size=n)]


def write_fixture(directory):
    """Builds, trains and saves the fixture models into `directory`; returns the
    expected tensors (also written there)."""
    from safetensors.numpy import save_file

    from keras import backend as K

    os.makedirs(directory, exist_ok=True)
    # fresh graph and name counters: the auto-named optimizer variables
    # ("variable_N") and the dropout seeds must not depend on what ran before
    K.clear_session()
    np.random.seed(20261206)
    rng = np.random.RandomState(7)
    expected = {}

    cnn = _cnn()
    cnn.compile(optimizer="sgd", loss="categorical_crossentropy")
    xs = rng.rand(24, 1, 8, 8).astype("float32")
    cnn.fit(xs, _onehot(rng, 24, 4), batch_size=8, nb_epoch=1, verbose=0)
    cnn.save_program(os.path.join(directory, "cnn_predict.fkp"))
    x = rng.rand(5, 1, 8, 8).astype("float32")
    expected["predict.x"] = x
    expected["predict.y"] = cnn.predict(x, batch_size=len(x))

    mlp = _mlp()
    for _ in range(2):
        mlp.train_on_batch(rng.rand(10, 6).astype("float32"), _onehot(rng, 10, 3))
    mlp.save_program(os.path.join(directory, "mlp_train.fkp"), training=True)
    for i in range(3):
        bx, by = rng.rand(10, 6).astype("float32"), _onehot(rng, 10, 3)
        expected["train.x.%d" % i] = bx
        expected["train.y.%d" % i] = by
        expected["train.out.%d" % i] = np.asarray(mlp.train_on_batch(bx, by), dtype="float32")
    for w in mlp.weights + mlp.optimizer.weights + [mlp.optimizer.iterations]:
        expected["train.final." + w.name] = K.get_value(w)
    save_file(expected, os.path.join(directory, "expected.safetensors"))
    return expected


if __name__ == "__main__":
    write_fixture(sys.argv[1] if len(sys.argv) > 1 else FIXTURE_DIR)
