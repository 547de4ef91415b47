"""Every layer type through every persistence path: model.save + load_model,
save_weights + load_weights into a model rebuilt from to_json, to_json / to_yaml
architecture round trips. Predictions must be identical; a layer class exported by
`keras.layers` without an entry here fails `test_every_layer_class_is_covered`."""

import inspect
import json

import numpy as np
import pytest
from numpy.testing import assert_allclose

import keras.layers as L
from keras import backend as K
from keras.engine.topology import Layer
from keras.layers import Input
from keras.models import Model, Sequential, load_model, model_from_json, model_from_yaml

# name -> the layers of a fresh Sequential model (its input shape and dtype: the data's)
CASES = {
    "Dense": lambda: [L.Dense(4, input_dim=3, activation="tanh")],
    "Activation": lambda: [L.Dense(4, input_dim=3), L.Activation("softmax")],
    "ActivityRegularization": lambda: [L.Dense(4, input_dim=3), L.ActivityRegularization(l1=0.01)],
    "Dropout": lambda: [L.Dense(4, input_dim=3), L.Dropout(0.5)],
    "Flatten": lambda: [L.Flatten(input_shape=(2, 3)), L.Dense(2)],
    "Reshape": lambda: [L.Reshape((3, 2), input_shape=(6,))],
    "Permute": lambda: [L.Permute((2, 1), input_shape=(2, 3))],
    "RepeatVector": lambda: [L.RepeatVector(3, input_shape=(2,))],
    "Masking": lambda: [L.Masking(0.0, input_shape=(4, 3)), L.LSTM(2)],
    "Highway": lambda: [L.Highway(input_dim=4, activation="relu")],
    "MaxoutDense": lambda: [L.MaxoutDense(3, nb_feature=2, input_dim=4)],
    "TimeDistributedDense": lambda: [L.TimeDistributedDense(3, input_shape=(4, 2))],
    "SpatialDropout1D": lambda: [L.SpatialDropout1D(0.3, input_shape=(4, 2))],
    "SpatialDropout2D": lambda: [L.SpatialDropout2D(0.3, input_shape=(2, 4, 4))],
    "SpatialDropout3D": lambda: [L.SpatialDropout3D(0.3, input_shape=(2, 3, 3, 3))],
    "Convolution1D": lambda: [L.Convolution1D(3, 2, input_shape=(6, 2))],
    "AtrousConvolution1D": lambda: [L.AtrousConvolution1D(3, 2, atrous_rate=2, input_shape=(7, 2))],
    "Convolution2D": lambda: [L.Convolution2D(3, 2, 3, input_shape=(2, 5, 6))],
    "Convolution2D_tf": lambda: [L.Convolution2D(3, 3, 2, dim_ordering="tf", input_shape=(5, 6, 2))],
    "AtrousConvolution2D": lambda: [
        L.AtrousConvolution2D(2, 2, 2, atrous_rate=(2, 2), input_shape=(1, 6, 6))
    ],
    "UpSampling1D": lambda: [L.UpSampling1D(2, input_shape=(3, 2))],
    "UpSampling2D": lambda: [L.UpSampling2D((2, 2), input_shape=(1, 3, 3))],
    "ZeroPadding1D": lambda: [L.ZeroPadding1D(1, input_shape=(3, 2))],
    "ZeroPadding2D": lambda: [L.ZeroPadding2D((1, 2), input_shape=(1, 3, 3))],
    "Cropping1D": lambda: [L.Cropping1D((1, 1), input_shape=(5, 2))],
    "Cropping2D": lambda: [L.Cropping2D(((1, 0), (0, 1)), input_shape=(1, 4, 4))],
    "MaxPooling1D": lambda: [L.MaxPooling1D(2, input_shape=(6, 2))],
    "AveragePooling1D": lambda: [L.AveragePooling1D(2, input_shape=(6, 2))],
    "MaxPooling2D": lambda: [L.MaxPooling2D((2, 2), input_shape=(1, 4, 4))],
    "AveragePooling2D": lambda: [L.AveragePooling2D((2, 2), input_shape=(1, 4, 4))],
    "GlobalMaxPooling1D": lambda: [L.GlobalMaxPooling1D(input_shape=(4, 3))],
    "GlobalAveragePooling1D": lambda: [L.GlobalAveragePooling1D(input_shape=(4, 3))],
    "GlobalMaxPooling2D": lambda: [L.GlobalMaxPooling2D(input_shape=(2, 3, 3))],
    "GlobalAveragePooling2D": lambda: [L.GlobalAveragePooling2D(input_shape=(2, 3, 3))],
    "Convolution3D": lambda: [L.Convolution3D(2, 2, 3, 2, input_shape=(2, 4, 5, 4))],
    "Convolution3D_tf": lambda: [L.Convolution3D(2, 2, 2, 3, dim_ordering="tf", input_shape=(4, 4, 5, 2))],
    "UpSampling3D": lambda: [L.UpSampling3D((2, 1, 2), input_shape=(1, 2, 3, 2))],
    "ZeroPadding3D": lambda: [L.ZeroPadding3D((1, 0, 2), input_shape=(1, 2, 3, 2))],
    "Cropping3D": lambda: [L.Cropping3D(((1, 0), (0, 1), (1, 1)), input_shape=(1, 3, 3, 4))],
    "MaxPooling3D": lambda: [L.MaxPooling3D((2, 2, 2), input_shape=(1, 4, 4, 4))],
    "AveragePooling3D": lambda: [L.AveragePooling3D((2, 2, 2), input_shape=(1, 4, 4, 4))],
    "GlobalMaxPooling3D": lambda: [L.GlobalMaxPooling3D(input_shape=(2, 3, 3, 3))],
    "GlobalAveragePooling3D": lambda: [L.GlobalAveragePooling3D(input_shape=(2, 3, 3, 3))],
    "Deconvolution2D": lambda: [
        L.Deconvolution2D(2, 3, 3, output_shape=(None, 2, 7, 7), input_shape=(3, 5, 5))
    ],
    "SeparableConvolution2D": lambda: [
        L.SeparableConvolution2D(4, 3, 3, depth_multiplier=2, dim_ordering="tf", input_shape=(6, 6, 3))
    ],
    "LocallyConnected1D": lambda: [L.LocallyConnected1D(3, 2, input_shape=(5, 2))],
    "LocallyConnected2D": lambda: [L.LocallyConnected2D(3, 2, 2, input_shape=(2, 4, 4))],
    "BatchNormalization": lambda: [L.BatchNormalization(input_shape=(2, 3, 3), axis=1)],
    "BatchNormalization_mode1": lambda: [L.BatchNormalization(mode=1, input_shape=(4,))],
    "LeakyReLU": lambda: [L.LeakyReLU(0.1, input_shape=(4,))],
    "PReLU": lambda: [L.PReLU(input_shape=(2, 3, 3), shared_axes=[2, 3])],
    "ELU": lambda: [L.ELU(0.5, input_shape=(4,))],
    "ParametricSoftplus": lambda: [L.ParametricSoftplus(input_shape=(4,))],
    "ThresholdedReLU": lambda: [L.ThresholdedReLU(0.3, input_shape=(4,))],
    "SReLU": lambda: [L.SReLU(input_shape=(4,))],
    "GaussianNoise": lambda: [L.Dense(3, input_dim=4), L.GaussianNoise(0.3)],
    "GaussianDropout": lambda: [L.Dense(3, input_dim=4), L.GaussianDropout(0.3)],
    "ConvLSTM2D": lambda: [L.ConvLSTM2D(2, 3, 3, border_mode="same", input_shape=(3, 1, 4, 4))],
    "Embedding": lambda: [L.Embedding(10, 3, input_length=4)],
    "SimpleRNN": lambda: [L.SimpleRNN(3, input_shape=(4, 2), return_sequences=True)],
    "GRU": lambda: [L.GRU(3, input_shape=(4, 2), consume_less="mem")],
    "LSTM": lambda: [L.LSTM(3, input_shape=(4, 2), go_backwards=True)],
    "TimeDistributed": lambda: [L.TimeDistributed(L.Dense(3), input_shape=(4, 2))],
    "Bidirectional": lambda: [L.Bidirectional(L.LSTM(3), merge_mode="concat", input_shape=(4, 2))],
}

