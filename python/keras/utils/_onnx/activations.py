"""Keras 1 activation functions as ONNX nodes, and as the activation names of ONNX's
RNN / GRU / LSTM operators."""

from ... import activations as keras_activations
from .registry import unsupported


def activation_name(fn):
    """The name of a built-in Keras activation function, or None for any other callable
    (a user function has no known ONNX form)."""
    name = getattr(fn, "__name__", None)
    if name and getattr(keras_activations, name, None) is fn:
        return name
    return None


def apply_activation(ctx, layer, fn, x, hint=None):
    """ONNX nodes computing `fn(x)` for a Keras 1 activation function `fn`."""
    name = activation_name(fn)
    hint = hint or layer.name
    if name is None:
        raise unsupported(
            layer,
            "its activation %r is not one of keras.activations" % (fn,),
            "Use a built-in activation, or register a converter for this layer class.",
        )
    if name == "linear":
        return x
    if name == "softmax":
        return ctx.op("Softmax", [x], hint=hint, axis=-1)
    if name == "hard_sigmoid":
        return ctx.op("HardSigmoid", [x], hint=hint, alpha=0.2, beta=0.5)
    if name == "elu":
        return ctx.op("Elu", [x], hint=hint, alpha=1.0)
    simple = {
        "relu": "Relu",
        "sigmoid": "Sigmoid",
        "tanh": "Tanh",
        "softplus": "Softplus",
        "softsign": "Softsign",
    }
    if name in simple:
        return ctx.op(simple[name], [x], hint=hint)
    raise unsupported(layer, "its activation %r has no ONNX converter" % name)


def rnn_activation(layer, fn):
    """(name, alpha, beta) of a Keras activation as an activation of ONNX's recurrent
    operators."""
    name = activation_name(fn)
    table = {
        "tanh": ("Tanh", None, None),
        "sigmoid": ("Sigmoid", None, None),
        "hard_sigmoid": ("HardSigmoid", 0.2, 0.5),
        "relu": ("Relu", None, None),
        "linear": ("Affine", 1.0, 0.0),
        "softsign": ("Softsign", None, None),
        "softplus": ("Softplus", None, None),
        "elu": ("Elu", 1.0, None),
    }
    if name not in table:
        raise unsupported(
            layer,
            "its activation %r has no counterpart among the activations of ONNX's recurrent operators"
            % (name or fn,),
            "Use tanh, sigmoid, hard_sigmoid, relu, linear, softsign, softplus or elu.",
        )
    return table[name]
