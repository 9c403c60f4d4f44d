"""A small TFLite graph (tensors + ops) and its flatbuffer, written with flatc's generated
builder functions from the PyPI ``tflite`` package (pure Python: works on the Pi, needs no
TensorFlow).

What TFLM and LiteRT need from the file: identifier ``TFL3``, schema version 3, buffer 0 empty,
constant buffers 16-byte aligned (TFLM reads weights in place from flash), both
``builtin_code`` and ``deprecated_builtin_code`` set, and no tensor that no op uses (TFLM
allocates arena for every tensor in the subgraph).
"""

from __future__ import annotations

import importlib
import itertools
from dataclasses import dataclass, field

import flatbuffers
import numpy as np
from tflite.ActivationFunctionType import ActivationFunctionType
from tflite.BuiltinOperator import BuiltinOperator
from tflite.BuiltinOptions import BuiltinOptions
from tflite.Padding import Padding
from tflite.TensorType import TensorType

# The package re-exports each table's class under its module's name (``tflite.Model`` is the
# class once the package is imported); the builder functions live in the modules.
(Buffer, Conv2DOptions, DepthwiseConv2DOptions, FullyConnectedOptions, Metadata, Model, Operator,
 OperatorCode, PadOptions, QuantizationParameters, QuantizeOptions, ReducerOptions, SubGraph,
 TensorTable) = (
    importlib.import_module(f"tflite.{name}") for name in (
        "Buffer", "Conv2DOptions", "DepthwiseConv2DOptions", "FullyConnectedOptions", "Metadata",
        "Model", "Operator", "OperatorCode", "PadOptions", "QuantizationParameters",
        "QuantizeOptions", "ReducerOptions", "SubGraph", "Tensor"))

SCHEMA_VERSION = 3
ALIGN = 16
DTYPES = {"int8": TensorType.INT8, "uint8": TensorType.UINT8, "int32": TensorType.INT32,
          "float32": TensorType.FLOAT32}
ACTIVATIONS = {None: ActivationFunctionType.NONE, "relu": ActivationFunctionType.RELU,
               "relu6": ActivationFunctionType.RELU6}
# op -> (builtin code, version LiteRT's resolver registers for int8 per-channel kernels,
# options union type). TFLM ignores versions; LiteRT refuses versions it does not know.
OPS = {
    "CONV_2D": (BuiltinOperator.CONV_2D, 3, BuiltinOptions.Conv2DOptions),
    "DEPTHWISE_CONV_2D": (BuiltinOperator.DEPTHWISE_CONV_2D, 3,
                          BuiltinOptions.DepthwiseConv2DOptions),
    "FULLY_CONNECTED": (BuiltinOperator.FULLY_CONNECTED, 4, BuiltinOptions.FullyConnectedOptions),
    "MEAN": (BuiltinOperator.MEAN, 2, BuiltinOptions.ReducerOptions),
    "PAD": (BuiltinOperator.PAD, 2, BuiltinOptions.PadOptions),
    "QUANTIZE": (BuiltinOperator.QUANTIZE, 2, BuiltinOptions.QuantizeOptions),
}


