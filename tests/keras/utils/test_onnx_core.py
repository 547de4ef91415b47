"""ONNX export of the core layers, activations, advanced activations and the export API
(errors, the custom-layer hook, the command line)."""

import numpy as np
import pytest
from onnx_check import OPSETS, check_export, onnx, run

from keras import backend as K
from keras.engine.topology import Input, Layer, merge
from keras.layers import advanced_activations as adv
from keras.layers.convolutional import UpSampling1D
from keras.layers.core import (
    Activation,
    ActivityRegularization,
    Dense,
    Dropout,
    Flatten,
    Highway,
    Lambda,
    MaxoutDense,
    Permute,
    RepeatVector,
    Reshape,
    TimeDistributedDense,
)
from keras.layers.noise import GaussianDropout, GaussianNoise
from keras.layers.recurrent import LSTM
from keras.models import Model, Sequential
from keras.utils.onnx_utils import OnnxExportError, export_onnx, register_onnx_converter

ACTIVATIONS = ["linear", "relu", "sigmoid", "hard_sigmoid", "tanh", "softplus", "softsign", "elu", "softmax"]


def _x(*shape):
    return np.random.uniform(-3, 3, size=shape).astype("float32")


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_dense_every_activation(activation):
    model = Sequential([Dense(7, input_dim=5, activation=activation), Activation(activation)])
    check_export(model, _x(6, 5))


def test_hard_sigmoid_is_onnx_hard_sigmoid_with_keras_constants():
    model = Sequential([Activation("hard_sigmoid", input_shape=(4,))])
    proto = export_onnx(model)
    (node,) = [n for n in proto.graph.node if n.op_type == "HardSigmoid"]
    attrs = {a.name: a.f for a in node.attribute}
    assert attrs == pytest.approx({"alpha": 0.2, "beta": 0.5})
    check_export(model, np.linspace(-4, 4, 32, dtype="float32").reshape(8, 4))


def test_softmax_over_last_axis_of_3d():
    model = Sequential([TimeDistributedDense(6, input_shape=(3, 4)), Activation("softmax")])
    check_export(model, _x(5, 3, 4))


def test_dense_without_bias_and_on_3d_input():
    model = Sequential([Dense(3, input_shape=(4, 5), bias=False)])
    check_export(model, _x(2, 4, 5))


def test_inference_identities():
    model = Sequential(
        [
            Dense(6, input_dim=4),
            Dropout(0.5),
            GaussianNoise(1.0),
            GaussianDropout(0.4),
            ActivityRegularization(l1=0.1),
            Dense(2),
        ]
    )
    proto = check_export(model, _x(9, 4))
    assert not {"Dropout", "RandomNormal", "RandomNormalLike"} & {n.op_type for n in proto.graph.node}


def test_shape_layers():
    model = Sequential(
        [
            Reshape((3, 4), input_shape=(12,)),
            Permute((2, 1)),
            Flatten(),
            RepeatVector(3),
            Reshape((-1, 2)),
            Flatten(),
        ]
    )
    check_export(model, _x(5, 12))


def test_maxout_highway_time_distributed_dense():
    model = Sequential(
        [
            Dense(6, input_dim=5),
            MaxoutDense(4, nb_feature=3),
            Highway(activation="tanh"),
            RepeatVector(2),
            TimeDistributedDense(3, activation="relu"),
        ]
    )
    for layer in model.layers:
        layer.set_weights([np.random.uniform(-1, 1, w.shape).astype("float32") for w in layer.get_weights()])
    check_export(model, _x(7, 5))


@pytest.mark.parametrize(
    "layer",
    [
        lambda: adv.LeakyReLU(alpha=0.2, input_shape=(3, 4)),
        lambda: adv.PReLU(input_shape=(3, 4)),
        lambda: adv.PReLU(shared_axes=1, input_shape=(3, 4)),
        lambda: adv.ELU(alpha=0.7, input_shape=(3, 4)),
        lambda: adv.ParametricSoftplus(input_shape=(3, 4)),
        lambda: adv.ThresholdedReLU(theta=0.5, input_shape=(3, 4)),
        lambda: adv.SReLU(input_shape=(3, 4)),
    ],
)
def test_advanced_activations(layer):
    model = Sequential([layer()])
    lay = model.layers[0]
    lay.set_weights([np.random.uniform(-1, 1, w.shape).astype("float32") for w in lay.get_weights()])
    check_export(model, _x(5, 3, 4))


def test_functional_multi_input_multi_output_and_nested_models():
    inner = Sequential([Dense(5, input_dim=4, activation="tanh"), Dense(3)])
    a, b = Input(shape=(4,), name="a"), Input(shape=(4,), name="b")
    shared = Dense(4, activation="relu")
    ha, hb = shared(a), shared(b)
    sub_in = Input(shape=(4,))
    sub = Model(sub_in, Dense(2, activation="sigmoid")(sub_in))
    out1 = inner(merge([ha, hb], mode="sum"))
    out2 = sub(hb)
    model = Model([a, b], [out1, out2, ha])
    proto = check_export(model, [_x(6, 4), _x(6, 4)])
    assert [i.name for i in proto.graph.input] == ["a", "b"]
    assert [o.name for o in proto.graph.output] == model.output_names


