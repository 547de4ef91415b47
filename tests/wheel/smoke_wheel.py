"""Smoke test of an installed ferrokeras wheel, run by `.ci/wheel_smoke` under each Python.

It imports keras, trains a tiny model until it learns, saves it to HDF5, loads it back
and checks the predictions are the same bits. Run as a script (not collected by pytest:
it tests an installed wheel, not the source tree).
"""

import os
import sys
import tempfile

import numpy as np

import keras
from keras.layers import Dense
from keras.models import Sequential, load_model
from keras.optimizers import Adam


def main():
    native = keras._native.__file__
    rng = np.random.RandomState(0)
    x = rng.rand(256, 4).astype("float32")
    y = (x.sum(axis=1) > 2.0).astype("float32")
    model = Sequential([Dense(16, activation="relu", input_dim=4), Dense(1, activation="sigmoid")])
    model.compile(optimizer=Adam(lr=0.01), loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, nb_epoch=40, batch_size=32, verbose=0)
    accuracy = history.history["acc"][-1]
    if accuracy < 0.9:
        raise SystemExit("smoke: training did not learn (accuracy %.3f)" % accuracy)
    before = model.predict(x)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "smoke.h5")
        model.save(path)
        after = load_model(path).predict(x)
    if not np.array_equal(before, after):
        raise SystemExit("smoke: predictions changed across save/load")
    print(
        "smoke ok: Python %s, numpy %s, %s, accuracy %.3f"
        % (sys.version.split()[0], np.__version__, os.path.basename(native), accuracy)
    )


if __name__ == "__main__":
    main()