@dataclass
class Tensor:
    """One tensor: activations have no data; constants carry their little-endian bytes."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: tuple[float, ...] = ()
    zero_point: tuple[int, ...] = ()
    axis: int = 0
    data: bytes | None = None


@dataclass
class Op:
    kind: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: dict = field(default_factory=dict)


@dataclass
class Graph:
    """A single-subgraph TFLite model under construction."""

    tensors: list[Tensor] = field(default_factory=list)
    ops: list[Op] = field(default_factory=list)
    inputs: list[int] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)

    def add(self, tensor: Tensor) -> int:
        self.tensors.append(tensor)
        return len(self.tensors) - 1

    def const(self, name: str, array: np.ndarray, scale=(), zero_point=(), axis: int = 0) -> int:
        array = np.ascontiguousarray(array)
        return self.add(Tensor(name, tuple(array.shape), array.dtype.name, tuple(scale),
                               tuple(zero_point), axis, array.astype(array.dtype.newbyteorder(
                                   "<")).tobytes()))

    def op(self, kind: str, inputs, outputs, **options) -> None:
        self.ops.append(Op(kind, tuple(inputs), tuple(outputs), options))

    def check(self) -> None:
        """Every tensor is used by an op (TFLM allocates arena for each one in the file)."""
        used = {i for op in self.ops for i in (*op.inputs, *op.outputs) if i >= 0}
        orphans = [t.name for i, t in enumerate(self.tensors) if i not in used]
        if orphans:
            raise ValueError(f"tensors no op uses: {orphans}")


def _nbytes(t: Tensor) -> int:
    return int(np.prod(t.shape)) * np.dtype(t.dtype).itemsize


def chain_plan(graph: Graph) -> bytes | None:
    """TFLM's ``OfflineMemoryAllocation`` metadata for a chain of ops, or None if the graph
    is not one.

    In a chain each activation lives from the op that writes it to the next op, which reads
    it, so two live at a time. Even-numbered ones sit at the bottom of a region of
    max(input + output) bytes, odd ones at its top: never overlapping, and the arena head is
    that maximum, the least any plan can do. TFLM's default greedy planner, which places the
    largest tensors first, leaves gaps on MobileNetV1 (a third more at 0.25-128).
    """
    chain = []
    for i, op in enumerate(graph.ops):
        live = [t for t in op.inputs if t >= 0 and graph.tensors[t].data is None]
        if len(op.outputs) != 1 or live != ([graph.inputs[0]] if i == 0 else chain[-1:]):
            return None
        chain.append(op.outputs[0])
    if chain[-1:] != graph.outputs:
        return None
    chain.insert(0, graph.inputs[0])
    size = [(_nbytes(graph.tensors[t]) + ALIGN - 1) // ALIGN * ALIGN for t in chain]
    region = max(a + b for a, b in itertools.pairwise(size))
    offsets = [-1] * len(graph.tensors)
    for k, t in enumerate(chain):
        offsets[t] = 0 if k % 2 == 0 else region - size[k]
    return np.array([1, 1, len(offsets), *offsets], "<i4").tobytes()


def _vector(b: flatbuffers.Builder, values, kind: str) -> int:
    """A vector of scalars (``kind`` is a numpy dtype name)."""
    return b.CreateNumpyVector(np.asarray(values, dtype=kind))


def _aligned_bytes(b: flatbuffers.Builder, data: bytes) -> int:
    """A ubyte vector whose first byte sits at a 16-byte boundary of the finished file."""
    b.StartVector(1, len(data), ALIGN)
    b.head -= len(data)
    b.Bytes[b.head:b.head + len(data)] = data
    return b.EndVector()


def _options(b: flatbuffers.Builder, op: Op) -> int:
    o = op.options
    act = ACTIVATIONS[o.get("activation")]
    pad = Padding.SAME if o.get("padding") == "same" else Padding.VALID
    if op.kind == "CONV_2D":
        Conv2DOptions.Start(b)
        Conv2DOptions.AddPadding(b, pad)
        Conv2DOptions.AddStrideW(b, o["stride"])
        Conv2DOptions.AddStrideH(b, o["stride"])
        Conv2DOptions.AddFusedActivationFunction(b, act)
        Conv2DOptions.AddDilationWFactor(b, 1)
        Conv2DOptions.AddDilationHFactor(b, 1)
        return Conv2DOptions.End(b)
    if op.kind == "DEPTHWISE_CONV_2D":
        DepthwiseConv2DOptions.Start(b)
        DepthwiseConv2DOptions.AddPadding(b, pad)
        DepthwiseConv2DOptions.AddStrideW(b, o["stride"])
        DepthwiseConv2DOptions.AddStrideH(b, o["stride"])
        DepthwiseConv2DOptions.AddDepthMultiplier(b, o.get("depth_multiplier", 1))
        DepthwiseConv2DOptions.AddFusedActivationFunction(b, act)
        DepthwiseConv2DOptions.AddDilationWFactor(b, 1)
        DepthwiseConv2DOptions.AddDilationHFactor(b, 1)
        return DepthwiseConv2DOptions.End(b)
    if op.kind == "FULLY_CONNECTED":
        FullyConnectedOptions.Start(b)
        FullyConnectedOptions.AddFusedActivationFunction(b, act)
        FullyConnectedOptions.AddKeepNumDims(b, False)
        return FullyConnectedOptions.End(b)
    if op.kind == "MEAN":
        ReducerOptions.Start(b)
        ReducerOptions.AddKeepDims(b, o.get("keep_dims", True))
        return ReducerOptions.End(b)
    module = {"PAD": PadOptions, "QUANTIZE": QuantizeOptions}[op.kind]
    module.Start(b)
    return module.End(b)


def _quantization(b: flatbuffers.Builder, t: Tensor) -> int | None:
    if not t.scale:
        return None
    scale = _vector(b, t.scale, "float32")
    zero = _vector(b, t.zero_point, "int64")
    QuantizationParameters.Start(b)
    QuantizationParameters.AddScale(b, scale)
    QuantizationParameters.AddZeroPoint(b, zero)
    QuantizationParameters.AddQuantizedDimension(b, t.axis)
    return QuantizationParameters.End(b)


def _table_vector(b: flatbuffers.Builder, offsets: list[int]) -> int:
    b.StartVector(4, len(offsets), 4)
    for off in reversed(offsets):
        b.PrependUOffsetTRelative(off)
    return b.EndVector()


def write_tflite(graph: Graph, description: str, metadata: dict[str, bytes]) -> bytes:
    """Serialise ``graph`` as a .tflite flatbuffer; ``metadata`` entries become named buffers."""
    graph.check()
    b = flatbuffers.Builder(1 << 20)
    # buffers: 0 empty (schema convention), then one per constant, then the metadata
    data = [t.data for t in graph.tensors if t.data is not None] + list(metadata.values())
    buffer_offsets = []
    for payload in [None, *data]:
        vec = _aligned_bytes(b, payload) if payload else None
        Buffer.Start(b)
        if vec is not None:
            Buffer.AddData(b, vec)
        buffer_offsets.append(Buffer.End(b))
    tensor_offsets = []
    next_buffer = 1
    for t in graph.tensors:
        name = b.CreateString(t.name)
        shape = _vector(b, t.shape, "int32")
        quant = _quantization(b, t)
        buffer = 0
        if t.data is not None:
            buffer, next_buffer = next_buffer, next_buffer + 1
        TensorTable.Start(b)
        TensorTable.AddShape(b, shape)
        TensorTable.AddType(b, DTYPES[t.dtype])
        TensorTable.AddBuffer(b, buffer)
        TensorTable.AddName(b, name)
        if quant is not None:
            TensorTable.AddQuantization(b, quant)
        tensor_offsets.append(TensorTable.End(b))
    kinds = list(dict.fromkeys(op.kind for op in graph.ops))
    op_offsets = []
    for op in graph.ops:
        inputs, outputs = _vector(b, op.inputs, "int32"), _vector(b, op.outputs, "int32")
        options = _options(b, op)
        Operator.Start(b)
        Operator.AddOpcodeIndex(b, kinds.index(op.kind))
        Operator.AddInputs(b, inputs)
        Operator.AddOutputs(b, outputs)
        Operator.AddBuiltinOptionsType(b, OPS[op.kind][2])
        Operator.AddBuiltinOptions(b, options)
        op_offsets.append(Operator.End(b))
    tensors, ops = _table_vector(b, tensor_offsets), _table_vector(b, op_offsets)
    inputs, outputs = _vector(b, graph.inputs, "int32"), _vector(b, graph.outputs, "int32")
    name = b.CreateString("main")
    SubGraph.Start(b)
    SubGraph.AddTensors(b, tensors)
    SubGraph.AddInputs(b, inputs)
    SubGraph.AddOutputs(b, outputs)
    SubGraph.AddOperators(b, ops)
    SubGraph.AddName(b, name)
    subgraphs = _table_vector(b, [SubGraph.End(b)])
    code_offsets = []
    for kind in kinds:
        code, version, _ = OPS[kind]
        OperatorCode.Start(b)
        OperatorCode.AddDeprecatedBuiltinCode(b, min(code, 127))
        OperatorCode.AddBuiltinCode(b, code)
        OperatorCode.AddVersion(b, version)
        code_offsets.append(OperatorCode.End(b))
    codes = _table_vector(b, code_offsets)
    meta_offsets = []
    first_meta = 1 + sum(t.data is not None for t in graph.tensors)
    for index, key in enumerate(metadata):
        key_off = b.CreateString(key)
        Metadata.Start(b)
        Metadata.AddName(b, key_off)
        Metadata.AddBuffer(b, first_meta + index)
        meta_offsets.append(Metadata.End(b))
    metas = _table_vector(b, meta_offsets)
    buffers = _table_vector(b, buffer_offsets)
    desc = b.CreateString(description)
    Model.Start(b)
    Model.AddVersion(b, SCHEMA_VERSION)
    Model.AddOperatorCodes(b, codes)
    Model.AddSubgraphs(b, subgraphs)
    Model.AddDescription(b, desc)
    Model.AddBuffers(b, buffers)
    Model.AddMetadata(b, metas)
    b.Finish(Model.End(b), file_identifier=b"TFL3")
    return bytes(b.Output())
