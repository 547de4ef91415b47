"""Topology: Input/InputLayer, names, nodes, shared layers, Model/Sequential graphs,
Merge, summary, configs and weights."""

import json

import numpy as np
import pytest
from numpy.testing import assert_allclose

from conftest import keras1_mnist_mlp
from keras import backend as K
from keras.engine.topology import Container, InputLayer, Node, get_source_inputs
from keras.layers import Activation, Dense, Dropout, Input, Lambda, Masking, Merge, merge
from keras.models import Model, Sequential, model_from_json

pytestmark = pytest.mark.usefixtures("fresh_session")


def _rand(*shape):
    return np.random.uniform(-1, 1, size=shape).astype("float32")


# ---------------------------------------------------------------------------------------
# Input / InputLayer


def test_input_keras_tensor():
    x = Input(shape=(32,))
    assert x._keras_shape == (None, 32)
    layer, node_index, tensor_index = x._keras_history
    assert isinstance(layer, InputLayer)
    assert (node_index, tensor_index) == (0, 0)
    assert layer.name == "input_1"
    assert K.dtype(x) == "float32"
    assert layer.get_config() == {
        "batch_input_shape": (None, 32),
        "input_dtype": "float32",
        "sparse": False,
        "name": "input_1",
    }
    assert layer.inbound_nodes[0].inbound_layers == []
    assert layer.inbound_nodes[0].output_tensors[0] is x


def test_input_variants():
    x = Input(batch_shape=(4, 3), name="fixed")
    assert x._keras_shape == (4, 3)
    assert x._keras_history[0].name == "fixed"
    assert K.int_shape(x) == (4, 3)
    i = Input(shape=(5,), dtype="int32")
    assert K.dtype(i) == "int32"
    assert i._keras_history[0].get_config()["input_dtype"] == "int32"
    with pytest.raises(AssertionError, match="shape"):
        Input()
    with pytest.raises(ValueError, match="input_shape OR batch_input_shape"):
        InputLayer(input_shape=(3,), batch_input_shape=(None, 3))
    with pytest.raises(ValueError):
        InputLayer()
    layer = InputLayer(input_shape=(2, 3))
    assert layer.batch_input_shape == (None, 2, 3)
    assert layer.name.startswith("input_")


# ---------------------------------------------------------------------------------------
# Auto names


def test_auto_names():
    assert Dense(2).name == "dense_1"
    assert Dense(2).name == "dense_2"
    model = Sequential()
    model.add(Dense(3, input_dim=4))
    assert model.name == "sequential_1"
    assert model.layers[0].name == "dense_3"
    assert model.inputs[0]._keras_history[0].name == "dense_input_1"
    model.add(Activation("relu"))
    assert model.layers[1].name == "activation_1"
    a, b = Input(shape=(3,)), Input(shape=(3,))
    assert [a._keras_history[0].name, b._keras_history[0].name] == ["input_1", "input_2"]
    m = merge([a, b])
    assert m._keras_history[0].name == "merge_1"
    assert Model(a, Dense(1)(a)).name == "model_1"
    m2 = Sequential([Dropout(0.5, input_shape=(2,))])
    assert m2.name == "sequential_2"
    assert m2.inputs[0]._keras_history[0].name == "dropout_input_1"
    K.clear_session()
    assert Dense(2).name == "dense_1"


def test_explicit_name_and_duplicates():
    x = Input(shape=(3,))
    y = Dense(2, name="same")(x)
    z = Dense(2, name="same")(y)
    with pytest.raises(RuntimeError, match='"same" is used 2 times'):
        Model(x, z)


# ---------------------------------------------------------------------------------------
# Nodes


