"""A learnability check shared by the layer tests: a model learns the outputs of a
twin with other random weights."""


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
