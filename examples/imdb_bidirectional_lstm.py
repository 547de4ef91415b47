"""A bidirectional LSTM classifies IMDB reviews (the Keras 1 `imdb_bidirectional_lstm.py`
example): an embedding, `Bidirectional(LSTM(64))` (a forward and a backward LSTM whose
last outputs are concatenated), dropout and a sigmoid output.

Runs offline on the aclImdb subset of the shared data (../shared/data/imdb: 2,000 train
and 2,000 test reviews, encoded as Keras `imdb.load_data()` encodes them; see
example_utils.load_imdb_subset). Keras 1 reports ~0.81 test accuracy after 4 epochs on
25,000 reviews; with 2,000 the accuracy is lower.

    python examples/imdb_bidirectional_lstm.py [--epochs N] [--quick]

`--quick` (or FERROKERAS_EXAMPLE_QUICK=1): 256 train and test reviews of 50 words, 1 epoch.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from example_utils import example_arguments, load_reviews, pad_reviews, print_evaluation  # noqa: E402

np.random.seed(1337)  # for reproducibility

from keras.layers import LSTM, Bidirectional, Dense, Dropout, Embedding  # noqa: E402
from keras.models import Sequential  # noqa: E402


def main(nb_epoch=4, maxlen=100, nb_train=None, nb_test=None, verbose=1):
    max_features = 20000

    (X_train, y_train), (X_test, y_test) = load_reviews(max_features, nb_train, nb_test)
    X_train, X_test = pad_reviews(X_train, X_test, maxlen)

    model = Sequential()
    model.add(Embedding(max_features, 128, input_length=maxlen))
    model.add(Bidirectional(LSTM(64)))
    model.add(Dropout(0.5))
    model.add(Dense(1, activation="sigmoid"))

    # try using different optimizers and different optimizer configs
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])

    print("Train...")
    model.fit(
        X_train, y_train, batch_size=32, nb_epoch=nb_epoch, validation_data=[X_test, y_test], verbose=verbose
    )
    return print_evaluation(model, X_test, y_test)


if __name__ == "__main__":
    quick = dict(nb_epoch=1, maxlen=50, nb_train=256, nb_test=256, verbose=2)
    main(**example_arguments("256 reviews of 50 words, 1 epoch", quick, epochs=4))
