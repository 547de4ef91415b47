"""Input-conditional updates and losses of models used as layers (Keras 1.2.2's
per-input bookkeeping): a nested model called on new inputs carries its layers'
BatchNormalization updates and activity-regularizer losses over to the outer model,
keyed on the new inputs, and a model's `updates`/`losses` are only those of its own
inputs."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from keras import backend as K
from keras import regularizers
from keras.layers import BatchNormalization, Bidirectional, Dense, Input, SimpleRNN, TimeDistributed, merge
from keras.models import Model, Sequential
from keras.optimizers import SGD


@pytest.fixture(autouse=True)
def fresh_session():
    K.clear_session()
    np.random.seed(1337)
    yield
    K.clear_session()


def _rand(*shape):
    return np.random.uniform(-1, 1, size=shape).astype("float32")


def _fit(model, x, y, nb_epoch=3):
    model.compile(SGD(lr=0.1), "mse")
    model.fit(x, y, batch_size=8, nb_epoch=nb_epoch, shuffle=False, verbose=0)


def _moving(bn):
    """BatchNormalization's moving mean and variance."""
    return [w.copy() for w in bn.get_weights()[2:]]


def _flat_dense_bn_dense():
    i = Input((3,))
    d1, bn, d2 = Dense(4), BatchNormalization(), Dense(1)
    return Model(i, d2(bn(d1(i)))), [d1, bn, d2]


# ---------------------------------------------------------------------------------------
# BatchNormalization in a nested model


@pytest.mark.parametrize("functional", [False, True])
def test_nested_bn_trains_like_flat(functional):
    x, y = _rand(32, 3), _rand(32, 1)
    flat, (fd1, fbn, fd2) = _flat_dense_bn_dense()
    if functional:
        j = Input((3,))
        d1, bn = Dense(4), BatchNormalization()
        base = Model(j, bn(d1(j)))
    else:
        d1, bn = Dense(4, input_dim=3), BatchNormalization()
        base = Sequential([d1, bn])
    i = Input((3,))
    d2 = Dense(1)
    nested = Model(i, d2(base(i)))
    for src, dst in ((fd1, d1), (fbn, bn), (fd2, d2)):
        dst.set_weights(src.get_weights())
    before = _moving(bn)
    assert len(nested.updates) == 2

    _fit(flat, x, y)
    _fit(nested, x, y)

    assert not np.allclose(before[0], _moving(bn)[0])
    for a, b in zip(_moving(fbn), _moving(bn)):
        assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for src, dst in ((fd1, d1), (fbn, bn), (fd2, d2)):
        for a, b in zip(src.get_weights(), dst.get_weights()):
            assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_doubly_nested_bn_updates():
    bn = BatchNormalization()
    base = Sequential([Dense(4, input_dim=3), bn])
    j = Input((3,))
    mid = Model(j, base(j))
    i = Input((3,))
    outer = Model(i, Dense(1)(mid(i)))
    assert len(outer.updates) == 2
    before = _moving(bn)
    _fit(outer, _rand(16, 3), _rand(16, 1), nb_epoch=1)
    assert not np.allclose(before[0], _moving(bn)[0])


def test_nested_bn_predict_and_evaluate_leave_moving_averages():
    bn = BatchNormalization()
    base = Sequential([Dense(4, input_dim=3), bn])
    i = Input((3,))
    m = Model(i, Dense(1)(base(i)))
    m.compile("sgd", "mse")
    before = _moving(bn)
    m.predict(_rand(8, 3))
    m.evaluate(_rand(8, 3), _rand(8, 1), verbose=0)
    for a, b in zip(before, _moving(bn)):
        assert_allclose(a, b)
    assert m.state_updates == []


def _nest(base, attr, units):
    """``base`` (with two ``attr``: updates or losses) called in a new Model under a
    Dense(units): ``base`` keeps the same two. Returns (the outer model, base's own)."""
    own = list(getattr(base, attr))
    assert len(own) == 2
    i = Input((3,))
    m = Model(i, Dense(units)(base(i)))
    assert len(getattr(base, attr)) == 2
    assert all(any(u is o for o in own) for u in getattr(base, attr))
    return m, own


def test_inner_model_standalone_after_nesting():
    bn = BatchNormalization()
    base = Sequential([Dense(4, input_dim=3), bn])
    m, own = _nest(base, "updates", 4)
    # the nested call's updates belong to the outer model only
    assert not any(u is o for u in m.updates for o in own)
    before = _moving(bn)
    _fit(m, _rand(16, 3), _rand(16, 4), nb_epoch=1)
    after = _moving(bn)
    assert not np.allclose(before[0], after[0])
    _fit(base, _rand(16, 3), _rand(16, 4), nb_epoch=1)
    assert not np.allclose(after[0], _moving(bn)[0])


