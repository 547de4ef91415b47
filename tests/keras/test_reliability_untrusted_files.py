"""Model and weight files are untrusted input (issue 17, item 7).

A damaged or crafted file gives a ValueError naming the layer and what is missing (never
a raw h5py KeyError); weights of a non-float dtype are refused; float64 weights are cast
silently (as Keras 1 did); NaN / inf weights load with a warning naming the layer; a
function stored by name resolves only through custom_objects and an allowlist, never a
module's internal helpers.
"""

import json
import warnings

import h5py
import numpy as np
import pytest

from keras.layers import Dense, Input, Lambda, merge
from keras.layers.core import Lambda as CoreLambda
from keras.models import Model, Sequential, load_model, model_from_json
from keras.utils.generic_utils import custom_object_scope, revive_function


def _model():
    model = Sequential([Dense(4, input_dim=3, name="d1"), Dense(2, name="d2")])
    model.compile("adam", "mse")
    model.fit(np.ones((4, 3)), np.ones((4, 2)), nb_epoch=1, verbose=0)
    return model


def _fresh():
    return Sequential([Dense(4, input_dim=3, name="d1"), Dense(2, name="d2")])


def _saved(tmp_path, mutate, whole=True):
    """A model file (or its weights group's path) with `mutate` applied to the weights
    group; returns (path, root) where root is the group holding 'layer_names'."""
    path = str(tmp_path / "m.h5")
    _model().save(path)
    with h5py.File(path, "r+") as f:
        mutate(f["model_weights"], f)
    return path


def _load_all_ways(path):
    """load_model, load_weights and load_weights(by_name=True) of the same file."""
    yield lambda: load_model(path)
    yield lambda: _fresh().load_weights(path)
    yield lambda: _fresh().load_weights(path, by_name=True)


def _replace(group, name, value):
    del group[name]
    group[name] = value


CORRUPTIONS = [
    ("missing layer group", lambda w, f: w.__delitem__("d2"), r"layer 'd2'.*no group"),
    (
        "missing weight_names",
        lambda w, f: w["d2"].attrs.__delitem__("weight_names"),
        r"[Ll]ayer d2.*'weight_names'",
    ),
    ("missing dataset", lambda w, f: w["d2"].__delitem__("d2_W"), r"layer 'd2'.*'d2_W'.*no such dataset"),
    (
        "dataset replaced by a group",
        lambda w, f: (w["d2"].__delitem__("d2_W"), w["d2"].create_group("d2_W")),
        r"'d2_W' of layer 'd2' is not an array",
    ),
    ("layer_names not names", lambda w, f: w.attrs.__setitem__("layer_names", 5), r"'layer_names'"),
    (
        "weight_names not names",
        lambda w, f: w["d1"].attrs.__setitem__("weight_names", np.arange(2)),
        r"[Ll]ayer d1.*'weight_names'",
    ),
]


@pytest.mark.parametrize("label, mutate, message", CORRUPTIONS, ids=[c[0] for c in CORRUPTIONS])
def test_corrupt_weight_files_give_a_value_error_naming_the_layer(tmp_path, label, mutate, message):
    path = _saved(tmp_path, mutate)
    for load in _load_all_ways(path):
        with pytest.raises(ValueError, match=message) as info:
            load()
        assert not isinstance(info.value, KeyError)


@pytest.mark.parametrize(
    "bad",
    [np.ones((4, 2), "int32"), np.ones((4, 2), bool), np.array([[b"ab"] * 2] * 4), np.ones((4, 2), complex)],
)
def test_non_float_weights_are_refused_and_nothing_is_written(tmp_path, bad):
    path = _saved(tmp_path, lambda w, f: _replace(w["d2"], "d2_W", bad))
    model = _fresh()
    before = model.get_weights()
    for load in (lambda: model.load_weights(path), lambda: model.load_weights(path, by_name=True)):
        with pytest.raises(ValueError, match=r"d2.*d2_W.*dtype"):
            load()
    for a, b in zip(before, model.get_weights()):  # d1 came first in the file: untouched too
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match=r"m\.h5.*d2.*dtype"):
        load_model(path)