def test_lambda_and_unknown_layers_raise_naming_the_layer():
    model = Sequential([Dense(3, input_dim=2), Lambda(lambda x: x * 2, name="doubler")])
    with pytest.raises(OnnxExportError, match="doubler.*Lambda.*register_onnx_converter"):
        export_onnx(model)
    assert issubclass(OnnxExportError, NotImplementedError)

    class Scale(Layer):
        def call(self, x, mask=None):
            return x * 3.0

    model = Sequential([Dense(3, input_dim=2), Scale(name="scale")])
    with pytest.raises(OnnxExportError, match="'scale' \\(Scale\\).*register_onnx_converter\\(Scale\\)"):
        export_onnx(model)

    class MyDense(Dense):  # overrides call: not exported as a Dense
        def call(self, x, mask=None):
            return super().call(x) * 2.0

    with pytest.raises(OnnxExportError, match="MyDense"):
        export_onnx(Sequential([MyDense(2, input_dim=3)]))


def test_user_activation_function_is_refused():
    model = Sequential([Dense(3, input_dim=2, activation=lambda x: x * K.sigmoid(x))])
    with pytest.raises(OnnxExportError, match="activation"):
        export_onnx(model)
    model = Sequential(
        [LSTM(3, input_shape=(4, 2), activation=lambda x: x * K.sigmoid(x), name="swish_lstm")]
    )
    with pytest.raises(OnnxExportError, match="'swish_lstm' \\(LSTM\\).*activation"):
        export_onnx(model)


def test_custom_layer_hook():
    class Scale(Layer):
        def __init__(self, factor, **kwargs):
            self.factor = factor
            super().__init__(**kwargs)

        def call(self, x, mask=None):
            return x * self.factor

    @register_onnx_converter(Scale)
    def convert_scale(ctx, layer, node, inputs, masks):
        return [ctx.op("Mul", [inputs[0], ctx.const(np.float32(layer.factor))], hint=layer.name)]

    model = Sequential([Dense(3, input_dim=2), Scale(2.5)])
    check_export(model, _x(4, 2))


def test_export_writes_file_and_checks_opset(tmp_path):
    model = Sequential([Dense(3, input_dim=2)])
    path = tmp_path / "m.onnx"
    proto = export_onnx(model, str(path))
    assert path.exists()
    loaded = onnx.load(str(path))
    onnx.checker.check_model(loaded)
    assert loaded.opset_import[0].version == proto.opset_import[0].version == 17
    for bad in (12, onnx.defs.onnx_opset_version() + 1, "13", 13.0, True):
        with pytest.raises(ValueError, match="opset"):
            export_onnx(model, opset=bad)
    with pytest.raises(ValueError, match="built model"):
        export_onnx(Sequential())
    x = _x(3, 2)
    np.testing.assert_allclose(run(loaded, [x])[0], model.predict(x), rtol=1e-6, atol=1e-6)
    assert 13 in OPSETS


def test_command_line(tmp_path, capsys):
    # in-process through main(); test_onnx_models runs `python -m keras.utils.onnx_utils`
    from keras.utils.onnx_utils import main

    model = Sequential([Dense(4, input_dim=3, activation="relu"), Dense(2, activation="softmax")])
    model.compile("sgd", "mse")
    h5 = tmp_path / "model.h5"
    model.save(str(h5))
    out = tmp_path / "model.onnx"
    assert main([str(h5), str(out), "--opset", "13"]) == 0
    assert "wrote %s: opset 13" % out in capsys.readouterr().out
    x = _x(5, 3)
    np.testing.assert_allclose(run(onnx.load(str(out)), [x])[0], model.predict(x), rtol=1e-5, atol=1e-6)

    # upsampling is exported for a known input shape only
    bad = Sequential([UpSampling1D(2, input_shape=(None, 2), name="free_up")])
    bad.compile("sgd", "mse")
    bad.save(str(tmp_path / "bad.h5"))
    assert main([str(tmp_path / "bad.h5"), str(tmp_path / "bad.onnx")]) == 2
    assert "'free_up' (UpSampling1D)" in capsys.readouterr().err
    assert not (tmp_path / "bad.onnx").exists()


def test_shared_layer_weights_are_stored_once():
    a, b = Input(shape=(30,)), Input(shape=(30,))
    shared = Dense(20)
    model = Model([a, b], merge([shared(a), shared(b)], mode="concat"))
    proto = check_export(model, [_x(2, 30), _x(2, 30)])
    big = [t for t in proto.graph.initializer if len(t.dims) == 2 and tuple(t.dims) == (30, 20)]
    assert len(big) == 1


def test_model_to_onnx_writes_the_same_graph_as_export_onnx(tmp_path):
    model = Sequential([Dense(4, input_dim=3, activation="tanh"), Dense(2)])
    path = tmp_path / "m.onnx"
    proto = model.to_onnx(str(path))
    assert proto == export_onnx(model)
    assert onnx.load(str(path)) == proto
    x = _x(5, 3)
    np.testing.assert_allclose(run(proto, [x])[0], model.predict(x), rtol=0, atol=1e-6)
