"""model.save / load_model in Keras 1's whole-model HDF5 layout (keras1-formats.md):
the real Keras 1.2.2 `simple_lstm` model file (architecture, weights, RMSprop state),
resuming training exactly, the file structure, safe mode for stored bytecode, and every
failure mode named."""

import json
import os
import shutil

import h5py
import numpy as np
import pytest
from numpy.testing import assert_allclose

from conftest import shared_data
from keras import backend as K
from keras.callbacks import ModelCheckpoint
from keras.layers import LSTM, Dense, Dropout, Input, Lambda, merge
from keras.models import Model, Sequential, load_model, model_from_json, save_model
from keras.optimizers import SGD, Adam, RMSprop

LSTM_DIR = "keras1-models/simple_lstm/"


pytestmark = pytest.mark.usefixtures("fresh_session")


def _lstm_reference():
    with h5py.File(shared_data(LSTM_DIR + "simple_lstm_tf_keras_1_inputs_and_outputs.h5"), "r") as f:
        return f["inputs/lstm_input_1"][:], f["predictions/dense_1"][:]


def _mlp(optimizer="adam"):
    model = Sequential([Dense(16, input_dim=8, activation="tanh"), Dense(3, activation="softmax")])
    model.compile(optimizer, "categorical_crossentropy", metrics=["accuracy"])
    return model


def _data(n=64, seed=0):
    rs = np.random.RandomState(seed)
    x = rs.random_sample((n, 8)).astype("float32")
    y = np.eye(3, dtype="float32")[rs.randint(3, size=n)]
    return x, y


# real Keras 1 file -----------------------------------------------------------------------


def test_real_keras1_model_file_reproduces_predictions():
    model = load_model(shared_data(LSTM_DIR + "simple_lstm_tf_keras_1_model.h5"))
    x, want = _lstm_reference()
    assert_allclose(model.predict(x), want, atol=1e-4)
    # compiled from the stored training_config
    assert isinstance(model.optimizer, RMSprop)
    assert model.loss == "mse"
    assert_allclose(K.get_value(model.optimizer.lr), 0.001, rtol=1e-6)


def test_real_keras1_optimizer_state_gives_the_numpy_rmsprop_step(tmp_path):
    """One train_on_batch from the stored RMSprop accumulators equals a numpy RMSprop
    step computed from the file's own accumulators: a wrong slot order (Keras 1 keeps
    them in the order of the trainable weights sorted by name) would not.

    The stored LSTM has dropout_W=0.2; a copy of the file with it set to 0 makes the
    step deterministic (the optimizer state is the real file's, byte for byte)."""
    path = str(tmp_path / "no_dropout.h5")
    shutil.copy(shared_data(LSTM_DIR + "simple_lstm_tf_keras_1_model.h5"), path)
    with h5py.File(path, "r+") as f:
        conf = json.loads(f.attrs["model_config"])
        assert conf["config"][0]["config"]["dropout_W"] == 0.2
        conf["config"][0]["config"]["dropout_W"] = 0.0
        f.attrs["model_config"] = json.dumps(conf)
    model = load_model(path)
    x, _ = _lstm_reference()
    x = x[:16]
    y = np.linspace(-1, 1, len(x), dtype="float32").reshape(-1, 1)

    inner = model.model
    params = inner._collected_trainable_weights
    # the file's accumulators, in the file's order
    with h5py.File(path, "r") as f:
        group = f["optimizer_weights"]
        stored = [group[n.decode("utf8")][()] for n in group.attrs["weight_names"]]
    assert [a.shape for a in stored] == [K.get_variable_shape(p) for p in params]
    names = [p.name for p in params]
    assert names == sorted(names)

    grad_fn = K.function(
        inner.inputs + inner.targets + inner.sample_weights, K.gradients(inner.total_loss, params)
    )
    grads = grad_fn([x, y, np.ones(len(x), "float32")])
    before = K.batch_get_value(params)
    model.train_on_batch(x, y)
    after = K.batch_get_value(params)

    lr, rho, eps = 0.0010000000474974513, 0.8999999761581421, 1e-8
    for name, p0, p1, a, g in zip(names, before, after, stored, grads):
        new_a = rho * a + (1.0 - rho) * g * g
        want = p0 - lr * g / (np.sqrt(new_a) + eps)
        assert_allclose(p1, want, rtol=1e-4, atol=1e-6, err_msg=name)
    for a_now, a, g in zip(model.optimizer.get_weights(), stored, grads):
        assert_allclose(a_now, rho * a + (1.0 - rho) * g * g, rtol=1e-5, atol=1e-9)


