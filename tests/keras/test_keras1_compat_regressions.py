"""Keras 1.2.2 behaviours its own test suite and scripts rely on: the pooling layers
importable from `keras.layers.convolutional`, zero-length cropping, and the plain Python
return types of the text and sequence helpers."""

import numpy as np
import pytest

from keras import backend as K
from keras.layers import Cropping1D, Cropping2D, Cropping3D, Dense, Flatten, Merge
from keras.models import Sequential
from keras.preprocessing import sequence, text

# MaxPooling1D ... AveragePooling3D
POOLING = [f"{kind}Pooling{rank}D" for kind in ("Max", "Average") for rank in (1, 2, 3)]


@pytest.mark.parametrize("name", POOLING)
def test_pooling_layers_import_from_the_convolutional_module(name):
    import keras.layers.convolutional as conv
    import keras.layers.pooling as pooling

    assert getattr(conv, name) is getattr(pooling, name)


def test_cropping1d_can_crop_the_whole_axis():
    model = Sequential([Cropping1D(cropping=(2, 2), input_shape=(4, 3))])
    assert model.output_shape == (None, 0, 3)
    assert model.predict(np.ones((5, 4, 3), "float32")).shape == (5, 0, 3)


@pytest.mark.parametrize("ordering", ["th", "tf"])
def test_cropping2d_and_3d_can_crop_a_whole_axis(ordering):
    shape2 = (2, 3, 4) if ordering == "th" else (3, 4, 2)
    m2 = Sequential([Cropping2D(((1, 2), (0, 0)), dim_ordering=ordering, input_shape=shape2)])
    out2 = m2.predict(np.ones((2,) + shape2, "float32"))
    assert out2.shape == (2,) + m2.output_shape[1:]
    assert 0 in out2.shape

    shape3 = (2, 3, 2, 2) if ordering == "th" else (3, 2, 2, 2)
    crop = ((0, 0), (1, 1), (0, 0))
    m3 = Sequential([Cropping3D(crop, dim_ordering=ordering, input_shape=shape3)])
    out3 = m3.predict(np.ones((2,) + shape3, "float32"))
    assert out3.shape == (2,) + m3.output_shape[1:]
    assert 0 in out3.shape


def test_zero_length_branch_of_a_concat_trains():
    # a branch cropped to nothing contributes no features; the model still trains
    empty = Sequential([Cropping1D((2, 2), input_shape=(4, 3))])
    full = Sequential([Cropping1D((0, 0), input_shape=(4, 3))])
    model = Sequential([Merge([empty, full], mode="concat", concat_axis=1), Flatten(), Dense(1)])
    model.compile("sgd", "mse")
    x = np.random.rand(8, 4, 3).astype("float32")
    model.fit([x, x], np.ones((8, 1)), nb_epoch=1, verbose=0)
    assert model.predict([x, x]).shape == (8, 1)


def test_cropping_more_than_the_axis_holds_is_a_clear_error():
    with pytest.raises(ValueError, match="removes more than"):
        Sequential([Cropping1D(cropping=(3, 2), input_shape=(4, 3))])


def test_text_helpers_return_python_lists_of_python_scalars():
    words = text.text_to_word_sequence("The cat sat, on the mat.")
    assert type(words) is list and all(type(w) is str for w in words)
    codes = text.one_hot("The cat sat on the mat.", 5)
    assert type(codes) is list and all(type(c) is int for c in codes)
    assert len(codes) == 6 and max(codes) <= 4 and min(codes) >= 1

    tok = text.Tokenizer(nb_words=20)
    tok.fit_on_texts(["The cat sat on the mat.", "The dog sat on the log.", "Dogs and cats."])
    seqs = tok.texts_to_sequences(["The cat sat.", "dogs"])
    assert type(seqs) is list and all(type(s) is list for s in seqs)
    assert all(type(i) is int for s in seqs for i in s)
    gen = list(tok.texts_to_sequences_generator(["the dog"]))
    assert gen == [[1, tok.word_index["dog"]]] and type(gen[0]) is list
    # Keras 1 scripts reduce them with the builtins or per sequence
    assert max(max(s) for s in seqs) <= 20
    assert type(tok.word_index) is dict and type(tok.word_counts) is dict
    assert type(tok.document_count) is int


def test_sequence_helpers_keep_keras1_types():
    couples, labels = sequence.skipgrams([1, 2, 3, 4], 5, window_size=1)
    assert type(couples) is list and type(labels) is list
    assert all(type(c) is list and len(c) == 2 for c in couples)
    assert all(type(v) is int for c in couples for v in c)
    assert all(type(v) is int for v in labels)
    padded = sequence.pad_sequences([[1, 2], [3]], maxlen=3)
    assert isinstance(padded, np.ndarray) and padded.dtype == np.int32


def test_backend_int_shape_is_a_tuple_of_python_ints():
    x = K.placeholder(shape=(None, 3, 4))
    shape = K.int_shape(x)
    assert type(shape) is tuple and shape == (None, 3, 4)
    assert all(d is None or type(d) is int for d in shape)
