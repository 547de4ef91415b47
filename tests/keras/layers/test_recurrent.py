"""Recurrent layers (SimpleRNN, GRU, LSTM on the fused native ops): Keras-style layer
tests, a numpy step-by-step oracle for every cell / direction / weight layout, masking,
stateful carry-over, the real Keras 1 `simple_lstm` file, the seed guide's recurrent
blocks, and bad input."""

import os

import numpy as np
import pytest
from numpy.testing import assert_allclose

from conftest import shared_data
from keras import backend as K
from keras.engine.topology import Input
from keras.layers import GRU, LSTM, Dense, Embedding, Masking, SimpleRNN
from keras.models import Model, Sequential, model_from_json
from keras.utils.test_utils import layer_test

nb_samples, timesteps, embedding_dim, output_dim = 2, 5, 4, 3
CELLS = [SimpleRNN, GRU, LSTM]


def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def _hsig(x):
    return np.clip(0.2 * x + 0.5, 0.0, 1.0)


def oracle(layer, x, mask=None, h0=None):
    """Numpy step-by-step Keras 1 semantics from the layer's weights (per-gate names)."""
    w = {v.name[len(layer.name) + 1 :]: K.get_value(v) for v in layer.weights}
    u = layer.output_dim
    if layer.consume_less == "gpu" and not isinstance(layer, SimpleRNN):
        gates = "ifco" if isinstance(layer, LSTM) else "zrh"
        for k, g in enumerate(gates):
            for p in "WUb":
                w[f"{p}_{g}"] = w[p][..., k * u : (k + 1) * u]
    act = np.tanh
    inner = (
        _hsig
        if getattr(layer, "inner_activation", None) and layer.inner_activation.__name__ == "hard_sigmoid"
        else _sig
    )
    B, T, _ = x.shape
    h = np.zeros((B, u)) if h0 is None else h0[0]
    c = np.zeros((B, u)) if h0 is None else h0[1] if len(h0) > 1 else None
    outs = []
    steps = range(T - 1, -1, -1) if layer.go_backwards else range(T)
    for t in steps:
        xt = x[:, t, :]
        if isinstance(layer, SimpleRNN):
            nh, nc = act(xt @ w["W"] + w["b"] + h @ w["U"]), None
        elif isinstance(layer, GRU):
            z = inner(xt @ w["W_z"] + w["b_z"] + h @ w["U_z"])
            r = inner(xt @ w["W_r"] + w["b_r"] + h @ w["U_r"])
            hh = act(xt @ w["W_h"] + w["b_h"] + (r * h) @ w["U_h"])
            nh, nc = z * h + (1 - z) * hh, None
        else:
            i = inner(xt @ w["W_i"] + w["b_i"] + h @ w["U_i"])
            f = inner(xt @ w["W_f"] + w["b_f"] + h @ w["U_f"])
            nc = f * c + i * act(xt @ w["W_c"] + w["b_c"] + h @ w["U_c"])
            o = inner(xt @ w["W_o"] + w["b_o"] + h @ w["U_o"])
            nh = o * act(nc)
        if mask is not None:
            m = mask[:, t : t + 1].astype(bool)
            nh = np.where(m, nh, h)
            if nc is not None:
                nc = np.where(m, nc, c)
        h, c = nh, nc
        outs.append(h)
    return np.stack(outs, axis=1), h, c


def _model(layer, shape):
    inp = Input(shape=shape)
    return Model(inp, layer(inp))


@pytest.mark.parametrize("cls", CELLS)
@pytest.mark.parametrize("consume_less", ["cpu", "mem", "gpu"])
def test_layer_test_and_return_sequences(cls, consume_less):
    layer_test(
        cls,
        kwargs={"output_dim": output_dim, "return_sequences": True, "consume_less": consume_less},
        input_shape=(nb_samples, timesteps, embedding_dim),
    )
    layer_test(cls, kwargs={"output_dim": output_dim}, input_shape=(nb_samples, timesteps, embedding_dim))


@pytest.mark.parametrize("cls", CELLS)
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("consume_less", ["cpu", "gpu"])
@pytest.mark.parametrize("inner", ["hard_sigmoid", "sigmoid"])
def test_forward_matches_numpy_oracle(cls, go_backwards, consume_less, inner):
    np.random.seed(3)
    kw = {"inner_activation": inner} if cls is not SimpleRNN else {}
    layer = cls(output_dim, return_sequences=True, go_backwards=go_backwards, consume_less=consume_less, **kw)
    model = _model(layer, (timesteps, embedding_dim))
    # non-trivial biases
    model.set_weights([w + np.random.uniform(-0.3, 0.3, w.shape) for w in model.get_weights()])
    x = np.random.uniform(-1, 1, (4, timesteps, embedding_dim)).astype("float32")
    want, _, _ = oracle(layer, x)
    assert_allclose(model.predict(x), want, atol=1e-5)