def test_node_bookkeeping():
    a = Input(shape=(32,), name="input_a")
    b = Input(shape=(32,), name="input_b")
    dense = Dense(16, name="shared")
    a2 = dense(a)
    b2 = dense(b)
    assert len(dense.inbound_nodes) == 2
    input_a = a._keras_history[0]
    assert input_a.outbound_nodes == [dense.inbound_nodes[0]]
    node = dense.inbound_nodes[0]
    assert isinstance(node, Node)
    assert node.outbound_layer is dense
    assert node.inbound_layers == [input_a]
    assert node.node_indices == [0] and node.tensor_indices == [0]
    assert node.input_tensors[0] is a and node.output_tensors[0] is a2
    assert node.input_shapes == [(None, 32)] and node.output_shapes == [(None, 16)]
    assert node.input_masks == [None] and node.output_masks == [None]
    assert node.get_config() == {
        "outbound_layer": "shared",
        "inbound_layers": ["input_a"],
        "node_indices": [0],
        "tensor_indices": [0],
    }
    assert a2._keras_history == (dense, 0, 0)
    assert b2._keras_history == (dense, 1, 0)

    assert dense.get_input_at(0) is a
    assert dense.get_input_at(1) is b
    assert dense.get_output_at(0) is a2
    assert dense.get_output_at(1) is b2
    assert dense.get_input_shape_at(1) == (None, 32)
    assert dense.get_output_shape_at(0) == (None, 16)
    assert dense.get_input_mask_at(0) is None
    assert dense.get_output_mask_at(1) is None
    # one shape for both nodes: the shape properties are defined, the tensors are not
    assert dense.input_shape == (None, 32)
    assert dense.output_shape == (None, 16)
    with pytest.raises(AttributeError, match="multiple inbound nodes"):
        _ = dense.input
    with pytest.raises(AttributeError, match="multiple inbound nodes"):
        _ = dense.output
    with pytest.raises(ValueError, match="only 2 inbound nodes"):
        dense.get_output_at(2)
    with pytest.raises(RuntimeError, match="never been called"):
        Dense(2).get_output_at(0)
    with pytest.raises(AttributeError):
        _ = Dense(2).output
    assert get_source_inputs(b2) == [b]


def test_layer_with_different_shapes_per_node():
    act = Activation("relu")
    act(Input(shape=(3,)))
    act(Input(shape=(4,)))
    with pytest.raises(AttributeError, match="get_input_shape_at"):
        _ = act.input_shape
    assert act.get_output_shape_at(1) == (None, 4)


def test_shared_layer_model():
    a = Input(shape=(4,))
    b = Input(shape=(4,))
    shared = Dense(3, activation="tanh")
    out_a = shared(a)
    out_b = shared(b)
    model = Model([a, b], [out_a, out_b])
    assert len(model.trainable_weights) == 2
    assert [layer.name for layer in model.layers] == ["input_1", "input_2", "dense_1"]
    W, bias = shared.get_weights()
    xa, xb = _rand(5, 4), _rand(5, 4)
    pa, pb = model.predict([xa, xb])
    assert_allclose(pa, np.tanh(xa.dot(W) + bias), rtol=1e-5, atol=1e-6)
    assert_allclose(pb, np.tanh(xb.dot(W) + bias), rtol=1e-5, atol=1e-6)
    merged = merge([out_a, out_b], mode="concat")
    siamese = Model([a, b], merged)
    assert siamese.count_params() == 15
    assert_allclose(siamese.predict([xa, xb]), np.concatenate([pa, pb], axis=-1), rtol=1e-5)


# ---------------------------------------------------------------------------------------
# Models


def test_multi_input_multi_output_model():
    np.random.seed(0)
    main = Input(shape=(5,), name="main_input")
    aux = Input(shape=(2,), name="aux_input")
    h = Dense(8, activation="relu")(main)
    aux_out = Dense(1, activation="sigmoid", name="aux_output")(h)
    h2 = merge([h, aux], mode="concat")
    main_out = Dense(3, activation="softmax", name="main_output")(h2)
    model = Model(input=[main, aux], output=[main_out, aux_out])
    assert model.input_names == ["main_input", "aux_input"]
    assert model.output_names == ["main_output", "aux_output"]
    assert model.internal_input_shapes == [(None, 5), (None, 2)]
    assert model.internal_output_shapes == [(None, 3), (None, 1)]
    assert model.output_shape == [(None, 3), (None, 1)]
    model.compile(
        "rmsprop",
        {"main_output": "categorical_crossentropy", "aux_output": "binary_crossentropy"},
        loss_weights={"main_output": 1.0, "aux_output": 0.2},
    )
    assert model.metrics_names == ["loss", "main_output_loss", "aux_output_loss"]
    x_main, x_aux = _rand(16, 5), _rand(16, 2)
    y_main = np.eye(3)[np.random.randint(0, 3, 16)]
    y_aux = np.random.randint(0, 2, (16, 1))
    hist = model.fit(
        {"main_input": x_main, "aux_input": x_aux},
        {"main_output": y_main, "aux_output": y_aux},
        nb_epoch=2,
        batch_size=8,
        verbose=0,
    )
    assert set(hist.history) == {"loss", "main_output_loss", "aux_output_loss"}
    p_main, p_aux = model.predict([x_main, x_aux])
    assert p_main.shape == (16, 3) and p_aux.shape == (16, 1)
    assert_allclose(p_main.sum(axis=1), 1, rtol=1e-5)


