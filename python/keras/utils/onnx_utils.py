"""Export of Keras 1 models to ONNX (``keras.utils.onnx_utils``).

```python
from keras.utils.onnx_utils import export_onnx
export_onnx(model, 'model.onnx')   # or: python -m keras.utils.onnx_utils model.h5 model.onnx
```

Design:

- The exporter walks the model's layer graph as Keras runs it: each layer's inbound
  nodes, deepest first; a nested Sequential or Model is expanded in place, once per
  call. Every layer is translated by the converter registered for its class (one
  registry, one module per layer family under ``keras/utils/_onnx/``: core,
  convolutional, pooling, recurrent, convolutional_recurrent, normalization, merge,
  wrappers, advanced_activations, local, embeddings). Weights are read with
  ``layer.get_weights()``; no engine internals are used.
- A subclass of a built-in layer is exported with its base class's converter only when
  it overrides none of the methods that define what the layer computes (``call``,
  ``step``, ``compute_mask``, ...).
- The graph is the model at inference (the test phase): Dropout and the noise layers are
  identities, BatchNormalization mode 0 uses its moving averages, modes 1 and 2 compute
  their statistics in the graph.
- A layer without an exact ONNX form (a ``Lambda``, a user layer with no converter, a
  callable Merge mode, an activation that is not one of ``keras.activations``, a shape
  a converter needs but the model leaves unknown) raises :class:`OnnxExportError`, a
  subclass of ``NotImplementedError``, naming the layer, its class and what would make
  it exportable. No approximate graph is ever written.
- SimpleRNN / GRU / LSTM become ONNX's RNN / GRU / LSTM operators; ConvLSTM2D, and a
  recurrent layer whose activation those operators lack (softmax), run Keras 1's step in
  a ``Scan``.
- User layers become exportable through :func:`register_onnx_converter` (a decorator):
  the converter gets the export context, the layer, its Keras node and the ONNX names
  of its inputs (and masks) and returns the names of its outputs; see
  ``keras/utils/_onnx/registry.py``.
- Graph inputs are named after the model's input layers, outputs after its output
  layers, with a free batch dimension ``N``. A stateful recurrent layer adds a graph
  input per state (``<layer>_h_in``, ``<layer>_c_in``, defaulting to the layer's
  current state) and an output per final state (``<layer>_h_out``, ``<layer>_c_out``).
- Masks (``Embedding(mask_zero=True)``, ``Masking``) are computed in the graph. A
  recurrent layer turns them into ``sequence_lens`` of its ONNX operator (over the
  sequence rotated so that each sample's unmasked run starts it), exact when every
  sample's unmasked steps are one contiguous run (pre- or post-padding); when some
  sample's mask has holes, an ``If`` runs Keras 1's masked step in a ``Scan`` instead,
  exact for any mask.
- Opsets 13 (the lowest supported) to the newest the installed ``onnx`` knows (tests
  run 13 and the newest onnxruntime loads); the default is 17. The model is checked
  with ``onnx.checker.check_model(full_check=True)`` before it is returned or written.

Needs the ``onnx`` package (``pip install 'ferrokeras[onnx]'``); Keras never imports it
unless this module is used.
"""

import argparse
import sys

import numpy as np

__all__ = ["OnnxExportError", "export_onnx", "register_onnx_converter"]


def _onnx():
    try:
        import onnx
    except ImportError as e:
        raise ImportError(
            "ONNX export needs the `onnx` package: pip install 'ferrokeras[onnx]' (or pip install onnx)"
        ) from e
    return onnx


from ._onnx.errors import OnnxExportError  # noqa: E402
from ._onnx.registry import register_onnx_converter  # noqa: E402

_ELEM = {
    "float32": 1,  # TensorProto.FLOAT
    "int32": 6,
    "int64": 7,
    "bool": 9,
    "float64": 11,
    "uint8": 2,
    "int8": 3,
}


def _dims(shape):
    return ["N" if i == 0 and d is None else (d if d is not None else "d%d" % i) for i, d in enumerate(shape)]


def _input_dtype(x):
    from .. import backend as K

    try:
        return str(K.dtype(x))
    except Exception:
        return "float32"


