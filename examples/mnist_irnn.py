"""Pixel-by-pixel sequential MNIST with an IRNN (the Keras 1 `mnist_irnn.py` example;
Le, Jaitly & Hinton, "A Simple Way to Initialize Recurrent Networks of Rectified Linear
Units", http://arxiv.org/abs/1504.00941): a SimpleRNN of 100 ReLU units reads each
image as a sequence of 784 single pixels, its input weights drawn from N(0, 0.001²)
and its recurrent weights initialised to the identity, through Keras 1's callable
initialisations (`init=lambda shape, name: normal(shape, scale=0.001, name=name)`).
RMSprop with lr=1e-6, as in Keras 1.

Real MNIST digits bundled in examples/data (the first 8,000 test-set images train, the
last 2,000 test). Keras 1 needs 900 epochs on 60,000 images to reach 0.93; the
default here runs 5 epochs (`--epochs`), far too few to come near that.

    python examples/mnist_irnn.py [--epochs N] [--quick]

`--quick` (or FERROKERAS_EXAMPLE_QUICK=1): 256 training images, 1 epoch.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from example_utils import example_arguments, print_evaluation  # noqa: E402
from mnist_data import load_digits  # noqa: E402

np.random.seed(1337)  # for reproducibility

from keras.initializations import identity, normal  # noqa: E402
from keras.layers import Activation, Dense, SimpleRNN  # noqa: E402
from keras.models import Sequential  # noqa: E402
from keras.optimizers import RMSprop  # noqa: E402


def main(nb_epoch=5, nb_train=8000, nb_test=2000, verbose=1):
    nb_classes = 10
    hidden_units = 100
    learning_rate = 1e-6

    # each image a sequence of 784 single pixels
    (X_train, Y_train), (X_test, Y_test) = load_digits((784, 1), nb_train, nb_test, nb_classes)

    print("Evaluate IRNN...")
    model = Sequential()
    model.add(
        SimpleRNN(
            output_dim=hidden_units,
            init=lambda shape, name: normal(shape, scale=0.001, name=name),
            inner_init=lambda shape, name: identity(shape, scale=1.0, name=name),
            activation="relu",
            input_shape=X_train.shape[1:],
        )
    )
    model.add(Dense(nb_classes))
    model.add(Activation("softmax"))
    rmsprop = RMSprop(lr=learning_rate)
    model.compile(loss="categorical_crossentropy", optimizer=rmsprop, metrics=["accuracy"])

    model.fit(
        X_train, Y_train, batch_size=32, nb_epoch=nb_epoch, verbose=verbose, validation_data=(X_test, Y_test)
    )

    return print_evaluation(model, X_test, Y_test, names=("IRNN test score:", "IRNN test accuracy:"))


if __name__ == "__main__":
    quick = dict(nb_epoch=1, nb_train=256, nb_test=256, verbose=2)
    main(**example_arguments("256 training images, 1 epoch", quick, epochs=5))
