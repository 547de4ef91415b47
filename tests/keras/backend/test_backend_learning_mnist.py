"""Learning with the backend alone: logistic regression on real MNIST digits (0 vs 1)
trained with K.placeholder, K.variable, K.gradients, K.update and K.function (the
graph of examples/backend_logreg_mnist.py)."""

import numpy as np

from conftest import examples_module, mnist_test_set
from keras import backend as K


def setup_function(function):
    K.clear_session()


def teardown_function(function):
    K.clear_session()


def test_logistic_regression_mnist_0_vs_1():
    images, labels = mnist_test_set()
    assert images.shape == (10000, 28, 28) and labels.shape == (10000,)
    (x_train, y_train), (x_test, y_test) = examples_module("mnist_data").zeros_and_ones(images, labels)
    assert len(x_train) > 1000 and len(x_test) > 300

    np.random.seed(1337)
    model = examples_module("backend_logreg_mnist").logistic_regression(lr=0.5)
    train, predict, W, b = model.train, model.predict, model.W, model.b
    evaluate = K.function([model.X, model.Y], [model.loss])

    def accuracy():
        return float(np.mean((predict([x_test])[0] > 0.5) == (y_test > 0.5)))

    acc0 = accuracy()
    loss0 = float(evaluate([x_train, y_train])[0])
    np.testing.assert_allclose(loss0, np.log(2), rtol=0.05)  # ~0.693 from tiny weights
    W0 = K.get_value(W)

    batch = 64
    for _epoch in range(3):
        order = np.random.permutation(len(x_train))
        for start in range(0, len(order), batch):
            idx = order[start : start + batch]
            train([x_train[idx], y_train[idx]])

    acc = accuracy()
    final_loss = float(evaluate([x_train, y_train])[0])
    assert not np.array_equal(K.get_value(W), W0)
    assert final_loss < 0.05 < loss0
    assert acc >= 0.99, f"test accuracy {acc:.4f} (before training {acc0:.4f})"

    # the loss matches a numpy recomputation with the learnt weights
    Wv, bv = K.get_value(W).astype(np.float64), K.get_value(b).astype(np.float64)
    pn = 1 / (1 + np.exp(-(x_train.astype(np.float64) @ Wv + bv)[:, 0]))
    pn = np.clip(pn, 1e-7, 1 - 1e-7)
    ref = -np.mean(y_train * np.log(pn) + (1 - y_train) * np.log(1 - pn))
    np.testing.assert_allclose(final_loss, ref, rtol=1e-3, atol=1e-5)