def test_layers_order_by_depth():
    a = Input(shape=(3,), name="input_a")
    b = Input(shape=(4,), name="input_b")
    h = Dense(4, name="dense_a")(a)
    h = Dense(4, name="dense_b")(h)
    m = merge([h, b], mode="concat", name="join")
    out = Dense(1, name="out")(m)
    model = Model([a, b], out)
    # an input feeding only a late layer appears late, not first
    assert [layer.name for layer in model.layers] == [
        "input_a",
        "dense_a",
        "dense_b",
        "input_b",
        "join",
        "out",
    ]
    assert model.get_layer("dense_b").name == "dense_b"
    assert model.get_layer(index=3).name == "input_b"
    with pytest.raises(ValueError, match="No such layer: nope"):
        model.get_layer("nope")
    with pytest.raises(ValueError, match="only has 6 layers"):
        model.get_layer(index=6)
    with pytest.raises(ValueError):
        model.get_layer()


def test_model_errors():
    a = Input(shape=(3,))
    b = Input(shape=(3,))
    y = Dense(2)(merge([a, b]))
    with pytest.raises(ValueError, match="redundant"):
        Model([a, a], y)
    with pytest.raises(RuntimeError, match="Graph disconnected"):
        Model(a, y)
    with pytest.raises(TypeError, match="Keras tensors"):
        Model(K.placeholder(shape=(None, 3)), y)


def test_model_as_layer():
    x = Input(shape=(3,))
    inner = Model(x, Dense(2, activation="relu", name="inner_dense")(x), name="inner")
    x2 = Input(shape=(3,))
    h = inner(x2)
    assert h._keras_shape == (None, 2)
    out = Dense(1, name="head")(h)
    model = Model(x2, out)
    assert [layer.name for layer in model.layers] == ["input_2", "inner", "head"]
    assert len(model.trainable_weights) == 4
    data = _rand(4, 3)
    W, b = inner.get_weights()
    W2, b2 = model.get_layer("head").get_weights()
    expected = np.maximum(data.dot(W) + b, 0).dot(W2) + b2
    assert_allclose(model.predict(data), expected, rtol=1e-5, atol=1e-6)
    # the inner model is called on two inputs, sharing its weights
    x3 = Input(shape=(3,))
    twice = Model([x2, x3], merge([inner(x2), inner(x3)], mode="sum"))
    assert_allclose(twice.predict([data, data]), 2 * inner.predict(data), rtol=1e-5)
    # config round trip with a nested model
    clone = Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    assert_allclose(clone.predict(data), model.predict(data), rtol=1e-6)
    clone = model_from_json(model.to_json())
    clone.set_weights(model.get_weights())
    assert_allclose(clone.predict(data), model.predict(data), rtol=1e-6)


# ---------------------------------------------------------------------------------------
# Sequential


def test_sequential_add_pop_and_list_constructor():
    model = Sequential([Dense(4, input_dim=3), Activation("relu"), Dense(2)])
    assert [layer.name for layer in model.layers] == ["dense_1", "activation_1", "dense_2"]
    assert model.output_shape == (None, 2)
    assert model.input_shape == (None, 3)
    model.pop()
    assert [layer.name for layer in model.layers] == ["dense_1", "activation_1"]
    assert model.output_shape == (None, 4)
    assert len(model.get_weights()) == 2
    model.add(Dense(5))
    assert model.output_shape == (None, 5)
    model.compile("sgd", "mse")
    assert model.predict(_rand(2, 3)).shape == (2, 5)
    with pytest.raises(TypeError, match="no layers"):
        Sequential().pop()
    with pytest.raises(ValueError, match="input_shape"):
        Sequential().add(Dense(3))
    with pytest.raises(TypeError, match="instance of class Layer"):
        Sequential().add("dense")


def test_sequential_batch_input_shape():
    model = Sequential()
    model.add(Dense(2, batch_input_shape=(6, 3)))
    assert model.input_shape == (6, 3)
    assert model.layers[0].get_config()["batch_input_shape"] == (6, 3)


