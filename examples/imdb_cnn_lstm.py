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

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from example_utils import example_arguments, load_reviews, pad_reviews, print_evaluation  # noqa: E402

np.random.seed(1337)  # for reproducibility

from keras.layers import LSTM, Activation, Convolution1D, Dense, Dropout, Embedding, MaxPooling1D  # noqa: E402
from keras.models import Sequential  # noqa: E402


def main(nb_epoch=2, nb_train=None, nb_test=None, verbose=1):
    # Embedding
    max_features, maxlen, embedding_size = 20000, 100, 128
    # Convolution
    filter_length, nb_filter, pool_length = 5, 64, 4
    # LSTM
    lstm_output_size = 70

    (X_train, y_train), (X_test, y_test) = load_reviews(max_features, nb_train, nb_test)
    X_train, X_test = pad_reviews(X_train, X_test, maxlen)

    print("Build model...")
    model = Sequential()
    model.add(Embedding(max_features, embedding_size, input_length=maxlen))
    model.add(Dropout(0.25))
    model.add(
        Convolution1D(
            nb_filter=nb_filter, filter_length=filter_length, border_mode="valid", activation="relu"
        )
    )
    model.add(MaxPooling1D(pool_length=pool_length))
    model.add(LSTM(lstm_output_size))
    model.add(Dense(1))
    model.add(Activation("sigmoid"))

    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])

    print("Train...")
    model.fit(
        X_train, y_train, batch_size=30, nb_epoch=nb_epoch, validation_data=(X_test, y_test), verbose=verbose
    )
    return print_evaluation(model, X_test, y_test, batch_size=30)


if __name__ == "__main__":
    quick = dict(nb_epoch=1, nb_train=240, nb_test=240, verbose=2)
    main(**example_arguments("240 reviews, 1 epoch", quick, epochs=2))
