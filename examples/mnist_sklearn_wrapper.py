"""scikit-learn's GridSearchCV picks a Keras model (the Keras 1
`mnist_sklearn_wrapper.py` example): `KerasClassifier(make_model, batch_size=32)` wraps a
function that builds and compiles a small convnet; the grid searches the sizes of its
Dense layers and `nb_epoch` (a `fit` argument, tunable although `make_model` does not
take it), scored by log loss; the best model is then evaluated on held-out digits.

Keras 1 imported `sklearn.grid_search.GridSearchCV` and scored with 'log_loss';
scikit-learn has since moved it to `sklearn.model_selection` and renamed the score
'neg_log_loss' (the same loss, negated), which is what this script uses. Needs
scikit-learn (in the test extras: `pip install '.[test]'`).

Real MNIST digits bundled in examples/data (the first 8,000 test-set images for the
search, the last 2,000 to evaluate the best model); 3-fold cross-validation. Keras 1
searched 8 candidates (4 layer-size lists x nb_epoch in [3, 6]) on 60,000 images.

    python examples/mnist_sklearn_wrapper.py [--quick]

`--quick` (or FERROKERAS_EXAMPLE_QUICK=1): 300 images, 2 candidates, 2 folds, 1 epoch.
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
from keras.wrappers.scikit_learn import KerasClassifier  # noqa: E402

nb_classes = 10
img_rows, img_cols = 28, 28


def input_shape():
    return (1, img_rows, img_cols) if K.image_dim_ordering() == "th" else (img_rows, img_cols, 1)


def make_model(dense_layer_sizes, nb_filters, nb_conv, nb_pool):
    """Two convolutions, max pooling, then one Dense layer per entry of
    `dense_layer_sizes`, compiled with Adadelta."""
    model = Sequential()
    model.add(Convolution2D(nb_filters, nb_conv, nb_conv, border_mode="valid", input_shape=input_shape()))
    model.add(Activation("relu"))
    model.add(Convolution2D(nb_filters, nb_conv, nb_conv))
    model.add(Activation("relu"))
    model.add(MaxPooling2D(pool_size=(nb_pool, nb_pool)))
    model.add(Dropout(0.25))

    model.add(Flatten())
    for layer_size in dense_layer_sizes:
        model.add(Dense(layer_size))
    model.add(Activation("relu"))
    model.add(Dropout(0.5))
    model.add(Dense(nb_classes))
    model.add(Activation("softmax"))

    model.compile(loss="categorical_crossentropy", optimizer="adadelta", metrics=["accuracy"])
    return model


def main(dense_size_candidates, nb_epochs, nb_train=8000, nb_test=2000, cv=3):
    try:
        from sklearn.model_selection import GridSearchCV
    except ImportError:
        sys.exit("This example needs scikit-learn: pip install scikit-learn")

    images, labels = load_mnist_test_set()
    X_train = images[:nb_train].reshape((-1,) + input_shape()).astype("float32") / 255
    X_test = images[8000 : 8000 + nb_test].reshape((-1,) + input_shape()).astype("float32") / 255
    # convert class vectors to binary class matrices
    y_train = np_utils.to_categorical(labels[:nb_train], nb_classes)
    y_test = np_utils.to_categorical(labels[8000 : 8000 + nb_test], nb_classes)

    my_classifier = KerasClassifier(make_model, batch_size=32, verbose=0)
    validator = GridSearchCV(
        my_classifier,
        param_grid={
            "dense_layer_sizes": dense_size_candidates,
            # nb_epoch is available for tuning even when not an argument of make_model
            "nb_epoch": nb_epochs,
            "nb_filters": [8],
            "nb_conv": [3],
            "nb_pool": [2],
        },
        scoring="neg_log_loss",
        cv=cv,
        n_jobs=1,
    )
    validator.fit(X_train, y_train)

    print("The parameters of the best model are: ")
    print(validator.best_params_)

    # validator.best_estimator_ is the sklearn-wrapped best model, .model the Keras model
    best_model = validator.best_estimator_.model
    metric_names = best_model.metrics_names
    metric_values = best_model.evaluate(X_test, y_test, verbose=0)
    for metric, value in zip(metric_names, metric_values):
        print(metric, ": ", value)
    return dict(zip(metric_names, metric_values))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="300 images, 2 candidates, 2 folds, 1 epoch")
    a = ap.parse_args()
    if quick_mode():
        main([[32], [32, 32]], [1], nb_train=300, nb_test=300, cv=2)
    else:
        main([[32], [64], [32, 32], [64, 64]], [3, 6])
