"""ONNX export of SimpleRNN / GRU / LSTM (gate order and weight layout converted, both
weight layouts, go_backwards, return_sequences, masks as sequence lengths, stateful
layers' states as graph inputs and outputs), Bidirectional, TimeDistributed and
Embedding."""

import functools

import numpy as np
import pytest
from onnx_check import check_export, randomize, run

from keras.layers.core import Dense, Masking
from keras.layers.embeddings import Embedding
from keras.layers.recurrent import GRU, LSTM, SimpleRNN
from keras.layers.wrappers import Bidirectional, TimeDistributed
from keras.models import Sequential
from keras.utils.onnx_utils import export_onnx


def _x(*shape):
    return np.random.uniform(-1, 1, size=shape).astype("float32")


_randomize = functools.partial(randomize, low=-0.6, high=0.6)


@pytest.mark.parametrize("cls", [SimpleRNN, GRU, LSTM])
@pytest.mark.parametrize("consume_less", ["cpu", "gpu"])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_recurrent_layouts_and_directions(cls, consume_less, go_backwards):
    model = Sequential(
        [
            cls(
                5,
                return_sequences=True,
                go_backwards=go_backwards,
                consume_less=consume_less,
                input_shape=(6, 3),
            ),
            cls(4, go_backwards=go_backwards, consume_less=consume_less),
        ]
    )
    check_export(_randomize(model), _x(3, 6, 3))


@pytest.mark.parametrize("cls", [SimpleRNN, GRU, LSTM])
@pytest.mark.parametrize(
    "activations", [("tanh", "hard_sigmoid"), ("relu", "sigmoid"), ("linear", "sigmoid")]
)
def test_recurrent_activations(cls, activations):
    act, inner = activations
    kw = {} if cls is SimpleRNN else {"inner_activation": inner}
    model = Sequential([cls(4, activation=act, return_sequences=True, input_shape=(5, 3), **kw)])
    check_export(_randomize(model), _x(2, 5, 3))


def _padded(n, T, lengths, pre):
    ids = np.random.randint(1, 9, size=(n, T)).astype("float32")
    for i, L in enumerate(lengths):
        if pre:
            ids[i, : T - L] = 0
        else:
            ids[i, L:] = 0
    return ids


@pytest.mark.parametrize("cls", [SimpleRNN, GRU, LSTM])
@pytest.mark.parametrize("pre", [True, False])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_masked_sequences_pre_and_post_padded(cls, pre, go_backwards):
    model = Sequential(
        [
            Embedding(10, 4, mask_zero=True, input_length=7),
            cls(5, return_sequences=True, go_backwards=go_backwards),
            cls(3, go_backwards=go_backwards),
        ]
    )
    ids = _padded(5, 7, [7, 3, 1, 5, 2], pre)
    check_export(_randomize(model), ids)


@pytest.mark.parametrize("cls", [SimpleRNN, GRU, LSTM])
def test_activation_the_operators_lack_runs_keras_step_in_a_scan(cls):
    kw = {} if cls is SimpleRNN else {"inner_activation": "softmax"}
    model = Sequential(
        [
            Masking(0.0, input_shape=(5, 3)),
            cls(4, activation="softmax", return_sequences=True, go_backwards=True, **kw),
        ]
    )
    x = _x(3, 5, 3)
    x[0, 3:] = 0.0
    x[1, 1] = 0.0
    proto = check_export(_randomize(model), x)
    ops = {n.op_type for n in proto.graph.node}
    assert "Scan" in ops and not {"RNN", "GRU", "LSTM"} & ops


def test_masked_sequences_of_unknown_length():
    model = _randomize(Sequential([Embedding(10, 4, mask_zero=True), GRU(3, return_sequences=True), LSTM(2)]))
    proto = export_onnx(model)
    assert proto.graph.input[0].type.tensor_type.shape.dim[1].dim_param  # a free length
    for T in (4, 9):
        check_export(model, _padded(3, T, [T, 2, 1], pre=True))


def test_masking_layer_pre_post_and_empty():
    model = _randomize(Sequential([Masking(0.0, input_shape=(6, 2)), LSTM(3, return_sequences=True)]))
    x = _x(4, 6, 2)
    x[0, 4:] = 0.0  # post-padding
    x[1, :2] = 0.0  # pre-padding
    x[2] = 0.0  # everything masked
    proto = check_export(model, x)
    assert "If" in {n.op_type for n in proto.graph.node}