def test_nested_sequential():
    inner = Sequential([Dense(4, input_dim=3, activation="relu"), Dense(2)])
    outer = Sequential()
    outer.add(inner)
    outer.add(Dense(1))
    assert [layer.name for layer in outer.layers] == ["sequential_1", "dense_3"]
    assert outer.output_shape == (None, 1)
    assert len(outer.get_weights()) == 6
    assert [w.name for w in outer.trainable_weights] == [
        "dense_1_W",
        "dense_1_b",
        "dense_2_W",
        "dense_2_b",
        "dense_3_W",
        "dense_3_b",
    ]
    outer.compile("sgd", "mse")
    data = _rand(3, 3)
    W1, b1, W2, b2, W3, b3 = outer.get_weights()
    expected = (np.maximum(data.dot(W1) + b1, 0).dot(W2) + b2).dot(W3) + b3
    assert_allclose(outer.predict(data), expected, rtol=1e-5, atol=1e-6)
    config = outer.get_config()
    assert config[0]["class_name"] == "Sequential"
    clone = Sequential.from_config(config)
    clone.set_weights(outer.get_weights())
    assert_allclose(clone.predict(data), expected, rtol=1e-5, atol=1e-6)
    clone = model_from_json(outer.to_json())
    clone.set_weights(outer.get_weights())
    assert_allclose(clone.predict(data), expected, rtol=1e-5, atol=1e-6)


def test_sequential_merge_branches():
    left = Sequential([Dense(4, input_dim=3)])
    right = Sequential([Dense(4, input_dim=5)])
    model = Sequential()
    model.add(Merge([left, right], mode="concat"))
    model.add(Dense(2))
    assert model.output_shape == (None, 2)
    assert [layer.name for layer in model.flattened_layers] == ["dense_1", "dense_2", "dense_3"]
    model.compile("rmsprop", "mse")
    xl, xr = _rand(6, 3), _rand(6, 5)
    W1, b1, W2, b2, W3, b3 = model.get_weights()
    expected = np.concatenate([xl.dot(W1) + b1, xr.dot(W2) + b2], axis=-1).dot(W3) + b3
    assert_allclose(model.predict([xl, xr]), expected, rtol=1e-5, atol=1e-6)
    model.fit([xl, xr], _rand(6, 2), nb_epoch=1, verbose=0)
    config = model.get_config()
    assert config[0]["class_name"] == "Merge"
    assert [c["class_name"] for c in config[0]["config"]["layers"]] == ["Sequential", "Sequential"]
    clone = Sequential.from_config(config)
    clone.set_weights(model.get_weights())
    assert_allclose(clone.predict([xl, xr]), model.predict([xl, xr]), rtol=1e-6)
    clone = model_from_json(model.to_json())
    clone.set_weights(model.get_weights())
    assert_allclose(clone.predict([xl, xr]), model.predict([xl, xr]), rtol=1e-6)


def test_sequential_merge_lambda_mode():
    # the Sequential guide's `Merge([left, right], mode=lambda x, y: x - y)`, no output_shape
    left = Sequential([Dense(4, input_dim=3)])
    right = Sequential([Dense(4, input_dim=3)])
    model = Sequential([Merge([left, right], mode=lambda x, y: x - y)])
    assert model.output_shape == (None, 4)
    model.compile("sgd", "mse")
    data = _rand(2, 3)
    W1, b1, W2, b2 = model.get_weights()
    assert_allclose(
        model.predict([data, data]), (data.dot(W1) + b1) - (data.dot(W2) + b2), rtol=1e-5, atol=1e-6
    )
    model.add(Dense(2))
    assert model.output_shape == (None, 2)


# ---------------------------------------------------------------------------------------
# Merge


@pytest.mark.parametrize(
    "mode,ref",
    [
        ("sum", lambda a, b: a + b),
        ("mul", lambda a, b: a * b),
        ("ave", lambda a, b: (a + b) / 2),
        ("max", np.maximum),
        ("concat", lambda a, b: np.concatenate([a, b], axis=-1)),
        ("dot", lambda a, b: (a * b).sum(axis=-1, keepdims=True)),
    ],
)
def test_merge_modes(mode, ref):
    a, b = Input(shape=(3,)), Input(shape=(3,))
    merged = merge([a, b], mode=mode)
    model = Model([a, b], merged)
    xa, xb = _rand(4, 3), _rand(4, 3)
    out = model.predict([xa, xb])
    expected = ref(xa, xb)
    assert out.shape == expected.shape
    assert merged._keras_shape == (None,) + expected.shape[1:]
    assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_merge_three_inputs():
    xs = [Input(shape=(2,)) for _ in range(3)]
    data = [_rand(3, 2) for _ in range(3)]
    for mode, ref in (("sum", sum), ("ave", lambda d: sum(d) / 3), ("mul", lambda d: d[0] * d[1] * d[2])):
        out = Model(xs, merge(xs, mode=mode)).predict(data)
        assert_allclose(out, ref(data), rtol=1e-5, atol=1e-6)


