"""model.save_program / keras.models.load_program: a compiled program as one
safetensors file, reloaded with bitwise-equal results, continued training, versioning
and corrupt-file errors, and the committed Rust fixture kept in step with the writer."""

import json
import os
import sys

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

from keras import backend as K
from keras.engine.saved_program import FORMAT_VERSION
from keras.layers import (
    LSTM,
    BatchNormalization,
    Convolution2D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    Input,
    MaxPooling2D,
)
from keras.models import Model, Sequential, load_program
from keras.optimizers import SGD, Adam

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import saved_program_fixture  # noqa: E402


def bits(a):
    a = np.ascontiguousarray(a)
    return a.view(np.uint32) if a.dtype == np.float32 else a


def assert_bitwise(got, want):
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_array_equal(bits(got), bits(want))


def onehot(rng, n, k):
    return np.eye(k, dtype="float32")[rng.randint(0, k, size=n)]


def mlp():
    m = Sequential()
    m.add(Dense(12, input_dim=5, activation="tanh"))
    m.add(Dense(3, activation="softmax"))
    return m, (5,), 3


def cnn(ordering):
    shape = (1, 9, 9) if ordering == "th" else (9, 9, 1)
    x = Input(shape=shape)
    h = Convolution2D(4, 3, 3, activation="relu", dim_ordering=ordering, border_mode="same")(x)
    h = MaxPooling2D((2, 2), dim_ordering=ordering)(h)
    h = Flatten()(h)
    return Model(x, Dense(3, activation="softmax")(h)), shape, 3


def lstm():
    m = Sequential()
    m.add(Embedding(20, 6, input_length=7))
    m.add(LSTM(5))
    m.add(Dense(2, activation="sigmoid"))
    return m, None, 2


def bn_dropout():
    m = Sequential()
    m.add(Dense(10, input_dim=4, activation="relu"))
    m.add(Dropout(0.4))
    m.add(BatchNormalization())
    m.add(Dense(3, activation="softmax"))
    return m, (4,), 3


MODELS = {
    "mlp": mlp,
    "cnn_th": lambda: cnn("th"),
    "cnn_tf": lambda: cnn("tf"),
    "lstm": lstm,
    "bn_dropout": bn_dropout,
}


def data(rng, shape, k, n):
    if shape is None:  # token ids for the LSTM
        x = rng.randint(0, 20, size=(n, 7)).astype("int32")
    else:
        x = rng.rand(n, *shape).astype("float32")
    y = onehot(rng, n, k) if k > 2 else (rng.rand(n, k) > 0.5).astype("float32")
    return x, y


def trained(name, rng):
    model, shape, k = MODELS[name]()
    model.compile(
        optimizer=Adam(lr=0.01), loss="categorical_crossentropy" if k > 2 else "binary_crossentropy"
    )
    x, y = data(rng, shape, k, 16)
    model.fit(x, y, batch_size=8, nb_epoch=1, verbose=0)
    return model, shape, k


@pytest.mark.parametrize("name", sorted(MODELS))
def test_an_inference_program_predicts_what_predict_returns_bitwise(name, tmp_path):
    rng = np.random.RandomState(1)
    model, shape, k = trained(name, rng)
    x, _ = data(rng, shape, k, 6)
    path = tmp_path / "m.fkp"
    model.save_program(path)
    p = load_program(path)
    assert p.kind == "inference"
    assert len(p.input_names) == 1 and p.output_names == model.output_names
    out = p([x])
    assert len(out) == 1
    assert_bitwise(out[0], model.predict(x, batch_size=len(x)))
    # the file is a safetensors file holding the model's weights under their names
    doc = json.loads(safe_open(str(path), "np").metadata()["ferrokeras.program"])
    assert doc["format"] == "ferrokeras.program" and doc["version"] == FORMAT_VERSION
    tensors = load_file(str(path))
    variables = [n["variable"] for n in doc["nodes"] if "variable" in n]
    by_name = {v["name"]: tensors["variable.%d" % v["index"]] for v in variables}
    for w in model.weights:
        assert_bitwise(by_name[w.name], K.get_value(w))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_training_program_steps_as_the_model_does_and_saves_again(name, tmp_path):
    rng = np.random.RandomState(2)
    model, shape, k = trained(name, rng)
    model.save_program(tmp_path / "t.fkp", training=True)
    p = load_program(tmp_path / "t.fkp")
    assert p.kind == "training" and p.output_names[0] == "loss"

    def feeds(x, y):
        ins = [x, y, np.ones(len(x), dtype="float32")]
        if "keras_learning_phase" in p.input_names:
            ins.append(np.asarray(1.0, dtype="float32"))
        assert len(ins) == len(p.input_names)
        return ins

    batches = [data(rng, shape, k, 8) for _ in range(3)]
    for x, y in batches[:2]:
        want = np.atleast_1d(np.asarray(model.train_on_batch(x, y), dtype="float32"))
        got = np.concatenate([np.ravel(o) for o in p(feeds(x, y))])
        assert_bitwise(got, want)
    # saved after two steps and loaded again, it continues with the model
    p.save(tmp_path / "t2.fkp")
    q = load_program(tmp_path / "t2.fkp")
    x, y = batches[2]
    want = np.atleast_1d(np.asarray(model.train_on_batch(x, y), dtype="float32"))
    assert_bitwise(np.concatenate([np.ravel(o) for o in q(feeds(x, y))]), want)
    for w in model.weights:
        assert_bitwise(q.get_weight(w.name), K.get_value(w))


