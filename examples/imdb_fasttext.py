"""A fastText-style classifier for IMDB reviews (the Keras 1 `imdb_fasttext.py` example;
Joulin et al., "Bag of Tricks for Efficient Text Classification",
https://arxiv.org/abs/1607.01759): word (and optionally n-gram) embeddings averaged by
`GlobalAveragePooling1D`, then a sigmoid output.

With `--ngram 2` every bigram seen in the training reviews gets its own token index
above `max_features`, appended to the review, as in Keras 1 (which reports 0.88 test
accuracy with unigrams and 0.91 with bigrams after 5 epochs on 25,000 reviews).

Runs offline on the aclImdb subset of the shared data (../shared/data/imdb: 2,000 train
and 2,000 test reviews, encoded as Keras `imdb.load_data()` encodes them; see
example_utils.load_imdb_subset).

    python examples/imdb_fasttext.py [--ngram 1|2|3] [--epochs N] [--quick]

`--quick` (or FERROKERAS_EXAMPLE_QUICK=1): 256 train and test reviews, bigrams, 1 epoch.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from example_utils import load_imdb_subset, pad_sequences, quick_mode  # noqa: E402

np.random.seed(1337)  # for reproducibility

from keras.layers import Dense, Embedding, GlobalAveragePooling1D  # noqa: E402
from keras.models import Sequential  # noqa: E402


def ngrams(tokens, n):
    """The set of n-grams (tuples) of a token list: ngrams([1, 4, 9, 4], 2) ==
    {(1, 4), (4, 9), (9, 4)}."""
    return set(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def append_ngrams(sequences, token_index, ngram_range):
    """Each sequence followed by the indices of its known 2..ngram_range-grams, in order
    of position then length."""
    out = []
    for seq in sequences:
        extra = []
        for i in range(len(seq)):
            for n in range(2, ngram_range + 1):
                gram = tuple(seq[i : i + n])
                if len(gram) == n and gram in token_index:
                    extra.append(token_index[gram])
        out.append(list(seq) + extra)
    return out


def main(ngram_range=1, nb_epoch=5, maxlen=400, nb_train=None, nb_test=None, verbose=1):
    max_features = 20000
    batch_size = 32
    embedding_dims = 50

    print("Loading data...")
    (X_train, y_train), (X_test, y_test) = load_imdb_subset(nb_words=max_features)
    X_train, y_train = X_train[:nb_train], y_train[:nb_train]
    X_test, y_test = X_test[:nb_test], y_test[:nb_test]
    print(len(X_train), "train sequences")
    print(len(X_test), "test sequences")
    print("Average train sequence length: {}".format(int(np.mean([len(x) for x in X_train]))))
    print("Average test sequence length: {}".format(int(np.mean([len(x) for x in X_test]))))

    if ngram_range > 1:
        print("Adding {}-gram features".format(ngram_range))
        seen = set()
        for seq in X_train:
            for n in range(2, ngram_range + 1):
                seen |= ngrams(seq, n)
        # n-gram tokens get indices above every word index
        token_index = {g: max_features + 1 + i for i, g in enumerate(sorted(seen))}
        max_features = max(token_index.values()) + 1
        X_train = append_ngrams(X_train, token_index, ngram_range)
        X_test = append_ngrams(X_test, token_index, ngram_range)
        print("Average train sequence length: {}".format(int(np.mean([len(x) for x in X_train]))))
        print("Average test sequence length: {}".format(int(np.mean([len(x) for x in X_test]))))

    print("Pad sequences (samples x time)")
    X_train = pad_sequences(X_train, maxlen=maxlen)
    X_test = pad_sequences(X_test, maxlen=maxlen)
    print("X_train shape:", X_train.shape)
    print("X_test shape:", X_test.shape)

    print("Build model...")
    model = Sequential()
    # embeddings of the words (and n-grams) of the review
    model.add(Embedding(max_features, embedding_dims, input_length=maxlen))
    # averaged over the review
    model.add(GlobalAveragePooling1D())
    model.add(Dense(1, activation="sigmoid"))

    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.fit(
        X_train,
        y_train,
        batch_size=batch_size,
        nb_epoch=nb_epoch,
        validation_data=(X_test, y_test),
        verbose=verbose,
    )
    score, acc = model.evaluate(X_test, y_test, batch_size=batch_size, verbose=0)
    print("Test score:", score)
    print("Test accuracy:", acc)
    return score, acc


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--ngram", type=int, default=1, help="1: words only; 2: with bigrams; ...")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="256 reviews, bigrams, 1 epoch")
    a = ap.parse_args()
    if quick_mode():
        main(ngram_range=2, nb_epoch=1, nb_train=256, nb_test=256, verbose=2)
    else:
        main(ngram_range=a.ngram, nb_epoch=a.epochs)
