"""Reading a TFLite flatbuffer without TensorFlow: its operators in order and its tensors with
their quantization (integer values, scale and zero point per tensor or per channel). The
checkpoint readers and the quantization reader stand on this; edge.model reads the metadata.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.errors import EdgeError

_TYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 9: np.int8}


@dataclass(frozen=True)
class RawTensor:
    """A tensor as the file stores it: integer values with scale and zero point (one each, or
    one per channel along ``axis``), or float values with no quantization. ``values`` is None
    for activations, which have no data in the file."""

    name: str
    dtype: type
    shape: tuple[int, ...]
    values: np.ndarray | None
    scale: np.ndarray | None  # float64, 1-D
    zero_point: np.ndarray | None  # int64, 1-D
    axis: int = 0

    def dequantize(self) -> np.ndarray:
        """(q - zero_point) * scale as float32; float tensors as they are."""
        data = self.values
        if self.scale is None:
            return data.astype(np.float32)
        scale, zero = self.scale, self.zero_point.astype(np.float64)
        if scale.size > 1:  # per-channel along the quantized dimension
            bshape = [1] * data.ndim
            bshape[self.axis] = -1
            scale = scale.reshape(bshape)
            zero = zero.reshape(bshape) if zero.size > 1 else zero
        return ((data.astype(np.float64) - zero) * scale).astype(np.float32)


def raw_tensor(model, graph, index: int, origin: str, data: bool = True) -> RawTensor:
    """Read tensor ``index`` with its quantization; ``data`` False for activations."""
    tensor = graph.Tensors(index)
    name = tensor.Name().decode()
    dtype = _TYPES.get(tensor.Type())
    if dtype is None:
        raise EdgeError(f"{origin}: tensor {name} has unsupported type {tensor.Type()}")
    shape = tuple(int(d) for d in tensor.ShapeAsNumpy())
    values = None
    if data:
        buffer = model.Buffers(tensor.Buffer())
        if buffer is None or buffer.DataLength() == 0:
            raise EdgeError(f"{origin}: tensor {name} has no data "
                            "(weights stored outside the file are not supported)")
        values = np.frombuffer(buffer.DataAsNumpy().tobytes(), dtype=dtype)
        if values.size != int(np.prod(shape)):
            raise EdgeError(f"{origin}: tensor {name} holds {values.size} values, shape "
                            f"{shape} needs {int(np.prod(shape))} (truncated file?)")
        values = values.reshape(shape)
    if dtype in (np.float32, np.float16):
        return RawTensor(name, dtype, shape, values, None, None)
    quant = tensor.Quantization()
    if quant is None or quant.ScaleLength() == 0:
        raise EdgeError(f"{origin}: integer tensor {name} has no scale")
    scale = quant.ScaleAsNumpy().astype(np.float64).reshape(-1)
    zero = (quant.ZeroPointAsNumpy().astype(np.int64).reshape(-1) if quant.ZeroPointLength()
            else np.zeros(1, np.int64))
    return RawTensor(name, dtype, shape, values, scale, zero, quant.QuantizedDimension())


def read_ops(origin: str, data: bytes) -> tuple[object, object, list[tuple[int, object]]]:
    """(model, first subgraph, [(builtin code, operator)]) of a TFLite flatbuffer."""
    import tflite  # imported here: only the TFLite path needs it

    if len(data) < 8 or data[4:8] != b"TFL3":
        raise EdgeError(f"{origin}: not a TFLite file (no TFL3 identifier)")
    try:
        model = tflite.Model.GetRootAsModel(data, 0)
        graph = model.Subgraphs(0)
        ops = []
        for i in range(graph.OperatorsLength()):
            op = graph.Operators(i)
            code = model.OperatorCodes(op.OpcodeIndex())
            ops.append((max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), op))
        graph.Tensors(graph.Inputs(0)).ShapeAsNumpy()
    except EdgeError:
        raise
    except Exception as exc:  # flatbuffers raises assorted errors on damaged files
        raise EdgeError(f"{origin}: damaged or truncated TFLite file "
                        f"({exc.__class__.__name__})") from exc
    return model, graph, ops