def _cos(a, b):
    dot = (a * b).sum(axis=-1, keepdims=True)
    return dot / np.sqrt((a * a).sum(axis=-1, keepdims=True) * (b * b).sum(axis=-1, keepdims=True))


def test_merge_cos_values():
    a, b = Input(shape=(3,)), Input(shape=(3,))
    merged = merge([a, b], mode="cos")
    assert merged._keras_shape == (None, 1)
    xa, xb = _rand(4, 3), _rand(4, 3)
    out = Model([a, b], merged).predict([xa, xb])
    assert_allclose(out.reshape(4, 1), _cos(xa, xb), rtol=1e-5)


def test_merge_cos_output_shape():
    a, b = Input(shape=(3,)), Input(shape=(3,))
    out = Model([a, b], merge([a, b], mode="cos")).predict([_rand(4, 3), _rand(4, 3)])
    assert out.shape == (4, 1)


def test_merge_concat_axis_and_dot_axes():
    a, b = Input(shape=(4, 3)), Input(shape=(2, 3))
    xa, xb = _rand(2, 4, 3), _rand(2, 2, 3)
    concat = merge([a, b], mode="concat", concat_axis=1)
    assert concat._keras_shape == (None, 6, 3)
    assert_allclose(Model([a, b], concat).predict([xa, xb]), np.concatenate([xa, xb], axis=1))
    dot = merge([a, b], mode="dot", dot_axes=(2, 2))
    assert dot._keras_shape == (None, 4, 2)
    assert_allclose(
        Model([a, b], dot).predict([xa, xb]), np.einsum("bik,bjk->bij", xa, xb), rtol=1e-5, atol=1e-6
    )
    c = Input(shape=(4, 5))
    xc = _rand(2, 4, 5)
    dot1 = merge([a, c], mode="dot", dot_axes=1)
    assert dot1._keras_shape == (None, 3, 5)
    assert_allclose(
        Model([a, c], dot1).predict([xa, xc]), np.einsum("bki,bkj->bij", xa, xc), rtol=1e-5, atol=1e-6
    )
    merge_layer = dot1._keras_history[0]
    assert merge_layer.get_config()["dot_axes"] == [1, 1]


def test_merge_callable_modes():
    a, b = Input(shape=(3,)), Input(shape=(3,))
    xa, xb = _rand(2, 3), _rand(2, 3)
    # one list argument (Keras 1.2.2) with an output_shape tuple or function
    m1 = merge([a, b], mode=lambda t: t[0] - t[1], output_shape=(3,))
    m2 = merge([a, b], mode=lambda t: K.concatenate(t, axis=-1), output_shape=lambda s: (s[0][0], 6))
    assert m1._keras_shape == (None, 3) and m2._keras_shape == (None, 6)
    out1, out2 = Model([a, b], [m1, m2]).predict([xa, xb])
    assert_allclose(out1, xa - xb, rtol=1e-6)
    assert_allclose(out2, np.concatenate([xa, xb], axis=-1))
    # one argument per input (the Sequential guide's spelling), output shape left out
    m3 = merge([a, b], mode=lambda x, y: x - y)
    assert_allclose(Model([a, b], m3).predict([xa, xb]), xa - xb, rtol=1e-6)


def test_merge_callable_mode_list_with_arguments():
    a, b = Input(shape=(3,)), Input(shape=(3,))
    xa, xb = _rand(2, 3), _rand(2, 3)
    m = merge([a, b], mode=lambda t, k: (t[0] + t[1]) * k, output_shape=(3,), arguments={"k": 2.0})
    assert_allclose(Model([a, b], m).predict([xa, xb]), (xa + xb) * 2, rtol=1e-6)
    m2 = merge([a, b], mode=lambda x, y, k: (x - y) * k, output_shape=(3,), arguments={"k": 2.0})
    assert_allclose(Model([a, b], m2).predict([xa, xb]), (xa - xb) * 2, rtol=1e-6)


def test_merge_callable_mode_infers_output_shape():
    a, b = Input(shape=(3,)), Input(shape=(3,))
    m3 = merge([a, b], mode=lambda x, y: x - y)
    assert m3._keras_shape == (None, 3)


