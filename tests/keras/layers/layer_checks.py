"""Checks shared by the layer tests: a model learns the outputs of a twin with other
random weights; a weighted layer trains with every regularizer and constraint; a layer
passes layer_test and, with random weights, predicts a numpy reference; a pooling layer
equals the numpy pooling in either ordering."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from conv_reference import np_pool


def assert_learns_teacher(make, x, nb_epoch=30):
    """``make()`` twice: the first model's predictions on ``x`` are the target (a
    teacher with other random weights, so the target is learnable), the second trains
    on it with Adam(lr=0.01) until its loss falls below 30% of the first epoch's."""
    from keras.optimizers import Adam

    y = make().predict(x)
    model = make()
    model.compile(Adam(lr=0.01), "mse")
    h = model.fit(x, y, nb_epoch=nb_epoch, batch_size=8, verbose=0)
    assert h.history["loss"][-1] < 0.3 * h.history["loss"][0]


def every_weight_arg():
    """W/b regularizers, an activity regularizer and W/b constraints (b: non-negative)."""
    from keras import constraints, regularizers

    return dict(
        W_regularizer=regularizers.l2(0.01),
        b_regularizer=regularizers.l1(0.01),
        activity_regularizer=regularizers.activity_l2(0.01),
        W_constraint=constraints.maxnorm(1.0),
        b_constraint=constraints.nonneg(),
    )


# The get_config keys of every weighted layer's W/b wiring.
WEIGHT_ARG_KEYS = (
    "W_regularizer",
    "b_regularizer",
    "activity_regularizer",
    "W_constraint",
    "b_constraint",
    "bias",
)


def assert_trains_with_every_weight_arg(make_layer, x, y):
    """A model of ``make_layer(**every_weight_arg())`` trains 3 epochs (SGD, mse) on
    (x, y) and its bias stays non-negative; returns the model."""
    from keras.models import Sequential

    model = Sequential([make_layer(**every_weight_arg())])
    model.compile("sgd", "mse")
    h = model.fit(x, y, nb_epoch=3, verbose=0)
    assert len(h.history["loss"]) == 3
    assert (model.layers[0].get_weights()[1] >= 0).all()
    return model


def image_shape(ordering, n, channels, *spatial):
    """The batch shape of ``n`` images: channels first for 'th', last for 'tf'."""
    return (n, channels) + spatial if ordering == "th" else (n,) + spatial + (channels,)


def channels_first(x, ordering):
    """An array of ``ordering`` as (N, C, *spatial), the numpy references' layout."""
    return x if ordering == "th" else np.moveaxis(x, -1, 1)


def channels_back(y, ordering):
    """A reference's (N, C, *spatial) result in ``ordering``'s layout."""
    return y if ordering == "th" else np.moveaxis(y, 1, -1)


def model_with_random_weights(cls, kwargs, shape):
    """``layer_test(cls, kwargs=kwargs, input_shape=shape)``, then a Sequential of one
    ``cls(**kwargs)`` on ``shape[1:]`` whose weights are uniform(-1, 1) draws of
    np.random, in weight order: (model, weights)."""
    from keras import backend as K
    from keras.models import Sequential
    from keras.utils.test_utils import layer_test

    layer_test(cls, kwargs=kwargs, input_shape=shape)
    model = Sequential([cls(input_shape=shape[1:], **kwargs)])
    layer = model.layers[0]
    ws = [np.random.uniform(-1, 1, K.int_shape(w)).astype("float32") for w in layer.weights]
    layer.set_weights(ws)
    return model, ws


def assert_predicts(model, x, want, rtol=1e-4, atol=1e-4):
    """``model.predict(x)`` equals ``want``, shape included, and the model's static
    output shape is the predicted one."""
    got = model.predict(x)
    assert got.shape == want.shape
    assert model.output_shape == (None,) + got.shape[1:]
    assert_allclose(got, want, rtol=rtol, atol=atol)


def parametrize_pooling(max_cls, avg_cls, pools):
    """A pooling test's cases: ordering x border mode x (layer, kind) x (pool, strides)
    for each (pool, strides) of ``pools``."""
    marks = [
        pytest.mark.parametrize("ordering", ["th", "tf"]),
        pytest.mark.parametrize("mode", ["valid", "same"]),
        pytest.mark.parametrize("cls,kind", [(max_cls, "max"), (avg_cls, "avg")]),
        pytest.mark.parametrize("pool,strides", pools),
    ]

    def apply(test):
        for mark in reversed(marks):
            test = mark(test)
        return test

    return apply


def assert_pools_as_numpy(cls, kind, x, pool, strides, mode, ordering):
    """layer_test of pooling layer ``cls`` (``kind`` 'max' or 'avg') on ``x`` against
    the numpy pooling (strides default to the pool size)."""
    from keras.utils.test_utils import layer_test

    kwargs = {"pool_size": pool, "strides": strides, "border_mode": mode, "dim_ordering": ordering}
    want = channels_back(np_pool(channels_first(x, ordering), pool, strides or pool, mode, kind), ordering)
    layer_test(cls, kwargs=kwargs, input_data=x, expected_output=want)
