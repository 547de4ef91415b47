"""Layers holding Python functions (Lambda, Merge with a callable mode and output_shape)
round-trip through get_config/from_config, to_json/model_from_json and save/load_model in
the same process without `safe_mode=False`, as in Keras 1; bytecode written by another
process still needs the opt-in, in both directions."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from keras.layers import Dense, Lambda, Merge
from keras.models import Sequential, load_model, model_from_json

SCALE = 3.0


def _lambda_model():
    offset = 0.5
    model = Sequential()
    model.add(Dense(2, input_dim=3))
    model.add(Lambda(lambda x: x * SCALE + offset, output_shape=lambda s: s))
    model.compile("sgd", "mse")
    return model


def _x():
    return np.random.RandomState(0).rand(4, 3).astype("float32")


def test_lambda_from_config_in_the_same_process():
    layer = _lambda_model().layers[1]
    revived = Lambda.from_config(layer.get_config())
    # the module global SCALE and the closure value `offset` both come back
    assert revived.function(2.0) == pytest.approx(6.5)


def test_model_from_json_in_the_same_process():
    model = _lambda_model()
    copy = model_from_json(model.to_json())
    copy.set_weights(model.get_weights())
    np.testing.assert_array_equal(copy.predict(_x()), model.predict(_x()))


def test_merge_with_callable_mode_saves_and_loads_in_the_same_process(tmp_path):
    left = Sequential([Dense(2, input_dim=3)])
    right = Sequential([Dense(2, input_dim=3)])
    model = Sequential()
    model.add(Merge([left, right], mode=lambda t: t[0] - t[1], output_shape=lambda s: s[0]))
    model.add(Dense(1))
    model.compile("sgd", "mse")
    path = str(tmp_path / "merge.h5")
    model.save(path)
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict([_x(), _x()]), model.predict([_x(), _x()]))


_WRITER = textwrap.dedent(
    """
    import sys
    from keras.layers import Dense, Lambda
    from keras.models import Sequential
    model = Sequential([Dense(2, input_dim=3), Lambda(lambda x: x * 2.0)])
    model.compile('sgd', 'mse')
    model.save(sys.argv[1])
    """
)

_READER = textwrap.dedent(
    """
    import sys
    from keras.models import load_model
    try:
        load_model(sys.argv[1])
    except ValueError as e:
        print('REFUSED', 'safe_mode=False' in str(e))
    else:
        print('LOADED')
    model = load_model(sys.argv[1], safe_mode=False)
    print('UNSAFE-LOADED', model.layers[-1].function(1.5))
    """
)


def _python(code, *args):
    env = dict(os.environ)
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=120,
    )
    out = proc.stdout.decode("utf-8", "replace")
    assert proc.returncode == 0, out
    return out


def test_a_file_from_another_process_still_needs_safe_mode_off(tmp_path):
    path = str(tmp_path / "other.h5")
    _python(_WRITER, path)
    with pytest.raises(ValueError, match="safe_mode=False"):
        load_model(path)
    model = load_model(path, safe_mode=False)
    assert model.layers[-1].function(1.5) == 3.0


def test_a_file_from_this_process_needs_safe_mode_off_elsewhere(tmp_path):
    path = str(tmp_path / "mine.h5")
    model = Sequential([Dense(2, input_dim=3), Lambda(lambda x: x * 2.0)])
    model.compile("sgd", "mse")
    model.save(path)
    out = _python(_READER, path)
    assert "REFUSED True" in out
    assert "UNSAFE-LOADED" in out


def test_a_function_never_serialised_here_is_not_trusted():
    # bytecode of the same shape but from a function this process did not dump
    foreign = compile("lambda x: x + 41", "<file>", "eval").co_consts[0]
    import marshal

    code = marshal.dumps(foreign).decode("raw_unicode_escape")
    config = Lambda(lambda x: x).get_config()
    config["function"] = [code, None, None]
    with pytest.raises(ValueError, match="safe_mode=False"):
        Lambda.from_config(config)
    assert Lambda.from_config(config, safe_mode=False).function(1) == 42
