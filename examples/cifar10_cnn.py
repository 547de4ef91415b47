"""Trains a small VGG-like convnet with real-time data augmentation (the Keras 1
`cifar10_cnn.py` example): two blocks of two 3x3 convolutions with max pooling and
dropout, a 512-unit dense layer, and `ImageDataGenerator` shifting the training images
at random while `fit_generator` trains on them.

CIFAR-10 cannot be downloaded here, so the example runs offline on the MNIST digits
bundled in examples/data instead (the first 8,000 images train, the last 2,000 test):
1x28x28 grayscale images instead of 3x32x32 colour ones, and no horizontal flips
(digits are not mirror-symmetric); the model and the augmentation are Keras 1's
otherwise. Gets to about 99% test accuracy in 5 epochs.

    python examples/cifar10_cnn.py [--epochs N] [--no-augmentation] [--quick]

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

from keras import backend as K  # noqa: E402
from keras.layers import Activation, Convolution2D, Dense, Dropout, Flatten, MaxPooling2D  # noqa: E402
from keras.models import Sequential  # noqa: E402
from keras.utils import np_utils  # noqa: E402


def main(nb_epoch=5, data_augmentation=True, nb_train=8000, nb_test=2000, verbose=1):
    batch_size = 32
    nb_classes = 10

    # input image dimensions
    img_rows, img_cols = 28, 28
    # the MNIST images are grayscale
    img_channels = 1

    images, labels = load_mnist_test_set()
    X_train, y_train = images[:nb_train], labels[:nb_train]
    X_test, y_test = images[8000 : 8000 + nb_test], labels[8000 : 8000 + nb_test]
    if K.image_dim_ordering() == "th":
        X_train = X_train.reshape(-1, img_channels, img_rows, img_cols)
        X_test = X_test.reshape(-1, img_channels, img_rows, img_cols)
    else:
        X_train = X_train.reshape(-1, img_rows, img_cols, img_channels)
        X_test = X_test.reshape(-1, img_rows, img_cols, img_channels)
    print("X_train shape:", X_train.shape)
    print(X_train.shape[0], "train samples")
    print(X_test.shape[0], "test samples")

    # convert class vectors to binary class matrices
    Y_train = np_utils.to_categorical(y_train, nb_classes)
    Y_test = np_utils.to_categorical(y_test, nb_classes)

    model = Sequential()

    model.add(Convolution2D(32, 3, 3, border_mode="same", input_shape=X_train.shape[1:]))
    model.add(Activation("relu"))
    model.add(Convolution2D(32, 3, 3))
    model.add(Activation("relu"))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Dropout(0.25))

    model.add(Convolution2D(64, 3, 3, border_mode="same"))
    model.add(Activation("relu"))
    model.add(Convolution2D(64, 3, 3))
    model.add(Activation("relu"))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Dropout(0.25))

    model.add(Flatten())
    model.add(Dense(512))
    model.add(Activation("relu"))
    model.add(Dropout(0.5))
    model.add(Dense(nb_classes))
    model.add(Activation("softmax"))

    # Let's train the model using RMSprop
    model.compile(loss="categorical_crossentropy", optimizer="rmsprop", metrics=["accuracy"])

    X_train = X_train.astype("float32")
    X_test = X_test.astype("float32")
    X_train /= 255
    X_test /= 255

    if not data_augmentation:
        print("Not using data augmentation.")
        model.fit(
            X_train,
            Y_train,
            batch_size=batch_size,
            nb_epoch=nb_epoch,
            verbose=verbose,
            validation_data=(X_test, Y_test),
            shuffle=True,
        )
    else:
        print("Using real-time data augmentation.")
        from keras.preprocessing.image import ImageDataGenerator

        # this will do preprocessing and realtime data augmentation
        datagen = ImageDataGenerator(
            featurewise_center=False,  # set input mean to 0 over the dataset
            samplewise_center=False,  # set each sample mean to 0
            featurewise_std_normalization=False,  # divide inputs by std of the dataset
            samplewise_std_normalization=False,  # divide each input by its std
            zca_whitening=False,  # apply ZCA whitening
            rotation_range=0,  # randomly rotate images in the range (degrees, 0 to 180)
            width_shift_range=0.1,  # randomly shift images horizontally (fraction of total width)
            height_shift_range=0.1,  # randomly shift images vertically (fraction of total height)
            horizontal_flip=False,  # Keras 1 flips CIFAR-10 images; digits are not mirror-symmetric
            vertical_flip=False,  # randomly flip images
        )

        # compute quantities required for featurewise normalization
        # (std, mean, and principal components if ZCA whitening is applied)
        datagen.fit(X_train)

        # fit the model on the batches generated by datagen.flow()
        model.fit_generator(
            datagen.flow(X_train, Y_train, batch_size=batch_size),
            samples_per_epoch=X_train.shape[0],
            nb_epoch=nb_epoch,
            verbose=verbose,
            validation_data=(X_test, Y_test),
        )

    score = model.evaluate(X_test, Y_test, verbose=0)
    print("Test score:", score[0])
    print("Test accuracy:", score[1])
    return score


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--no-augmentation", action="store_true")
    ap.add_argument("--quick", action="store_true", help="256 training images, 1 epoch")
    a = ap.parse_args()
    if quick_mode():
        main(nb_epoch=1, data_augmentation=not a.no_augmentation, nb_train=256, nb_test=256, verbose=2)
    else:
        main(nb_epoch=a.epochs, data_augmentation=not a.no_augmentation)
