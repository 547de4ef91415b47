"""Reuters newswire topics (``keras.datasets.reuters``)."""

from ..utils.generic_utils import shared_docs
from ._files import fetch, load_arrays, load_word_index
from ._sequences import START_CHAR_ARG_DOC, WORD_ARGS_DOC, index_sequences, shuffle_together, split

_ORIGIN_DIR = "https://s3.amazonaws.com/text-datasets/"
# The md5s Keras published (none for Keras 1's pickles; they, like every dataset pickle,
# are read with the restricted unpickler of ._safe_pickle).
_HASHES = {
    "reuters.pkl": None,
    "reuters.npz": "87aedbeb0cb229e378797a632c1997b6",
    "reuters_word_index.pkl": None,
    "reuters_word_index.json": "4d44cc38712099c9e383dc6e5f11a921",
}


@shared_docs(word_args=WORD_ARGS_DOC, start_char_arg=START_CHAR_ARG_DOC)
def load_data(
    path="reuters.pkl",
    nb_words=None,
    skip_top=0,
    maxlen=None,
    test_split=0.2,
    seed=113,
    start_char=1,
    oov_char=2,
    index_from=3,
):
    """Loads the Reuters newswire classification dataset.

    # Arguments
        path: where to cache the data (relative to `~/.keras/datasets`); Keras 1's
            `reuters.pkl` or the later `reuters.npz`.
        {word_args}
        test_split: Fraction of the dataset to be used as test data.
        seed: random seed for sample shuffling.
        {start_char_arg}
        oov_char: words that were cut out because of the `nb_words`
            or `skip_top` limit will be replaced with this character
            (with `oov_char=None` they are dropped; Keras 1.2.2 kept only those).
        index_from: index actual words with this index and higher.

    # Returns
        Tuple of Numpy arrays: `(X_train, y_train), (X_test, y_test)`: the first
        `int(len * (1 - test_split))` shuffled (and filtered) newswires train.
    """
    xs, labels = load_arrays(fetch(path, _ORIGIN_DIR, _HASHES, "reuters.pkl"), ("x", "y"))
    xs, labels = shuffle_together(xs, labels, seed)
    xs, labels, _ = index_sequences(xs, labels, nb_words, skip_top, maxlen, start_char, oov_char, index_from)
    return split(xs, labels, int(len(xs) * (1 - test_split)))


def get_word_index(path="reuters_word_index.pkl"):
    """Retrieves the dictionary mapping words to their index.

    # Arguments
        path: where to cache the data (relative to `~/.keras/datasets`); Keras 1's
            `reuters_word_index.pkl` or the later `reuters_word_index.json`.

    # Returns
        The word index dictionary.
    """
    return load_word_index(fetch(path, _ORIGIN_DIR, _HASHES, "reuters_word_index.pkl"))
