"""The ONNX graph under construction and the context a layer converter writes into.

`ExportContext` owns the node list, the initializers and the name table; a converter
(see `registry.py`) calls `ctx.op(...)` to append nodes and `ctx.const(...)` /
`ctx.weight(...)` to add tensors, and never builds protobuf objects itself.
"""

import numpy as np

from .errors import OnnxExportError

# ONNX's own default opset when the caller names none, and the lowest one the
# converters are written for (Softmax over one axis, ReduceSum / Split / Squeeze taking
# their axes as inputs all date from opset 13).
MIN_OPSET = 13
DEFAULT_OPSET = 17


class ExportContext:
    """Everything a converter needs: `op` appends a node, `const` adds a constant,
    `weight` adds a layer weight, `opset` is the target opset version."""

    def __init__(self, opset):
        from onnx import helper

        self._helper = helper
        self.opset = int(opset)
        self.nodes = []
        self.initializers = []
        self.graph_inputs = []
        self.graph_outputs = []
        self._names = set()
        self._counts = {}
        self._const_cache = {}
        self._weights = {}

    def subgraph(self):
        """A context for the body of a Loop / Scan: its own node list, the names, the
        constants and the opset of this one (constants live in the outer graph, which a
        body may read)."""
        child = ExportContext.__new__(ExportContext)
        child.__dict__.update(self.__dict__)
        child.nodes = []
        return child

    # names ------------------------------------------------------------------------------

    def fresh(self, hint):
        """A tensor or node name not used yet, derived from `hint`."""
        base = str(hint).replace(":", "_") or "t"
        name = base
        while name in self._names:
            self._counts[base] = self._counts.get(base, 0) + 1
            name = "%s_%d" % (base, self._counts[base])
        self._names.add(name)
        return name

    def reserve(self, name):
        if name in self._names:
            raise OnnxExportError("two tensors of the exported graph would be named %r" % name)
        self._names.add(name)
        return name

    # nodes ------------------------------------------------------------------------------

    def op(self, op_type, inputs, hint=None, outputs=1, **attrs):
        """Append one node; returns its output name (or a list when `outputs` > 1 or is a
        list of names). Empty strings in `inputs` stand for omitted optional inputs."""
        hint = hint or op_type.lower()
        if isinstance(outputs, int):
            names = [self.fresh("%s_%d" % (hint, i) if outputs > 1 else hint) for i in range(outputs)]
            single = outputs == 1
        else:
            names = [n if n == "" else n for n in outputs]
            single = False
        attrs = {k: v for k, v in attrs.items() if v is not None}
        node = self._helper.make_node(op_type, list(inputs), names, name=self.fresh("node_" + hint), **attrs)
        self.nodes.append(node)
        return names[0] if single else names

    def const(self, value, hint="const", dtype=None):
        """A constant tensor (an initializer); small integer constants are shared."""
        from onnx import numpy_helper

        arr = np.asarray(value, dtype=dtype)
        if arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        key = None
        if arr.size <= 16 and arr.dtype.kind in "iub":
            key = (arr.dtype.str, arr.shape, arr.tobytes())
            if key in self._const_cache:
                return self._const_cache[key]
        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(np.array(arr, order="C"), name))
        if key is not None:
            self._const_cache[key] = name
        return name

    def ints(self, values, hint="ints"):
        """An int64 1-D constant (shapes, axes, indices)."""
        return self.const(np.asarray(list(values), dtype=np.int64).reshape(-1), hint)

    def weight(self, layer, value, what):
        """A float32 initializer holding one of `layer`'s weights (transformed as needed);
        a shared layer called several times stores each of its weights once."""
        value = np.asarray(value, dtype=np.float32)
        key = (id(layer), what)
        cached = self._weights.get(key)
        if cached is not None and cached[0].shape == value.shape and np.array_equal(cached[0], value):
            return cached[1]
        name = self.const(value, "%s_%s" % (layer.name, what))
        self._weights[key] = (value, name)
        return name

    # opset-dependent helpers --------------------------------------------------------------

    def reduce(self, op_type, x, axes, keepdims=True, hint=None):
        """ReduceMax / ReduceMean / ReduceSum / ... over `axes`: the axes are an input from
        opset 18 on (opset 13 for ReduceSum), an attribute before."""
        axes = [int(a) for a in axes]
        takes_input = self.opset >= 18 or op_type == "ReduceSum"
        if takes_input:
            return self.op(op_type, [x, self.ints(axes, "axes")], hint=hint, keepdims=int(keepdims))
        return self.op(op_type, [x], hint=hint, axes=axes, keepdims=int(keepdims))

    def squeeze(self, x, axes, hint=None):
        return self.op("Squeeze", [x, self.ints(axes, "axes")], hint=hint)

    def unsqueeze(self, x, axes, hint=None):
        return self.op("Unsqueeze", [x, self.ints(axes, "axes")], hint=hint)

    def slice(self, x, starts, ends, axes, steps=None, hint=None):
        ins = [x, self.ints(starts), self.ints(ends), self.ints(axes)]
        if steps is not None:
            ins.append(self.ints(steps))
        return self.op("Slice", ins, hint=hint)

    def split(self, x, sizes, axis, hint=None):
        """Split into pieces of the given sizes along `axis`; returns the list of names."""
        return self.op("Split", [x, self.ints(sizes)], hint=hint, outputs=len(sizes), axis=int(axis))

    def transpose(self, x, perm, hint=None):
        perm = [int(p) for p in perm]
        if perm == list(range(len(perm))):
            return x
        return self.op("Transpose", [x], hint=hint, perm=perm)

    def reshape(self, x, shape, hint=None):
        """Reshape; a 0 in `shape` keeps that input dimension (the batch)."""
        return self.op("Reshape", [x, self.ints(shape, "shape")], hint=hint)

    def scalar(self, value, dtype=np.float32):
        return self.const(np.asarray(value, dtype=dtype), "scalar")

    # graph inputs and outputs beyond the model's (a stateful layer's state) ---------------

    def state_input(self, name, value):
        """A graph input carrying a state, defaulting to `value` when not fed."""
        from onnx import TensorProto, helper, numpy_helper

        value = np.asarray(value, dtype=np.float32)
        name = self.reserve(name)
        self.graph_inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(value.shape)))
        self.initializers.append(numpy_helper.from_array(value, name))
        return name

    def state_output(self, value, name, shape):
        """Expose `value` as an extra graph output called `name`."""
        from onnx import TensorProto, helper

        name = self.reserve(name)
        self.op("Identity", [value], outputs=[name])
        self.graph_outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape)))
        return name
