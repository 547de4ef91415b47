"""ConvLSTM2D (Keras 1.2.2): layer_test, a numpy step-by-step reference of a tiny case
('tf' and 'th' orderings, 'valid' and 'same', subsample), Keras 1 weight names / shapes /
order, return_sequences / go_backwards, stateful carry-over, bad input, and a tiny model
that learns."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from keras import backend as K
from keras.engine.topology import Input
from keras.layers import ConvLSTM2D, Dense, Flatten
from keras.models import Model, Sequential
from keras.optimizers import Adam
from keras.utils.test_utils import layer_test


def _hsig(x):
    return np.clip(0.2 * x + 0.5, 0.0, 1.0)


def _conv_tf(x, k, border, stride):
    """Cross-correlation of x (B, H, W, C) with k (r, c, C, F), Keras 1 'tf' padding."""
    r, c = k.shape[:2]
    if border == "same":
        ph, pw = r - 1, c - 1
        x = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    H, W = x.shape[1], x.shape[2]
    oh, ow = (H - r) // stride[0] + 1, (W - c) // stride[1] + 1
    out = np.zeros((x.shape[0], oh, ow, k.shape[3]))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, i * stride[0] : i * stride[0] + r, j * stride[1] : j * stride[1] + c, :]
            out[:, i, j, :] = np.tensordot(patch, k, axes=([1, 2, 3], [0, 1, 2]))
    return out


def reference(layer, x):
    """Numpy ConvLSTM2D ('tf' layout x (B, T, H, W, C)) from the layer's weights."""
    w = {v.name[len(layer.name) + 1 :]: K.get_value(v) for v in layer.weights}
    if layer.dim_ordering == "th":
        # 'th' is a true convolution of (F, C, r, c) kernels: flip them into tf form
        w = {n: (np.transpose(a[:, :, ::-1, ::-1], (2, 3, 1, 0)) if a.ndim == 4 else a) for n, a in w.items()}
        x = np.transpose(x, (0, 1, 3, 4, 2))
    bm, st = layer.border_mode, layer.subsample
    h = c = 0.0
    outs = []
    steps = range(x.shape[1] - 1, -1, -1) if layer.go_backwards else range(x.shape[1])
    for t in steps:
        xt = x[:, t]

        def gate(g, h=h, xt=xt):
            xw = _conv_tf(xt, w["W_" + g], bm, st) + w["b_" + g]
            return xw + _conv_tf(np.broadcast_to(h, xw.shape), w["U_" + g], "same", (1, 1))

        i, f, o = _hsig(gate("i")), _hsig(gate("f")), _hsig(gate("o"))
        c = f * c + i * np.tanh(gate("c"))
        h = o * np.tanh(c)
        outs.append(h)
    seq = np.stack(outs, axis=1)
    if layer.dim_ordering == "th":
        seq = np.transpose(seq, (0, 1, 4, 2, 3))
    return seq


@pytest.mark.parametrize(
    "ordering,border,subsample,back",
    [
        ("tf", "valid", (1, 1), False),
        ("tf", "same", (1, 1), True),
        ("tf", "valid", (2, 1), False),
        ("th", "same", (1, 1), False),
    ],
)
def test_forward_matches_numpy_reference(ordering, border, subsample, back):
    np.random.seed(1)
    shape = (3, 5, 6, 2) if ordering == "tf" else (3, 2, 5, 6)
    inp = Input(shape=shape)
    layer = ConvLSTM2D(
        3,
        3,
        2,
        dim_ordering=ordering,
        border_mode=border,
        subsample=subsample,
        return_sequences=True,
        go_backwards=back,
    )
    model = Model(inp, layer(inp))
    ws = [np.random.uniform(-0.5, 0.5, w.shape).astype("float32") for w in layer.get_weights()]
    layer.set_weights(ws)
    x = np.random.uniform(-1, 1, (2,) + shape).astype("float32")
    got = model.predict(x)
    want = reference(layer, x)
    assert got.shape == want.shape and model.output_shape[1:] == got.shape[1:]
    assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    last = Model(
        inp,
        ConvLSTM2D(
            3,
            3,
            2,
            dim_ordering=ordering,
            border_mode=border,
            subsample=subsample,
            go_backwards=back,
            weights=ws,
        )(inp),
    )
    assert_allclose(last.predict(x), want[:, -1], rtol=1e-4, atol=1e-5)


