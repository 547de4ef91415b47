"""Trains a simple deep MLP on MNIST digits (the Keras 1 `mnist_mlp.py` example).

Runs offline on the MNIST test set bundled in examples/data: the first 8,000 images
train the model, the last 2,000 test it. Gets to about 96% test accuracy in 10 epochs.

    python examples/mnist_mlp.py [--epochs N] [--save-program PATH] [--save-training-program PATH]

`--save-program` writes the trained model's inference program (what `predict` runs) as
one file that Rust runs without Python:
`cargo run --release -p ferrokeras --example predict_saved -- PATH`.
`--save-training-program` writes the training step with the optimizer's state, which
`cargo run --release -p ferrokeras --example train_saved -- PATH OUT.fkp` continues.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from example_utils import print_evaluation  # noqa: E402
from mnist_data import load_digits  # noqa: E402

from keras.layers.core import Activation, Dense, Dropout  # noqa: E402
from keras.models import Sequential  # noqa: E402
from keras.optimizers import RMSprop  # noqa: E402


def build_model():
    """The MLP, uncompiled (tests/ and benches/ train it too)."""
    model = Sequential()
    model.add(Dense(512, input_shape=(784,)))
    model.add(Activation("relu"))
    model.add(Dropout(0.2))
    model.add(Dense(512))
    model.add(Activation("relu"))
    model.add(Dropout(0.2))
    model.add(Dense(10))
    model.add(Activation("softmax"))
    return model


def main(nb_epoch=10, verbose=1, save_program=None, save_training_program=None):
    np.random.seed(1337)  # for reproducibility
    (X_train, Y_train), (X_test, Y_test) = load_digits((784,), show_shape=False)

    model = build_model()
    model.summary()

    model.compile(loss="categorical_crossentropy", optimizer=RMSprop(), metrics=["accuracy"])

    model.fit(
        X_train, Y_train, batch_size=128, nb_epoch=nb_epoch, verbose=verbose, validation_data=(X_test, Y_test)
    )
    score = print_evaluation(model, X_test, Y_test)
    if save_program:
        model.save_program(save_program)
        print("Saved the inference program to", save_program)
    if save_training_program:
        model.save_program(save_training_program, training=True)
        print("Saved the training program to", save_training_program)
    return score


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--save-program", metavar="PATH", help="write the inference program here")
    ap.add_argument("--save-training-program", metavar="PATH", help="write the training step here")
    a = ap.parse_args()
    main(nb_epoch=a.epochs, save_program=a.save_program, save_training_program=a.save_training_program)