def test_our_file_has_the_structure_of_the_real_keras1_file(tmp_path):
    real = shared_data(LSTM_DIR + "simple_lstm_tf_keras_1_model.h5")
    model = load_model(real)
    ours = str(tmp_path / "ours.h5")
    model.save(ours)
    with h5py.File(real, "r") as fr, h5py.File(ours, "r") as fo:
        assert (
            set(fo.attrs.keys())
            == set(fr.attrs.keys())
            == {"keras_version", "model_config", "training_config"}
        )
        assert set(fo.keys()) == set(fr.keys()) == {"model_weights", "optimizer_weights"}
        for attr in ("keras_version", "model_config", "training_config"):
            # the same HDF5 string type as Keras 1 wrote (variable-length ASCII)
            assert h5py.check_string_dtype(fo.attrs.get_id(attr).dtype) == h5py.check_string_dtype(
                fr.attrs.get_id(attr).dtype
            )
        for attr in ("model_config", "training_config"):
            assert type(json.loads(fo.attrs[attr])) is type(json.loads(fr.attrs[attr]))
        assert fo.attrs["keras_version"] == "1.2.2"
        assert json.loads(fo.attrs["training_config"])["loss"] == "mse"
        assert json.loads(fo.attrs["training_config"])["optimizer_config"]["class_name"] == "RMSprop"
        for g in ("model_weights", "optimizer_weights"):
            assert set(fo[g].attrs.keys()) == set(fr[g].attrs.keys())
        assert list(fo["model_weights"].attrs["layer_names"]) == list(
            fr["model_weights"].attrs["layer_names"]
        )
        for layer in ("lstm_1", "dense_1"):
            real_shapes = [
                fr["model_weights"][layer][n.decode()].shape
                for n in fr["model_weights"][layer].attrs["weight_names"]
            ]
            our_shapes = [
                fo["model_weights"][layer][n.decode()].shape
                for n in fo["model_weights"][layer].attrs["weight_names"]
            ]
            assert our_shapes == real_shapes
        real_opt = [
            fr["optimizer_weights"][n.decode()].shape for n in fr["optimizer_weights"].attrs["weight_names"]
        ]
        our_opt = [
            fo["optimizer_weights"][n.decode()].shape for n in fo["optimizer_weights"].attrs["weight_names"]
        ]
        assert our_opt == real_opt
        assert fo["optimizer_weights"].attrs["weight_names"].dtype.kind == "S"
        assert fo["model_weights"].attrs["layer_names"].dtype.kind == "S"


# round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "optimizer", [lambda: SGD(lr=0.1, momentum=0.9, nesterov=True), lambda: Adam(), lambda: RMSprop()]
)
def test_save_load_and_continue_fit_equals_uninterrupted_fit(tmp_path, optimizer):
    x, y = _data()
    np.random.seed(1)
    model = _mlp(optimizer())
    model.fit(x, y, nb_epoch=2, batch_size=16, verbose=0)
    path = str(tmp_path / "m.h5")
    model.save(path)

    np.random.seed(7)
    uninterrupted = model.fit(x, y, nb_epoch=3, batch_size=16, verbose=0).history["loss"]

    K.clear_session()
    resumed_model = load_model(path)
    np.random.seed(7)
    resumed = resumed_model.fit(x, y, nb_epoch=3, batch_size=16, verbose=0).history["loss"]
    assert_allclose(resumed, uninterrupted, rtol=1e-6)
    assert resumed_model.metrics_names == ["loss", "acc"]


