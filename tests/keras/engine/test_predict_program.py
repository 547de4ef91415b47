"""`predict` runs a program compiled for the test phase: the noise layers and
`in_train_phase` branches are left out of it, and it computes exactly what the
test-phase graph computes."""

import numpy as np

from keras import backend as K
from keras.layers import Dense, Dropout, GaussianDropout, GaussianNoise, Input, Lambda
from keras.models import Model, Sequential


def _model():
    model = Sequential()
    model.add(Dense(16, input_dim=8, activation="relu"))
    model.add(Dropout(0.5))
    model.add(GaussianNoise(0.3))
    model.add(Dense(16, activation="tanh"))
    model.add(GaussianDropout(0.2))
    model.add(Lambda(lambda t: K.in_train_phase(t * 3.0, t)))
    model.add(Dense(4, activation="softmax"))
    model.compile("sgd", "categorical_crossentropy")
    return model


def _x(n=37):
    return np.random.RandomState(0).rand(n, 8).astype("float32")


def test_predict_equals_the_test_phase_of_the_full_graph():
    model = _model()
    full = K.function([model.inputs[0], K.learning_phase()], model.outputs)
    want = full([_x(), np.float32(0.0)])[0]
    np.testing.assert_array_equal(model.predict(_x(), batch_size=10), want)
    np.testing.assert_array_equal(model.predict_on_batch(_x()), want)


def test_the_predict_program_has_no_noise_or_switch_nodes():
    model = _model()
    model.predict(_x())
    lean = model.model.predict_function.op_names()
    full = K.function([model.inputs[0], K.learning_phase()], model.outputs).op_names()
    # dropout, gaussian_noise, gaussian_dropout, switch and the mul of the train branch
    # are left out
    left_out = ["dropout", "gaussian_noise", "gaussian_dropout", "mul", "switch"]
    assert sorted(full) == sorted(lean + left_out)


def test_training_still_applies_the_noise():
    model = _model()
    train = K.function([model.inputs[0], K.learning_phase()], model.outputs)
    a = train([_x(), np.float32(1.0)])[0]
    b = model.predict(_x())
    assert not np.allclose(a, b)


def test_a_functional_model_output_that_is_a_dropout_is_its_input_at_predict():
    i = Input((8,))
    d = Dropout(0.5)(i)
    model = Model(i, d)
    np.testing.assert_array_equal(model.predict(_x()), _x())
