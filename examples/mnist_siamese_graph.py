"""Trains a Siamese MLP on pairs of MNIST digits (the Keras 1 `mnist_siamese_graph.py`
example): the functional API with a shared base network, a Lambda layer computing the
euclidean distance of the two embeddings, and the contrastive loss of Hadsell et al.

Runs offline on the MNIST test set bundled in examples/data: pairs are made from the
first 8,000 images for training and from the last 2,000 for testing. Gets to about 96%
pair accuracy on the test pairs in 20 epochs.

    python examples/mnist_siamese_graph.py [--epochs N] [--quick]

`--quick` (or FERROKERAS_EXAMPLE_QUICK=1): pairs from 1,000 training images, 1 epoch.

Accuracy here is the fraction of pairs classified right (distance < 0.5 means "same
digit"); Keras 1's `compute_accuracy` reported the mean label of the pairs predicted
"same" instead, which is a precision, not an accuracy.
"""

import os
import random
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from example_utils import example_arguments  # noqa: E402
from mnist_data import load_mnist_test_set  # noqa: E402

np.random.seed(1337)  # for reproducibility
random.seed(1337)

from keras import backend as K  # noqa: E402
from keras.layers import Dense, Dropout, Input, Lambda  # noqa: E402
from keras.models import Model, Sequential  # noqa: E402
from keras.optimizers import RMSprop  # noqa: E402


def euclidean_distance(vects):
    x, y = vects
    return K.sqrt(K.sum(K.square(x - y), axis=1, keepdims=True))


def eucl_dist_output_shape(shapes):
    shape1, shape2 = shapes
    return (shape1[0], 1)


def contrastive_loss(y_true, y_pred):
    """Contrastive loss from Hadsell-et-al.'06
    http://yann.lecun.com/exdb/publis/pdf/hadsell-chopra-lecun-06.pdf
    """
    margin = 1
    return K.mean(y_true * K.square(y_pred) + (1 - y_true) * K.square(K.maximum(margin - y_pred, 0)))


def create_pairs(x, digit_indices):
    """Positive and negative pair creation.
    Alternates between positive and negative pairs.
    """
    pairs = []
    labels = []
    n = min([len(digit_indices[d]) for d in range(10)]) - 1
    for d in range(10):
        for i in range(n):
            z1, z2 = digit_indices[d][i], digit_indices[d][i + 1]
            pairs += [[x[z1], x[z2]]]
            inc = random.randrange(1, 10)
            dn = (d + inc) % 10
            z1, z2 = digit_indices[d][i], digit_indices[dn][i]
            pairs += [[x[z1], x[z2]]]
            labels += [1, 0]
    return np.array(pairs), np.array(labels, dtype="float32")


def create_base_network(input_dim):
    """Base network to be shared (eq. to feature extraction)."""
    seq = Sequential()
    seq.add(Dense(128, input_shape=(input_dim,), activation="relu"))
    seq.add(Dropout(0.1))
    seq.add(Dense(128, activation="relu"))
    seq.add(Dropout(0.1))
    seq.add(Dense(128, activation="relu"))
    return seq


def compute_accuracy(predictions, labels):
    """Fraction of pairs classified right with a fixed threshold on distances."""
    return np.mean((predictions.ravel() < 0.5) == (labels == 1))


def main(nb_epoch=20, nb_train=8000, nb_test=2000, verbose=1):
    images, labels = load_mnist_test_set()
    X = images.reshape(len(images), 784).astype("float32") / 255
    X_train, y_train = X[:nb_train], labels[:nb_train]
    X_test, y_test = X[8000 : 8000 + nb_test], labels[8000 : 8000 + nb_test]
    input_dim = 784

    # create training+test positive and negative pairs
    digit_indices = [np.where(y_train == i)[0] for i in range(10)]
    tr_pairs, tr_y = create_pairs(X_train, digit_indices)

    digit_indices = [np.where(y_test == i)[0] for i in range(10)]
    te_pairs, te_y = create_pairs(X_test, digit_indices)
    print(len(tr_pairs), "training pairs,", len(te_pairs), "test pairs")

    # network definition
    base_network = create_base_network(input_dim)

    input_a = Input(shape=(input_dim,))
    input_b = Input(shape=(input_dim,))

    # because we re-use the same instance `base_network`,
    # the weights of the network
    # will be shared across the two branches
    processed_a = base_network(input_a)
    processed_b = base_network(input_b)

    distance = Lambda(euclidean_distance, output_shape=eucl_dist_output_shape)([processed_a, processed_b])

    model = Model(input=[input_a, input_b], output=distance)

    # train
    rms = RMSprop()
    model.compile(loss=contrastive_loss, optimizer=rms)
    model.fit(
        [tr_pairs[:, 0], tr_pairs[:, 1]],
        tr_y,
        validation_data=([te_pairs[:, 0], te_pairs[:, 1]], te_y),
        batch_size=128,
        nb_epoch=nb_epoch,
        verbose=verbose,
    )

    # compute final accuracy on training and test sets
    pred = model.predict([tr_pairs[:, 0], tr_pairs[:, 1]])
    tr_acc = compute_accuracy(pred, tr_y)
    pred = model.predict([te_pairs[:, 0], te_pairs[:, 1]])
    te_acc = compute_accuracy(pred, te_y)

    print("* Accuracy on training set: %0.2f%%" % (100 * tr_acc))
    print("* Accuracy on test set: %0.2f%%" % (100 * te_acc))
    return tr_acc, te_acc


if __name__ == "__main__":
    quick = dict(nb_epoch=1, nb_train=1000, nb_test=500, verbose=2)
    main(**example_arguments("pairs from 1,000 training images, 1 epoch", quick, epochs=20))