# Exported classes that are not layers one instantiates on their own (abstract bases)
# or that have their own tests (Merge/merge, Lambda: test_saving.py's safe-mode tests;
# InputLayer: in every functional case).
pytestmark = [
    pytest.mark.filterwarnings("ignore:.*TimeDistributedDense.*deprecated"),
    pytest.mark.usefixtures("fresh_session"),
]

NOT_STANDALONE = {"Layer", "Recurrent", "ConvRecurrent2D", "Wrapper", "InputLayer", "Merge", "Lambda"}
ALIASES = {
    "Conv1D": "Convolution1D",
    "Conv2D": "Convolution2D",
    "AtrousConv1D": "AtrousConvolution1D",
    "AtrousConv2D": "AtrousConvolution2D",
    "Conv3D": "Convolution3D",
    "Deconv2D": "Deconvolution2D",
    "SeparableConv2D": "SeparableConvolution2D",
}


def _implemented_layer_classes():
    names = set()
    for name, value in vars(L).items():
        if not (inspect.isclass(value) and issubclass(value, Layer)):
            continue
        names.add(name)
    return names


def test_every_layer_class_is_covered():
    covered = {name.split("_")[0] for name in CASES} | NOT_STANDALONE | set(ALIASES)
    missing = sorted(_implemented_layer_classes() - covered)
    assert not missing, "layer classes without a persistence round-trip case: %s" % missing


