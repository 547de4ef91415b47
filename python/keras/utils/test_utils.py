"""Testing helpers of Keras 1.2.2 (``keras.utils.test_utils``): synthetic data, the
generic layer test and the ``keras_test`` decorator."""

import functools
import inspect
import json

import numpy as np
from numpy.testing import assert_allclose

from .. import backend as K


def get_test_data(
    nb_train=1000, nb_test=500, input_shape=(10,), output_shape=(2,), classification=True, nb_class=2
):
    """Random data for tests: samples drawn around a per-sample centre.

    For classification, each sample gets a class `y` in `[0, nb_class)` and its
    features are drawn from `N(y, 0.7**2)`, so classes are separable. For regression,
    each sample gets a centre `c ~ U(0, 1)`; features and targets are drawn from
    `N(c, 0.7**2)`.

    # Arguments
        nb_train: number of training samples.
        nb_test: number of test samples.
        input_shape: shape of one sample (without the samples axis).
        output_shape: shape of one target (regression only).
        classification: class labels (int vector) or real-valued targets.
        nb_class: number of classes.

    # Returns
        `(X_train, y_train), (X_test, y_test)`.
    """
    nb_sample = nb_train + nb_test
    input_shape = tuple(input_shape)
    output_shape = tuple(output_shape)
    in_axes = (1,) * len(input_shape)
    if classification:
        y = np.random.randint(0, nb_class, size=(nb_sample,))
        centre = y.reshape((nb_sample,) + in_axes)
        X = np.random.normal(loc=0.0, scale=0.7, size=(nb_sample,) + input_shape) + centre
    else:
        centre = np.random.random((nb_sample,))
        X = np.random.normal(0.0, 0.7, size=(nb_sample,) + input_shape) + centre.reshape(
            (nb_sample,) + in_axes
        )
        out_axes = (1,) * len(output_shape)
        y = np.random.normal(0.0, 0.7, size=(nb_sample,) + output_shape) + centre.reshape(
            (nb_sample,) + out_axes
        )
    return (X[:nb_train], y[:nb_train]), (X[nb_train:], y[nb_train:])


def _check_output(actual_output, expected_output_shape, expected_output, what):
    actual_output_shape = actual_output.shape
    if len(expected_output_shape) != len(actual_output_shape):
        raise AssertionError(
            f"{what}: output rank {len(actual_output_shape)} differs from get_output_shape_for's "
            f"{expected_output_shape}"
        )
    for expected_dim, actual_dim in zip(expected_output_shape, actual_output_shape):
        if expected_dim is not None and expected_dim != actual_dim:
            raise AssertionError(
                f"{what}: output shape {actual_output_shape} does not match get_output_shape_for's "
                f"{expected_output_shape}"
            )
    if expected_output is not None:
        assert_allclose(actual_output, expected_output, rtol=1e-3, atol=1e-6, err_msg=what)


def _check_recovered(recovered, model, built_weights, input_data, expected_output_shape, expected, source):
    """A model rebuilt from ``model``'s ``source`` ('config', 'json') compiles and, with
    ``model``'s weights, predicts ``expected`` (nothing to check when it is None)."""
    if recovered is None:
        return
    recovered.compile("rmsprop", "mse")
    if built_weights:
        recovered.set_weights(model.get_weights())
        _check_output(recovered.predict(input_data), expected_output_shape, expected, "model from " + source)


def _stores_bytecode(config):
    """True when a layer / model config holds marshalled Python bytecode (a Lambda's
    function, a Merge's mode given as a function)."""
    if isinstance(config, dict):
        for key, value in config.items():
            if key.endswith("_type") and value == "lambda":
                return True
            if _stores_bytecode(value):
                return True
    elif isinstance(config, list):
        return any(_stores_bytecode(v) for v in config)
    return False


def _accepts(fn, name):
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _trusted_call(factory, arg, config, what):
    """Calls `factory(arg)`. The test trusts its own configs, so Python bytecode in
    `config` is revived (`safe_mode=False`) where the factory supports that; a factory
    that cannot be told so must refuse with a ValueError naming `safe_mode`, and then
    None is returned."""
    if not _stores_bytecode(config):
        return factory(arg)
    if _accepts(factory, "safe_mode"):
        return factory(arg, safe_mode=False)
    try:
        factory(arg)
    except ValueError as e:
        if "safe_mode" not in str(e):
            raise
        return None
    raise AssertionError(what + " revived Python bytecode without safe_mode=False")


