"""The word-index sequence pipeline shared by `imdb` and `reuters` (Keras 1.2.2 order:
shuffle, shift by `index_from` behind `start_char`, drop sequences not shorter than
`maxlen`, replace ranks outside [skip_top, nb_words) by `oov_char`)."""

import numpy as np

from ._files import sequence_array

# `# Arguments` entries of imdb.load_data and reuters.load_data (see ``shared_docs``).
WORD_ARGS_DOC = """
nb_words: max number of words to include. Words are ranked
    by how often they occur (in the training set) and only
    the most frequent words are kept
skip_top: skip the top N most frequently occuring words
    (which may not be informative).
maxlen: truncate sequences after this length (sequences of `maxlen` or more
    words, start character included, are dropped).
"""
START_CHAR_ARG_DOC = """
start_char: The start of a sequence will be marked with this character.
    Set to 1 because 0 is usually the padding character.
"""


def shuffle_together(xs, labels, seed):
    """Keras 1's shuffle: reseed, shuffle the sequences; reseed, shuffle the labels (the
    same permutation, as both lists have the same length)."""
    xs = list(xs)
    labels = list(labels)
    np.random.seed(seed)
    np.random.shuffle(xs)
    np.random.seed(seed)
    np.random.shuffle(labels)
    return xs, labels


def index_sequences(xs, labels, nb_words, skip_top, maxlen, start_char, oov_char, index_from):
    """Returns (xs, labels, kept) where `kept` is the boolean mask of the input sequences
    that survive the `maxlen` filter."""
    if start_char is not None:
        xs = [[start_char] + [int(w) + index_from for w in x] for x in xs]
    elif index_from:
        xs = [[int(w) + index_from for w in x] for x in xs]
    else:
        xs = [[int(w) for w in x] for x in xs]

    kept = [True] * len(xs)
    if maxlen:
        kept = [len(x) < maxlen for x in xs]
        xs = [x for x, k in zip(xs, kept) if k]
        labels = [y for y, k in zip(labels, kept) if k]
    if not xs:
        raise ValueError(
            "After filtering for sequences shorter than maxlen="
            + str(maxlen)
            + ", no sequence was kept. Increase maxlen."
        )
    if not nb_words:
        nb_words = max([max(x) if x else 0 for x in xs])

    # By convention 2 is the OOV word; index_from (3) reserves 0 (padding), 1 (start), 2 (OOV).
    if oov_char is not None:
        xs = [[w if skip_top <= w < nb_words else oov_char for w in x] for x in xs]
    else:
        xs = [[w for w in x if skip_top <= w < nb_words] for x in xs]
    return xs, labels, kept


def split(xs, labels, n_train):
    return (sequence_array(xs[:n_train]), np.array(labels[:n_train])), (
        sequence_array(xs[n_train:]),
        np.array(labels[n_train:]),
    )