def test_functional_model_round_trip_with_two_outputs(tmp_path):
    a = Input(shape=(8,), name="a")
    h = Dense(12, activation="relu", name="hidden")(a)
    out1 = Dense(3, activation="softmax", name="cls")(h)
    out2 = Dense(1, name="reg")(h)
    model = Model(input=a, output=[out1, out2])
    model.compile(
        "rmsprop", {"cls": "categorical_crossentropy", "reg": "mse"}, loss_weights={"cls": 1.0, "reg": 0.5}
    )
    x, y = _data()
    model.fit(x, {"cls": y, "reg": x[:, :1]}, nb_epoch=1, verbose=0)
    path = str(tmp_path / "f.h5")
    save_model(model, path)
    loaded = load_model(path)
    assert_allclose(loaded.predict(x)[0], model.predict(x)[0], rtol=1e-6)
    assert loaded.loss == {"cls": "categorical_crossentropy", "reg": "mse"}
    assert loaded.loss_weights == {"cls": 1.0, "reg": 0.5}
    assert [len(w) for w in [loaded.optimizer.get_weights()]] == [len(model.optimizer.get_weights())]


def test_uncompiled_model_saves_and_loads_with_a_warning(tmp_path):
    model = Sequential([Dense(4, input_dim=3)])
    path = str(tmp_path / "u.h5")
    model.save(path)
    with h5py.File(path, "r") as f:
        assert "training_config" not in f.attrs
        assert "optimizer_weights" not in f
    with pytest.warns(UserWarning, match="not\\* compiled"):
        loaded = load_model(path)
    x = np.ones((2, 3), "float32")
    assert_allclose(loaded.predict(x), model.predict(x))


def test_custom_loss_comes_back_through_custom_objects(tmp_path):
    def my_loss(y_true, y_pred):
        return K.mean(K.square(y_pred - y_true), axis=-1)

    model = Sequential([Dense(2, input_dim=3)])
    model.compile("sgd", my_loss)
    path = str(tmp_path / "c.h5")
    model.save(path)
    with pytest.raises(ValueError, match="my_loss"):
        load_model(path)
    loaded = load_model(path, custom_objects={"my_loss": my_loss})
    assert loaded.loss is my_loss


def test_model_checkpoint_saves_whole_models(tmp_path):
    x, y = _data()
    model = _mlp()
    path = str(tmp_path / "ckpt-{epoch:02d}.h5")
    model.fit(x, y, nb_epoch=2, verbose=0, callbacks=[ModelCheckpoint(path)])
    for epoch in (0, 1):
        loaded = load_model(str(tmp_path / ("ckpt-%02d.h5" % epoch)))
        assert loaded.optimizer.get_weights()
    assert_allclose(loaded.predict(x), model.predict(x), rtol=1e-6)


# safe mode -------------------------------------------------------------------------------


def _lambda_model(marker):
    def touch_then_double(t):
        with open(marker, "w") as fh:
            fh.write("ran")
        return t * 2

    inp = Input(shape=(3,))
    out = Lambda(touch_then_double, name="doubler")(inp)
    model = Model(inp, out)
    model.compile("sgd", "mse")
    assert os.path.exists(marker)
    os.remove(marker)
    return model


def _as_if_written_elsewhere(monkeypatch):
    """Forget the bytecode this process serialised, as a fresh process that reads the
    file would (the same-process round trip is trusted: test_function_round_trips.py)."""
    from keras.utils import generic_utils

    monkeypatch.setattr(generic_utils, "_OWN_BYTECODE", {})


def test_stored_bytecode_never_runs_by_default(tmp_path, monkeypatch):
    marker = str(tmp_path / "marker")
    model = _lambda_model(marker)
    path = str(tmp_path / "lambda.h5")
    model.save(path)
    as_json = model.to_json()
    _as_if_written_elsewhere(monkeypatch)

    with pytest.raises(ValueError, match="doubler.*bytecode.*safe_mode=False"):
        load_model(path)
    with pytest.raises(ValueError, match="doubler.*bytecode"):
        model_from_json(as_json)
    assert not os.path.exists(marker)

    # opting in revives (and runs) it
    loaded = load_model(path, safe_mode=False)
    assert os.path.exists(marker)
    os.remove(marker)
    assert_allclose(loaded.predict(np.ones((1, 3), "float32")), 2 * np.ones((1, 3)))
    model_from_json(as_json, safe_mode=False)
    assert os.path.exists(marker)


def test_bytecode_can_be_replaced_through_custom_objects(tmp_path):
    marker = str(tmp_path / "marker")
    model = _lambda_model(marker)
    path = str(tmp_path / "lambda.h5")
    model.save(path)
    loaded = load_model(path, custom_objects={"doubler": lambda t: t * 2})
    assert not os.path.exists(marker)
    assert_allclose(loaded.predict(np.ones((1, 3), "float32")), 2 * np.ones((1, 3)))


