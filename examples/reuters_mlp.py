"""An MLP classifies newswires by topic (the Keras 1 `reuters_mlp.py` example): each
newswire becomes a binary bag of its 1,000 most frequent words
(`Tokenizer(nb_words=1000).sequences_to_matrix(..., mode='binary')`), then Dense(512),
ReLU, dropout and a softmax over the topics, trained with Adam and
`validation_split=0.1`.

Data: Keras 1's `reuters.load_data(nb_words=1000, test_split=0.2)`. When the real
`reuters.pkl` (11,228 Reuters-21578 newswires, 46 topics) is in the Keras cache
(~/.keras/datasets) it is used. The real file cannot be bundled, so otherwise the script
writes a GENERATED stand-in in the same format to a temporary folder and loads it
through the same `reuters.load_data` call: 2,000 synthetic "newswires" of 20-200 word
indices over 46 topics, each word drawn from a Zipf-distributed general vocabulary
or (30% of words) from a topic's own 40 key words. Accuracy on it says nothing about
Reuters; Keras 1 reports about 0.78 on the real data after 5 epochs.

    python examples/reuters_mlp.py [--epochs N] [--quick]

`--quick` (or FERROKERAS_EXAMPLE_QUICK=1): 400 newswires, 1 epoch.
"""

import os
import pickle
import shutil
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from example_utils import example_arguments  # noqa: E402

np.random.seed(1337)  # for reproducibility

from keras.datasets import reuters  # noqa: E402
from keras.layers import Activation, Dense, Dropout  # noqa: E402
from keras.models import Sequential  # noqa: E402
from keras.preprocessing.text import Tokenizer  # noqa: E402
from keras.utils import np_utils  # noqa: E402


def write_generated_reuters(path, nb_wires=2000, nb_topics=46, vocab=5000, seed=7):
    """Writes `(sequences, topics)` as Keras 1's reuters.pkl holds them: lists of word
    indices (1 = most frequent) and int topic labels."""
    rng = np.random.RandomState(seed)
    key_words = [rng.choice(np.arange(30, vocab), 40, replace=False) for _ in range(nb_topics)]
    wires, topics = [], []
    for i in range(nb_wires):
        topic = i if i < nb_topics else int(rng.randint(nb_topics))
        length = int(rng.randint(20, 200))
        words = (rng.zipf(1.3, length) - 1) % (vocab - 1) + 1
        keyed = rng.rand(length) < 0.3
        words[keyed] = rng.choice(key_words[topic], int(keyed.sum()))
        wires.append([int(w) for w in words])
        topics.append(topic)
    with open(path, "wb") as f:
        pickle.dump((wires, topics), f, protocol=2)


def main(nb_epoch=5, nb_wires=2000, verbose=1):
    max_words = 1000
    batch_size = 32

    print("Loading data...")
    cached = os.path.join(os.path.expanduser("~"), ".keras", "datasets", "reuters.pkl")
    tmp = None
    if os.path.exists(cached):
        path = "reuters.pkl"
        print("Real Reuters newswires from", cached)
    else:
        tmp = tempfile.mkdtemp(prefix="reuters-")
        path = os.path.join(tmp, "reuters.pkl")  # an absolute path: no download
        write_generated_reuters(path, nb_wires=nb_wires)
        print("No reuters.pkl in the Keras cache: %d GENERATED newswires (see the docstring)" % nb_wires)
    try:
        (X_train, y_train), (X_test, y_test) = reuters.load_data(
            path=path, nb_words=max_words, test_split=0.2
        )
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    print(len(X_train), "train sequences")
    print(len(X_test), "test sequences")

    nb_classes = np.max(y_train) + 1
    print(nb_classes, "classes")

    print("Vectorizing sequence data...")
    tokenizer = Tokenizer(nb_words=max_words)
    X_train = tokenizer.sequences_to_matrix(X_train, mode="binary")
    X_test = tokenizer.sequences_to_matrix(X_test, mode="binary")
    print("X_train shape:", X_train.shape)
    print("X_test shape:", X_test.shape)

    print("Convert class vector to binary class matrix (for use with categorical_crossentropy)")
    Y_train = np_utils.to_categorical(y_train, nb_classes)
    Y_test = np_utils.to_categorical(y_test, nb_classes)
    print("Y_train shape:", Y_train.shape)
    print("Y_test shape:", Y_test.shape)

    print("Building model...")
    model = Sequential()
    model.add(Dense(512, input_shape=(max_words,)))
    model.add(Activation("relu"))
    model.add(Dropout(0.5))
    model.add(Dense(nb_classes))
    model.add(Activation("softmax"))

    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.fit(
        X_train, Y_train, nb_epoch=nb_epoch, batch_size=batch_size, verbose=verbose, validation_split=0.1
    )
    score = model.evaluate(X_test, Y_test, batch_size=batch_size, verbose=0)
    print("Test score:", score[0])
    print("Test accuracy:", score[1])
    return score


if __name__ == "__main__":
    quick = dict(nb_epoch=1, nb_wires=400, verbose=2)
    main(**example_arguments("400 newswires, 1 epoch", quick, epochs=5))