def test_weight_names_order_and_lstm_forget_bias():
    model = _model(LSTM(3), (5, 2))
    layer = model.layers[1]
    assert [w.name for w in layer.weights] == [f"{layer.name}_{p}_{g}" for g in "icfo" for p in "WUb"]
    w = model.get_weights()
    assert_allclose(w[8], np.ones(3))  # b_f: forget_bias_init='one'
    gru = _model(GRU(3), (5, 2)).layers[1]
    assert [v.name for v in gru.weights] == [f"{gru.name}_{p}_{g}" for g in "zrh" for p in "WUb"]
    gpu = _model(LSTM(3, consume_less="gpu"), (5, 2)).layers[1]
    assert [v.shape for v in gpu.get_weights()] == [(2, 12), (3, 12), (12,)]
    assert_allclose(gpu.get_weights()[2], np.r_[np.zeros(3), np.ones(3), np.zeros(6)])


@pytest.mark.parametrize("cls", CELLS)
def test_masking_matches_unpadded_sequences_outputs_and_gradients(cls):
    np.random.seed(5)
    vocab, T = 12, 6
    model = Sequential()
    model.add(Embedding(vocab, 4, input_length=T, mask_zero=True))
    model.add(cls(3))
    model.add(Dense(1))
    model.compile("sgd", "mse")
    short = np.random.randint(1, vocab, size=(1, 4))
    padded = np.concatenate([np.zeros((1, 2), int), short], axis=1)  # leading padding
    # Unpadded reference: same weights on a length-4 model
    ref = Sequential()
    ref.add(Embedding(vocab, 4, input_length=4))
    ref.add(cls(3))
    ref.add(Dense(1))
    ref.compile("sgd", "mse")
    ref.set_weights(model.get_weights())
    assert_allclose(model.predict(padded), ref.predict(short), atol=1e-6)
    # gradients: one SGD step on each gives the same weights
    y = np.array([[0.7]])
    model.train_on_batch(padded, y)
    ref.train_on_batch(short, y)
    for a, b in zip(model.get_weights(), ref.get_weights()):
        assert_allclose(a, b, atol=1e-6)


def test_masking_layer_and_trailing_padding_against_oracle():
    np.random.seed(6)
    x = np.random.uniform(-1, 1, (3, 5, 2)).astype("float32")
    x[1, 3:] = 0.0
    x[2, 0] = 0.0
    for cls in CELLS:
        inp = Input(shape=(5, 2))
        layer = cls(3, return_sequences=True)
        model = Model(inp, layer(Masking(0.0)(inp)))
        mask = (x != 0).any(-1)
        want, _, _ = oracle(layer, x, mask)
        assert_allclose(model.predict(x), want, atol=1e-5)


@pytest.mark.parametrize("cls", CELLS)
def test_stateful_chunks_equal_whole_sequence_and_reset(cls):
    np.random.seed(7)
    x = np.random.uniform(-1, 1, (2, 8, 3)).astype("float32")
    whole = Sequential()
    whole.add(cls(4, return_sequences=True, input_shape=(8, 3)))
    chunked = Sequential()
    chunked.add(cls(4, return_sequences=True, stateful=True, batch_input_shape=(2, 2, 3)))
    chunked.set_weights(whole.get_weights())
    want = whole.predict(x)
    got = np.concatenate([chunked.predict(x[:, i : i + 2]) for i in range(0, 8, 2)], axis=1)
    assert_allclose(got, want, atol=1e-5)
    # states persist until reset_states()
    again = chunked.predict(x[:, :2])
    assert not np.allclose(again, want[:, :2], atol=1e-4)
    chunked.reset_states()
    assert_allclose(chunked.predict(x[:, :2]), want[:, :2], atol=1e-5)
    assert chunked.get_config()[0]["config"]["batch_input_shape"] == [2, 2, 3] or tuple(
        chunked.get_config()[0]["config"]["batch_input_shape"]
    ) == (2, 2, 3)


