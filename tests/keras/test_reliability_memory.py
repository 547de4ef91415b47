"""A work buffer whose size follows user data (a huge `atrous_rate` from a model file, a
long sequence, a big 3-D kernel) that cannot be allocated raises a Python exception
(MemoryError) and leaves the interpreter alive and usable; it never aborts the process
(issue 17, item 1: conv scratch grown with a plain `Vec::resize` aborted Python with
SIGABRT under an address-space limit).

Each case runs in a subprocess whose address space is limited to 3 GiB before keras is
imported (one engine thread keeps the address space small), so the failing allocation
is the engine's own work buffer, not the input or the output."""

import os
import subprocess
import sys
import textwrap

import pytest

resource = pytest.importorskip("resource")

LIMIT = 3 << 30

_CHILD = textwrap.dedent(
    """
    import resource
    import sys

    resource.setrlimit(resource.RLIMIT_AS, (%d, %d))

    import numpy as np

    from keras.layers import LSTM, AtrousConvolution2D, Convolution3D, Dense
    from keras.models import Sequential

    case = sys.argv[1]
    if case == "atrous_tf":
        # 3x3 kernel dilated by 1000, 'same': each sample is padded to 2008 x 2008 x 256
        # floats (3.8 GiB of work buffer)
        model = Sequential([AtrousConvolution2D(4, 3, 3, atrous_rate=(1000, 1000),
                                                border_mode="same", dim_ordering="tf",
                                                input_shape=(8, 8, 256))])
        x = np.zeros((2, 8, 8, 256), "float32")
    elif case == "atrous_th":
        model = Sequential([AtrousConvolution2D(4, 3, 3, atrous_rate=(1000, 1000),
                                                border_mode="same", dim_ordering="th",
                                                input_shape=(256, 8, 8))])
        x = np.zeros((2, 256, 8, 8), "float32")
    elif case == "conv3d_th":
        # 9x9x9 kernel over 8 channels: a 5832 x 175616 column matrix (3.8 GiB)
        model = Sequential([Convolution3D(4, 9, 9, 9, dim_ordering="th",
                                          input_shape=(8, 64, 64, 64))])
        x = np.zeros((1, 8, 64, 64, 64), "float32")
    elif case == "lstm_long_sequence":
        # 2M steps of a 128-unit LSTM: the saved gates and states (6.7 GiB) of an 8 MB input
        model = Sequential([LSTM(128, input_shape=(None, 1))])
        x = np.zeros((1, 2000000, 1), "float32")
    else:
        raise SystemExit("unknown case " + case)

    try:
        model.predict(x, batch_size=2)
    except Exception as e:
        print("EXCEPTION", type(e).__name__, str(e).replace("\\n", " ")[:300])
    else:
        print("EXCEPTION none")
    sys.stdout.flush()

    # the interpreter and the engine still work
    small = Sequential([Dense(2, input_dim=3, init="one")])
    y = small.predict(np.ones((1, 3), "float32"))
    assert y.tolist() == [[3.0, 3.0]], y
    print("ALIVE")
    """
    % (LIMIT, LIMIT)
)


def _run(case):
    env = dict(os.environ, RAYON_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, case],
        env=env,
        capture_output=True,
        timeout=300,
    )
    out = proc.stdout.decode("utf-8", "replace")
    err = proc.stderr.decode("utf-8", "replace")
    return proc.returncode, out, err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is enforced on Linux")
@pytest.mark.parametrize("case", ["atrous_tf", "atrous_th", "conv3d_th", "lstm_long_sequence"])
def test_an_impossible_work_buffer_is_a_python_exception_and_the_process_lives(case):
    rc, out, err = _run(case)
    detail = "rc=%d\nstdout:\n%s\nstderr (tail):\n%s" % (rc, out, err[-3000:])
    # a negative return code is a signal (SIGABRT: the allocation failure aborted Python)
    assert rc == 0, detail
    lines = [ln for ln in out.splitlines() if ln.startswith("EXCEPTION ")]
    assert len(lines) == 1, detail
    kind = lines[0].split()[1]
    assert kind in ("MemoryError", "ValueError"), detail
    if kind == "MemoryError":
        assert "out of memory" in lines[0], detail
    assert "ALIVE" in out.splitlines(), detail
