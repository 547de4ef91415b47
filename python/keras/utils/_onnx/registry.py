"""The converter registry: one function per layer class.

A converter has the signature ``fn(ctx, layer, node, inputs, masks)``:

- ``ctx``: the `ExportContext` (``ctx.op``, ``ctx.const``, ``ctx.weight``, ``ctx.opset``);
- ``layer``: the Keras layer; ``node``: the Keras `Node` being converted (its
  ``input_shapes`` / ``output_shapes`` give the static Keras shapes);
- ``inputs``: the ONNX names of the node's input tensors, in order;
- ``masks``: the ONNX names of their Keras masks (bool tensors), None where none.

It returns the list of ONNX output names, or ``(outputs, output_masks)`` when the layer
computes a new mask. Returning only outputs means each output mask is the input mask the
layer passes through (checked by the walker against the Keras graph).
"""

from .errors import OnnxExportError

_CONVERTERS = {}

# Methods whose override in a subclass changes what a layer computes: a subclass that
# overrides one of them is not exported with its base class's converter.
_BEHAVIOUR = (
    "call",
    "step",
    "_cell_step",
    "_cell_call",
    "compute_mask",
    "preprocess_input",
    "get_constants",
    "get_output_shape_for",
)


def register_onnx_converter(layer_class, converter=None):
    """Register the ONNX converter of `layer_class` (usable as a decorator).

    # Example
    ```python
    from keras.utils.onnx_utils import register_onnx_converter

    @register_onnx_converter(MyScale)
    def convert_my_scale(ctx, layer, node, inputs, masks):
        factor = ctx.const(np.float32(layer.factor))
        return [ctx.op("Mul", [inputs[0], factor], hint=layer.name)]
    ```
    """
    if not isinstance(layer_class, type):
        raise TypeError("register_onnx_converter expects a layer class, got %r" % (layer_class,))

    def decorate(fn):
        if not callable(fn):
            raise TypeError("an ONNX converter must be callable, got %r" % (fn,))
        _CONVERTERS[layer_class] = fn
        return fn

    if converter is not None:
        return decorate(converter)
    return decorate


def converter_for(layer):
    """The converter of `layer`'s class, or of the nearest registered base class when no
    class in between changes the layer's behaviour; None otherwise."""
    for cls in type(layer).__mro__:
        fn = _CONVERTERS.get(cls)
        if fn is not None:
            return fn
        if any(m in cls.__dict__ for m in _BEHAVIOUR):
            return None
    return None


def unsupported(layer, why, fix=None):
    """An `OnnxExportError` naming `layer`, its class, why and what would make it
    exportable."""
    msg = "Cannot export layer %r (%s) to ONNX: %s." % (layer.name, type(layer).__name__, why)
    if fix:
        msg += " " + fix
    return OnnxExportError(msg)


def no_converter(layer):
    return unsupported(
        layer,
        "no ONNX converter is registered for its class",
        "Register one with keras.utils.onnx_utils.register_onnx_converter(%s) (see its "
        "docstring), or replace the layer by built-in layers that compute the same "
        "function." % type(layer).__name__,
    )
