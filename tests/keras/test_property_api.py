"""Property-based tests of the public API (issue 17): random small layer stacks, random
data (shapes, dtypes, sometimes wrong) and random fit/evaluate/predict arguments
(sometimes invalid).

Invariant: every call either raises a Python exception of the kind Keras 1 documents
(ValueError / TypeError; never a RuntimeError "internal error", never a crash) or
returns a correct-shaped finite result; a call the generator knows to be valid must
succeed and one it knows to be invalid must raise; and the model still works
afterwards: a valid predict after any call that does not train gives the same output
as before it.

Examples per test: FERROKERAS_HYPOTHESIS_EXAMPLES (default 50; set it higher for a
longer local run). With CI set, hypothesis is derandomized, so CI runs are reproducible.
"""

import os

import numpy as np
import pytest
from numpy.testing import assert_allclose

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from keras import backend as K  # noqa: E402
from keras.layers import (  # noqa: E402
    GRU,
    LSTM,
    Activation,
    AveragePooling1D,
    AveragePooling2D,
    BatchNormalization,
    Convolution1D,
    Convolution2D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    MaxPooling1D,
    MaxPooling2D,
    Reshape,
    SimpleRNN,
)
from keras.models import Sequential  # noqa: E402

EXAMPLES = int(os.environ.get("FERROKERAS_HYPOTHESIS_EXAMPLES", "50"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=bool(os.environ.get("CI")),
    database=None if os.environ.get("CI") else settings.default.database,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)

# What a bad call may raise (Keras 1's documented kinds for bad data and arguments).
ALLOWED = (ValueError, TypeError)
ACTIVATIONS = ["linear", "relu", "tanh", "sigmoid", "softmax", "hard_sigmoid", "softplus"]


pytestmark = pytest.mark.usefixtures("fresh_session")


# --------------------------------------------------------------------------- models


class L:
    """A layer to build: class and constructor arguments (hypothesis may replay a drawn
    spec, and a layer object belongs to one model only)."""

    def __init__(self, cls, *args, **kwargs):
        self.cls, self.args, self.kwargs = cls, args, kwargs

    def make(self, **extra):
        return self.cls(*self.args, **dict(self.kwargs, **extra))

    def __repr__(self):
        a = [repr(v) for v in self.args] + ["%s=%r" % kv for kv in self.kwargs.items()]
        return "%s(%s)" % (self.cls.__name__, ", ".join(a))


@st.composite
def model_specs(draw):
    """A buildable Sequential: its layers as (class, args, kwargs), the input shape
    without the batch axis, the vocabulary size of an Embedding input (else None)."""
    kind = draw(st.sampled_from(["dense", "conv1d", "rnn", "conv2d", "embedding"]))
    out = draw(st.integers(1, 3))
    layers = []
    vocab = None
    if kind == "dense":
        d = draw(st.integers(1, 5))
        shape = (d,)
        width = d
        for _ in range(draw(st.integers(0, 3))):
            what = draw(st.sampled_from(["dense", "act", "dropout", "bn", "reshape"]))
            if what == "dense":
                width = draw(st.integers(1, 4))
                layers.append(L(Dense, width, activation=draw(st.sampled_from(ACTIVATIONS))))
            elif what == "act":
                layers.append(L(Activation, draw(st.sampled_from(ACTIVATIONS))))
            elif what == "dropout":
                layers.append(L(Dropout, draw(st.sampled_from([0.0, 0.3, 0.9]))))
            elif what == "bn":
                layers.append(L(BatchNormalization, mode=draw(st.sampled_from([0, 1]))))
            else:
                layers += [L(Reshape, (width, 1)), L(Flatten)]
    elif kind == "conv1d":
        t, d = draw(st.integers(1, 6)), draw(st.integers(1, 3))
        shape = (t, d)
        mode = draw(st.sampled_from(["valid", "same"]))
        k = draw(st.integers(1, t if mode == "valid" else 4))
        s = draw(st.integers(1, 2))
        layers.append(
            L(
                Convolution1D,
                draw(st.integers(1, 3)),
                k,
                border_mode=mode,
                subsample_length=s,
                activation=draw(st.sampled_from(ACTIVATIONS)),
            )
        )
        if draw(st.booleans()):
            pool = draw(st.sampled_from([MaxPooling1D, AveragePooling1D]))
            layers.append(L(pool, pool_length=draw(st.integers(1, 3)), border_mode="same"))
        if draw(st.booleans()):
            layers.append(L(Dropout, 0.5))
        layers.append(L(Flatten))
    elif kind == "rnn":
        t, d = draw(st.integers(1, 4)), draw(st.integers(1, 3))
        shape = (t, d)
        nrnn = draw(st.integers(1, 2))
        for i in range(nrnn):
            cls = draw(st.sampled_from([LSTM, GRU, SimpleRNN]))
            seq = i < nrnn - 1 or draw(st.booleans())
            kw = dict(
                go_backwards=draw(st.booleans()),
                unroll=draw(st.booleans()),
                consume_less=draw(st.sampled_from(["cpu", "mem", "gpu"])),
            )
            if draw(st.booleans()):
                kw.update(dropout_W=0.2, dropout_U=0.2)
            layers.append(L(cls, draw(st.integers(1, 3)), return_sequences=seq, **kw))
        if seq:
            layers.append(L(Flatten))
    elif kind == "conv2d":
        ordering = draw(st.sampled_from(["th", "tf"]))
        r, c, ch = draw(st.integers(1, 5)), draw(st.integers(1, 5)), draw(st.integers(1, 2))
        shape = (ch, r, c) if ordering == "th" else (r, c, ch)
        mode = draw(st.sampled_from(["valid", "same"]))
        kr = draw(st.integers(1, r if mode == "valid" else 3))
        kc = draw(st.integers(1, c if mode == "valid" else 3))
        sub = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
        layers.append(
            L(
                Convolution2D,
                draw(st.integers(1, 3)),
                kr,
                kc,
                border_mode=mode,
                subsample=sub,
                dim_ordering=ordering,
            )
        )
        if draw(st.booleans()):
            layers.append(L(BatchNormalization, axis=1 if ordering == "th" else -1))
        if draw(st.booleans()):
            pool = draw(st.sampled_from([MaxPooling2D, AveragePooling2D]))
            p = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
            layers.append(L(pool, pool_size=p, border_mode="same", dim_ordering=ordering))
        layers.append(L(Flatten))
    else:  # embedding
        t = draw(st.integers(1, 4))
        vocab = draw(st.integers(2, 6))
        shape = (t,)
        rnn = draw(st.booleans())
        mask_zero = rnn and draw(st.booleans())
        layers.append(L(Embedding, vocab, draw(st.integers(1, 3)), input_length=t, mask_zero=mask_zero))
        if rnn:
            layers.append(
                L(draw(st.sampled_from([LSTM, GRU, SimpleRNN])), 2, go_backwards=draw(st.booleans()))
            )
        else:
            layers.append(L(Flatten))
    layers.append(L(Dense, out, activation=draw(st.sampled_from(["linear", "tanh", "sigmoid"]))))
    optimizer = draw(st.sampled_from(["sgd", "adam", "rmsprop"]))
    metrics = draw(st.sampled_from([[], ["mae"]]))
    return dict(kind=kind, layers=layers, shape=shape, vocab=vocab, optimizer=optimizer, metrics=metrics)


def build(spec):
    model = Sequential()
    for i, layer in enumerate(spec["layers"]):
        model.add(layer.make(input_shape=spec["shape"]) if i == 0 else layer.make())
    model.compile(spec["optimizer"], "mse", metrics=spec["metrics"])
    return model


# --------------------------------------------------------------------------- data


def make_x(rng, spec, n, dtype):
    shape = (n,) + spec["shape"]
    if spec["vocab"] is not None:
        return rng.integers(0, spec["vocab"], size=shape).astype(dtype)
    if np.dtype(dtype).kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    return rng.integers(-2, 3, size=shape).astype(dtype)


FLOAT_DTYPES = ["float32", "float64", "int32", "int64", "float16", "uint8"]
INT_DTYPES = ["int32", "int64", "float32", "float64", "uint8"]
# how the (valid) x array is handed over: all must give the same result
LAYOUTS = ["C", "C", "C", "fortran", "strided", "misaligned", "dict", "list1"]


def _bad(value):
    return value if isinstance(value, str) else repr(value)


@st.composite
def calls(draw, spec):
    """One API call as a dict; its `expected` is 'ok' (must succeed), 'error' (must raise
    ValueError/TypeError) or 'either'."""
    method = draw(
        st.sampled_from(["fit", "evaluate", "predict", "train_on_batch", "test_on_batch", "predict_on_batch"])
    )
    n = draw(st.sampled_from([1, 2, 3, 5, 7, 1, 2, 3, 0]))
    dtype = draw(st.sampled_from(INT_DTYPES if spec["vocab"] is not None else FLOAT_DTYPES))
    fault = draw(
        st.sampled_from(
            [None] * 12
            + ["x_last_dim", "x_rank", "y_len", "y_last_dim", "x_list2", "index_range", "x_str", "x_pylist"]
        )
    )
    if fault == "index_range" and spec["vocab"] is None:
        fault = None
    layout = draw(st.sampled_from(LAYOUTS))
    has_y = method not in ("predict", "predict_on_batch")
    kwargs = {}
    why = []  # the reasons for an expected error
    either = []
    if n == 0:
        (why if method in ("fit", "evaluate", "predict") else either).append("no sample")
    if fault in ("x_last_dim", "x_rank", "x_list2", "x_str") or (fault in ("y_len", "y_last_dim") and has_y):
        why.append(fault)
    if fault == "x_pylist":
        either.append("x as a Python list")  # Keras 1 wanted Numpy arrays
    if fault == "index_range":
        either.append("index out of range")  # Keras 1 on TensorFlow refused it, on Theano wrapped
    if method in ("fit", "evaluate", "predict"):
        bs = draw(st.sampled_from([1, 2, 3, 32, 1, 2, 3, 5, 0, -1, 2.0, None, True]))
        kwargs["batch_size"] = bs
        if bs is True:
            either.append("batch_size=True")
        elif bs is None or isinstance(bs, float) or bs < 1:
            why.append("batch_size=%r" % (bs,))
    if has_y:
        sw = draw(st.sampled_from([None, None, None, "ok", "ok", "len"]))
        if sw is not None:
            kwargs["sample_weight"] = sw
            if sw == "len":
                why.append("sample_weight length")
    if method == "fit":
        nb_epoch = draw(st.sampled_from([1, 2, 1, 2, 1, 0, -1, 2.0]))
        initial = draw(st.sampled_from([0, 0, 0, 0, 0, 1, 3]))
        vs = draw(st.sampled_from([0.0] * 5 + [0.25, 0.5, 0.25, None, -0.1, 1.0, True]))
        vd = draw(st.sampled_from([None] * 6 + ["pair", "triple", "pair", "single", "bad_x"]))
        kwargs.update(
            nb_epoch=nb_epoch,
            initial_epoch=initial,
            validation_split=vs,
            shuffle=draw(st.sampled_from([True, False, "batch"])),
            verbose=draw(st.sampled_from([0, 0, 0, 2])),
        )
        if vd is not None:
            kwargs["validation_data"] = vd
        if isinstance(nb_epoch, float) or nb_epoch < 0 or initial > nb_epoch:
            why.append("nb_epoch=%r initial_epoch=%r" % (nb_epoch, initial))
        if vs is True or (vs is not None and not 0.0 <= vs < 1.0):
            why.append("validation_split=%r" % (vs,))
        elif vd in ("single", "bad_x"):
            why.append("validation_data " + vd)
        elif vd is None and vs and n > 0:
            split_at = int(n * (1.0 - vs))
            if split_at in (0, n):
                why.append("validation_split %r leaves an empty part of %d samples" % (vs, n))
    if method == "evaluate":
        kwargs["verbose"] = 0
    expected = "error" if why else ("either" if either else "ok")
    return dict(
        method=method,
        n=n,
        dtype=dtype,
        fault=fault,
        layout=layout,
        kwargs=kwargs,
        expected=expected,
        why=why + either,
    )


def _relayout(x, layout, model):
    """x handed over another way (same values)."""
    if layout == "fortran":
        return np.asfortranarray(x)
    if layout == "strided":
        big = np.repeat(x, 2, axis=0)
        return big[::2]
    if layout == "misaligned":
        buf = bytearray(x.nbytes + 1)
        y = np.frombuffer(buf, dtype=x.dtype, offset=1, count=x.size).reshape(x.shape)
        y[...] = x
        return y
    if layout == "dict":
        return {model.input_names[0]: x}
    if layout == "list1":
        return [x]
    return x


def call_data(rng, spec, model, c):
    """(x as handed to the call, the plain x array, y, call kwargs)."""
    n, fault = c["n"], c["fault"]
    x = make_x(rng, spec, n, c["dtype"])
    out_dim = model.output_shape[-1]
    y = rng.uniform(-1, 1, size=(n, out_dim)).astype("float32")
    if fault == "x_last_dim":
        x = make_x(rng, dict(spec, shape=spec["shape"][:-1] + (spec["shape"][-1] + 1,)), n, c["dtype"])
    elif fault == "x_rank":
        x = x[..., None]
    elif fault == "y_len":
        y = np.concatenate([y, y[:1] if n else np.zeros((1, out_dim), "float32")])
    elif fault == "y_last_dim":
        y = rng.uniform(-1, 1, size=(n, out_dim + 1)).astype("float32")
    elif fault == "index_range" and n:
        x = x.copy()
        x.flat[0] = spec["vocab"] + 3 if rng.random() < 0.5 or x.dtype.kind == "u" else -1
    plain = x
    if fault == "x_list2":
        handed = [x, x]
    elif fault == "x_str":
        handed = x.astype(str)
    elif fault == "x_pylist":
        handed = x.tolist()
    else:
        handed = _relayout(x, c["layout"], model)
    kwargs = dict(c["kwargs"])
    sw = kwargs.pop("sample_weight", None)
    if sw is not None:
        kwargs["sample_weight"] = rng.uniform(0.5, 2.0, size=len(y) + (sw == "len")).astype("float32")
    vd = kwargs.pop("validation_data", None)
    if vd is not None:
        vx, vy = make_x(rng, spec, 3, "float32"), rng.uniform(-1, 1, size=(3, out_dim)).astype("float32")
        kwargs["validation_data"] = {
            "pair": (vx, vy),
            "triple": (vx, vy, np.ones(3, "float32")),
            "single": (vx,),
            "bad_x": (vx[..., None], vy),
        }[vd]
    return handed, plain, y, kwargs


def reference_x(x):
    """The float32 array the model should see for x (int data is converted exactly)."""
    return np.asarray(x).astype("float32")


def check_result(model, c, x, y, kw, result, probe_before):
    """A returned result is correct: shapes, finiteness, and the loss/metrics of
    evaluate/test_on_batch recomputed from predict (mse weighted by sample_weight,
    metrics unweighted, as Keras 1)."""
    method = c["method"]
    n = c["n"]
    out_shape = (n,) + model.output_shape[1:]
    nmetrics = len(model.metrics_names)  # the loss, then the metrics
    if method in ("predict", "predict_on_batch"):
        result = np.asarray(result)
        assert result.shape == out_shape
        assert np.all(np.isfinite(result))
        # same rows whatever the batching and the input dtype
        whole = model.predict(reference_x(x), batch_size=max(n, 1))
        assert_allclose(result, whole, rtol=1e-5, atol=1e-6)
        return
    if method in ("evaluate", "test_on_batch"):
        vals = np.atleast_1d(np.asarray(result, dtype=np.float64))
        assert vals.shape == (nmetrics,)
        assert np.all(np.isfinite(vals))
        pred = model.predict(reference_x(x), batch_size=max(n, 1)).astype(np.float64)
        w = kw.get("sample_weight")
        w = np.ones(n) if w is None else w.astype(np.float64)
        assert_allclose(vals[0], np.mean(np.mean((pred - y) ** 2, axis=-1) * w), rtol=1e-4, atol=1e-6)
        if nmetrics == 2:
            assert_allclose(vals[1], np.mean(np.abs(pred - y)), rtol=1e-4, atol=1e-6)
        return
    if method == "train_on_batch":
        vals = np.atleast_1d(np.asarray(result, dtype=np.float64))
        assert vals.shape == (nmetrics,)
        assert np.all(np.isfinite(vals))
        return
    # fit
    hist = result.history
    epochs = kw["nb_epoch"] - kw["initial_epoch"]
    losses = hist.get("loss", [])
    assert len(losses) == epochs
    assert np.all(np.isfinite(losses))
    if (kw["validation_split"] or "validation_data" in kw) and epochs:
        assert len(hist.get("val_loss", [])) == epochs
        assert np.all(np.isfinite(hist["val_loss"]))
    if epochs == 0:  # trains nothing
        assert_allclose(model.predict(probe_before[0]), probe_before[1], rtol=1e-6, atol=1e-7)


def trains(c, kw):
    return c["method"] == "train_on_batch" or (c["method"] == "fit" and kw["nb_epoch"] > kw["initial_epoch"])


def run_call(model, method, x, y, kwargs):
    fn = getattr(model, method)
    if method in ("predict", "predict_on_batch"):
        return fn(x, **kwargs)
    return fn(x, y, **kwargs)


@SETTINGS
@given(data=st.data())
def test_random_models_and_calls_keep_the_invariant(data):
    K.clear_session()
    spec = data.draw(model_specs(), label="model")
    seed = data.draw(st.integers(0, 2**31 - 1), label="seed")
    rng = np.random.default_rng(seed)
    model = build(spec)
    event("model " + spec["kind"])
    probe_x = make_x(rng, spec, 4, "float32")
    probe = model.predict(probe_x)
    assert probe.shape == (4,) + model.output_shape[1:]
    assert np.all(np.isfinite(probe))
    for _ in range(data.draw(st.integers(1, 4), label="ncalls")):
        c = data.draw(calls(spec), label="call")
        x, plain_x, y, kwargs = call_data(rng, spec, model, c)
        try:
            result = run_call(model, c["method"], x, y, kwargs)
        except ALLOWED as e:
            assert "internal error" not in str(e).lower(), e
            assert c["expected"] in ("error", "either"), "a valid call raised %r" % (e,)
            assert not isinstance(e, RuntimeError)
            failed = True
            event("%s raised %s" % (c["method"], type(e).__name__))
        else:
            assert c["expected"] in ("ok", "either"), "an invalid call (%s) returned %r" % (c["why"], result)
            check_result(model, c, plain_x, y, kwargs, result, (probe_x, probe))
            failed = False
            event("%s returned" % c["method"])
        after = model.predict(probe_x)
        assert after.shape == probe.shape and np.all(np.isfinite(after))
        if failed or not trains(c, kwargs):
            assert_allclose(after, probe, rtol=1e-6, atol=1e-7)
        probe = after


@SETTINGS
@given(data=st.data())
def test_predict_dtype_and_batching_invariance(data):
    """predict gives the same rows for float64/float32/int data and any batch size."""
    K.clear_session()
    spec = data.draw(model_specs(), label="model")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31 - 1), label="seed"))
    model = build(spec)
    n = data.draw(st.integers(1, 9), label="n")
    x = make_x(rng, spec, n, "int32" if spec["vocab"] is not None else "float64")
    want = model.predict(x.astype("float32"), batch_size=n)
    assert want.shape == (n,) + model.output_shape[1:]
    for bs in (1, data.draw(st.integers(1, 10), label="batch_size")):
        assert_allclose(model.predict(x, batch_size=bs), want, rtol=1e-5, atol=1e-6)
    assert_allclose(model.predict_on_batch(x), want, rtol=1e-5, atol=1e-6)
    if spec["vocab"] is None:
        xi = np.round(x).astype("int64")
        assert_allclose(model.predict(xi), model.predict(xi.astype("float32")), rtol=1e-6, atol=1e-7)
