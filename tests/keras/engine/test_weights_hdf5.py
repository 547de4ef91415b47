"""save_weights / load_weights in Keras 1's HDF5 layout (keras1-formats.md §2), checked
against a file written by real Keras 1.2.1 and against predictions Keras 1 made."""

import os

import h5py
import numpy as np
import pytest
from numpy.testing import assert_allclose

from conftest import shared_data
from keras import backend as K
from keras.layers import Activation, Dense, Dropout, Input
from keras.models import Model, Sequential, model_from_json

MNIST_DIR = "keras1-models/mnist_mlp/"


pytestmark = pytest.mark.usefixtures("fresh_session")


def _mnist_mlp():
    """The architecture of the real Keras 1 mnist_mlp files."""
    return Sequential(
        [
            Dense(512, input_dim=784),
            Activation("relu"),
            Dropout(0.2),
            Dense(512),
            Activation("relu"),
            Dropout(0.2),
            Dense(10),
            Activation("softmax"),
        ]
    )


def _small(out=2, hidden=4, names=(None, None)):
    return Sequential(
        [Dense(hidden, input_dim=3, name=names[0]), Activation("tanh"), Dense(out, name=names[1])]
    )


def _randomise(model, seed=0):
    rng = np.random.RandomState(seed)
    model.set_weights([rng.uniform(-1, 1, w.shape).astype("float32") for w in model.get_weights()])


def _x(n=5, d=3, seed=1):
    return np.random.RandomState(seed).uniform(-1, 1, (n, d)).astype("float32")


def _saved(model, tmp_path, name="w.h5"):
    """``model.save_weights`` into ``tmp_path/name``; returns the path."""
    path = str(tmp_path / name)
    model.save_weights(path)
    return path


def _assert_same_weights(got, want):
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert_allclose(a, b)


def _load_fails_and_changes_nothing(model, path, match=None, **kwargs):
    """``model.load_weights(path, **kwargs)`` raises a ValueError matching ``match`` and
    leaves every weight as it was; returns the message."""
    before = model.get_weights()
    with pytest.raises(ValueError, match=match) as info:
        model.load_weights(path, **kwargs)
    _assert_same_weights(model.get_weights(), before)
    return str(info.value)


def _strip(name):
    name = name.decode("utf8") if isinstance(name, bytes) else str(name)
    return name[:-2] if name.endswith(":0") else name


# ---------------------------------------------------------------------------------------
# structure


def test_save_weights_structure_matches_the_keras1_file(tmp_path):
    reference = shared_data(MNIST_DIR + "mnist_mlp_tf_keras_1_weights.h5")
    model = _mnist_mlp()
    path = str(tmp_path / "ours.h5")
    model.save_weights(path)
    with h5py.File(path, "r") as ours, h5py.File(reference, "r") as theirs:
        # root attribute: fixed-length byte strings, no auto InputLayer
        names = ours.attrs["layer_names"]
        assert names.dtype.kind == "S", names.dtype
        assert list(names) == list(theirs.attrs["layer_names"])
        assert b"dense_input_1" not in list(names)
        assert sorted(ours.keys()) == sorted(theirs.keys())
        for layer_name in theirs.attrs["layer_names"]:
            layer_name = layer_name.decode("utf8")
            g_ours, g_theirs = ours[layer_name], theirs[layer_name]
            w_ours, w_theirs = g_ours.attrs["weight_names"], g_theirs.attrs["weight_names"]
            assert [_strip(n) for n in w_ours] == [_strip(n) for n in w_theirs]
            if len(w_theirs):
                assert w_ours.dtype.kind == "S", w_ours.dtype
                assert [n.decode("utf8") for n in w_ours] == [layer_name + "_W", layer_name + "_b"]
            else:
                assert len(w_ours) == 0  # weightless layers are present with no weights
            assert len(g_ours) == len(g_theirs)
            for n_ours, n_theirs in zip(w_ours, w_theirs):
                d_ours, d_theirs = g_ours[n_ours.decode("utf8")], g_theirs[n_theirs.decode("utf8")]
                assert d_ours.shape == d_theirs.shape
                assert d_ours.dtype == d_theirs.dtype == np.float32


def test_saved_values_are_the_weights_in_layer_order(tmp_path):
    model = _small()
    _randomise(model)
    path = _saved(model, tmp_path)
    with h5py.File(path, "r") as f:
        assert [n.decode() for n in f.attrs["layer_names"]] == ["dense_1", "activation_1", "dense_2"]
        values = []
        for layer in f.attrs["layer_names"]:
            g = f[layer.decode()]
            values += [g[n.decode()][()] for n in g.attrs["weight_names"]]
    _assert_same_weights(values, model.get_weights())


