"""Uses Convolution1D for text classification on IMDB reviews (the Keras 1
`imdb_cnn.py` example): an embedding, one convolution with max pooling over time, a
hidden layer and a sigmoid output.

Runs offline on the aclImdb subset of the shared data (../shared/data/imdb: 2,000 train
and 2,000 test reviews, encoded as Keras `imdb.load_data()` encodes them; see
example_utils.load_imdb_subset). With 2,000 training reviews instead of 25,000 the test
accuracy is lower than Keras 1's 0.89: 0.74 after 2 epochs.

    python examples/imdb_cnn.py [--epochs N] [--quick]

`--quick` (or FERROKERAS_EXAMPLE_QUICK=1): 256 train and test reviews of 100 words,
1 epoch.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from example_utils import example_arguments, load_reviews, pad_reviews, print_evaluation  # noqa: E402

np.random.seed(1337)  # for reproducibility

from keras.layers import Activation, Convolution1D, Dense, Dropout, Embedding, GlobalMaxPooling1D  # noqa: E402
from keras.models import Sequential  # noqa: E402


def main(nb_epoch=2, maxlen=400, nb_train=None, nb_test=None, verbose=1):
    # set parameters:
    max_features = 5000
    embedding_dims = 50
    nb_filter = 250
    filter_length = 3
    hidden_dims = 250

    (X_train, y_train), (X_test, y_test) = load_reviews(max_features, nb_train, nb_test)
    X_train, X_test = pad_reviews(X_train, X_test, maxlen)

    print("Build model...")
    model = Sequential()

    # we start off with an efficient embedding layer which maps
    # our vocab indices into embedding_dims dimensions
    model.add(Embedding(max_features, embedding_dims, input_length=maxlen, dropout=0.2))

    # we add a Convolution1D, which will learn nb_filter
    # word group filters of size filter_length:
    model.add(
        Convolution1D(
            nb_filter=nb_filter, filter_length=filter_length, border_mode="valid", activation="relu"
        )
    )
    # we use max pooling:
    model.add(GlobalMaxPooling1D())

    # We add a vanilla hidden layer:
    model.add(Dense(hidden_dims))
    model.add(Dropout(0.2))
    model.add(Activation("relu"))

    # We project onto a single unit output layer, and squash it with a sigmoid:
    model.add(Dense(1))
    model.add(Activation("sigmoid"))

    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.fit(
        X_train, y_train, batch_size=32, nb_epoch=nb_epoch, verbose=verbose, validation_data=(X_test, y_test)
    )
    return print_evaluation(model, X_test, y_test)


if __name__ == "__main__":
    quick = dict(nb_epoch=1, maxlen=100, nb_train=256, nb_test=256, verbose=2)
    main(**example_arguments("256 reviews of 100 words, 1 epoch", quick, epochs=2))
