"""Embedding: layer test, lookup against numpy, mask_zero, dropout, out-of-range ids,
sequences of another length than input_length."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from keras import backend as K
from keras.layers import Embedding, Input
from keras.models import Sequential
from keras.utils.test_utils import layer_test


def test_layer_test():
    layer_test(
        Embedding,
        kwargs={"output_dim": 4, "input_dim": 10, "input_length": 2},
        input_shape=(3, 2),
        input_dtype="int32",
        expected_output_dtype=K.floatx(),
    )


def test_lookup_matches_numpy_and_weights():
    W = np.random.random((10, 3)).astype("float32")
    model = Sequential()
    model.add(Embedding(10, 3, input_length=4, weights=[W]))
    x = np.random.randint(0, 10, size=(5, 4))
    assert_allclose(model.predict(x), W[x])
    assert model.layers[0].weights[0].name.endswith("_W")
    assert model.output_shape == (None, 4, 3)
    cfg = model.layers[0].get_config()
    assert cfg["input_dim"] == 10 and cfg["mask_zero"] is False and cfg["init"] == "uniform"


def test_mask_zero():
    layer = Embedding(5, 2, mask_zero=True)
    x = K.placeholder((None, 3), dtype="int32")
    m = layer.compute_mask(x)
    f = K.function([x], [m])
    assert_allclose(f([np.array([[0, 1, 2]])])[0], [[0, 1, 1]])


def test_dropout_drops_rows_in_training_only():
    model = Sequential()
    model.add(Embedding(10, 3, input_length=4, dropout=0.5))
    model.compile("sgd", "mse")
    x = np.random.randint(0, 10, size=(5, 4))
    W = model.get_weights()[0]
    assert_allclose(model.predict(x), W[x], rtol=1e-6)
    model.fit(x, np.zeros((5, 4, 3)), verbose=0, nb_epoch=1)


def test_out_of_range_ids_are_value_errors():
    model = Sequential()
    model.add(Embedding(10, 3, input_length=2))
    with pytest.raises(ValueError, match="out of range"):
        model.predict(np.array([[1, 10]]))
    with pytest.raises(ValueError):
        model.predict(np.array([[1, -1]]))
    model.predict(np.array([[1, 9]]))


def test_sequences_of_another_length_than_input_length_are_value_errors():
    with pytest.raises(
        ValueError, match=r"\(Embedding\) was built for input_length=4, got input shape \(None, 5\)"
    ):
        Embedding(10, 3, input_length=4)(Input(shape=(5,)))
    Embedding(10, 3, input_length=4)(Input(shape=(4,)))
