"""A hierarchical RNN (HRNN) classifies MNIST digits (the Keras 1
`mnist_hierarchical_rnn.py` example; see Li, Luong & Jurafsky, "A Hierarchical Neural
Autoencoder for Paragraphs and Documents", https://arxiv.org/abs/1506.01057).

A first LSTM, applied to every row of pixels through `TimeDistributed`, encodes each
row (28 pixels of shape (1,)) into a 128-vector; a second LSTM reads the 28 row
vectors into one image vector; a Dense softmax classifies it (functional API: `Input`
of shape (28, 28, 1), `Model(input=x, output=prediction)`).

Real MNIST digits bundled in examples/data (the first 8,000 test-set images train, the
last 2,000 test). Keras 1 reports 0.986 validation accuracy after 5 epochs on 60,000.

    python examples/mnist_hierarchical_rnn.py [--epochs N] [--quick]

`--quick` (or FERROKERAS_EXAMPLE_QUICK=1): 256 training images, 1 epoch.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from example_utils import example_arguments, print_evaluation  # noqa: E402
from mnist_data import load_digits  # noqa: E402

np.random.seed(1337)  # for reproducibility

from keras.layers import LSTM, Dense, Input, TimeDistributed  # noqa: E402
from keras.models import Model  # noqa: E402


def main(nb_epoch=5, nb_train=8000, nb_test=2000, verbose=1):
    # Training parameters.
    nb_classes = 10
    # Embedding dimensions.
    row_hidden = 128
    col_hidden = 128

    # 4D data for the hierarchical RNN: (samples, rows, columns, pixel)
    (X_train, Y_train), (X_test, Y_test) = load_digits((28, 28, 1), nb_train, nb_test, nb_classes)

    row, col, pixel = X_train.shape[1:]

    # 4D input.
    x = Input(shape=(row, col, pixel))
    # Encodes a row of pixels using TimeDistributed Wrapper.
    encoded_rows = TimeDistributed(LSTM(output_dim=row_hidden))(x)
    # Encodes columns of encoded rows.
    encoded_columns = LSTM(col_hidden)(encoded_rows)
    # Final predictions and model.
    prediction = Dense(nb_classes, activation="softmax")(encoded_columns)
    model = Model(input=x, output=prediction)
    model.compile(loss="categorical_crossentropy", optimizer="rmsprop", metrics=["accuracy"])

    # Training.
    model.fit(
        X_train, Y_train, batch_size=32, nb_epoch=nb_epoch, verbose=verbose, validation_data=(X_test, Y_test)
    )

    # Evaluation.
    return print_evaluation(model, X_test, Y_test, names=("Test loss:", "Test accuracy:"))


if __name__ == "__main__":
    quick = dict(nb_epoch=1, nb_train=256, nb_test=256, verbose=2)
    main(**example_arguments("256 training images, 1 epoch", quick, epochs=5))
