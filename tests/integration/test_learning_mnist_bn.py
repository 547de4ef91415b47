"""Real-data learning tests of BatchNormalization on the shared MNIST test set (train
on the first 8000 images, evaluate in the test phase, with the moving statistics, on
the last 2000): a Dense+BN+relu MLP and a small channels-first conv+BN CNN."""

import time

import numpy as np

from conftest import mnist_test_set


def _mnist():
    images, labels = mnist_test_set()
    return images.astype("float32") / 255.0, labels


def _fit_and_evaluate(model, x, y, batch_size, nb_epoch, what):
    """Compiles ``model`` (adam), trains it on the first 8000 images (the loss must
    fall) and returns its test-phase accuracy on the last 2000."""
    from keras.utils.np_utils import to_categorical

    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    t0 = time.time()
    hist = model.fit(
        x[:8000], to_categorical(y[:8000], 10), batch_size=batch_size, nb_epoch=nb_epoch, verbose=0
    )
    fit_s = time.time() - t0
    loss, acc = model.evaluate(x[8000:], to_categorical(y[8000:], 10), verbose=0)
    print(f"MNIST {what}: test accuracy {acc:.4f}, fit {fit_s:.1f} s")
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    return acc


def _bn_relu(layer, axis=-1):
    """``layer``, then BatchNormalization(axis) and a relu."""
    from keras.layers import Activation, BatchNormalization

    return [layer, BatchNormalization(axis=axis), Activation("relu")]


def test_mnist_mlp_with_batchnorm_reaches_95_percent():
    from keras import backend as K
    from keras.layers import Activation, Dense
    from keras.models import Sequential

    x, y = _mnist()
    x = x.reshape(-1, 784)
    K.clear_session()
    np.random.seed(1337)
    model = Sequential(
        _bn_relu(Dense(256, input_shape=(784,))) + _bn_relu(Dense(256)) + [Dense(10), Activation("softmax")]
    )
    acc = _fit_and_evaluate(model, x, y, 128, 6, "MLP+BN")
    # the moving statistics moved away from their initial values
    rm = model.layers[1].get_weights()[2]
    assert np.abs(rm).max() > 0.1
    assert acc >= 0.95, f"test accuracy {acc:.4f}"


def test_mnist_cnn_with_batchnorm_reaches_97_5_percent():
    from keras import backend as K
    from keras.layers import Activation, Convolution2D, Dense, Flatten, MaxPooling2D
    from keras.models import Sequential

    x, y = _mnist()
    x = x[:, None]
    K.clear_session()
    np.random.seed(1337)
    model = Sequential(
        _bn_relu(Convolution2D(16, 3, 3, input_shape=(1, 28, 28), dim_ordering="th"), axis=1)
        + [MaxPooling2D(pool_size=(2, 2), dim_ordering="th")]
        + _bn_relu(Convolution2D(32, 3, 3, dim_ordering="th"), axis=1)
        + [MaxPooling2D(pool_size=(2, 2), dim_ordering="th"), Flatten()]
        + _bn_relu(Dense(128))
        + [Dense(10), Activation("softmax")]
    )
    # Test-phase accuracy waits for the moving statistics (momentum 0.99, starting from
    # mean 0 / variance 1 while the first conv's variance is ~0.01): it stays at chance
    # for the first ~250 updates (seed 1337, per epoch of 250 batches: 0.117, 0.909,
    # 0.964, 0.983), so the test trains 5 epochs of batches of 32.
    acc = _fit_and_evaluate(model, x, y, 32, 5, "CNN+BN")
    assert acc >= 0.975, f"test accuracy {acc:.4f}"