def test_nested_sequential_compiled_after_nesting_keeps_outer_updates():
    base = Sequential([Dense(4, input_dim=3), BatchNormalization()])
    i = Input((3,))
    m = Model(i, Dense(4)(base(i)))
    base.compile("sgd", "mse")
    assert len(m.updates) == 2


def test_siamese_nested_bn_trains_on_both_calls_like_flat():
    xa, xb, y = _rand(32, 3), _rand(32, 3), _rand(32, 1)

    fd1, fbn, fd2 = Dense(4), BatchNormalization(), Dense(1)
    ia, ib = Input((3,)), Input((3,))
    flat = Model([ia, ib], fd2(merge([fbn(fd1(ia)), fbn(fd1(ib))], mode="concat")))

    d1, bn, d2 = Dense(4, input_dim=3), BatchNormalization(), Dense(1)
    base = Sequential([d1, bn])
    ja, jb = Input((3,)), Input((3,))
    nested = Model([ja, jb], d2(merge([base(ja), base(jb)], mode="concat")))
    for src, dst in ((fd1, d1), (fbn, bn), (fd2, d2)):
        dst.set_weights(src.get_weights())
    assert len(flat.updates) == 4
    assert len(nested.updates) == 4

    flat.compile(SGD(lr=0.1), "mse")
    nested.compile(SGD(lr=0.1), "mse")
    flat.fit([xa, xb], y, batch_size=8, nb_epoch=2, shuffle=False, verbose=0)
    nested.fit([xa, xb], y, batch_size=8, nb_epoch=2, shuffle=False, verbose=0)
    for src, dst in ((fd1, d1), (fbn, bn), (fd2, d2)):
        for a, b in zip(src.get_weights(), dst.get_weights()):
            assert_allclose(a, b, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------------------
# losses of a nested model


def _reg_dense(**kwargs):
    return Dense(
        4,
        W_regularizer=regularizers.l2(0.05),
        activity_regularizer=regularizers.activity_l2(0.1),
        **kwargs,
    )


def test_nested_activity_regularizer_matches_flat():
    x, y = _rand(32, 3), _rand(32, 1)
    i = Input((3,))
    fd1, fd2 = _reg_dense(), Dense(1)
    flat = Model(i, fd2(fd1(i)))

    d1, d2 = _reg_dense(input_dim=3), Dense(1)
    base = Sequential([d1])
    j = Input((3,))
    nested = Model(j, d2(base(j)))
    for src, dst in ((fd1, d1), (fd2, d2)):
        dst.set_weights(src.get_weights())
    # activity loss of the nested call and the weight penalty, each once
    assert len(flat.losses) == 2
    assert len(nested.losses) == 2

    flat.compile(SGD(lr=0.05), "mse")
    nested.compile(SGD(lr=0.05), "mse")
    plain = Model(j, d2(Dense(4, weights=d1.get_weights())(j)))
    plain.compile("sgd", "mse")
    loss_flat = flat.evaluate(x, y, verbose=0)
    loss_nested = nested.evaluate(x, y, verbose=0)
    assert_allclose(loss_nested, loss_flat, rtol=1e-5)
    assert loss_nested > plain.evaluate(x, y, verbose=0) + 1e-3

    flat.fit(x, y, batch_size=8, nb_epoch=2, shuffle=False, verbose=0)
    nested.fit(x, y, batch_size=8, nb_epoch=2, shuffle=False, verbose=0)
    for src, dst in ((fd1, d1), (fd2, d2)):
        for a, b in zip(src.get_weights(), dst.get_weights()):
            assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_inner_model_losses_standalone_after_nesting():
    base = Sequential([_reg_dense(input_dim=3)])
    m, _ = _nest(base, "losses", 1)
    base.compile("sgd", "mse")
    base.evaluate(_rand(8, 3), _rand(8, 4), verbose=0)
    m.compile("sgd", "mse")
    m.evaluate(_rand(8, 3), _rand(8, 1), verbose=0)


def test_model_called_on_its_own_input_counts_activity_loss_once():
    i = Input((3,))
    d = Dense(2, activity_regularizer=regularizers.activity_l2(1.0))
    m = Model(i, d(i))
    wrapped = Model(i, m(i))
    assert len(m.losses) == 1
    assert len(wrapped.losses) == 1
    wrapped.compile("sgd", "mse")
    x = _rand(8, 3)
    w, b = d.get_weights()
    h = x.dot(w) + b
    got = wrapped.evaluate(x, np.zeros((8, 2), dtype="float32"), batch_size=8, verbose=0)
    assert_allclose(got, np.mean(h**2) + np.sum(h**2), rtol=1e-4)


def test_siamese_nested_activity_regularizer_counts_both_calls():
    base = Sequential([Dense(2, input_dim=3, activity_regularizer=regularizers.activity_l2(1.0))])
    ia, ib = Input((3,)), Input((3,))
    m = Model([ia, ib], merge([base(ia), base(ib)], mode="sum"))
    assert len(m.losses) == 2
    m.compile("sgd", "mse")
    xa, xb = _rand(8, 3), _rand(8, 3)
    y = np.zeros((8, 2), dtype="float32")
    w, b = base.layers[0].get_weights()
    ha, hb = xa.dot(w) + b, xb.dot(w) + b
    # mse plus both calls' activity penalties (activity_l2 sums over the batch)
    expected = np.mean((ha + hb) ** 2) + np.sum(ha**2) + np.sum(hb**2)
    assert_allclose(m.evaluate([xa, xb], y, batch_size=8, verbose=0), expected, rtol=1e-4)


# ---------------------------------------------------------------------------------------
# TimeDistributed around a model


def test_time_distributed_model_with_bn_trains_like_time_distributed_bn():
    x, y = _rand(16, 5, 3), _rand(16, 5, 4)
    fd, fbn = Dense(4), BatchNormalization()
    i = Input((5, 3))
    flat = Model(i, TimeDistributed(fbn)(TimeDistributed(fd)(i)))

    d, bn = Dense(4, input_dim=3), BatchNormalization()
    inner = Sequential([d, bn])
    j = Input((5, 3))
    nested = Model(j, TimeDistributed(inner)(j))
    d.set_weights(fd.get_weights())
    bn.set_weights(fbn.get_weights())
    assert len(nested.updates) == 2
    before = _moving(bn)

    _fit(flat, x, y, nb_epoch=2)
    _fit(nested, x, y, nb_epoch=2)
    assert not np.allclose(before[0], _moving(bn)[0])
    for src, dst in ((fd, d), (fbn, bn)):
        for a, b in zip(src.get_weights(), dst.get_weights()):
            assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # the inner model still trains on its own
    _fit(inner, _rand(8, 3), _rand(8, 4), nb_epoch=1)


def test_time_distributed_model_with_activity_regularizer():
    x, y = _rand(8, 5, 3), _rand(8, 5, 4)
    fd = _reg_dense()
    i = Input((5, 3))
    flat = Model(i, TimeDistributed(fd)(i))
    d = _reg_dense(input_dim=3)
    j = Input((5, 3))
    nested = Model(j, TimeDistributed(Sequential([d]))(j))
    d.set_weights(fd.get_weights())
    assert len(flat.losses) == 2
    assert len(nested.losses) == 2
    flat.compile("sgd", "mse")
    nested.compile("sgd", "mse")
    assert_allclose(
        nested.evaluate(x, y, batch_size=8, verbose=0),
        flat.evaluate(x, y, batch_size=8, verbose=0),
        rtol=1e-5,
    )


# ---------------------------------------------------------------------------------------
# stateful RNN in a nested model


def test_stateful_rnn_in_nested_model_keeps_state():
    rnn = SimpleRNN(2, stateful=True, batch_input_shape=(2, 3, 1))
    base = Sequential([rnn])
    i = Input(batch_shape=(2, 3, 1))
    m = Model(i, Dense(1)(base(i)))
    assert len(m.state_updates) == 1
    assert len(base.state_updates) == 1
    assert not any(u is o for u in m.state_updates for o in base.state_updates)
    m.compile("sgd", "mse")
    x = _rand(2, 3, 1)
    first = m.predict(x, batch_size=2)
    second = m.predict(x, batch_size=2)
    assert not np.allclose(first, second)
    m.reset_states()
    assert_allclose(m.predict(x, batch_size=2), first, rtol=1e-5)
    m.train_on_batch(x, _rand(2, 1))
    base.reset_states()
    base.compile("sgd", "mse")
    base.predict(x, batch_size=2)


def test_stateful_bidirectional_in_nested_model():
    base = Sequential([Bidirectional(SimpleRNN(2, stateful=True), batch_input_shape=(2, 3, 1))])
    i = Input(batch_shape=(2, 3, 1))
    m = Model(i, Dense(1)(base(i)))
    assert len(m.state_updates) == 2
    assert len(base.state_updates) == 2
    m.compile("sgd", "mse")
    x = _rand(2, 3, 1)
    first = m.predict(x, batch_size=2)
    assert not np.allclose(first, m.predict(x, batch_size=2))
    base.compile("sgd", "mse")
    base.predict(x, batch_size=2)
