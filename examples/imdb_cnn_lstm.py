"""A convolution and max pooling shorten IMDB reviews before an LSTM reads them (the
Keras 1 `imdb_cnn_lstm.py` example): embedding, dropout, `Convolution1D` (64 filters of
length 5), `MaxPooling1D(pool_length=4)`, `LSTM(70)` and a sigmoid output, batch size
30 ("highly sensitive", as the Keras 1 notes say).

Runs offline on the aclImdb subset of the shared data (../shared/data/imdb: 2,000 train
and 2,000 test reviews, encoded as Keras `imdb.load_data()` encodes them; see
example_utils.load_imdb_subset). Keras 1 reports 0.85 test accuracy after 2 epochs on
25,000 reviews; with 2,000 the accuracy is lower.

    python examples/imdb_cnn_lstm.py [--epochs N] [--quick]

`--quick` (or FERROKERAS_EXAMPLE_QUICK=1): 240 train and test reviews, 1 epoch.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from example_utils import load_imdb_subset, pad_sequences, quick_mode  # noqa: E402

np.random.seed(1337)  # for reproducibility

from keras.layers import (  # noqa: E402
    LSTM,
    Activation,
    Convolution1D,
    Dense,
    Dropout,
    Embedding,
    MaxPooling1D,
)
from keras.models import Sequential  # noqa: E402


def main(nb_epoch=2, nb_train=None, nb_test=None, verbose=1):
    # Embedding
    max_features = 20000
    maxlen = 100
    embedding_size = 128
    # Convolution
    filter_length = 5
    nb_filter = 64
    pool_length = 4
    # LSTM
    lstm_output_size = 70
    # Training
    batch_size = 30

    print("Loading data...")
    (X_train, y_train), (X_test, y_test) = load_imdb_subset(nb_words=max_features)
    X_train, y_train = X_train[:nb_train], y_train[:nb_train]
    X_test, y_test = X_test[:nb_test], y_test[:nb_test]
    print(len(X_train), "train sequences")
    print(len(X_test), "test sequences")

    print("Pad sequences (samples x time)")
    X_train = pad_sequences(X_train, maxlen=maxlen)
    X_test = pad_sequences(X_test, maxlen=maxlen)
    print("X_train shape:", X_train.shape)
    print("X_test shape:", X_test.shape)

    print("Build model...")
    model = Sequential()
    model.add(Embedding(max_features, embedding_size, input_length=maxlen))
    model.add(Dropout(0.25))
    model.add(
        Convolution1D(
            nb_filter=nb_filter,
            filter_length=filter_length,
            border_mode="valid",
            activation="relu",
            subsample_length=1,
        )
    )
    model.add(MaxPooling1D(pool_length=pool_length))
    model.add(LSTM(lstm_output_size))
    model.add(Dense(1))
    model.add(Activation("sigmoid"))

    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])

    print("Train...")
    model.fit(
        X_train,
        y_train,
        batch_size=batch_size,
        nb_epoch=nb_epoch,
        validation_data=(X_test, y_test),
        verbose=verbose,
    )
    score, acc = model.evaluate(X_test, y_test, batch_size=batch_size, verbose=0)
    print("Test score:", score)
    print("Test accuracy:", acc)
    return score, acc


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="240 reviews, 1 epoch")
    a = ap.parse_args()
    if quick_mode():
        main(nb_epoch=1, nb_train=240, nb_test=240, verbose=2)
    else:
        main(nb_epoch=a.epochs)