def test_functional_model_writes_its_input_layers(tmp_path):
    inp = Input(shape=(3,))
    out = Dense(2)(Dropout(0.5)(inp))
    model = Model(inp, out)
    path = str(tmp_path / "f.h5")
    model.save_weights(path)
    with h5py.File(path, "r") as f:
        assert [n.decode() for n in f.attrs["layer_names"]] == ["input_1", "dropout_1", "dense_1"]
        assert len(f["input_1"].attrs["weight_names"]) == 0
        assert [n.decode() for n in f["dense_1"].attrs["weight_names"]] == ["dense_1_W", "dense_1_b"]


def test_nested_sequential_is_one_group(tmp_path):
    inner = Sequential([Dense(4, input_dim=3), Dense(5)])
    outer = Sequential([Dense(3, input_dim=2), inner, Dense(1)])
    _randomise(outer)
    path = str(tmp_path / "n.h5")
    outer.save_weights(path)
    with h5py.File(path, "r") as f:
        assert [n.decode() for n in f.attrs["layer_names"]] == ["dense_3", inner.name, "dense_4"]
        assert [n.decode() for n in f[inner.name].attrs["weight_names"]] == [
            "dense_1_W",
            "dense_1_b",
            "dense_2_W",
            "dense_2_b",
        ]
    fresh_inner = Sequential([Dense(4, input_dim=3), Dense(5)])
    fresh = Sequential([Dense(3, input_dim=2), fresh_inner, Dense(1)])
    fresh.load_weights(path)
    x = _x(4, 2)
    assert_allclose(fresh.predict(x), outer.predict(x), rtol=1e-6)


# ---------------------------------------------------------------------------------------
# round trips


def test_load_weights_into_a_fresh_model_reproduces_predictions(tmp_path):
    model = _small()
    _randomise(model)
    x = _x()
    expected = model.predict(x)
    path = _saved(model, tmp_path)
    # different auto names (dense_3, dense_4): topological loading ignores names
    fresh = _small()
    assert fresh.layers[0].name != model.layers[0].name
    assert np.abs(fresh.predict(x) - expected).max() > 1e-3
    fresh.load_weights(path)
    assert_allclose(fresh.predict(x), expected, rtol=1e-6)
    _assert_same_weights(fresh.get_weights(), model.get_weights())


def test_functional_round_trip_and_overwrite(tmp_path):
    a = Input(shape=(3,))
    h = Dense(4, activation="relu")(a)
    model = Model(a, [Dense(2)(h), Dense(1, activation="sigmoid")(h)])
    _randomise(model, seed=3)
    x = _x()
    path = _saved(model, tmp_path)
    _randomise(model, seed=4)
    model.save_weights(path)  # overwrite=True by default
    expected = model.predict(x)
    model.set_weights([np.zeros_like(w) for w in model.get_weights()])
    model.load_weights(path)
    for p, e in zip(model.predict(x), expected):
        assert_allclose(p, e, rtol=1e-6)


def test_trained_model_round_trip(tmp_path):
    model = _small()
    model.compile("sgd", "mse")
    x, y = _x(20), _x(20, 2, seed=5)
    model.fit(x, y, nb_epoch=2, verbose=0)
    path = _saved(model, tmp_path)
    fresh = _small()
    fresh.compile("sgd", "mse")
    fresh.load_weights(path)
    assert_allclose(fresh.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0), rtol=1e-6)


def test_real_keras1_weights_reproduce_keras1_predictions():
    config = shared_data(MNIST_DIR + "mnist_mlp_tf_keras_1_config.json")
    weights = shared_data(MNIST_DIR + "mnist_mlp_tf_keras_1_weights.h5")
    io = shared_data(MNIST_DIR + "mnist_mlp_tf_keras_1_inputs_and_outputs.h5")
    with open(config) as f:
        model = model_from_json(f.read())
    model.load_weights(weights)
    with h5py.File(weights, "r") as f:
        assert_allclose(model.layers[0].get_weights()[0], f["dense_1/dense_1_W:0"][()])
        assert_allclose(model.layers[-2].get_weights()[1], f["dense_3/dense_3_b:0"][()])
    with h5py.File(io, "r") as f:
        x = f["inputs/dense_input_1"][()]
        expected = f["predictions/activation_3"][()]
    assert x.shape == (100, 784)
    pred = model.predict(x, batch_size=32)
    assert_allclose(pred, expected, atol=1e-4)
    # and into a model built in code (different auto names)
    K.clear_session()
    Dense(3)  # shift the auto names
    coded = _mnist_mlp()
    coded.load_weights(weights)
    assert_allclose(coded.predict(x), expected, atol=1e-4)


def test_reader_accepts_variable_length_string_names(tmp_path):
    model = _small()
    _randomise(model)
    path = str(tmp_path / "vlen.h5")
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [layer.name for layer in model.layers]  # str, not bytes
        for layer in model.layers:
            g = f.create_group(layer.name)
            g.attrs["weight_names"] = [w.name for w in layer.weights]
            for w, v in zip(layer.weights, layer.get_weights()):
                g.create_dataset(w.name, data=v)
    fresh = _small()
    fresh.load_weights(path)
    _assert_same_weights(fresh.get_weights(), model.get_weights())


