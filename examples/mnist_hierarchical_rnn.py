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

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from example_utils import quick_mode  # noqa: E402
from mnist_data import load_mnist_test_set  # noqa: E402

np.random.seed(1337)  # for reproducibility

from keras.layers import LSTM, Dense, Input, TimeDistributed  # noqa: E402
from keras.models import Model  # noqa: E402
from keras.utils import np_utils  # noqa: E402


def main(nb_epochs=5, nb_train=8000, nb_test=2000, verbose=1):
    # Training parameters.
    batch_size = 32
    nb_classes = 10
    # Embedding dimensions.
    row_hidden = 128
    col_hidden = 128

    images, labels = load_mnist_test_set()
    # 4D data for the hierarchical RNN: (samples, rows, columns, pixel)
    X_train = images[:nb_train].reshape(-1, 28, 28, 1).astype("float32") / 255
    X_test = images[8000 : 8000 + nb_test].reshape(-1, 28, 28, 1).astype("float32") / 255
    y_train, y_test = labels[:nb_train], labels[8000 : 8000 + nb_test]
    print("X_train shape:", X_train.shape)
    print(X_train.shape[0], "train samples")
    print(X_test.shape[0], "test samples")

    # Converts class vectors to binary class matrices.
    Y_train = np_utils.to_categorical(y_train, nb_classes)
    Y_test = np_utils.to_categorical(y_test, nb_classes)

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
        X_train,
        Y_train,
        batch_size=batch_size,
        nb_epoch=nb_epochs,
        verbose=verbose,
        validation_data=(X_test, Y_test),
    )

    # Evaluation.
    scores = model.evaluate(X_test, Y_test, verbose=0)
    print("Test loss:", scores[0])
    print("Test accuracy:", scores[1])
    return scores


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="256 training images, 1 epoch")
    a = ap.parse_args()
    if quick_mode():
        main(nb_epochs=1, nb_train=256, nb_test=256, verbose=2)
    else:
        main(nb_epochs=a.epochs)
