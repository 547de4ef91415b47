"""Transfer learning toy example (the Keras 1 `mnist_transfer_cnn.py` example):

1. train a small convnet to classify the digits 0..4;
2. freeze its convolutional layers (`layer.trainable = False`, then compile again) and
   fine-tune only the dense layers to classify the digits 5..9.

The two groups of layers are plain lists given to `Sequential(feature_layers +
classification_layers)`, as in Keras 1. Real MNIST digits bundled in examples/data (the
first 8,000 test-set images train, the last 2,000 test; each task gets the images of
its five digits). Keras 1 reports 99.8% / 99.2% after 5 epochs on 60,000 images.
The script checks that the frozen convolution kernels did not move during step 2.

    python examples/mnist_transfer_cnn.py [--epochs N] [--quick]

`--quick` (or FERROKERAS_EXAMPLE_QUICK=1): 512 training images, 1 epoch per task.
"""

import datetime
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from example_utils import example_arguments, image_shape, print_evaluation  # noqa: E402
from mnist_data import prepare_digits, split_mnist  # noqa: E402

np.random.seed(1337)  # for reproducibility

from keras.layers import Activation, Convolution2D, Dense, Dropout, Flatten, MaxPooling2D  # noqa: E402
from keras.models import Sequential  # noqa: E402

now = datetime.datetime.now


def train_model(model, train, test, nb_classes, input_shape, nb_epoch, verbose):
    (X_train, Y_train), (X_test, Y_test) = prepare_digits(train, test, input_shape, nb_classes)

    model.compile(loss="categorical_crossentropy", optimizer="adadelta", metrics=["accuracy"])

    t = now()
    model.fit(
        X_train, Y_train, batch_size=128, nb_epoch=nb_epoch, verbose=verbose, validation_data=(X_test, Y_test)
    )
    print("Training time: %s" % (now() - t))
    return print_evaluation(model, X_test, Y_test)[1]


def main(nb_epoch=5, nb_train=8000, nb_test=2000, verbose=1):
    nb_classes = 5
    # input image dimensions
    img_rows, img_cols = 28, 28
    # number of convolutional filters to use
    nb_filters = 32
    # size of pooling area for max pooling
    pool_size = 2
    # convolution kernel size
    kernel_size = 3

    input_shape = image_shape(img_rows, img_cols, 1)

    (X_train, y_train), (X_test, y_test) = split_mnist(nb_train, nb_test)

    # one dataset with the digits below 5 and one with 5 and above (classes from 0)
    lt5_train, lt5_test = y_train < 5, y_test < 5
    task1 = (X_train[lt5_train], y_train[lt5_train]), (X_test[lt5_test], y_test[lt5_test])
    task2 = (X_train[~lt5_train], y_train[~lt5_train] - 5), (X_test[~lt5_test], y_test[~lt5_test] - 5)

    # two groups of layers: feature (convolutions) and classification (dense)
    feature_layers = [
        Convolution2D(nb_filters, kernel_size, kernel_size, border_mode="valid", input_shape=input_shape),
        Activation("relu"),
        Convolution2D(nb_filters, kernel_size, kernel_size),
        Activation("relu"),
        MaxPooling2D(pool_size=(pool_size, pool_size)),
        Dropout(0.25),
        Flatten(),
    ]
    classification_layers = [
        Dense(128),
        Activation("relu"),
        Dropout(0.5),
        Dense(nb_classes),
        Activation("softmax"),
    ]

    # create complete model
    model = Sequential(feature_layers + classification_layers)

    # train model for 5-digit classification [0..4]
    acc1 = train_model(model, task1[0], task1[1], nb_classes, input_shape, nb_epoch, verbose)

    # freeze feature layers and rebuild model
    for layer in feature_layers:
        layer.trainable = False
    frozen = [w.copy() for layer in feature_layers for w in layer.get_weights()]

    # transfer: train dense layers for new classification task [5..9]
    acc2 = train_model(model, task2[0], task2[1], nb_classes, input_shape, nb_epoch, verbose)

    unchanged = all(
        np.array_equal(a, b)
        for a, b in zip(frozen, [w for layer in feature_layers for w in layer.get_weights()])
    )
    print("Frozen convolution weights unchanged:", unchanged)
    print("Digits 0-4 accuracy: %.4f, digits 5-9 accuracy after transfer: %.4f" % (acc1, acc2))
    return acc1, acc2, unchanged


if __name__ == "__main__":
    quick = dict(nb_epoch=1, nb_train=512, nb_test=512, verbose=2)
    main(**example_arguments("512 training images, 1 epoch per task", quick, epochs=5))