def test_merge_with_a_stored_function_respects_safe_mode(monkeypatch):
    a, b = Input(shape=(3,)), Input(shape=(3,))
    out = merge([a, b], mode=lambda ts: ts[0] - ts[1], output_shape=lambda shapes: shapes[0], name="diff")
    config = Model([a, b], out).to_json()
    _as_if_written_elsewhere(monkeypatch)
    with pytest.raises(ValueError, match="diff.*bytecode"):
        model_from_json(config)
    revived = model_from_json(config, safe_mode=False)
    x = np.ones((2, 3), "float32")
    assert_allclose(revived.predict([3 * x, x]), 2 * x)


def test_bytecode_from_another_python_version_is_refused_clearly():
    inp = Input(shape=(3,))
    model = Model(inp, Lambda(lambda t: t + 1, name="plus_one")(inp))
    config = json.loads(model.to_json())
    for layer in config["config"]["layers"]:
        if layer["name"] == "plus_one":
            # what a Python 2.7 `marshal.dumps(code)` of a one-line lambda starts with
            layer["config"]["function"] = [
                "c\x01\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00C\x00\x00\x00s\x08",
                None,
                None,
            ]
    with pytest.raises(ValueError, match="plus_one.*another Python version"):
        model_from_json(json.dumps(config), safe_mode=False)


# bad input -------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(OSError, match="nothere.h5"):
        load_model(str(tmp_path / "nothere.h5"))


def test_not_an_hdf5_file(tmp_path):
    path = tmp_path / "text.h5"
    path.write_text("not hdf5")
    with pytest.raises(OSError, match="text.h5.*HDF5"):
        load_model(str(path))


def test_truncated_file(tmp_path):
    model = _mlp()
    path = str(tmp_path / "full.h5")
    model.save(path)
    data = open(path, "rb").read()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises((OSError, ValueError), match="cut.h5"):
        load_model(str(cut))


def test_weights_only_file_given_to_load_model(tmp_path):
    model = _mlp()
    path = str(tmp_path / "w.h5")
    model.save_weights(path)
    with pytest.raises(ValueError, match="No model found.*w.h5"):
        load_model(path)


def test_weights_that_do_not_fit_name_the_layer(tmp_path):
    model = _mlp()
    path = str(tmp_path / "m.h5")
    model.save(path)
    with h5py.File(path, "r+") as f:
        conf = json.loads(f.attrs["model_config"])
        conf["config"][0]["config"]["output_dim"] = 17
        f.attrs["model_config"] = json.dumps(conf)
    with pytest.raises(ValueError, match="dense_1.*\\(8, 16\\)"):
        load_model(path)


def test_a_save_that_fails_midway_leaves_the_old_file_intact(tmp_path, monkeypatch):
    model = _mlp()
    path = str(tmp_path / "keep.h5")
    model.save(path)
    before = open(path, "rb").read()

    x, y = _data()
    model.fit(x, y, nb_epoch=1, verbose=0)

    def explode(*args, **kwargs):
        raise RuntimeError("disk full (injected)")

    monkeypatch.setattr(Sequential, "save_weights_to_hdf5_group", explode)
    with pytest.raises(RuntimeError, match="injected"):
        model.save(path)
    assert open(path, "rb").read() == before
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".tmp-")]
    monkeypatch.undo()
    load_model(path)  # still a good file
    model.predict(x)  # and the model is still usable


def test_dropout_model_round_trip_in_test_mode(tmp_path):
    model = Sequential([Dense(8, input_dim=8), Dropout(0.5), Dense(2)])
    model.compile("sgd", "mse")
    path = str(tmp_path / "d.h5")
    model.save(path)
    x, _ = _data()
    assert_allclose(load_model(path).predict(x), model.predict(x), rtol=1e-6)


def test_lstm_round_trip_keeps_consume_less(tmp_path):
    model = Sequential([LSTM(5, input_shape=(4, 3), consume_less="gpu"), Dense(1)])
    model.compile("adam", "mse")
    path = str(tmp_path / "l.h5")
    model.save(path)
    loaded = load_model(path)
    assert loaded.layers[0].consume_less == "gpu"
    x = np.random.RandomState(0).random_sample((2, 4, 3)).astype("float32")
    assert_allclose(loaded.predict(x), model.predict(x), rtol=1e-6)
