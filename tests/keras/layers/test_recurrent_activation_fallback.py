"""Recurrent layers whose activation the fused sequence op lacks ('softmax', user
functions) run Keras 1.2.2's per-step cell through `K.rnn`: equal to the fused path on
the same weights (masks, go_backwards, return_sequences, every consume_less, dropout
masks, gradients), a numpy oracle for softmax, stateful carry-over and reset, training,
a finite-difference gradient, config round trips and a clear error for unknown lengths."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from keras import backend as K
from keras.engine.topology import Input
from keras.layers import GRU, LSTM, Dense, Masking, SimpleRNN
from keras.models import Model, Sequential, model_from_json
from keras.optimizers import Adam
from keras.utils.generic_utils import custom_object_scope

CELLS = [SimpleRNN, GRU, LSTM]
GATES = {SimpleRNN: "h", GRU: "zrh", LSTM: "ifco"}
T, D, U = 5, 3, 4


def my_tanh(x):
    """tanh, but not Keras' own function: forces the step-by-step path."""
    return K.tanh(x)


def _np_softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _np_hard_sigmoid(x):
    return np.clip(0.2 * x + 0.5, 0.0, 1.0)


def _gate_weights(layer):
    """{'W_g', 'U_g', 'b_g'} per gate g from the layer's weights, in any consume_less."""
    w = {v.name[len(layer.name) + 1 :]: K.get_value(v) for v in layer.weights}
    gates = GATES[type(layer)]
    if "W" in w:
        u = layer.output_dim
        for k, g in enumerate(gates):
            for p in "WUb":
                w[f"{p}_{g}"] = w[p][..., k * u : (k + 1) * u]
    return w


def oracle(layer, x, act, inner=None, mask=None, h0=None):
    """Keras 1.2.2's step in numpy (float64); outputs in processing order."""
    w = _gate_weights(layer)
    B = x.shape[0]
    h = np.zeros((B, layer.output_dim)) if h0 is None else h0[0]
    c = np.zeros_like(h) if h0 is None or len(h0) < 2 else h0[1]
    steps = range(x.shape[1] - 1, -1, -1) if layer.go_backwards else range(x.shape[1])
    outs = []
    for t in steps:

        def pre(g, v, xt=x[:, t]):
            return xt @ w["W_" + g] + w["b_" + g] + v @ w["U_" + g]

        nc = c
        if isinstance(layer, SimpleRNN):
            nh = act(pre("h", h))
        elif isinstance(layer, GRU):
            z, r = inner(pre("z", h)), inner(pre("r", h))
            nh = z * h + (1 - z) * act(pre("h", r * h))
        else:
            i, f, o = inner(pre("i", h)), inner(pre("f", h)), inner(pre("o", h))
            nc = f * c + i * act(pre("c", h))
            nh = o * act(nc)
        if mask is not None:
            m = mask[:, t : t + 1].astype(bool)
            nh, nc = np.where(m, nh, h), np.where(m, nc, c)
        h, c = nh, nc
        outs.append(h)
    return np.stack(outs, axis=1), h, c


def _perturbed(weights, seed):
    rng = np.random.RandomState(seed)
    return [w + rng.uniform(-0.3, 0.3, w.shape).astype("float32") for w in weights]


def _masked_model(layer, masked):
    inp = Input(shape=(T, D))
    out = layer(Masking(0.0)(inp) if masked else inp)
    return Model(inp, out)


def _data(seed, B=4, masked=False):
    rng = np.random.RandomState(seed)
    x = rng.uniform(-1, 1, (B, T, D)).astype("float32")
    mask = np.ones((B, T), dtype="float32")
    if masked:
        # trailing padding, a hole in the middle, and a fully masked first step
        mask[0, 3:] = 0
        mask[1, 2] = 0
        mask[2, 0] = 0
        x[mask == 0] = 0.0
    return x, mask