def layer_test(
    layer_cls,
    kwargs={},  # noqa: B006 (Keras 1's signature; never mutated)
    input_shape=None,
    input_dtype=None,
    input_data=None,
    expected_output=None,
    expected_output_dtype=None,
    fixed_batch_size=False,
):
    """Checks a layer class the way Keras 1 tested every layer.

    Instantiates the layer, round-trips its weights (`get_weights` / `set_weights`,
    then a new instance built with `weights=`), calls it on an `Input`, checks the
    output dtype, compiles a `Model` around it (`'rmsprop'`, `'mse'`), compares
    `predict` with `get_output_shape_for` and `expected_output`, rebuilds the model
    from its config, uses the layer (re-created from its config with
    `batch_input_shape`) as the first layer of a `Sequential`, and round-trips that
    model through `to_json` / `model_from_json`.

    # Arguments
        layer_cls: the layer class.
        kwargs: constructor arguments.
        input_shape: input shape with the samples axis (`None` entries get a random
            size for the generated data).
        input_dtype: dtype of the generated data (floatx by default).
        input_data: the input array (then `input_shape` defaults to its shape).
        expected_output: the expected output array, or None.
        expected_output_dtype: the expected `K.dtype` of the output (default: the
            input dtype).
        fixed_batch_size: build the `Input` with the batch size of `input_shape`.

    # Returns
        The output of the Sequential model on `input_data`.
    """
    from ..engine.topology import Input
    from ..engine.training import Model
    from ..models import Sequential, model_from_json

    kwargs = dict(kwargs)
    if input_data is None:
        assert input_shape, "layer_test needs input_shape or input_data"
        if not input_dtype:
            input_dtype = K.floatx()
        input_data_shape = [np.random.randint(1, 4) if e is None else e for e in input_shape]
        input_data = (10 * np.random.random(input_data_shape)).astype(input_dtype)
    else:
        input_data = np.asarray(input_data)
        if input_shape is None:
            input_shape = input_data.shape
        if not input_dtype:
            input_dtype = K.floatx() if input_data.dtype.kind == "f" else str(input_data.dtype)
    input_shape = tuple(input_shape)
    if expected_output_dtype is None:
        expected_output_dtype = input_dtype

    # instantiation
    layer = layer_cls(**kwargs)

    # get_weights / set_weights
    weights = layer.get_weights()
    layer.set_weights(weights)

    # functional API
    if fixed_batch_size:
        x = Input(batch_shape=input_shape, dtype=input_dtype)
    else:
        x = Input(shape=input_shape[1:], dtype=input_dtype)
    y = layer(x)
    assert K.dtype(y) == expected_output_dtype, f"output dtype {K.dtype(y)}, expected {expected_output_dtype}"

    # the weights once built round-trip too
    built_weights = layer.get_weights()
    layer.set_weights(built_weights)
    for a, b in zip(built_weights, layer.get_weights()):
        assert_allclose(a, b)

    model = Model(input=x, output=y)
    model.compile("rmsprop", "mse")

    expected_output_shape = layer.get_output_shape_for(input_shape)
    actual_output = model.predict(input_data)
    _check_output(actual_output, expected_output_shape, expected_output, "functional model")

    # a new instance built with `weights=` those weights computes the same
    if built_weights and "weights" in inspect.signature(layer_cls.__init__).parameters:
        rebuilt = layer_cls(**dict(kwargs, weights=built_weights))
        y2 = rebuilt(x)
        for a, b in zip(built_weights, rebuilt.get_weights()):
            assert_allclose(a, b)
        rebuilt_model = Model(input=x, output=y2)
        rebuilt_model.compile("rmsprop", "mse")
        _check_output(
            rebuilt_model.predict(input_data), expected_output_shape, actual_output, "weights= instance"
        )

    # model config round trip
    model_config = model.get_config()
    recovered = _trusted_call(Model.from_config, model_config, model_config, "Model.from_config")
    _check_recovered(
        recovered, model, built_weights, input_data, expected_output_shape, actual_output, "config"
    )

    # as the first layer of a Sequential
    layer_config = layer.get_config()
    layer_config["batch_input_shape"] = input_shape
    layer = _trusted_call(
        layer.__class__.from_config, layer_config, layer_config, layer_cls.__name__ + ".from_config"
    )
    assert layer is not None

    model = Sequential()
    model.add(layer)
    if built_weights:
        layer.set_weights(built_weights)
    model.compile("rmsprop", "mse")
    actual_output = model.predict(input_data)
    _check_output(actual_output, expected_output_shape, expected_output, "Sequential model")

    # JSON round trip
    json_model = model.to_json()
    try:
        recovered = _trusted_call(model_from_json, json_model, json.loads(json_model), "model_from_json")
    except NotImplementedError:
        recovered = None
    _check_recovered(
        recovered, model, built_weights, input_data, expected_output_shape, actual_output, "json"
    )

    # for further checks in the caller
    return actual_output


def keras_test(func):
    """Decorator for tests: resets the backend session (graph, variables, layer name
    counters) after the test, even when it fails."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        finally:
            K.clear_session()

    return wrapper
