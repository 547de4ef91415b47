"""The GIL is released while a compiled function runs: another Python thread keeps
running during one long native call."""

import threading
import time

import numpy as np

from keras import backend as K


def setup_function(function):
    K.clear_session()


def teardown_function(function):
    K.clear_session()


def _chain(n_layers, w, size):
    x = K.placeholder(shape=(size, size))
    h = x
    for _ in range(n_layers):
        h = K.tanh(K.dot(h, w))
    return K.function([x], [K.sum(h)])


def test_gil_is_released_during_a_long_run():
    size = 512
    rng = np.random.RandomState(0)
    w = K.variable(rng.standard_normal((size, size)) / np.sqrt(size))
    xv = rng.standard_normal((size, size)).astype("f")

    # size the chain so that one call lasts about 0.6 s on this machine
    probe = _chain(4, w, size)
    probe([xv])
    t = time.perf_counter()
    probe([xv])
    per_layer = max((time.perf_counter() - t) / 4, 1e-5)
    n_layers = int(min(2000, max(4, 0.6 / per_layer)))
    f = _chain(n_layers, w, size)
    f([np.zeros((size, size), "f")])  # warm-up (buffers, plans)

    state = {"count": 0, "stop": False}

    def counter():
        while not state["stop"]:
            state["count"] += 1

    th = threading.Thread(target=counter, daemon=True)
    th.start()
    try:
        # baseline: how fast the counter runs when the main thread only sleeps
        time.sleep(0.05)
        b0 = state["count"]
        time.sleep(0.2)
        rate = (state["count"] - b0) / 0.2
        assert rate > 0

        c0 = state["count"]
        t0 = time.perf_counter()
        out = f([xv])[0]
        dt = time.perf_counter() - t0
        c1 = state["count"]
    finally:
        state["stop"] = True
        th.join(5)

    assert np.isfinite(out)
    assert dt > 0.15, f"the chain ran too fast ({dt:.3f}s) to measure anything"
    # With the GIL held for the whole call the counter could only move during the
    # few switch intervals (5 ms each) around the call: worth about 0.02 s of counting.
    # Released, it keeps counting (sharing the cores with the engine's threads).
    advanced = (c1 - c0) / rate
    print(f"GIL test: call {dt:.2f}s, counter advanced {advanced:.3f}s worth")
    assert advanced > 0.1, (
        f"the counter thread advanced only {advanced:.3f}s worth of counting during a {dt:.2f}s "
        f"native call ({c1 - c0} increments; {rate:.0f}/s alone): the GIL is not released"
    )
