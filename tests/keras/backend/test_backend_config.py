"""keras.backend configuration: floatx, epsilon, image dim ordering, keras.json, uids,
learning phase, and the functions that exist only to say they are not implemented."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import keras
from keras import backend as K


def setup_function(function):
    K.clear_session()


def teardown_function(function):
    K.clear_session()


def test_backend_name():
    assert K.backend() == "ferrokeras"
    assert K._BACKEND == "ferrokeras"
    assert keras.backend is K


def test_floatx_default_and_set():
    assert K.floatx() == "float32"
    K.set_floatx("float32")
    assert K.floatx() == "float32"
    assert K.variable(np.zeros(2)).dtype == "float32"


@pytest.mark.parametrize("name", ["float64", "float16"])
def test_set_floatx_other_float_not_implemented(name):
    with pytest.raises(NotImplementedError, match="float32"):
        K.set_floatx(name)
    assert K.floatx() == "float32"


@pytest.mark.parametrize("junk", ["float", "int32", "", None, 32])
def test_set_floatx_junk_is_value_error(junk):
    with pytest.raises(ValueError):
        K.set_floatx(junk)
    assert K.floatx() == "float32"


def test_cast_to_floatx():
    a = K.cast_to_floatx([1, 2, 3])
    assert isinstance(a, np.ndarray)
    assert a.dtype == np.float32
    np.testing.assert_array_equal(a, [1.0, 2.0, 3.0])
    b = K.cast_to_floatx(np.arange(4, dtype=np.float64).reshape(2, 2))
    assert b.dtype == np.float32 and b.shape == (2, 2)


def test_epsilon_default_and_set():
    assert K.epsilon() == pytest.approx(1e-7, rel=0, abs=1e-15)
    try:
        K.set_epsilon(1e-5)
        assert K.epsilon() == pytest.approx(1e-5)
        K.set_epsilon(3)
        assert K.epsilon() == 3.0 and isinstance(K.epsilon(), float)
    finally:
        K.set_epsilon(1e-7)
    assert K.epsilon() == pytest.approx(1e-7, rel=0, abs=1e-15)


def test_image_dim_ordering_default_and_setter():
    assert K.image_dim_ordering() == "th"
    try:
        K.set_image_dim_ordering("tf")
        assert K.image_dim_ordering() == "tf"
        with pytest.raises(ValueError):
            K.set_image_dim_ordering("channels_last")
        with pytest.raises(ValueError):
            K.set_image_dim_ordering(None)
        assert K.image_dim_ordering() == "tf"
        K.set_image_dim_ordering("th")
        assert K.image_dim_ordering() == "th"
    finally:
        K.set_image_dim_ordering("th")


def _import_keras_in(home, code):
    env = dict(os.environ)
    env["HOME"] = str(home)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


_REPORT = "from keras import backend as K; print(K.image_dim_ordering(), repr(K.epsilon()), K.floatx())"


def test_keras_json_is_read_and_not_rewritten(tmp_path):
    cfg_dir = tmp_path / ".keras"
    cfg_dir.mkdir()
    cfg = cfg_dir / "keras.json"
    text = json.dumps(
        {"floatx": "float32", "epsilon": 1e-05, "backend": "tensorflow", "image_dim_ordering": "tf"}
    )
    cfg.write_text(text)
    os.utime(cfg, (1_000_000_000, 1_000_000_000))
    out = _import_keras_in(tmp_path, _REPORT)
    assert out == "tf 1e-05 float32"
    assert cfg.read_text() == text
    assert os.stat(cfg).st_mtime == 1_000_000_000
    assert sorted(os.listdir(cfg_dir)) == ["keras.json"]


def test_keras_json_th_is_read(tmp_path):
    (tmp_path / ".keras").mkdir()
    (tmp_path / ".keras" / "keras.json").write_text(json.dumps({"image_dim_ordering": "th"}))
    assert _import_keras_in(tmp_path, _REPORT) == "th 1e-07 float32"


def test_no_keras_json_is_created_when_absent(tmp_path):
    out = _import_keras_in(tmp_path, _REPORT + "; import keras.backend; K.variable(1.0)")
    assert out == "th 1e-07 float32"
    assert not (tmp_path / ".keras").exists()
    assert os.listdir(tmp_path) == []


def test_broken_keras_json_is_ignored(tmp_path):
    (tmp_path / ".keras").mkdir()
    (tmp_path / ".keras" / "keras.json").write_text("{not json")
    assert _import_keras_in(tmp_path, _REPORT) == "th 1e-07 float32"
    assert (tmp_path / ".keras" / "keras.json").read_text() == "{not json"


def test_get_uid_and_reset_uids():
    K.reset_uids()
    assert K.get_uid("dense") == 1
    assert K.get_uid("dense") == 2
    assert K.get_uid("conv") == 1
    assert K.get_uid() == 1
    assert K.get_uid("dense") == 3
    K.reset_uids()
    assert K.get_uid("dense") == 1
    assert K.get_uid("conv") == 1


def test_clear_session_resets_uids():
    K.get_uid("x")
    K.get_uid("x")
    K.clear_session()
    assert K.get_uid("x") == 1


def test_legacy_weight_ordering():
    assert K.legacy_weight_ordering() is False
    try:
        K.set_legacy_weight_ordering(True)
        assert K.legacy_weight_ordering() is True
        with pytest.raises(ValueError):
            K.set_legacy_weight_ordering("yes")
    finally:
        K.set_legacy_weight_ordering(False)
    assert K.legacy_weight_ordering() is False


def test_is_keras_tensor_sparse_dense_manual_init():
    p = K.placeholder(shape=(None, 3))
    v = K.variable(np.zeros((2, 3)))
    assert K.is_keras_tensor(p)
    assert not K.is_keras_tensor(v)
    assert not K.is_keras_tensor(K.exp(v))
    assert K.is_sparse(p) is False
    assert K.to_dense(v) is v
    K.manual_variable_initialization(True)
    K.manual_variable_initialization(False)
    np.testing.assert_array_equal(K.get_value(v), np.zeros((2, 3)))


def test_learning_phase_tensor_and_set_learning_phase():
    lp = K.learning_phase()
    assert isinstance(lp, K.Tensor)
    assert K.ndim(lp) == 0
    assert K.dtype(lp) == "float32"
    with pytest.raises(ValueError):
        K.set_learning_phase(2)
    with pytest.raises(ValueError):
        K.set_learning_phase("train")
    K.set_learning_phase(1)
    assert K.learning_phase() == 1
    K.set_learning_phase(0)
    assert K.learning_phase() == 0
    K.clear_session()
    assert isinstance(K.learning_phase(), K.Tensor)


@pytest.mark.parametrize(
    "name",
    [
        "ctc_batch_cost",
        "ctc_decode",
        "ctc_label_dense_to_sparse",
    ],
)
def test_not_implemented_functions_name_themselves(name):
    fn = getattr(K, name)
    x = K.placeholder(shape=(None, 4, 4, 4))
    with pytest.raises(NotImplementedError, match=rf"\b{name}\b"):
        fn(x, x)
    with pytest.raises(NotImplementedError, match=rf"\b{name}\b"):
        fn()


@pytest.mark.parametrize("name", ["get_session", "set_session"])
def test_tf_sessions_not_implemented(name):
    with pytest.raises(NotImplementedError, match=name):
        getattr(K, name)(*([None] if name == "set_session" else []))


def test_sparse_variable_not_implemented():
    # K.placeholder(sparse=True) works (tests/keras/engine/test_sparse_inputs.py)
    class FakeSparse:
        def tocoo(self):
            raise AssertionError("not reached")

    with pytest.raises(NotImplementedError, match="sparse"):
        K.variable(FakeSparse())
