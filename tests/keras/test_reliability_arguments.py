"""Bad arguments to fit / evaluate / predict / the generator loops and to the convolution
and pooling layers are ValueErrors naming the argument, never silent no-ops, dropped
rows, hangs or bare ZeroDivisionErrors (issue 17, item 6)."""

import numpy as np
import pytest

from keras.layers import (
    AtrousConvolution1D,
    AtrousConvolution2D,
    AveragePooling1D,
    AveragePooling2D,
    Convolution1D,
    Convolution2D,
    Convolution3D,
    Deconvolution2D,
    Dense,
    Input,
    MaxPooling1D,
    MaxPooling2D,
    MaxPooling3D,
    SeparableConvolution2D,
    UpSampling1D,
    UpSampling2D,
    UpSampling3D,
)
from keras.models import Model, Sequential


def _model():
    model = Sequential([Dense(2, input_dim=3)])
    model.compile("sgd", "mse")
    return model


def _data(n=10):
    rng = np.random.RandomState(0)
    return rng.rand(n, 3).astype("float32"), rng.rand(n, 2).astype("float32")


def _two_inputs():
    a, b = Input((3,)), Input((3,))
    model = Model([a, b], [Dense(2)(a), Dense(2)(b)])
    model.compile("sgd", "mse")
    return model