def test_merge_callable_mode_config_safe_mode(monkeypatch):
    from keras.utils import generic_utils

    a, b = Input(shape=(3,)), Input(shape=(3,))
    merged = merge([a, b], mode=lambda t: t[0] * t[1], output_shape=(3,), name="prod")
    config = merged._keras_history[0].get_config()
    assert config["mode_type"] == "lambda"
    assert config["output_shape_type"] == "raw"
    json.dumps(config)
    Merge.from_config(config)  # this process serialised it: trusted
    monkeypatch.setattr(generic_utils, "_OWN_BYTECODE", {})  # as a fresh process reading it
    with pytest.raises(ValueError, match="safe_mode=False"):
        Merge.from_config(config)
    clone = Merge.from_config(json.loads(json.dumps(config)), safe_mode=False)
    xa, xb = _rand(2, 3), _rand(2, 3)
    assert_allclose(Model([a, b], clone([a, b])).predict([xa, xb]), xa * xb, rtol=1e-6)


def test_merge_config_keys():
    a, b = Input(shape=(3,)), Input(shape=(3,))
    layer = merge([a, b], mode="concat", concat_axis=1, name="m")._keras_history[0]
    assert set(layer.get_config()) == {
        "name",
        "mode",
        "mode_type",
        "concat_axis",
        "dot_axes",
        "output_shape",
        "output_shape_type",
        "output_mask",
        "output_mask_type",
        "arguments",
    }
    assert layer.get_config()["mode"] == "concat"
    assert layer.get_config()["mode_type"] == "raw"


def test_merge_layer_called_on_tensors():
    a, b = Input(shape=(3,)), Input(shape=(3,))
    layer = Merge(mode="mul")
    out = layer([a, b])
    assert out._keras_shape == (None, 3)
    with pytest.raises(RuntimeError, match="cannot be used more than once"):
        layer([a, b])
    with pytest.raises(TypeError, match="list of tensors"):
        Merge(mode="sum")(a)


def test_merge_validation_errors():
    a, b = Input(shape=(3,)), Input(shape=(4,))
    c = Input(shape=(2, 3))
    with pytest.raises(ValueError, match="Invalid merge mode: bogus"):
        merge([a, a], mode="bogus")
    for mode in ("sum", "mul", "ave", "max", "cos"):
        with pytest.raises(ValueError, match="same output shape"):
            merge([a, b], mode=mode)
    with pytest.raises(ValueError, match="concat"):
        merge([a, c], mode="concat")
    with pytest.raises(ValueError, match="exactly 2 layers"):
        merge([a, a, a], mode="dot")
    with pytest.raises(ValueError, match="Dimension incompatibility"):
        merge([a, b], mode="dot")
    with pytest.raises(TypeError, match="at least 2 elements"):
        merge([a], mode="sum")
    with pytest.raises(ValueError, match="two elements"):
        merge([a, a], mode="dot", dot_axes=[1, 1, 1])


def test_merge_masks():
    x, y = Input(shape=(3, 2)), Input(shape=(3, 2))
    mx, my = Masking()(x), Masking()(y)
    dx = np.array([[[0, 0], [1, 1], [1, 0]]], dtype="float32")
    dy = np.array([[[1, 0], [0, 0], [1, 0]]], dtype="float32")
    summed = merge([mx, my], mode="sum")
    mask = summed._keras_history[0].output_mask
    assert_allclose(K.function([x, y], [mask])([dx, dy])[0], [[0, 0, 1]])
    concat = merge([mx, my], mode="concat", concat_axis=1)
    mask = concat._keras_history[0].output_mask
    assert_allclose(K.function([x, y], [mask])([dx, dy])[0], [[0, 1, 1, 1, 0, 1]])
    assert merge([mx, my], mode="dot", dot_axes=2)._keras_history[0].output_mask is None
    with pytest.raises(ValueError):
        merge([mx, my], mode="max")


# ---------------------------------------------------------------------------------------
# summary


def _row(fields, positions=(33, 55, 67, 100)):
    line = ""
    for field, stop in zip(fields, positions):
        line += str(field)
        line = line[:stop]
        line += " " * (stop - len(line))
    return line


