"""keras.preprocessing.text against hand-computed expectations."""

import math

import numpy as np
import pytest

from keras.preprocessing.text import Tokenizer, base_filter, one_hot, text_to_word_sequence

TEXTS = ["The cat sat on the mat.", "The dog ate my homework!", "Cat, dog; cat?"]


def test_base_filter_and_word_sequence():
    f = base_filter()
    assert "'" not in f and "!" in f and "\t" in f and "\n" in f and "." in f
    assert text_to_word_sequence("Hello, World!\tIt's  me.") == ["hello", "world", "it's", "me"]
    assert text_to_word_sequence("A-B c", lower=False) == ["A", "B", "c"]
    assert text_to_word_sequence("a,b.c", filters=",", split=".") == ["a", "b", "c"]


def test_one_hot_range():
    text = "The cat sat on the mat and the dog ate my homework"
    enc = one_hot(text, 5)
    assert len(enc) == 12
    assert all(1 <= i < 5 for i in enc)
    assert enc[0] == enc[4] == enc[7]  # "the" each time
    assert one_hot(text, 5) == enc


def test_tokenizer_counts_and_index():
    tok = Tokenizer()
    tok.fit_on_texts(TEXTS)
    assert tok.document_count == 3
    assert tok.word_counts["the"] == 3 and tok.word_counts["cat"] == 3 and tok.word_counts["dog"] == 2
    assert tok.word_docs["the"] == 2 and tok.word_docs["cat"] == 2 and tok.word_docs["dog"] == 2
    assert tok.word_docs["mat"] == 1
    # ranks by count, ties in first-seen order; 0 is never assigned
    assert tok.word_index["the"] == 1 and tok.word_index["cat"] == 2 and tok.word_index["dog"] == 3
    assert sorted(tok.word_index.values()) == list(range(1, 10))
    assert tok.texts_to_sequences(["the cat ate a fish"]) == [[1, 2, tok.word_index["ate"]]]
    assert list(tok.texts_to_sequences_generator(TEXTS[2:])) == [[2, 3, 2]]


def test_tokenizer_nb_words_limits_indices():
    tok = Tokenizer(nb_words=3)
    tok.fit_on_texts(TEXTS)
    assert tok.texts_to_sequences(TEXTS) == [[1, 2, 1], [1], [2, 2]]
    m = tok.texts_to_matrix(TEXTS, mode="count")
    assert m.shape == (3, 3)
    np.testing.assert_array_equal(m, [[0, 2, 1], [0, 1, 0], [0, 0, 2]])


def test_tokenizer_every_matrix_mode():
    tok = Tokenizer()
    tok.fit_on_texts(TEXTS)
    seqs = [[1, 1, 2], [3], []]
    n = 10  # len(word_index) + 1
    binary = tok.sequences_to_matrix(seqs, mode="binary")
    count = tok.sequences_to_matrix(seqs, mode="count")
    freq = tok.sequences_to_matrix(seqs, mode="freq")
    tfidf = tok.sequences_to_matrix(seqs, mode="tfidf")
    for m in (binary, count, freq, tfidf):
        assert m.shape == (3, n) and m.dtype == np.float64
        assert not m[2].any()
    assert binary[0].tolist() == [0, 1, 1] + [0] * 7
    assert count[0].tolist() == [0, 2, 1] + [0] * 7
    np.testing.assert_allclose(freq[0, :3], [0, 2 / 3, 1 / 3])
    np.testing.assert_allclose(freq[1, 3], 1.0)
    # tfidf: (1 + log(count)) * log(1 + N / (1 + docs)), N = 3 documents
    docs_the, docs_cat, docs_dog = 2, 2, 2
    np.testing.assert_allclose(tfidf[0, 1], (1 + math.log(2)) * math.log(1 + 3 / (1 + docs_the)))
    np.testing.assert_allclose(tfidf[0, 2], 1 * math.log(1 + 3 / (1 + docs_cat)))
    np.testing.assert_allclose(tfidf[1, 3], math.log(1 + 3 / (1 + docs_dog)))
    np.testing.assert_array_equal(tok.texts_to_matrix(TEXTS[:1], mode="binary")[0, :3], [0, 1, 1])
    with pytest.raises(ValueError, match="Unknown vectorization mode"):
        tok.sequences_to_matrix(seqs, mode="onehot")


def test_tokenizer_fit_on_sequences_and_errors():
    tok = Tokenizer(nb_words=5)
    with pytest.raises(ValueError, match="Fit the Tokenizer"):
        tok.sequences_to_matrix([[1, 2]], mode="tfidf")
    tok.fit_on_sequences([[1, 2, 2], [2, 3], [4]])
    assert tok.document_count == 3 and tok.index_docs == {1: 1, 2: 2, 3: 1, 4: 1}
    m = tok.sequences_to_matrix([[2, 2, 9]], mode="tfidf")
    np.testing.assert_allclose(m[0, 2], (1 + math.log(2)) * math.log(1 + 3 / 3))
    assert m[0].sum() == m[0, 2]  # index 9 >= nb_words is ignored
    with pytest.raises(ValueError, match="nb_words"):
        Tokenizer().sequences_to_matrix([[1]])


def test_tokenizer_char_level():
    tok = Tokenizer(char_level=True)
    tok.fit_on_texts(["abba", "ac"])
    assert tok.word_counts == {"a": 3, "b": 2, "c": 1}
    assert tok.word_index == {"a": 1, "b": 2, "c": 3}
    assert tok.texts_to_sequences(["cab"]) == [[3, 1, 2]]
