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

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from example_utils import example_arguments, load_reviews, pad_reviews, print_evaluation  # noqa: E402

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


def main(ngram=1, nb_epoch=5, maxlen=400, nb_train=None, nb_test=None, verbose=1):
    max_features = 20000
    embedding_dims = 50

    (X_train, y_train), (X_test, y_test) = load_reviews(max_features, nb_train, nb_test)
    print("Average train sequence length: {}".format(int(np.mean([len(x) for x in X_train]))))
    print("Average test sequence length: {}".format(int(np.mean([len(x) for x in X_test]))))

    if ngram > 1:
        print("Adding {}-gram features".format(ngram))
        seen = set()
        for seq in X_train:
            for n in range(2, ngram + 1):
                seen |= ngrams(seq, n)
        # n-gram tokens get indices above every word index
        token_index = {g: max_features + 1 + i for i, g in enumerate(sorted(seen))}
        max_features = max(token_index.values()) + 1
        X_train = append_ngrams(X_train, token_index, ngram)
        X_test = append_ngrams(X_test, token_index, ngram)
        print("Average train sequence length: {}".format(int(np.mean([len(x) for x in X_train]))))
        print("Average test sequence length: {}".format(int(np.mean([len(x) for x in X_test]))))

    X_train, X_test = pad_reviews(X_train, X_test, maxlen)

    print("Build model...")
    model = Sequential()
    # embeddings of the words (and n-grams) of the review
    model.add(Embedding(max_features, embedding_dims, input_length=maxlen))
    # averaged over the review
    model.add(GlobalAveragePooling1D())
    model.add(Dense(1, activation="sigmoid"))

    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.fit(
        X_train, y_train, batch_size=32, nb_epoch=nb_epoch, validation_data=(X_test, y_test), verbose=verbose
    )
    return print_evaluation(model, X_test, y_test)


# MAIN
if __name__ == "__main__":
    quick = dict(ngram=2, nb_epoch=1, nb_train=256, nb_test=256, verbose=2)
    ngram = dict(type=int, default=1, help="1: words only; 2: with bigrams; ...")
    main(**example_arguments("256 reviews, bigrams, 1 epoch", quick, epochs=5, ngram=ngram))