def test_summary_mlp(capsys):
    model = keras1_mnist_mlp()
    model.summary()
    out = capsys.readouterr().out.split("\n")
    rows = [
        ("dense_1 (Dense)", "(None, 512)", 401920, "dense_input_1[0][0]"),
        ("activation_1 (Activation)", "(None, 512)", 0, "dense_1[0][0]"),
        ("dropout_1 (Dropout)", "(None, 512)", 0, "activation_1[0][0]"),
        ("dense_2 (Dense)", "(None, 512)", 262656, "dropout_1[0][0]"),
        ("activation_2 (Activation)", "(None, 512)", 0, "dense_2[0][0]"),
        ("dropout_2 (Dropout)", "(None, 512)", 0, "activation_2[0][0]"),
        ("dense_3 (Dense)", "(None, 10)", 5130, "dropout_2[0][0]"),
        ("activation_3 (Activation)", "(None, 10)", 0, "dense_3[0][0]"),
    ]
    expected = ["_" * 100, _row(("Layer (type)", "Output Shape", "Param #", "Connected to")), "=" * 100]
    for i, fields in enumerate(rows):
        expected.append(_row(fields))
        expected.append("=" * 100 if i == len(rows) - 1 else "_" * 100)
    expected += [
        "Total params: 669,706",
        "Trainable params: 669,706",
        "Non-trainable params: 0",
        "_" * 100,
        "",
    ]
    assert out == expected


def test_summary_functional(capsys):
    a = Input(shape=(32,), name="input_a")
    b = Input(shape=(32,), name="input_b")
    shared = Dense(16, name="shared")
    merged = merge([shared(a), shared(b)], mode="concat", name="joined")
    model = Model([a, b], merged)
    model.summary()
    out = capsys.readouterr().out.split("\n")
    assert _row(("shared (Dense)", "(None, 16)", 528, "input_a[0][0]")) in out
    assert _row(("", "", "", "input_b[0][0]")) in out
    assert _row(("joined (Merge)", "(None, 32)", 0, "shared[0][0]")) in out
    assert _row(("", "", "", "shared[1][0]")) in out
    assert "Total params: 528" in out


# ---------------------------------------------------------------------------------------
# config round trips


def _without_input_shapes(config):
    """A config without the batch_input_shape / input_dtype of non-input layers: as in
    Keras 1, a layer storing `input_dim` (Dense, ...) gains them when re-created."""
    config = json.loads(json.dumps(config))
    entries = config["layers"] if isinstance(config, dict) else config
    for entry in entries:
        if entry["class_name"] != "InputLayer":
            entry["config"].pop("batch_input_shape", None)
            entry["config"].pop("input_dtype", None)
    return config


def test_functional_model_config_round_trip():
    a = Input(shape=(5,), name="a")
    b = Input(shape=(3,), name="b")
    shared = Dense(4, activation="tanh", name="shared")
    h = merge([shared(a), Dense(4, name="proj")(b)], mode="sum", name="add")
    out = Dense(2, activation="softmax", name="out")(Dropout(0.5)(h))
    model = Model([a, b], out, name="net")
    config = model.get_config()
    assert config["name"] == "net"
    assert config["input_layers"] == [["a", 0, 0], ["b", 0, 0]]
    assert config["output_layers"] == [["out", 0, 0]]
    by_name = {layer["name"]: layer for layer in config["layers"]}
    assert by_name["shared"]["inbound_nodes"] == [[["a", 0, 0]]]
    assert by_name["add"]["inbound_nodes"] == [[["shared", 0, 0], ["proj", 0, 0]]]
    assert by_name["a"]["class_name"] == "InputLayer"
    clone = Model.from_config(config)
    assert clone.name == "net"
    assert [layer.name for layer in clone.layers] == [layer.name for layer in model.layers]
    assert _without_input_shapes(clone.get_config()) == _without_input_shapes(config)
    clone.set_weights(model.get_weights())
    data = [_rand(3, 5), _rand(3, 3)]
    assert_allclose(clone.predict(data), model.predict(data), rtol=1e-6)

    text = model.to_json()
    parsed = json.loads(text)
    assert parsed["class_name"] == "Model"
    assert parsed["keras_version"] == "1.2.2"
    clone = model_from_json(text)
    clone.set_weights(model.get_weights())
    assert_allclose(clone.predict(data), model.predict(data), rtol=1e-6)


