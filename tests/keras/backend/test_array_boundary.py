"""Arrays the engine cannot read in place (misaligned buffers, strided or packed
structured-field views) are copied at the boundary, never read through an unaligned or
mis-strided pointer, and never refused with a wrong message."""

import numpy as np

from keras import backend as K
from keras.layers import Dense
from keras.models import Sequential


def _misaligned(values):
    values = np.asarray(values, dtype="<f4")
    buf = bytearray(values.nbytes + 1)
    buf[1:] = values.tobytes()
    arr = np.frombuffer(buf, dtype="<f4", offset=1).reshape(values.shape)
    assert not arr.flags.aligned and arr.flags.c_contiguous
    return arr


def test_predict_takes_a_misaligned_c_contiguous_array():
    model = Sequential([Dense(3, input_dim=4)])
    model.compile("sgd", "mse")
    x = np.random.RandomState(0).rand(5, 4).astype("float32")
    np.testing.assert_array_equal(model.predict(_misaligned(x)), model.predict(x))


def test_variable_and_set_value_copy_a_misaligned_array():
    x = np.arange(6, dtype="float32").reshape(2, 3)
    v = K.variable(_misaligned(x))
    np.testing.assert_array_equal(K.get_value(v), x)
    K.set_value(v, _misaligned(x * 2))
    np.testing.assert_array_equal(K.get_value(v), x * 2)


def test_a_packed_structured_field_is_read_with_its_own_stride():
    rec = np.zeros(4, dtype=np.dtype([("tag", "u1"), ("w", "<f4")], align=False))
    rec["w"] = [1.5, -2.0, 3.25, 4.0]
    field = rec["w"]  # stride 5, offset 1: neither aligned nor contiguous
    assert not field.flags.aligned or not field.flags.c_contiguous
    v = K.variable(field)
    np.testing.assert_array_equal(K.get_value(v), [1.5, -2.0, 3.25, 4.0])
    x = K.placeholder(shape=(4,))
    g = K.function([x], [x * 2.0])
    np.testing.assert_array_equal(g([field])[0], [3.0, -4.0, 6.5, 8.0])
