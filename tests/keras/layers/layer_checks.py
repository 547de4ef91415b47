"""Training checks shared by the layer tests: a model learns the outputs of a twin with
other random weights; a weighted layer trains with every regularizer and constraint."""


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