def test_dropout_in_a_training_program_draws_the_masks_training_draws(tmp_path):
    np.random.seed(3)
    rng = np.random.RandomState(3)
    model, shape, k = bn_dropout()
    model.compile(optimizer=SGD(lr=0.1), loss="categorical_crossentropy")
    x, y = data(rng, shape, k, 8)
    model.train_on_batch(x, y)
    model.save_program(tmp_path / "d.fkp", training=True)
    p = load_program(tmp_path / "d.fkp")
    phase = np.asarray(1.0, dtype="float32")
    losses = []
    for _ in range(3):
        want = model.train_on_batch(x, y)
        got = p([x, y, np.ones(8, "float32"), phase])[0]
        assert np.float32(want).tobytes() == np.float32(got).tobytes()
        losses.append(float(got))
    # the same batch gives a different loss each step: masks are drawn, not fixed
    assert len(set(losses)) == 3
    # the saved counters keep the streams in step: with them reset, the first step
    # after loading draws the masks of the model's first step instead
    doc = json.loads(safe_open(str(tmp_path / "d.fkp"), "np").metadata()["ferrokeras.program"])
    assert doc["random_counters"] and all(c == 1 for _, c in doc["random_counters"])
    _rewrite_document(
        tmp_path / "d.fkp",
        tmp_path / "reset.fkp",
        lambda d: d.replace(
            '"random_counters":%s' % json.dumps(doc["random_counters"], separators=(",", ":")),
            '"random_counters":[]',
            1,
        ),
    )
    r = load_program(tmp_path / "reset.fkp")
    assert float(r([x, y, np.ones(8, "float32"), phase])[0]) != losses[0]


def _rewrite_document(src, dst, edit):
    with safe_open(str(src), "np") as f:
        doc = f.metadata()["ferrokeras.program"]
    save_file(load_file(str(src)), str(dst), metadata={"ferrokeras.program": edit(doc)})


def test_a_newer_format_version_is_refused(tmp_path):
    model, _, _ = mlp()
    model.save_program(tmp_path / "m.fkp")
    newer = tmp_path / "newer.fkp"
    _rewrite_document(
        tmp_path / "m.fkp",
        newer,
        lambda d: d.replace('"version":%d' % FORMAT_VERSION, '"version":%d' % (FORMAT_VERSION + 1), 1),
    )
    with pytest.raises(NotImplementedError, match="format version %d, newer" % (FORMAT_VERSION + 1)) as e:
        load_program(newer)
    assert "newer.fkp" in str(e.value) and "upgrade ferrokeras" in str(e.value)


def test_corrupt_and_foreign_files_raise_value_errors_naming_the_file(tmp_path):
    model, _, _ = mlp()
    good = tmp_path / "m.fkp"
    model.save_program(good)
    raw = good.read_bytes()
    cut = tmp_path / "cut.fkp"
    cut.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="cut.fkp: corrupt program file"):
        load_program(cut)
    foreign = tmp_path / "weights.safetensors"
    save_file({"w": np.zeros(3, "float32")}, str(foreign))
    with pytest.raises(ValueError, match="not a ferrokeras program"):
        load_program(foreign)
    bad_op = tmp_path / "bad_op.fkp"
    _rewrite_document(good, bad_op, lambda d: d.replace('"name":"matmul"', '"name":"no_such_op"', 1))
    with pytest.raises(ValueError, match="no_such_op"):
        load_program(bad_op)
    with pytest.raises(IOError):
        load_program(tmp_path / "missing.fkp")


def test_saving_needs_a_compiled_model_for_training_and_is_atomic(tmp_path):
    model, _, _ = mlp()
    with pytest.raises(RuntimeError, match="compile"):
        model.save_program(tmp_path / "t.fkp", training=True)
    assert not (tmp_path / "t.fkp").exists()
    target = tmp_path / "m.fkp"
    model.save_program(target)
    before = target.read_bytes()
    model.save_program(target)
    assert target.read_bytes() == before  # the same program, the same bytes
    assert sorted(os.listdir(tmp_path)) == ["m.fkp"]  # no temporary file left
    with pytest.raises(IOError):
        model.save_program(tmp_path / "no_such_dir" / "m.fkp")


def test_the_committed_rust_fixture_is_what_the_writer_writes(tmp_path):
    saved_program_fixture.write_fixture(str(tmp_path))
    for name in ("cnn_predict.fkp", "mlp_train.fkp", "expected.safetensors"):
        committed = os.path.join(saved_program_fixture.FIXTURE_DIR, name)
        with open(committed, "rb") as f:
            assert (tmp_path / name).read_bytes() == f.read(), (
                "%s differs from what tests/keras/engine/saved_program_fixture.py writes now; "
                "rerun that script and commit the result" % name
            )
