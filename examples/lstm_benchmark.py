"""Compares the LSTM implementations (`consume_less` modes) on IMDB sentiment
classification (the Keras 1 `lstm_benchmark.py` example).

In Keras 1, consume_less='cpu' precomputes the input projections of every timestep
(faster, more memory), 'mem' computes them step by step, and 'gpu' concatenates the
gate weights into one matrix (one large product per step; the gates share one dropout
mask). Here every mode runs the same fused native sequence op; the modes keep Keras 1's
weight layouts (12 per-gate arrays for 'cpu'/'mem', three concatenated ones for 'gpu')
and dropout masks. Each mode trains the same model (embedding with dropout, LSTM with
dropout_W/dropout_U, sigmoid output); instead of Keras 1's matplotlib figure the
script prints the validation accuracy per epoch and the mean time per epoch.

Runs offline on the aclImdb subset of the shared data (../shared/data/imdb: 2,000 train
and 2,000 test reviews, encoded as Keras `imdb.load_data()` encodes them; see
example_utils.load_imdb_subset). Keras 1 trains 10 epochs of 25,000 reviews per mode.

    python examples/lstm_benchmark.py [--epochs N] [--quick]

`--quick` (or FERROKERAS_EXAMPLE_QUICK=1): 128 train and test reviews of 40 words, a
64-unit LSTM, 1 epoch per mode.
"""

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from example_utils import example_arguments, load_imdb_subset, pad_sequences  # noqa: E402

np.random.seed(1337)  # for reproducibility

from keras.layers import LSTM, Dense, Embedding  # noqa: E402
from keras.models import Sequential  # noqa: E402


def main(nb_epoch=2, max_length=80, embedding_dim=256, nb_train=None, nb_test=None, verbose=1):
    max_features = 20000
    batch_size = 128
    modes = ["cpu", "mem", "gpu"]

    print("Loading data...")
    (X_train, y_train), (X_test, y_test) = load_imdb_subset(nb_words=max_features)
    X_train = pad_sequences(X_train[:nb_train], max_length)
    X_test = pad_sequences(X_test[:nb_test], max_length)
    y_train, y_test = y_train[:nb_train], y_test[:nb_test]

    # compile and train the same model in every mode, measuring the time per epoch
    results = []
    for mode in modes:
        print('Testing mode: consume_less="{}"'.format(mode))
        model = Sequential()
        model.add(Embedding(max_features, embedding_dim, input_length=max_length, dropout=0.2))
        model.add(LSTM(embedding_dim, dropout_W=0.2, dropout_U=0.2, consume_less=mode))
        model.add(Dense(1, activation="sigmoid"))
        model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
        print("LSTM weights:", len(model.layers[1].get_weights()), "arrays")

        start_time = time.time()
        history = model.fit(
            X_train,
            y_train,
            batch_size=batch_size,
            nb_epoch=nb_epoch,
            validation_data=(X_test, y_test),
            verbose=verbose,
        )
        results.append((history, (time.time() - start_time) / nb_epoch))

    # compare the models' accuracy, loss and time per epoch
    print("\nmode | val_acc per epoch | val_loss per epoch | seconds per epoch")
    for mode, (history, seconds) in zip(modes, results):
        print(
            "%-4s | %s | %s | %.2f"
            % (
                mode,
                " ".join("%.4f" % v for v in history.history["val_acc"]),
                " ".join("%.4f" % v for v in history.history["val_loss"]),
                seconds,
            )
        )
    return results


if __name__ == "__main__":
    quick = dict(nb_epoch=1, max_length=40, embedding_dim=64, nb_train=128, nb_test=128, verbose=0)
    main(**example_arguments("128 reviews of 40 words, 1 epoch per mode", quick, epochs=2))