def test_stateful_persists_across_fit_batches_and_requires_multiple_of_batch():
    model = Sequential()
    model.add(LSTM(4, stateful=True, batch_input_shape=(2, 3, 2)))
    model.add(Dense(1))
    model.compile("rmsprop", "mse")
    x = np.random.random((4, 3, 2))
    y = np.random.random((4, 1))
    model.fit(x, y, batch_size=2, nb_epoch=1, verbose=0, shuffle=False)
    states = [K.get_value(s) for s in model.layers[0].states]
    assert all(np.abs(s).sum() > 0 for s in states)
    model.reset_states()
    assert all(np.abs(K.get_value(s)).sum() == 0 for s in model.layers[0].states)
    with pytest.raises(ValueError):
        model.fit(np.random.random((3, 3, 2)), np.random.random((3, 1)), batch_size=2, nb_epoch=1, verbose=0)


def test_stateful_without_batch_size_is_a_value_error():
    with pytest.raises(ValueError, match="batch size"):
        model = Sequential()
        model.add(LSTM(4, stateful=True, input_shape=(3, 2)))


def test_bad_inputs_are_clear_errors():
    model = Sequential()
    model.add(LSTM(4, input_shape=(3, 2)))
    model.compile("sgd", "mse")
    with pytest.raises(ValueError):
        model.predict(np.zeros((2, 3)))
    with pytest.raises(ValueError):
        model.predict(np.zeros((2, 4, 2)))  # wrong timestep count for a fixed input_length
    with pytest.raises(ValueError):
        model.predict(np.zeros((2, 3, 5)))
    stateful = Sequential()
    stateful.add(LSTM(4, stateful=True, batch_input_shape=(2, 3, 2)))
    with pytest.raises(ValueError):
        stateful.predict(np.zeros((3, 3, 2)), batch_size=3)
    model.predict(np.zeros((2, 3, 2)))  # still usable


def test_unroll_and_learning_on_a_toy_task():
    np.random.seed(8)
    x = np.random.uniform(-1, 1, (256, 6, 2)).astype("float32")
    y = x[:, :, 0].sum(1, keepdims=True)
    model = Sequential()
    model.add(GRU(16, input_shape=(6, 2), unroll=True, dropout_W=0.1))
    model.add(Dense(1))
    model.compile("adam", "mse")
    h = model.fit(x, y, nb_epoch=15, batch_size=32, verbose=0)
    assert h.history["loss"][-1] < 0.3 * h.history["loss"][0]


def test_real_keras1_simple_lstm_file():
    d = os.path.dirname(shared_data("keras1-models/simple_lstm/simple_lstm_tf_keras_1_config.json"))
    import h5py

    model = model_from_json(open(os.path.join(d, "simple_lstm_tf_keras_1_config.json")).read())
    model.load_weights(os.path.join(d, "simple_lstm_tf_keras_1_weights.h5"))
    with h5py.File(os.path.join(d, "simple_lstm_tf_keras_1_inputs_and_outputs.h5"), "r") as f:
        x = f["inputs/lstm_input_1"][:]
        want = f["predictions/dense_1"][:]
        acts = f["activations/lstm_1"][:]
    assert_allclose(model.predict(x), want, atol=1e-4)
    lstm_out = K.function([model.inputs[0]], [model.layers[0].output])([x])[0]
    assert_allclose(lstm_out, acts, atol=1e-4)


def _seed_blocks():
    from integration import test_seed_guide as seed

    return seed


@pytest.mark.parametrize(
    "needle", ["input_shape=(10, 64)", "batch_input_shape=(None, 10, 64)", "input_length=10, input_dim=64"]
)
def test_seed_lstm_input_shape_spellings(needle):
    seed = _seed_blocks()
    block = next(b for b in seed.BLOCKS if needle in b and "LSTM" in b)
    ns = {}
    exec(compile(seed.PRELUDE, "<prelude>", "exec"), ns)
    exec(compile(block, "<block>", "exec"), ns)
    assert ns["model"].output_shape == (None, 32)


@pytest.mark.parametrize(
    "needle", ["Embedding(max_features", "model.add(LSTM(32))", "stateful=True", "encoder_a"]
)
def test_seed_recurrent_blocks_run(needle, capsys):
    seed = _seed_blocks()
    block = next(b for b in seed.BLOCKS if needle in b)
    ns = {}
    exec(compile(seed.PRELUDE, "<prelude>", "exec"), ns)
    ns["X_train"] = np.random.randint(1, 1000, size=(64, 80))
    ns["Y_train"] = np.random.randint(0, 2, size=(64, 1))
    ns["X_test"] = np.random.randint(1, 1000, size=(32, 80))
    ns["Y_test"] = np.random.randint(0, 2, size=(32, 1))
    block = block.replace("nb_epoch=10", "nb_epoch=1").replace("nb_epoch=5", "nb_epoch=1")
    exec(compile(block, "<block>", "exec"), ns)
    assert "Epoch 1/" in capsys.readouterr().out