# ---------------------------------------------------------------------------------------
# by_name


def test_load_by_name(tmp_path):
    source = _small(names=("shared", "head_a"))
    _randomise(source)
    path = _saved(source, tmp_path)
    K.clear_session()
    # a different architecture: 'shared' matches; 'head_b' is not in the file
    inp = Input(shape=(3,))
    h = Dense(4, name="shared")(inp)
    target = Model(inp, Dense(7, name="head_b")(Activation("relu")(h)))
    head_before = target.get_layer("head_b").get_weights()
    target.load_weights(path, by_name=True)
    _assert_same_weights(target.get_layer("shared").get_weights(), source.layers[0].get_weights())
    _assert_same_weights(target.get_layer("head_b").get_weights(), head_before)
    # topological loading refuses this model (different shapes)
    with pytest.raises(ValueError):
        target.load_weights(path)


def test_load_by_name_shape_mismatch_changes_nothing(tmp_path):
    source = _small(names=("shared", "head"))
    _randomise(source)
    path = _saved(source, tmp_path)
    K.clear_session()
    target = _small(out=3, names=("shared", "head"))
    _load_fails_and_changes_nothing(target, path, r"head.*\(4, 3\).*\(4, 2\)", by_name=True)


# ---------------------------------------------------------------------------------------
# mismatches


def test_layer_count_mismatch(tmp_path):
    path = _saved(_small(), tmp_path)
    bigger = Sequential([Dense(4, input_dim=3), Dense(4), Dense(2)])
    _load_fails_and_changes_nothing(bigger, path, "containing 2 layers into a model with 3 layers")


def test_shape_mismatch_names_layer_and_shapes_and_writes_nothing(tmp_path):
    model = _small()
    _randomise(model)
    path = _saved(model, tmp_path)
    other = _small(out=3)  # first Dense matches, the second does not
    # nothing is written, not even the matching first layer
    msg = _load_fails_and_changes_nothing(other, path)
    assert other.layers[-1].name in msg
    assert "(4, 3)" in msg and "(4, 2)" in msg


def test_weight_count_mismatch(tmp_path):
    path = _saved(_small(), tmp_path)
    no_bias = Sequential([Dense(4, input_dim=3), Activation("tanh"), Dense(2, bias=False)])
    _load_fails_and_changes_nothing(no_bias, path, "expects 1 weights, but the saved weights have 2")


# ---------------------------------------------------------------------------------------
# files


def test_missing_and_non_hdf5_files(tmp_path):
    model = _small()
    before = model.get_weights()
    with pytest.raises(IOError, match="no-such-file"):
        model.load_weights(str(tmp_path / "no-such-file.h5"))
    text = tmp_path / "not-hdf5.h5"
    text.write_text("this is not an HDF5 file\n")
    with pytest.raises(IOError, match="not-hdf5"):
        model.load_weights(str(text))
    empty = tmp_path / "empty.h5"
    empty.write_bytes(b"")
    with pytest.raises(IOError):
        model.load_weights(str(empty))
    other = tmp_path / "other.h5"
    with h5py.File(str(other), "w") as f:
        f.create_dataset("data", data=np.zeros(3))
    with pytest.raises(ValueError, match="layer_names"):
        model.load_weights(str(other))
    with pytest.raises(IOError):
        model.save_weights(str(tmp_path / "no-dir" / "w.h5"))
    _assert_same_weights(model.get_weights(), before)


def test_failed_save_keeps_the_previous_file(tmp_path, monkeypatch):
    model = _small()
    _randomise(model, seed=1)
    good = model.get_weights()
    path = _saved(model, tmp_path)
    _randomise(model, seed=2)

    real_create_group = h5py.Group.create_group
    calls = []

    def failing_create_group(self, name, *args, **kwargs):
        calls.append(name)
        if len(calls) > 1:
            raise RuntimeError("disk on fire")
        return real_create_group(self, name, *args, **kwargs)

    monkeypatch.setattr(h5py.Group, "create_group", failing_create_group)
    with pytest.raises(RuntimeError, match="disk on fire"):
        model.save_weights(path)
    # the first group was written, the second raised
    assert calls == ["dense_1", "activation_1"]
    calls.clear()
    with pytest.raises(RuntimeError, match="disk on fire"):
        model.save_weights(str(tmp_path / "new.h5"))
    assert calls == ["dense_1", "activation_1"]
    monkeypatch.undo()
    # the good file is intact, no half-written file or temporary is left behind
    assert os.listdir(tmp_path) == ["w.h5"]
    fresh = _small()
    fresh.load_weights(path)
    _assert_same_weights(fresh.get_weights(), good)