@pytest.mark.parametrize("cls", [SimpleRNN, GRU, LSTM])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_masks_with_holes_run_keras_step_exactly(cls, go_backwards):
    model = _randomize(
        Sequential(
            [
                Masking(0.0, input_shape=(7, 2)),
                cls(4, return_sequences=True, go_backwards=go_backwards),
                cls(3, go_backwards=go_backwards),
            ]
        )
    )
    x = _x(4, 7, 2)
    x[0, 4:] = 0.0
    x[1, 2] = 0.0  # a hole
    x[2, [0, 3, 5]] = 0.0  # holes and a padded start
    check_export(model, x)
    x[1:3] = 1.0  # no holes left: the same graph takes the sequence-length branch
    check_export(model, x)


@pytest.mark.parametrize("cls", [GRU, LSTM])
def test_stateful_layers_take_and_return_their_states(cls):
    model = _randomize(
        Sequential(
            [cls(4, stateful=True, return_sequences=True, batch_input_shape=(2, 3, 3)), cls(2, stateful=True)]
        )
    )
    x1, x2 = _x(2, 3, 3), _x(2, 3, 3)
    model.predict(x1, batch_size=2)  # moves the states away from zero
    proto = export_onnx(model)
    in_names = [i.name for i in proto.graph.input]
    out_names = [o.name for o in proto.graph.output]
    n_states = 2 if cls is LSTM else 1
    assert len(in_names) == 1 + 2 * n_states and len(out_names) == 1 + 2 * n_states
    # the states default to the layers' current states: the export continues the sequence
    got = run(proto, [x2])
    want = model.predict(x2, batch_size=2)
    np.testing.assert_allclose(got[0], want, atol=1e-5)
    # the returned states are the layers' states after the call
    import keras.backend as K

    layers_states = [K.get_value(s) for layer in model.layers for s in layer.states]
    for g, s in zip(got[1:], layers_states):
        np.testing.assert_allclose(g, s, atol=1e-5)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "ave", "mul"])
def test_bidirectional(merge_mode):
    model = Sequential(
        [
            Bidirectional(LSTM(4, return_sequences=True), merge_mode=merge_mode, input_shape=(5, 3)),
            Bidirectional(GRU(3), merge_mode=merge_mode),
        ]
    )
    check_export(_randomize(model), _x(3, 5, 3))


def test_bidirectional_masked_and_time_distributed():
    model = Sequential(
        [
            Embedding(10, 4, mask_zero=True, input_length=6),
            Bidirectional(SimpleRNN(3, return_sequences=True)),
            TimeDistributed(Dense(2, activation="softmax")),
        ]
    )
    check_export(_randomize(model), _padded(4, 6, [6, 2, 4, 1], pre=False))


def test_time_distributed_conv_model():
    from keras.layers.convolutional import Convolution2D
    from keras.layers.core import Flatten

    model = Sequential(
        [
            TimeDistributed(Convolution2D(2, 3, 3, dim_ordering="tf"), input_shape=(4, 5, 5, 1)),
            TimeDistributed(Flatten()),
            GRU(3),
        ]
    )
    check_export(_randomize(model), _x(2, 4, 5, 5, 1))


@pytest.mark.parametrize("order", ["th", "tf"])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_conv_lstm2d(order, return_sequences):
    from keras.layers.convolutional_recurrent import ConvLSTM2D

    shape = (4, 2, 7, 6) if order == "th" else (4, 7, 6, 2)
    model = Sequential(
        [
            ConvLSTM2D(
                3, 3, 2, dim_ordering=order, return_sequences=True, go_backwards=True, input_shape=shape
            ),
            ConvLSTM2D(
                2,
                2,
                3,
                dim_ordering=order,
                border_mode="same",
                subsample=(2, 1),
                return_sequences=return_sequences,
            ),
        ]
    )
    check_export(_randomize(model), _x(2, *shape))


def test_stateful_conv_lstm2d():
    from keras.layers.convolutional_recurrent import ConvLSTM2D

    model = _randomize(
        Sequential([ConvLSTM2D(2, 3, 3, dim_ordering="tf", stateful=True, batch_input_shape=(2, 3, 5, 5, 1))])
    )
    model.predict(_x(2, 3, 5, 5, 1), batch_size=2)
    check_export(model, _x(2, 3, 5, 5, 1))


@pytest.mark.parametrize("cls", [SimpleRNN, GRU, LSTM])
def test_stateful_masked_layers_repeat_their_initial_state_over_leading_masked_steps(cls):
    model = _randomize(
        Sequential([Masking(0.0, batch_input_shape=(3, 5, 2)), cls(3, stateful=True, return_sequences=True)])
    )
    model.predict(_x(3, 5, 2), batch_size=3)  # non-zero states
    x = _x(3, 5, 2)
    x[0, :2] = 0.0  # pre-padded
    x[1] = 0.0  # every step masked
    x[2, 3:] = 0.0  # post-padded
    check_export(model, x)
    x[2, 1] = 0.0  # and a hole: the stepped branch
    model.reset_states()
    model.predict(_x(3, 5, 2), batch_size=3)
    check_export(model, x)