def test_sequential_config_round_trip():
    model = Sequential(
        [Dense(8, input_dim=4, activation="relu"), Dropout(0.3), Dense(3, activation="softmax")]
    )
    config = model.get_config()
    assert [c["class_name"] for c in config] == ["Dense", "Dropout", "Dense"]
    assert config[0]["config"]["batch_input_shape"] == (None, 4)
    assert config[1]["config"] == {"name": "dropout_1", "trainable": True, "p": 0.3}
    clone = Sequential.from_config(config)
    assert _without_input_shapes(clone.get_config()) == _without_input_shapes(config)
    assert clone.get_config()[0] == config[0]
    clone.set_weights(model.get_weights())
    data = _rand(5, 4)
    assert_allclose(clone.predict(data), model.predict(data), rtol=1e-6)
    parsed = json.loads(model.to_json())
    assert parsed["class_name"] == "Sequential"
    assert parsed["config"][0]["config"]["batch_input_shape"] == [None, 4]
    clone = model_from_json(model.to_json())
    clone.set_weights(model.get_weights())
    assert_allclose(clone.predict(data), model.predict(data), rtol=1e-6)


# ---------------------------------------------------------------------------------------
# weights


def test_weights_get_set():
    a = Input(shape=(3,))
    h = Dense(4, name="d1")(a)
    out = Dense(2, name="d2")(h)
    model = Model(a, out)
    weights = model.get_weights()
    assert [w.shape for w in weights] == [(3, 4), (4,), (4, 2), (2,)]
    new = [np.full(w.shape, i + 1, dtype="float32") for i, w in enumerate(weights)]
    model.set_weights(new)
    for w, n in zip(model.get_weights(), new):
        assert_allclose(w, n)
    assert_allclose(model.get_layer("d2").get_weights()[1], [4, 4])
    assert [w.name for w in model.weights] == ["d1_W", "d1_b", "d2_W", "d2_b"]
    assert model.count_params() == 3 * 4 + 4 + 4 * 2 + 2
    with pytest.raises(ValueError, match="weight list of length 3"):
        model.set_weights(new[:3])
    with pytest.raises(ValueError):
        model.set_weights([np.zeros((3, 5)), new[1], new[2], new[3]])


def test_trainable_flags():
    a = Input(shape=(3,))
    frozen = Dense(4, trainable=False)
    out = Dense(2)(frozen(a))
    model = Model(a, out)
    assert len(model.trainable_weights) == 2
    assert len(model.non_trainable_weights) == 2
    model.trainable = False
    assert model.trainable_weights == []
    assert len(model.non_trainable_weights) == 4
    model = Sequential([Dense(2, input_dim=3), Dense(1)])
    model.trainable = False
    assert model.trainable_weights == []
    assert len(model.non_trainable_weights) == 4


def test_container_is_a_layer():
    a = Input(shape=(3,))
    model = Model(a, Dense(2)(a))
    assert isinstance(model, Container)
    assert model.get_output_shape_for((None, 3)) == (None, 2)
    assert model.uses_learning_phase is False
    b = Input(shape=(3,))
    dropped = Model(b, Dropout(0.5)(Dense(2)(b)))
    assert dropped.uses_learning_phase is True
    assert Lambda(lambda t: t)(a)._keras_shape == (None, 3)


# ---------------------------------------------------------------------------------------
# user-defined layers (both Keras 1 styles)


def test_custom_layers_both_styles():
    from keras import initializations
    from keras.engine.topology import Layer

    class Scale(Layer):
        """1.2 style: add_weight."""

        def __init__(self, output_dim, **kwargs):
            self.output_dim = output_dim
            super().__init__(**kwargs)

        def build(self, input_shape):
            self.W = self.add_weight(
                (input_shape[1], self.output_dim), initializer="one", name=f"{self.name}_W"
            )
            self.built = True

        def call(self, x, mask=None):
            return K.dot(x, self.W)

        def get_output_shape_for(self, input_shape):
            return (input_shape[0], self.output_dim)

    class Bias(Layer):
        """1.0 style: an initialization function and trainable_weights set directly."""

        def build(self, input_shape):
            self.b = initializations.get("zero")((input_shape[1],), name=f"{self.name}_b")
            self.trainable_weights = [self.b]

        def call(self, x, mask=None):
            return x + self.b

    model = Sequential([Scale(2, input_shape=(3,)), Bias()])
    assert [w.name for w in model.trainable_weights] == ["scale_1_W", "bias_1_b"]
    assert model.output_shape == (None, 2)
    model.compile("sgd", "mse")
    data = _rand(4, 3)
    assert_allclose(model.predict(data), data.sum(axis=1, keepdims=True).repeat(2, axis=1), rtol=1e-5)
    before = model.get_weights()
    model.fit(data, _rand(4, 2), nb_epoch=2, verbose=0)
    after = model.get_weights()
    assert not np.allclose(before[1], after[1])  # the 1.0-style weight is trained too
