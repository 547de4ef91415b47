"""Shared helpers of the keras.backend tests (imported as a plain module: the test
directory has no __init__.py, so pytest puts it on sys.path)."""

import os
import subprocess
import sys

import numpy as np
import pytest

from keras import backend as K


def f32(x):
    """A float32 copy of x."""
    return np.asarray(x, dtype=np.float32)


def run(outputs, feeds=()):
    """Evaluates tensor(s) `outputs` with `feeds` = [(placeholder, value), ...]."""
    single = not isinstance(outputs, (list, tuple))
    outs = [outputs] if single else list(outputs)
    feeds = list(feeds)
    fn = K.function([p for p, _ in feeds], outs)
    res = fn([v for _, v in feeds])
    return res[0] if single else res


def apply_np(fn, *values):
    """Builds placeholders of the (static) shapes of `values`, applies the K-level `fn`
    and evaluates it on the values."""
    values = [np.asarray(v) for v in values]
    xs = [K.placeholder(shape=v.shape, dtype="int32" if v.dtype.kind in "iu" else None) for v in values]
    return run(fn(*xs), list(zip(xs, values)))


def away_from(kinks, low=-2.0, high=2.0, margin=0.05):
    """A value generator: uniform in [low, high) but at least `margin` from each kink."""

    def gen(rng, shape):
        x = rng.uniform(low, high, size=shape)
        for _ in range(1000):
            bad = np.zeros(x.shape, dtype=bool)
            for k in kinks:
                bad |= np.abs(x - k) < margin
            if not bad.any():
                break
            x[bad] = rng.uniform(low, high, size=int(bad.sum()))
        return x

    return gen


def distinct(low=-1.0, high=1.0):
    """A value generator: a shuffled evenly spaced grid (no ties, gaps >> the FD step)."""

    def gen(rng, shape):
        n = int(np.prod(shape)) if shape else 1
        return rng.permutation(np.linspace(low, high, n)).reshape(shape)

    return gen


def uniform(low, high):
    def gen(rng, shape):
        return rng.uniform(low, high, size=shape)

    return gen


class GradCheckError(AssertionError):
    pass


def check_grad(
    fn,
    *shapes,
    gen=None,
    values=None,
    seed=0,
    delta=1e-3,
    rtol=2e-2,
    atol=2e-3,
    perturb=None,
):
    """Finite-difference check of K.gradients through K.function.

    Builds float32 placeholders of `shapes` (or of the shapes of `values`), the scalar
    loss = sum(fn(*xs) * R) with a fixed random R, and compares K.gradients(loss, xs)
    with float64 central differences of the float32 engine's loss. `perturb(i, g)` may
    alter the analytic gradient of input i (to prove the checker catches a wrong one).
    Returns (analytic, numeric) lists; raises GradCheckError on a mismatch.
    """
    rng = np.random.RandomState(seed)
    gen = gen or uniform(-1.0, 1.0)
    if values is None:
        values = [gen(rng, tuple(s)) for s in shapes]
    values = [f32(v) for v in values]
    xs = [K.placeholder(shape=v.shape) for v in values]
    out = fn(*xs)
    out_val = K.function(xs, [out])(values)[0]
    r = rng.standard_normal(out_val.shape)
    loss = K.sum(out * K.constant(f32(r)))
    grads = K.gradients(loss, xs)
    f_loss = K.function(xs, [loss])
    f_grad = K.function(xs, grads)
    analytic = [np.asarray(g, np.float64) for g in f_grad(values)]
    if perturb is not None:
        analytic = [perturb(i, g) for i, g in enumerate(analytic)]

    def loss_at(i, v):
        args = list(values)
        args[i] = v
        return float(f_loss(args)[0])

    numeric = []
    for i, v in enumerate(values):
        num = np.zeros(v.shape, np.float64)
        for j in np.ndindex(*v.shape):
            vp, vm = v.copy(), v.copy()
            vp[j] = f32(float(v[j]) + delta)
            vm[j] = f32(float(v[j]) - delta)
            step = float(vp[j]) - float(vm[j])
            num[j] = (loss_at(i, vp) - loss_at(i, vm)) / step
        numeric.append(num)

    for i, (a, n) in enumerate(zip(analytic, numeric)):
        assert a.shape == n.shape, f"gradient {i} has shape {a.shape}, expected {n.shape}"
        scale = max(1.0, float(np.max(np.abs(n))) if n.size else 1.0)
        if not np.allclose(a, n, rtol=rtol, atol=atol * scale):
            raise GradCheckError(
                f"gradient of input {i} does not match finite differences:\nanalytic={a}\nnumeric={n}"
            )
    return analytic, numeric


def run_script(code, timeout=60, expect="OK"):
    """Runs Python `code` in a fresh interpreter (HOME kept as the suite's temp HOME);
    fails on a non-zero exit, on a timeout (a hang or deadlock) or when stdout does
    not end with `expect`. Returns the CompletedProcess."""
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code],
            env=dict(os.environ),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"the script did not finish within {timeout}s (hang or deadlock); stderr: {e.stderr}")
    assert proc.returncode == 0, f"exit code {proc.returncode}; stderr:\n{proc.stderr[-3000:]}"
    if expect is not None:
        assert proc.stdout.strip().endswith(expect), proc.stdout[-3000:]
    return proc
