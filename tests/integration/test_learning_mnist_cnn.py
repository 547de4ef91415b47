"""Real-data learning test of the convolutional layers: the classic Keras 1 MNIST CNN
(examples/mnist_cnn.py) on the shared MNIST test set, in both dim orderings."""

import time

import numpy as np
import pytest

from conftest import examples_module, mnist_test_set


def _mnist():
    images, labels = mnist_test_set()
    return images.astype("float32") / 255.0, labels


def _cnn(ordering):
    """examples/mnist_cnn.py's model, its layers built in dim ordering `ordering`."""
    from keras import backend as K

    build_model = examples_module("mnist_cnn").build_model
    default = K.image_dim_ordering()
    K.set_image_dim_ordering(ordering)
    try:
        model = build_model((1, 28, 28) if ordering == "th" else (28, 28, 1))
    finally:
        K.set_image_dim_ordering(default)
    model.compile(loss="categorical_crossentropy", optimizer="adadelta", metrics=["accuracy"])
    return model


@pytest.mark.parametrize("ordering", ["th", "tf"])
def test_mnist_cnn_reaches_97_5_percent(ordering):
    from keras import backend as K
    from keras.utils.np_utils import to_categorical

    x, y = _mnist()
    x = x[:, None] if ordering == "th" else x[..., None]
    K.clear_session()
    np.random.seed(1337)
    model = _cnn(ordering)
    t0 = time.time()
    hist = model.fit(x[:8000], to_categorical(y[:8000], 10), batch_size=128, nb_epoch=12, verbose=0)
    per_epoch = (time.time() - t0) / 12
    loss, acc = model.evaluate(x[8000:], to_categorical(y[8000:], 10), verbose=0)
    print(f"MNIST CNN {ordering}: test accuracy {acc:.4f}, {per_epoch:.2f} s/epoch")
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    assert acc >= 0.975, f"test accuracy {acc:.4f}"