@pytest.mark.parametrize("dtype", ["float64", "float16"])
def test_other_float_precisions_are_cast_silently_as_in_keras1(tmp_path, dtype):
    values = {}

    def widen(w, f):
        v = w["d2"]["d2_W"][()].astype(dtype)
        values["W"] = v
        _replace(w["d2"], "d2_W", v)

    path = _saved(tmp_path, widen)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = _fresh()
        model.load_weights(path)
    np.testing.assert_array_equal(model.layers[1].get_weights()[0], values["W"].astype("float32"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # load_model's own compile messages, if any
        assert load_model(path).layers[1].get_weights()[0].dtype == np.float32


def test_non_finite_weights_load_with_a_warning_naming_the_layer(tmp_path):
    def poison(w, f):
        v = w["d2"]["d2_W"][()]
        v[0, 0], v[1, 1] = np.nan, np.inf
        w["d2"]["d2_W"][...] = v

    path = _saved(tmp_path, poison)
    for load in _load_all_ways(path):
        with pytest.warns(RuntimeWarning, match=r"d2.*d2_W.*2 non-finite"):
            load()
    model = _fresh()
    with pytest.warns(RuntimeWarning):
        model.load_weights(path)
    w = model.layers[1].get_weights()[0]
    assert np.isnan(w[0, 0]) and np.isinf(w[1, 1])  # loaded as they are


def test_float64_beyond_float32_range_is_reported(tmp_path):
    def huge(w, f):
        v = w["d2"]["d2_W"][()].astype("float64")
        v[0, 0] = 1e300
        _replace(w["d2"], "d2_W", v)

    path = _saved(tmp_path, huge)
    with pytest.warns(RuntimeWarning, match=r"d2.*1 of them finite float64 values beyond float32"):
        _fresh().load_weights(path)


def _mutate_attrs(tmp_path, mutate):
    path = str(tmp_path / "m.h5")
    _model().save(path)
    with h5py.File(path, "r+") as f:
        mutate(f)
    return path


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda f: f.attrs.__setitem__("model_config", b"{not json"), "'model_config'.*not valid JSON"),
        (lambda f: f.attrs.__setitem__("model_config", b"[1, 2]"), "'model_config'"),
        (lambda f: f.attrs.__setitem__("model_config", b'{"config": []}'), "'model_config'"),
        (
            lambda f: f.attrs.__setitem__("model_config", b'{"class_name": "Sequential"}'),
            "'model_config'.*config",
        ),
        (lambda f: f.attrs.__setitem__("training_config", b"nope"), "'training_config'.*not valid JSON"),
        (lambda f: f.attrs.__setitem__("training_config", b'{"loss": "mse"}'), "optimizer_config"),
        (lambda f: f["optimizer_weights"].attrs.__delitem__("weight_names"), "optimizer.*'weight_names'"),
        (
            lambda f: f["optimizer_weights"].__delitem__(_attr_first(f["optimizer_weights"])),
            "optimizer.*no such dataset",
        ),
        (
            lambda f: (f.__delitem__("optimizer_weights"), f.create_dataset("optimizer_weights", data=[1])),
            "group",
        ),
        (
            lambda f: (f.__delitem__("model_weights"), f.create_dataset("model_weights", data=[1])),
            "model_weights",
        ),
    ],
)
def test_corrupt_model_files_give_a_value_error_naming_the_file(tmp_path, mutate, message):
    path = _mutate_attrs(tmp_path, mutate)
    with pytest.raises(ValueError, match=message) as info:
        load_model(path)
    assert "m.h5" in str(info.value)


def _attr_first(group):
    name = group.attrs["weight_names"][0]
    return name.decode() if isinstance(name, bytes) else name


def test_optimizer_state_of_the_wrong_dtype_is_refused(tmp_path):
    def to_int(f):
        g = f["optimizer_weights"]
        for n in g.attrs["weight_names"]:
            n = n.decode()
            _replace(g, n, g[n][()].astype("int64"))

    path = _mutate_attrs(tmp_path, to_int)
    with pytest.raises(ValueError, match="optimizer.*dtype int64"):
        load_model(path)


# ---------------------------------------------------------------------------------------
# Functions stored by name


@pytest.mark.parametrize(
    "name",
    ["_is_python_function", "_accepts_kwarg", "func_dump", "revive_function", "Dense", "np", "__builtins__"],
)
def test_a_file_cannot_name_an_internal_helper(name):
    config = {
        "name": "evil",
        "function": name,
        "function_type": "function",
        "output_shape": None,
        "output_shape_type": "raw",
        "arguments": {},
    }
    with pytest.raises(ValueError, match=r"evil.*unknown function.*custom_objects"):
        CoreLambda.from_config(config)


def test_a_merge_mode_cannot_name_an_internal_helper():
    a, b = Input((2,)), Input((2,))
    model = Model([a, b], merge([a, b], mode="sum", name="m"))
    config = json.loads(model.to_json())
    layer = [c for c in config["config"]["layers"] if c["name"] == "m"][0]
    layer["config"]["mode"], layer["config"]["mode_type"] = "get_source_inputs", "function"
    with pytest.raises(ValueError, match=r"m.*unknown mode 'get_source_inputs'"):
        model_from_json(json.dumps(config))


def test_allowlisted_and_custom_functions_still_resolve():
    from keras import activations, objectives

    assert revive_function("relu", "function", "l", "function") is activations.relu
    assert revive_function("tanh", "function", "l", "function") is activations.tanh
    assert revive_function("mse", "function", "l", "function") is objectives.mse

    def mine(t):
        return t * 2

    assert revive_function("mine", "function", "l", "function", custom_objects={"mine": mine}) is mine
    with custom_object_scope({"mine": mine}):
        assert revive_function("mine", "function", "l", "function") is mine
    with pytest.raises(ValueError, match="unknown function 'mine'"):
        revive_function("mine", "function", "l", "function")
    with pytest.raises(ValueError, match="unknown function"):
        revive_function(["not", "a", "name"], "function", "l", "function")
    with pytest.raises(ValueError, match="unknown function type"):
        revive_function("relu", "bogus", "l", "function")


def test_a_lambda_of_a_named_callable_round_trips_through_custom_objects():
    class Doubler:
        __name__ = "doubler"

        def __call__(self, t):
            return t * 2

    model = Sequential([Dense(2, input_dim=2), Lambda(Doubler(), output_shape=(2,))])
    as_json = model.to_json()
    with pytest.raises(ValueError, match="doubler"):
        model_from_json(as_json)
    model_from_json(as_json, custom_objects={"doubler": Doubler()})