def _randomised(model):
    rs = np.random.RandomState(3)
    model.set_weights([rs.uniform(-0.5, 0.5, size=w.shape).astype(w.dtype) for w in model.get_weights()])
    return model


def _input(shape, dtype):
    rs = np.random.RandomState(5)
    if dtype == "int32":
        return rs.randint(1, 10, size=(3,) + shape).astype("int32")
    return rs.random_sample((3,) + shape).astype("float32")


def _model_and_input(case):
    """The case's model with random weights, and a random input batch for it."""
    model = _randomised(Sequential(CASES[case]()))
    return model, _input(model.input_shape[1:], K.dtype(model.inputs[0]))


@pytest.mark.parametrize("case", sorted(CASES))
def test_save_and_load_model(tmp_path, case):
    model, x = _model_and_input(case)
    model.compile("rmsprop", "mse")
    want = model.predict(x)
    path = str(tmp_path / "m.h5")
    model.save(path)
    loaded = load_model(path)
    assert_allclose(loaded.predict(x), want, rtol=1e-6, atol=1e-7)
    assert [w.shape for w in loaded.get_weights()] == [w.shape for w in model.get_weights()]


@pytest.mark.parametrize("case", sorted(CASES))
def test_json_rebuild_and_load_weights(tmp_path, case):
    model, x = _model_and_input(case)
    path = str(tmp_path / "w.h5")
    model.save_weights(path)
    rebuilt = model_from_json(model.to_json())
    rebuilt.load_weights(path)
    assert_allclose(rebuilt.predict(x), model.predict(x), rtol=1e-6, atol=1e-7)
    assert _architecture(rebuilt.to_json()) == _architecture(model.to_json())


def _architecture(json_string):
    """The config with the input shape of non-first layers dropped: as in Keras 1, a
    rebuilt Dense gets `input_dim` from its config and with it a `batch_input_shape`."""
    config = json.loads(json_string)
    layers = config["config"]
    inner = [layer["config"]["layer"] for layer in layers if "layer" in layer["config"]]
    for layer in layers[1:] + inner:
        layer["config"].pop("batch_input_shape", None)
        layer["config"].pop("input_dtype", None)
    return config


@pytest.mark.parametrize("case", sorted(CASES))
def test_yaml_round_trip(case):
    model = Sequential(CASES[case]())
    assert _architecture(model_from_yaml(model.to_yaml()).to_json()) == _architecture(model.to_json())


def test_functional_model_with_shared_layer_round_trip(tmp_path):
    a, b = Input(shape=(4,)), Input(shape=(4,))
    shared = L.Dense(3, name="shared")
    out = L.merge([shared(a), shared(b)], mode="concat")
    model = _randomised(Model([a, b], out))
    model.compile("sgd", "mse")
    x = [_input((4,), "float32"), _input((4,), "float32") + 1]
    path = str(tmp_path / "f.h5")
    model.save(path)
    assert_allclose(load_model(path).predict(x), model.predict(x), rtol=1e-6)


def test_legacy_convolution1d_kernel_shape_is_transposed_on_load(tmp_path):
    """Keras <= 1.0.8 files hold Convolution1D kernels as (nb_filter, input_dim,
    filter_length, 1)."""
    import h5py

    model = _randomised(Sequential([L.Convolution1D(3, 2, input_shape=(6, 4))]))
    path = str(tmp_path / "legacy.h5")
    model.save_weights(path)
    w = model.get_weights()[0]  # (2, 1, 4, 3)
    with h5py.File(path, "r+") as f:
        g = f[model.layers[0].name]
        name = g.attrs["weight_names"][0].decode()
        del g[name]
        g.create_dataset(name, data=np.transpose(w, (3, 2, 0, 1)))  # (3, 4, 2, 1)
    fresh = Sequential([L.Convolution1D(3, 2, input_shape=(6, 4))])
    fresh.load_weights(path)
    assert_allclose(fresh.get_weights()[0], w)