def export_onnx(model, path=None, opset=None):
    """Export a Keras model (Sequential or functional, built) to ONNX.

    # Arguments
        model: a built Keras model.
        path: file to write the ONNX model to, or None to only return it.
        opset: ONNX opset version (default 17; from 13 to the newest the installed
            `onnx` package knows).

    # Returns
        The `onnx.ModelProto`, checked with `onnx.checker.check_model`.

    # Raises
        OnnxExportError: a layer has no exact ONNX form (the message names it).
        ValueError: an opset out of range, or a model that is not built.
        ImportError: the `onnx` package is not installed.
    """
    onnx = _onnx()
    from onnx import helper

    from ..models import functional_model
    from ._onnx import DEFAULT_OPSET, MIN_OPSET, ExportContext, run_container

    newest = onnx.defs.onnx_opset_version()
    opset = DEFAULT_OPSET if opset is None else opset
    if (
        not isinstance(opset, (int, np.integer))
        or isinstance(opset, bool)
        or not MIN_OPSET <= opset <= newest
    ):
        raise ValueError(
            "opset must be an integer from %d to %d (the newest the installed onnx knows), got %r"
            % (MIN_OPSET, newest, opset)
        )
    if not getattr(model, "inputs", None) or not getattr(model, "outputs", None):
        raise ValueError("export_onnx needs a built model with inputs and outputs (add layers first)")
    graph = functional_model(model)
    ctx = ExportContext(int(opset))
    in_names = []
    for x, name in zip(graph.inputs, graph.input_names):
        name = ctx.reserve(name)
        dtype = _input_dtype(x)
        if dtype not in _ELEM:
            raise OnnxExportError("Cannot export input %r of dtype %s to ONNX" % (name, dtype))
        shape = getattr(x, "_keras_shape", None)
        ctx.graph_inputs.append(helper.make_tensor_value_info(name, _ELEM[dtype], _dims(shape)))
        in_names.append(name)
    out_names = [ctx.reserve(n) for n in graph.output_names]
    outs, _ = run_container(ctx, graph, in_names, [None] * len(in_names))
    model_outputs = []
    for value, name, t in zip(outs, out_names, graph.outputs):
        ctx.op("Identity", [value], outputs=[name])
        model_outputs.append(helper.make_tensor_value_info(name, 1, _dims(t._keras_shape)))
    g = helper.make_graph(
        ctx.nodes,
        model.name,
        ctx.graph_inputs,
        model_outputs + ctx.graph_outputs,
        initializer=ctx.initializers,
    )
    opsets = [helper.make_opsetid("", int(opset))]
    proto = helper.make_model(g, opset_imports=opsets, producer_name="ferrokeras")
    proto.ir_version = helper.find_min_ir_version_for(opsets)
    onnx.checker.check_model(proto, full_check=True)
    if path is not None:
        onnx.save(proto, str(path))
    return proto


def main(argv=None):
    """``python -m keras.utils.onnx_utils model.h5 model.onnx [--opset N]``: load a Keras
    1 model file with `load_model`, export it and check the result with onnx.checker."""
    parser = argparse.ArgumentParser(
        prog="python -m keras.utils.onnx_utils",
        description="Export a Keras 1 model file (model.save / load_model format) to ONNX.",
    )
    parser.add_argument("model", help="Keras model file (.h5) written by model.save()")
    parser.add_argument("output", help="ONNX file to write")
    parser.add_argument("--opset", type=int, default=None, help="ONNX opset (default 17)")
    args = parser.parse_args(argv)
    from ..models import load_model

    model = load_model(args.model)
    try:
        proto = export_onnx(model, args.output, opset=args.opset)
    except OnnxExportError as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    _onnx().checker.check_model(args.output)
    print(
        "wrote %s: opset %d, %d nodes, inputs %s, outputs %s"
        % (
            args.output,
            proto.opset_import[0].version,
            len(proto.graph.node),
            [i.name for i in proto.graph.input if i.name not in {t.name for t in proto.graph.initializer}],
            [o.name for o in proto.graph.output],
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
