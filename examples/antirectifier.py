"""How to write a custom layer (the Keras 1 `antirectifier.py` example): `Antirectifier`
centres each sample, L2-normalises it and concatenates its positive part with its
negative part, so its output has twice the input's width and, unlike a ReLU, drops
nothing. A Keras 1 custom layer defines `get_output_shape_for` and `call` with backend
(`K`) primitives; the same code runs here unchanged.

An MLP with two 256-unit Dense layers each followed by an Antirectifier is trained on
real MNIST digits bundled in examples/data (the first 8,000 test-set images train, the
last 2,000 test). Keras 1 trains 40 epochs on 60,000 images (about 98.2%).

    python examples/antirectifier.py [--epochs N] [--quick]

`--quick` (or FERROKERAS_EXAMPLE_QUICK=1): 512 training images, 1 epoch.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from example_utils import example_arguments, print_evaluation  # noqa: E402
from mnist_data import load_digits  # noqa: E402

np.random.seed(1337)  # for reproducibility

from keras import backend as K  # noqa: E402
from keras.layers import Activation, Dense, Dropout, Layer  # noqa: E402
from keras.models import Sequential  # noqa: E402


class Antirectifier(Layer):
    """Sample-wise centring and L2 normalisation, then [relu(x), relu(-x)].

    # Input shape
        2D tensor of shape (samples, n)

    # Output shape
        2D tensor of shape (samples, 2*n)
    """

    def get_output_shape_for(self, input_shape):
        shape = list(input_shape)
        assert len(shape) == 2  # only valid for 2D tensors
        shape[-1] *= 2
        return tuple(shape)

    def call(self, x, mask=None):
        x -= K.mean(x, axis=1, keepdims=True)
        x = K.l2_normalize(x, axis=1)
        pos = K.relu(x)
        neg = K.relu(-x)
        return K.concatenate([pos, neg], axis=1)


def main(nb_epoch=40, nb_train=8000, nb_test=2000, verbose=1):
    (X_train, Y_train), (X_test, Y_test) = load_digits((784,), nb_train, nb_test, show_shape=False)

    model = Sequential()
    model.add(Dense(256, input_shape=(784,)))
    model.add(Antirectifier())
    model.add(Dropout(0.1))
    model.add(Dense(256))
    model.add(Antirectifier())
    model.add(Dropout(0.1))
    model.add(Dense(10))
    model.add(Activation("softmax"))

    model.compile(loss="categorical_crossentropy", optimizer="rmsprop", metrics=["accuracy"])
    model.fit(
        X_train, Y_train, batch_size=128, nb_epoch=nb_epoch, verbose=verbose, validation_data=(X_test, Y_test)
    )
    return print_evaluation(model, X_test, Y_test)


if __name__ == "__main__":
    quick = dict(nb_epoch=1, nb_train=512, nb_test=512, verbose=2)
    main(**example_arguments("512 training images, 1 epoch", quick, epochs=40))
