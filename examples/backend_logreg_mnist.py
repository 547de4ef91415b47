"""Logistic regression on real MNIST digits (0 vs 1) with the Keras 1 backend alone.

Trains on the first 8,000 images of the MNIST test set and tests on the last 2,000,
using only K.placeholder, K.variable, K.gradients, K.update and K.function: the graph,
its gradients and the update all run in the ferrokeras engine.
"""

import os
import sys
import time
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mnist_data import load_mnist_test_set, zeros_and_ones  # noqa: E402

from keras import backend as K  # noqa: E402


def logistic_regression(lr):
    """The model as backend tensors: placeholders `X` (784 pixels) and `Y` (0/1), the
    weights `W` (drawn from np.random) and `b`, the mean cross-entropy `loss`, and the
    functions `train` (one gradient step of rate `lr`, returns [loss]) and `predict`
    (returns [p(1)]). tests/keras/backend trains it too."""
    X = K.placeholder(shape=(None, 784), name="X")
    Y = K.placeholder(shape=(None,), name="Y")
    W = K.variable(np.random.normal(0, 0.01, (784, 1)), name="W")
    b = K.variable(np.zeros((1,)), name="b")
    p = K.sigmoid(K.dot(X, W) + b)[:, 0]
    loss = K.mean(K.binary_crossentropy(p, Y))
    gW, gb = K.gradients(loss, [W, b])
    train = K.function([X, Y], [loss], updates=[K.update(W, W - lr * gW), K.update(b, b - lr * gb)])
    predict = K.function([X], [p])
    return SimpleNamespace(X=X, Y=Y, W=W, b=b, loss=loss, train=train, predict=predict)


def main(epochs=5, batch_size=64, lr=0.5):
    (x_train, y_train), (x_test, y_test) = zeros_and_ones(*load_mnist_test_set())
    print("train: %d images of 0 and 1, test: %d" % (len(x_train), len(x_test)))

    np.random.seed(1337)
    model = logistic_regression(lr)
    train, predict = model.train, model.predict

    for epoch in range(epochs):
        t0 = time.time()
        order = np.random.permutation(len(x_train))
        losses = []
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            losses.append(train([x_train[idx], y_train[idx]])[0])
        acc = np.mean((predict([x_test])[0] > 0.5) == (y_test > 0.5))
        print(
            "epoch %d/%d - %.2fs - loss: %.4f - test acc: %.4f"
            % (epoch + 1, epochs, time.time() - t0, np.mean(losses), acc)
        )
    return acc


if __name__ == "__main__":
    main()
