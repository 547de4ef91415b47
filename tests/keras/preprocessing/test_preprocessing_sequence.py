"""keras.preprocessing.sequence against hand-computed expectations."""

import random

import numpy as np
import pytest

from keras.preprocessing.sequence import make_sampling_table, pad_sequences, skipgrams


def test_pad_sequences_padding_and_truncating():
    a = [[1], [1, 2], [1, 2, 3]]
    b = pad_sequences(a, maxlen=2, padding="pre", truncating="pre")
    assert b.tolist() == [[0, 1], [1, 2], [2, 3]]
    assert b.dtype == np.int32
    b = pad_sequences(a, maxlen=2, padding="post", truncating="pre")
    assert b.tolist() == [[1, 0], [1, 2], [2, 3]]
    b = pad_sequences(a, maxlen=2, padding="pre", truncating="post")
    assert b.tolist() == [[0, 1], [1, 2], [1, 2]]
    b = pad_sequences(a, maxlen=2, padding="post", truncating="post")
    assert b.tolist() == [[1, 0], [1, 2], [1, 2]]
    # maxlen defaults to the longest; value fills
    b = pad_sequences(a, value=-1)
    assert b.tolist() == [[-1, -1, 1], [-1, 1, 2], [1, 2, 3]]
    b = pad_sequences([[], [5]], maxlen=3)
    assert b.tolist() == [[0, 0, 0], [0, 0, 5]]
    b = pad_sequences([[0.5, 1.5]], maxlen=3, dtype="float32", value=0.25)
    assert b.dtype == np.float32 and b.tolist() == [[0.25, 0.5, 1.5]]


def test_pad_sequences_vectors_and_errors():
    seqs = [np.ones((2, 3)), np.full((4, 3), 2.0)]
    b = pad_sequences(seqs, maxlen=3, dtype="float32")
    assert b.shape == (2, 3, 3)
    np.testing.assert_array_equal(b[0], [[0, 0, 0], [1, 1, 1], [1, 1, 1]])
    np.testing.assert_array_equal(b[1], np.full((3, 3), 2.0))
    with pytest.raises(ValueError, match="Padding type"):
        pad_sequences([[1]], padding="middle")
    with pytest.raises(ValueError, match="Truncating type"):
        pad_sequences([[1, 2]], maxlen=1, truncating="middle")
    with pytest.raises(ValueError, match="different from expected shape"):
        pad_sequences([np.ones((2, 3)), np.ones((2, 4))])


def test_make_sampling_table():
    t = make_sampling_table(5, sampling_factor=1e-5)
    rank = np.array([1, 1, 2, 3, 4], dtype=float)
    f = 1e-5 * (rank * (np.log(rank) + 0.577) + 0.5 - 1.0 / (12.0 * rank))
    np.testing.assert_allclose(t, np.minimum(1.0, f / np.sqrt(f)))
    assert t.shape == (5,) and np.all(np.diff(t[1:]) > 0)


def test_skipgrams_positive_pairs():
    couples, labels = skipgrams(
        [1, 2, 3], vocabulary_size=4, window_size=1, negative_samples=0, shuffle=False
    )
    assert couples == [[1, 2], [2, 1], [2, 3], [3, 2]]
    assert labels == [1, 1, 1, 1]
    # index 0 is a non-word: neither a target nor a context
    couples, _ = skipgrams([1, 0, 2], vocabulary_size=3, window_size=2, negative_samples=0, shuffle=False)
    assert couples == [[1, 2], [2, 1]]
    couples, labels = skipgrams([1, 2], 3, window_size=1, negative_samples=0, shuffle=False, categorical=True)
    assert labels == [[0, 1], [0, 1]]


def test_skipgrams_negative_samples_and_shuffle():
    random.seed(1)
    seq = list(range(1, 11))
    couples, labels = skipgrams(seq, vocabulary_size=11, window_size=2, negative_samples=1.0)
    assert len(couples) == len(labels) == 2 * 34  # 34 positive pairs, as many negatives
    assert labels.count(1) == 34 and labels.count(0) == 34
    targets = set(seq)
    for (w, c), lab in zip(couples, labels):
        assert w in targets
        if lab == 1:
            assert abs(seq.index(w) - seq.index(c)) <= 2 and w != c
        else:
            assert 1 <= c <= 10
    random.seed(1)
    again = skipgrams(seq, vocabulary_size=11, window_size=2, negative_samples=1.0)
    assert again == (couples, labels)


def test_skipgrams_sampling_table_drops_words():
    table = np.zeros(5)
    couples, _ = skipgrams([1, 2, 3, 4], 5, sampling_table=table, negative_samples=0)
    assert couples == []
    table = np.ones(5)
    couples, _ = skipgrams([1, 2], 5, window_size=1, sampling_table=table, negative_samples=0, shuffle=False)
    assert couples == [[1, 2], [2, 1]]
