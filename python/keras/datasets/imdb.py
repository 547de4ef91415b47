"""IMDB movie-review sentiment (``keras.datasets.imdb``)."""

from ..utils.generic_utils import shared_docs
from ._files import fetch, load_arrays, load_word_index
from ._sequences import START_CHAR_ARG_DOC, WORD_ARGS_DOC, index_sequences, shuffle_together, split

_ORIGIN_DIR = "https://s3.amazonaws.com/text-datasets/"
# The md5s Keras published; a cache file under a name of its own is used unverified
# (its pickle, like every dataset pickle, is read with the restricted unpickler).
_HASHES = {
    "imdb_full.pkl": "d091312047c43cf9e4e38fef92437263",
    "imdb.npz": "599dadb1135973df5b59232a0e9a887c",
    "imdb_word_index.pkl": "72d94b01291be4ff843198d3b0e1e4d7",
    "imdb_word_index.json": "bfafd718b763782e994055a2d397834f",
}


@shared_docs(word_args=WORD_ARGS_DOC, start_char_arg=START_CHAR_ARG_DOC)
def load_data(
    path="imdb_full.pkl",
    nb_words=None,
    skip_top=0,
    maxlen=None,
    seed=113,
    start_char=1,
    oov_char=2,
    index_from=3,
):
    """Loads the IMDB dataset.

    # Arguments
        path: where to cache the data (relative to `~/.keras/datasets`); Keras 1's
            `imdb_full.pkl` or the later `imdb.npz`.
        {word_args}
        seed: random seed for sample shuffling.
        {start_char_arg}
        oov_char: words that were cut out because of the `nb_words`
            or `skip_top` limit will be replaced with this character
            (with `oov_char=None` they are dropped).
        index_from: index actual words with this index and higher.

    # Returns
        Tuple of Numpy arrays: `(X_train, y_train), (X_test, y_test)`; X holds lists of
        ints (a 1-D object array), y int labels.

    Two Keras 1.2.2 slips are not reproduced: after `maxlen` filtering, the train/test
    split is made at the number of surviving training reviews (1.2.2 cut at the
    unfiltered count, moving test reviews into the training set), and `oov_char=None`
    drops the out-of-range words (1.2.2 kept only those).
    Note that when `nb_words` is None it defaults to the largest index present, which
    (as in Keras 1) then maps that one largest index to `oov_char`.
    """
    path = fetch(path, _ORIGIN_DIR, _HASHES, "imdb_full.pkl")
    (x_train, labels_train), (x_test, labels_test) = load_arrays(
        path, (("x_train", "y_train"), ("x_test", "y_test"))
    )

    x_train, labels_train = shuffle_together(x_train, labels_train, seed)
    x_test, labels_test = shuffle_together(x_test, labels_test, seed * 2)

    xs, labels, kept = index_sequences(
        x_train + x_test,
        labels_train + labels_test,
        nb_words,
        skip_top,
        maxlen,
        start_char,
        oov_char,
        index_from,
    )
    return split(xs, labels, sum(kept[: len(x_train)]))


def get_word_index(path="imdb_word_index.pkl"):
    """Retrieves the dictionary mapping words to their frequency rank (1 = most frequent).

    # Arguments
        path: where to cache the data (relative to `~/.keras/datasets`); Keras 1's
            `imdb_word_index.pkl` or the later `imdb_word_index.json`.

    # Returns
        The word index dictionary.
    """
    return load_word_index(fetch(path, _ORIGIN_DIR, _HASHES, "imdb_word_index.pkl"))
