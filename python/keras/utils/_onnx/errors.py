"""The exception the ONNX exporter raises for a model it cannot export faithfully."""


class OnnxExportError(NotImplementedError):
    """A layer (or a configuration of one) has no ONNX form the exporter can write.

    A subclass of `NotImplementedError`: the model is valid Keras, the exporter just
    has no exact ONNX translation for it. The message names the layer, its class and
    what would make it exportable; the exporter never writes an approximate graph.
    """
