"""Shared checks of the ONNX export tests: export at the lowest supported opset and at
the newest one onnxruntime runs, check with onnx.checker, run with onnxruntime and
compare with `model.predict`; `randomize` gives a model's weights random values.

`onnx` and `onnxruntime` are test extras: without them the tests skip with the reason,
except in CI (FERROKERAS_REQUIRE_DATA or CI set), where a missing package fails.
"""

import os

import numpy as np
import pytest


def _require(name):
    try:
        return __import__(name)
    except ImportError:
        msg = "the ONNX export tests need the %r package (pip install '.[test]')" % name
        if os.environ.get("FERROKERAS_REQUIRE_DATA") or os.environ.get("CI"):
            pytest.fail(msg + "; in CI this is a failure", pytrace=False)
        pytest.skip(msg, allow_module_level=True)


onnx = _require("onnx")
ort = _require("onnxruntime")

from keras.utils.onnx_utils import export_onnx  # noqa: E402

MIN_OPSET = 13


def _newest_runnable_opset():
    """The newest opset both `onnx` knows and onnxruntime loads."""
    from onnx import TensorProto, helper

    for opset in range(onnx.defs.onnx_opset_version(), MIN_OPSET - 1, -1):
        graph = helper.make_graph(
            [helper.make_node("Identity", ["x"], ["y"])],
            "probe",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        )
        ids = [helper.make_opsetid("", opset)]
        model = helper.make_model(graph, opset_imports=ids)
        model.ir_version = helper.find_min_ir_version_for(ids)
        try:
            ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
            return opset
        except Exception:
            continue
    return MIN_OPSET


NEWEST_OPSET = _newest_runnable_opset()
OPSETS = sorted({MIN_OPSET, NEWEST_OPSET})


def session(proto):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3  # no warning for the stateful layers' overridable initial states
    return ort.InferenceSession(proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def run(proto, inputs):
    """Run an exported model; `inputs` a list in the model's input order."""
    sess = session(proto)
    names = [i.name for i in sess.get_inputs() if i.name not in {t.name for t in proto.graph.initializer}]
    feeds = {}
    for name, x, info in zip(names, inputs, sess.get_inputs()):
        dtype = {"tensor(float)": np.float32, "tensor(int32)": np.int32, "tensor(int64)": np.int64}[info.type]
        feeds[name] = np.asarray(x, dtype=dtype)
    return sess.run(None, feeds)


def assert_close(got, want, what="", tol=1e-5):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, "%s: ONNX output shape %s, Keras %s" % (what, got.shape, want.shape)
    scale = max(1.0, float(np.abs(want).max()) if want.size else 1.0)
    diff = float(np.abs(got - want).max()) if want.size else 0.0
    assert diff <= tol * scale, "%s: max abs diff %.3g > %.3g (output scale %.3g)" % (
        what,
        diff,
        tol * scale,
        scale,
    )


def check_export(model, inputs, opsets=None, tol=1e-5, expected=None):
    """Export `model` at each opset, check it, run it on `inputs` (an array or a list)
    and compare with `model.predict` (or `expected`). Returns the last ModelProto.

    Every export comes before the predict call, so that a stateful model's exported
    default states are the states `predict` starts from."""
    inputs = inputs if isinstance(inputs, list) else [inputs]
    protos = []
    for opset in opsets or OPSETS:
        proto = export_onnx(model, None, opset=opset)
        onnx.checker.check_model(proto, full_check=True)
        assert proto.opset_import[0].version == opset
        protos.append(proto)
    if expected is None:
        expected = model.predict(inputs if len(inputs) > 1 else inputs[0], batch_size=len(inputs[0]))
    expected = expected if isinstance(expected, list) else [expected]
    for proto in protos:
        got = run(proto, inputs)
        assert len(got) >= len(expected)
        for i, (g, e) in enumerate(zip(got, expected)):
            assert_close(g, e, "opset %d output %d" % (proto.opset_import[0].version, i), tol)
    return protos[-1]


def randomize(model, low, high):
    """Sets every weight of ``model``'s layers to uniform draws in [low, high) (from the
    global numpy state); returns ``model``."""
    for layer in model.layers:
        ws = layer.get_weights()
        if ws:
            layer.set_weights([np.random.uniform(low, high, w.shape).astype("float32") for w in ws])
    return model