@pytest.mark.parametrize("cls", CELLS)
@pytest.mark.parametrize("consume_less", ["cpu", "mem", "gpu"])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_stepped_path_equals_fused_path(cls, consume_less, masked, go_backwards, return_sequences):
    kw = {"consume_less": consume_less, "go_backwards": go_backwards, "return_sequences": return_sequences}
    fused = _masked_model(cls(U, **kw), masked)
    stepped_layer = cls(U, activation=my_tanh, **kw)
    stepped = _masked_model(stepped_layer, masked)
    assert stepped_layer._fused_acts() is None
    stepped.set_weights(_perturbed(fused.get_weights(), 1))
    fused.set_weights(stepped.get_weights())
    assert [w.name for w in stepped_layer.weights] == [
        w.name.replace(fused.layers[-1].name, stepped_layer.name) for w in fused.layers[-1].weights
    ]
    x, _ = _data(2, masked=masked)
    assert_allclose(stepped.predict(x), fused.predict(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cls", CELLS)
def test_stepped_gradients_equal_fused_gradients(cls):
    x, mask = _data(3, masked=True)
    grads, layers = [], []
    for act in ("tanh", my_tanh):
        inp = Input(shape=(T, D))
        layer = cls(U, activation=act, return_sequences=True, go_backwards=True)
        out = layer(Masking(0.0)(inp))
        loss = K.sum(out * out) + K.sum(out[:, -1, :])
        grads.append(K.function([inp], K.gradients(loss, layer.trainable_weights)))
        layers.append(layer)
    layers[1].set_weights(_perturbed(layers[0].get_weights(), 4))
    layers[0].set_weights(layers[1].get_weights())
    for a, b in zip(grads[0]([x]), grads[1]([x])):
        assert_allclose(b, a, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("cls", CELLS)
@pytest.mark.parametrize("consume_less", ["cpu", "gpu"])
def test_stepped_dropout_masks_equal_fused_masks(cls, consume_less):
    """dropout_W / dropout_U: with the same seeds the train phase draws the same masks
    (same per-sample input mask, per-gate recurrent masks) as the fused op."""
    fns, layers = [], []
    for act in ("tanh", my_tanh):
        np.random.seed(4)
        inp = Input(shape=(T, D))
        layer = cls(
            U, activation=act, consume_less=consume_less, return_sequences=True, dropout_W=0.4, dropout_U=0.4
        )
        fns.append(K.function([inp, K.learning_phase()], [layer(inp)]))
        layers.append(layer)
    layers[1].set_weights(layers[0].get_weights())
    x, _ = _data(5, B=6)
    train = [f([x, 1])[0] for f in fns]
    assert_allclose(train[1], train[0], rtol=1e-5, atol=1e-5)
    assert_allclose(fns[1]([x, 0])[0], fns[0]([x, 0])[0], rtol=1e-5, atol=1e-5)
    assert np.abs(train[1] - fns[1]([x, 0])[0]).max() > 1e-3


@pytest.mark.parametrize(
    "cls, which",
    [(SimpleRNN, "activation"), (GRU, "activation"), (GRU, "inner_activation")]
    + [(LSTM, "activation"), (LSTM, "inner_activation")],
)
@pytest.mark.parametrize("consume_less", ["cpu", "gpu"])
def test_softmax_matches_numpy_oracle(cls, which, consume_less):
    kw = {which: "softmax", "consume_less": consume_less, "return_sequences": True, "go_backwards": True}
    layer = cls(U, **kw)
    model = _masked_model(layer, masked=True)
    model.set_weights(_perturbed(model.get_weights(), 6))
    x, mask = _data(7, masked=True)
    act = _np_softmax if which == "activation" else np.tanh
    inner = _np_softmax if which == "inner_activation" else _np_hard_sigmoid
    want, _, _ = oracle(layer, x.astype("float64"), act, inner, mask=mask)
    assert_allclose(model.predict(x), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cls", CELLS)
def test_stateful_stepped_layer_carries_state_and_resets(cls):
    x, _ = _data(8, B=2)
    whole = Sequential([cls(U, activation="softmax", return_sequences=True, input_shape=(T, D))])
    chunked = Sequential(
        [cls(U, activation="softmax", return_sequences=True, stateful=True, batch_input_shape=(2, 2, D))]
    )
    whole.set_weights(_perturbed(whole.get_weights(), 9))
    chunked.set_weights(whole.get_weights())
    want = whole.predict(x)
    layer = chunked.layers[0]
    first = chunked.predict(x[:, :2])
    second = chunked.predict(x[:, 2:4])
    assert_allclose(np.concatenate([first, second], axis=1), want[:, :4], rtol=1e-5, atol=1e-5)
    # the states hold the last step (and for LSTM the cell state of the oracle)
    _, h, c = oracle(layer, x[:, :4].astype("float64"), _np_softmax, _np_hard_sigmoid)
    assert_allclose(K.get_value(layer.states[0]), h, rtol=1e-5, atol=1e-5)
    if cls is LSTM:
        assert_allclose(K.get_value(layer.states[1]), c, rtol=1e-5, atol=1e-5)
    chunked.reset_states()
    assert all(not np.any(K.get_value(s)) for s in layer.states)
    assert_allclose(chunked.predict(x[:, :2]), want[:, :2], rtol=1e-5, atol=1e-5)


def test_fit_lowers_the_loss_of_a_softmax_gru():
    rng = np.random.RandomState(10)
    x = rng.uniform(-1, 1, (64, T, D)).astype("float32")
    y = (x.sum(axis=(1, 2)) > 0).astype("float32")[:, None]
    np.random.seed(10)
    model = Sequential([GRU(8, activation="softmax", input_shape=(T, D)), Dense(1, activation="sigmoid")])
    model.compile(Adam(lr=0.01), "binary_crossentropy")
    before = model.evaluate(x, y, verbose=0)
    hist = model.fit(x, y, nb_epoch=15, batch_size=16, verbose=0)
    assert np.all(np.isfinite(hist.history["loss"]))
    assert model.evaluate(x, y, verbose=0) < before - 0.03


@pytest.mark.parametrize("cls", CELLS)
def test_finite_difference_gradient_of_a_stepped_layer(cls):
    inp = Input(shape=(3, 2))
    layer = cls(2, activation="softmax", return_sequences=True, go_backwards=True)
    out = layer(inp)
    loss = K.sum(out * K.variable(np.linspace(0.5, 2.0, 6).reshape(1, 3, 2)))
    layer.set_weights(_perturbed(layer.get_weights(), 11))
    var = layer.trainable_weights[1]  # a recurrent matrix: the gradient flows through time
    grad = K.function([inp], K.gradients(loss, [var]))
    f = K.function([inp], [loss])
    x = np.random.RandomState(12).uniform(-1, 1, (2, 3, 2)).astype("float32")
    g = grad([x])[0]
    w0 = K.get_value(var).astype("float64")
    eps = 1e-2
    for idx in np.ndindex(*w0.shape):
        vals = []
        for sign in (1, -1):
            w = w0.copy()
            w[idx] += sign * eps
            K.set_value(var, w.astype("float32"))
            vals.append(float(f([x])[0]))
        K.set_value(var, w0.astype("float32"))
        assert_allclose(g[idx], (vals[0] - vals[1]) / (2 * eps), rtol=2e-2, atol=2e-3)


def test_config_round_trip_keeps_the_activation():
    layer = GRU(U, activation="softmax", inner_activation="sigmoid")
    config = layer.get_config()
    assert config["activation"] == "softmax" and config["inner_activation"] == "sigmoid"
    again = GRU.from_config(config)
    assert again.activation.__name__ == "softmax" and again._fused_acts() is None

    model = Sequential([LSTM(U, activation=my_tanh, input_shape=(T, D))])
    assert model.get_config()[0]["config"]["activation"] == "my_tanh"
    with custom_object_scope({"my_tanh": my_tanh}):
        loaded = model_from_json(model.to_json())
    assert loaded.layers[0].activation is my_tanh
    loaded.set_weights(model.get_weights())
    x, _ = _data(13)
    assert_allclose(loaded.predict(x), model.predict(x), rtol=1e-6)


def test_a_user_function_named_like_a_fused_one_is_not_replaced():
    def tanh(x):  # not Keras' tanh
        return 2.0 * K.tanh(x)

    layer = SimpleRNN(U, activation=tanh, return_sequences=True)
    model = _masked_model(layer, masked=False)
    x, _ = _data(14)
    want, _, _ = oracle(layer, x.astype("float64"), lambda v: 2.0 * np.tanh(v))
    assert_allclose(model.predict(x), want, rtol=1e-5, atol=1e-5)


def test_unknown_sequence_length_is_a_clear_error():
    with pytest.raises(ValueError, match="activation 'softmax'.*input_length"):
        Sequential([GRU(U, activation="softmax", input_dim=D)])