def test_weights_follow_keras1_names_shapes_and_order():
    inp = Input(shape=(2, 5, 5, 4))
    layer = ConvLSTM2D(6, 3, 2, dim_ordering="tf")
    layer(inp)
    names = [w.name for w in layer.trainable_weights]
    n = layer.name
    assert names == [f"{n}_{p}_{g}" for g in "icfo" for p in "WUb"]
    shapes = [K.get_value(w).shape for w in layer.trainable_weights]
    assert shapes[:3] == [(3, 2, 4, 6), (3, 2, 6, 6), (6,)]
    assert_allclose(K.get_value(layer.b_f), np.ones(6))
    th = ConvLSTM2D(6, 3, 2, dim_ordering="th")
    th(Input(shape=(2, 4, 5, 5)))
    assert [K.get_value(w).shape for w in th.trainable_weights][:2] == [(6, 4, 3, 2), (6, 6, 3, 2)]


def test_layer_test():
    layer_test(
        ConvLSTM2D,
        kwargs={"nb_filter": 2, "nb_row": 3, "nb_col": 3, "dim_ordering": "tf", "return_sequences": True},
        input_shape=(2, 3, 5, 5, 2),
    )
    layer_test(
        ConvLSTM2D,
        kwargs={
            "nb_filter": 2,
            "nb_row": 2,
            "nb_col": 2,
            "dim_ordering": "th",
            "border_mode": "same",
            "dropout_W": 0.2,
            "dropout_U": 0.2,
        },
        input_shape=(2, 3, 1, 4, 4),
    )


def test_stateful_chunks_equal_whole_sequence():
    np.random.seed(2)
    x = np.random.uniform(-1, 1, (2, 4, 4, 4, 1)).astype("float32")
    whole = Sequential(
        [ConvLSTM2D(2, 2, 2, dim_ordering="tf", border_mode="same", batch_input_shape=(2, 4, 4, 4, 1))]
    )
    ws = whole.get_weights()
    st = Sequential(
        [
            ConvLSTM2D(
                2,
                2,
                2,
                dim_ordering="tf",
                border_mode="same",
                stateful=True,
                batch_input_shape=(2, 2, 4, 4, 1),
                weights=ws,
            )
        ]
    )
    st.predict(x[:, :2], batch_size=2)
    assert_allclose(st.predict(x[:, 2:], batch_size=2), whole.predict(x, batch_size=2), rtol=1e-4, atol=1e-5)
    st.reset_states()
    first = st.predict(x[:, :2], batch_size=2)
    st.reset_states()
    assert_allclose(st.predict(x[:, :2], batch_size=2), first, rtol=1e-6)


def test_bad_input_is_a_value_error():
    with pytest.raises(ValueError):
        ConvLSTM2D(2, 3, 3, dim_ordering="tf")(Input(shape=(3, 5, 5)))
    with pytest.raises(ValueError):
        ConvLSTM2D(2, 7, 7, dim_ordering="tf")(Input(shape=(3, 5, 5, 1)))
    with pytest.raises(ValueError):
        ConvLSTM2D(2, 3, 3, border_mode="full")
    with pytest.raises(
        ValueError, match="ConvLSTM2D: nb_filter, nb_row and nb_col must be positive, got 2, 0, 3"
    ):
        ConvLSTM2D(2, 0, 3)
    with pytest.raises(ValueError, match="ConvLSTM2D: `subsample` must be a tuple of 2 positive integers"):
        ConvLSTM2D(2, 3, 3, subsample=(0, 1))


def test_tiny_model_learns():
    np.random.seed(4)
    x = np.random.uniform(0, 1, (64, 3, 4, 4, 1)).astype("float32")
    y = (x[:, -1].mean(axis=(1, 2, 3)) > 0.5).astype("float32")[:, None]
    model = Sequential()
    model.add(ConvLSTM2D(4, 2, 2, dim_ordering="tf", border_mode="same", input_shape=(3, 4, 4, 1)))
    model.add(Flatten())
    model.add(Dense(1, activation="sigmoid"))
    model.compile(Adam(lr=0.01), "binary_crossentropy")
    h = model.fit(x, y, nb_epoch=30, batch_size=16, verbose=0)
    assert h.history["loss"][-1] < 0.7 * h.history["loss"][0]
