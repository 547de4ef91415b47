"""ONNX export of Keras 1 models: the graph builder, the converter registry and one
module of converters per layer family (imported here so that they register)."""

from . import (  # noqa: F401  (imported for their registrations)
    advanced_activations,
    convolutional,
    convolutional_recurrent,
    core,
    embeddings,
    local,
    merge,
    normalization,
    pooling,
    recurrent,
    wrappers,
)
from .errors import OnnxExportError
from .graph import DEFAULT_OPSET, MIN_OPSET, ExportContext
from .registry import converter_for, register_onnx_converter
from .walker import run_container

__all__ = [
    "DEFAULT_OPSET",
    "MIN_OPSET",
    "ExportContext",
    "OnnxExportError",
    "converter_for",
    "register_onnx_converter",
    "run_container",
]
