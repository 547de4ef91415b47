"""K.rnn / map_fn / foldl / foldr: unrolled into graph nodes, checked against numpy."""

import numpy as np
import pytest

from keras import backend as K


def _np_rnn(x, W, U, mask=None, go_backwards=False):
    b, t, _ = x.shape
    h = np.zeros((b, U.shape[0]), np.float64)
    outs = []
    steps = range(t - 1, -1, -1) if go_backwards else range(t)
    last = np.zeros_like(h)
    for i in steps:
        new = np.tanh(x[:, i] @ W + h @ U)
        if mask is not None:
            m = mask[:, i : i + 1]
            new_out = new * m + last * (1 - m)
            h = new * m + h * (1 - m)
        else:
            new_out = new
            h = new
        outs.append(new_out)
        last = new_out
    return last, np.stack(outs, 1), h


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_rnn_matches_numpy(go_backwards, masked):
    rs = np.random.RandomState(0)
    x = rs.uniform(-1, 1, (3, 5, 4)).astype("float32")
    Wv = rs.uniform(-0.5, 0.5, (4, 6)).astype("float32")
    Uv = rs.uniform(-0.5, 0.5, (6, 6)).astype("float32")
    maskv = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 1, 1, 0]], "float32")
    X = K.placeholder(shape=(None, 5, 4))
    M = K.placeholder(shape=(None, 5))
    W, U = K.variable(Wv), K.variable(Uv)

    def step(x_t, states):
        h = K.tanh(K.dot(x_t, W) + K.dot(states[0], U))
        return h, [h]

    h0 = K.zeros_like(K.dot(X[:, 0], W))
    last, outs, states = K.rnn(step, X, [h0], go_backwards=go_backwards, mask=M if masked else None)
    f = K.function([X, M], [last, outs, states[0]])
    got = f([x, maskv])
    want = _np_rnn(x.astype(np.float64), Wv, Uv, maskv if masked else None, go_backwards)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
    # gradients flow through the unrolled steps
    (gW,) = K.gradients(K.sum(last), [W])
    gv = K.function([X, M], [gW])([x, maskv])[0]
    eps = 1e-3
    num = np.zeros_like(Wv)
    for i in range(Wv.shape[0]):
        for j in range(Wv.shape[1]):
            for sgn in (1, -1):
                Wp = Wv.astype(np.float64).copy()
                Wp[i, j] += sgn * eps
                num[i, j] += (
                    sgn
                    * _np_rnn(x.astype(np.float64), Wp, Uv, maskv if masked else None, go_backwards)[0].sum()
                )
    np.testing.assert_allclose(gv, num / (2 * eps), rtol=1e-3, atol=1e-4)


def test_rnn_needs_a_known_time_axis():
    X = K.placeholder(shape=(None, None, 4))
    with pytest.raises(NotImplementedError, match="rnn"):
        K.rnn(lambda x, s: (x, s), X, [])


def test_map_fn_foldl_foldr():
    v = np.arange(12, dtype="float32").reshape(4, 3)
    X = K.placeholder(shape=(4, 3))
    sq = K.map_fn(lambda r: r * r, X)
    sl = K.foldl(lambda acc, r: acc + r, X)
    sr = K.foldr(lambda acc, r: acc * 0.5 + r, X)
    got = K.function([X], [sq, sl, sr])([v])
    np.testing.assert_allclose(got[0], v * v)
    np.testing.assert_allclose(got[1], v.sum(0))
    acc = v[3]
    for i in (2, 1, 0):
        acc = acc * 0.5 + v[i]
    np.testing.assert_allclose(got[2], acc)
    Y = K.placeholder(shape=(None, 3))
    with pytest.raises(NotImplementedError, match="map_fn"):
        K.map_fn(lambda r: r, Y)


def test_user_recurrent_subclass_with_python_step_runs_through_k_rnn():
    # a Keras 1 style custom recurrent layer: build + step, no fused op
    from keras import initializations
    from keras.engine import InputSpec
    from keras.layers import SimpleRNN
    from keras.layers.recurrent import Recurrent
    from keras.models import Sequential

    class MyRNN(Recurrent):
        def __init__(self, output_dim, **kwargs):
            self.output_dim = output_dim
            super().__init__(**kwargs)

        def build(self, input_shape):
            self.input_spec = [InputSpec(shape=input_shape)]
            self.states = [None]
            init = initializations.get("glorot_uniform")
            self.W = init((input_shape[2], self.output_dim), name="{}_W".format(self.name))
            self.U = init((self.output_dim, self.output_dim), name="{}_U".format(self.name))
            self.b = K.zeros((self.output_dim,), name="{}_b".format(self.name))
            self.trainable_weights = [self.W, self.U, self.b]

        def step(self, x, states):
            h = K.tanh(K.dot(x, self.W) + self.b + K.dot(states[0], self.U))
            return h, [h]

    np.random.seed(0)
    x = np.random.uniform(-1, 1, (4, 6, 3)).astype("float32")
    custom = Sequential([MyRNN(5, return_sequences=True, input_shape=(6, 3))])
    builtin = Sequential([SimpleRNN(5, return_sequences=True, input_shape=(6, 3))])
    builtin.set_weights(custom.get_weights())
    np.testing.assert_allclose(custom.predict(x), builtin.predict(x), rtol=1e-5, atol=1e-6)
    custom.compile("sgd", "mse")
    loss0 = custom.evaluate(x, np.zeros((4, 6, 5)), verbose=0)
    custom.fit(x, np.zeros((4, 6, 5)), nb_epoch=5, verbose=0)
    assert custom.evaluate(x, np.zeros((4, 6, 5)), verbose=0) < loss0