def _generator(x, y):
    while True:
        yield x, y


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, None, True])
def test_batch_size_must_be_a_positive_integer(batch_size):
    model = _model()
    x, y = _data()
    w0 = model.get_weights()
    with pytest.raises(ValueError, match="batch_size"):
        model.fit(x, y, batch_size=batch_size, nb_epoch=1, verbose=0)
    with pytest.raises(ValueError, match="batch_size"):
        model.evaluate(x, y, batch_size=batch_size, verbose=0)
    with pytest.raises(ValueError, match="batch_size"):
        model.predict(x, batch_size=batch_size)
    for a, b in zip(w0, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_numpy_integer_batch_size_is_accepted():
    model = _model()
    x, y = _data()
    model.fit(x, y, batch_size=np.int64(4), nb_epoch=1, verbose=0)
    assert model.predict(x, batch_size=np.int32(3)).shape == (10, 2)


def test_nb_epoch_below_initial_epoch_is_refused():
    model = _model()
    x, y = _data()
    with pytest.raises(ValueError, match="nb_epoch.*initial_epoch"):
        model.fit(x, y, nb_epoch=2, initial_epoch=5, verbose=0)
    with pytest.raises(ValueError, match="nb_epoch"):
        model.fit(x, y, nb_epoch=-1, verbose=0)
    with pytest.raises(ValueError, match="initial_epoch"):
        model.fit(x, y, nb_epoch=3, initial_epoch=-1, verbose=0)
    with pytest.raises(ValueError, match="nb_epoch.*initial_epoch"):
        model.fit_generator(_generator(x, y), 10, 2, initial_epoch=3, verbose=0)


def test_zero_epochs_still_train_nothing_as_in_keras1():
    model = _model()
    x, y = _data()
    w0 = model.get_weights()
    hist = model.fit(x, y, nb_epoch=0, verbose=0)
    assert hist.epoch == [] and hist.history == {}
    hist = model.fit(x, y, nb_epoch=3, initial_epoch=3, verbose=0)
    assert hist.epoch == []
    hist = model.fit_generator(_generator(x, y), 10, 0, verbose=0)
    assert hist.epoch == []
    for a, b in zip(w0, model.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("split", [1.0, 1.5, -0.1, "0.2"])
def test_validation_split_outside_zero_one_is_refused(split):
    model = _model()
    x, y = _data()
    with pytest.raises(ValueError, match="validation_split"):
        model.fit(x, y, nb_epoch=1, validation_split=split, verbose=0)


def test_validation_split_leaving_no_training_or_validation_sample():
    model = _model()
    x, y = _data(1)
    with pytest.raises(ValueError, match="validation_split.*no training sample"):
        model.fit(x, y, nb_epoch=1, validation_split=0.5, verbose=0)
    x, y = _data(10)
    with pytest.raises(ValueError, match="validation_split.*no validation sample"):
        model.fit(x, y, nb_epoch=1, validation_split=1e-17, verbose=0)
    # The usual cases still work; 0 and None mean no split.
    hist = model.fit(x, y, nb_epoch=1, validation_split=0.1, verbose=0)
    assert "val_loss" in hist.history
    assert "val_loss" not in model.fit(x, y, nb_epoch=1, validation_split=0.0, verbose=0).history
    assert "val_loss" not in model.fit(x, y, nb_epoch=1, validation_split=None, verbose=0).history


def test_multi_input_arrays_of_different_lengths_are_refused():
    model = _two_inputs()
    x, y = _data(10)
    short = x[:7]
    with pytest.raises(ValueError, match="same number of samples"):
        model.predict([x, short])
    with pytest.raises(ValueError, match="same number of samples"):
        model.predict([short, x])  # the longer second input used to be cut to 7 rows
    with pytest.raises(ValueError, match="same number of samples"):
        model.predict_on_batch([short, x])
    with pytest.raises(ValueError, match="same number of samples"):
        model.evaluate([short, x], [y[:7], y[:7]], verbose=0)
    with pytest.raises(ValueError, match="same number of samples"):
        model.fit([short, x], [y[:7], y[:7]], nb_epoch=1, verbose=0)
    out = model.predict([x, x])
    assert [o.shape for o in out] == [(10, 2), (10, 2)]


def test_generator_arguments():
    model = _model()
    x, y = _data()
    gen = _generator(x, y)
    for spe in (0, -5, 2.5):
        with pytest.raises(ValueError, match="samples_per_epoch"):
            model.fit_generator(gen, spe, 1, verbose=0)
    with pytest.raises(ValueError, match="nb_val_samples"):
        model.fit_generator(gen, 10, 1, verbose=0, validation_data=_generator(x, y), nb_val_samples=-3)
    for bad in ({"nb_worker": 0}, {"max_q_size": 0}):  # they used to wait forever
        with pytest.raises(ValueError, match=next(iter(bad))):
            model.fit_generator(gen, 10, 1, verbose=0, **bad)
        with pytest.raises(ValueError, match=next(iter(bad))):
            model.evaluate_generator(gen, 10, **bad)
        with pytest.raises(ValueError, match=next(iter(bad))):
            model.predict_generator((a for a, _ in gen), 10, **bad)
    with pytest.raises(ValueError, match="val_samples"):
        model.evaluate_generator(gen, 0)  # was an UnboundLocalError
    with pytest.raises(ValueError, match="val_samples"):
        model.predict_generator((a for a, _ in gen), 0)  # returned []
    with pytest.raises(ValueError, match="val_samples=15"):
        model.predict_generator((a for a, _ in gen), 15)  # was a numpy broadcast error
    assert model.predict_generator((a for a, _ in gen), 20).shape == (20, 2)
    hist = model.fit_generator(gen, 10, 2, verbose=0)
    assert hist.epoch == [0, 1]


CONSTRUCTORS = [
    ("subsample", lambda v: Convolution2D(2, 3, 3, subsample=v)),
    ("atrous_rate", lambda v: AtrousConvolution2D(2, 3, 3, atrous_rate=v)),
    ("subsample", lambda v: SeparableConvolution2D(2, 3, 3, subsample=v)),
    ("subsample", lambda v: Deconvolution2D(2, 3, 3, (None, 8, 8, 2), subsample=v)),
    ("pool_size", lambda v: MaxPooling2D(pool_size=v)),
    ("strides", lambda v: AveragePooling2D(pool_size=(2, 2), strides=v)),
    ("size", lambda v: UpSampling2D(size=v)),
]
CONSTRUCTORS_1D = [
    ("subsample_length", lambda v: Convolution1D(2, 3, subsample_length=v)),
    ("atrous_rate", lambda v: AtrousConvolution1D(2, 3, atrous_rate=v)),
    ("pool_length", lambda v: MaxPooling1D(pool_length=v)),
    ("stride", lambda v: AveragePooling1D(pool_length=2, stride=v)),
    ("length", lambda v: UpSampling1D(length=v)),
]
CONSTRUCTORS_3D = [
    ("subsample", lambda v: Convolution3D(2, 2, 2, 2, subsample=v)),
    ("pool_size", lambda v: MaxPooling3D(pool_size=v)),
    ("strides", lambda v: MaxPooling3D(strides=v)),
    ("size", lambda v: UpSampling3D(size=v)),
]


@pytest.mark.parametrize("name, make", CONSTRUCTORS)
@pytest.mark.parametrize("value", [(0, 1), (1, 0), (-1, 2), (1,), 2, (1.5, 1)])
def test_2d_strides_and_sizes_must_be_positive(name, make, value):
    with pytest.raises(ValueError, match="`%s`" % name):
        make(value)


@pytest.mark.parametrize("name, make", CONSTRUCTORS_1D)
@pytest.mark.parametrize("value", [0, -2, 1.5, (2,)])
def test_1d_strides_and_sizes_must_be_positive(name, make, value):
    with pytest.raises(ValueError, match="`%s`" % name):
        make(value)


@pytest.mark.parametrize("name, make", CONSTRUCTORS_3D)
@pytest.mark.parametrize("value", [(0, 1, 1), (1, 1, -1), (1, 1)])
def test_3d_strides_and_sizes_must_be_positive(name, make, value):
    with pytest.raises(ValueError, match="`%s`" % name):
        make(value)


def test_zero_stride_no_longer_divides_by_zero_at_predict():
    # Used to be a bare ZeroDivisionError from the output-shape arithmetic.
    with pytest.raises(ValueError, match="`strides`"):
        Sequential([MaxPooling2D((2, 2), strides=(0, 1), input_shape=(8, 8, 1), dim_ordering="tf")])
    with pytest.raises(ValueError, match="`subsample`"):
        Sequential([Convolution2D(2, 3, 3, subsample=(0, 1), input_shape=(8, 8, 1), dim_ordering="tf")])


def test_valid_geometry_arguments_and_configs_still_round_trip():
    conv = Convolution2D(2, 3, 3, subsample=[2, 1], atrous_rate=(1, 1))
    assert conv.subsample == (2, 1)
    assert Convolution2D.from_config(conv.get_config()).subsample == (2, 1)
    assert MaxPooling2D(pool_size=(2.0, 2)).pool_size == (2, 2)
    assert MaxPooling1D(pool_length=3).stride == 3
    assert UpSampling1D(np.int64(3)).length == 3
