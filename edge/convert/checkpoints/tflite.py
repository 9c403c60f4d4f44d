"""Import MobileNetV1 weights from a TFLite flatbuffer (float32, or uint8/int8 dequantised).

TFLite stores regular conv weights OHWI and depthwise weights 1HWC; batch norm is already
folded. Quantised tensors are dequantised with their own scale and zero point (per tensor or
per channel), which gives the trained float weights back. A quantised file's own quantization
(integer weights, biases, activation ranges) is read as well, by :mod:`import_quant`, so the
int8 model can keep it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.convert.weights import Weights
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


def load_tflite(path: Path, data: bytes) -> Weights:
    """Read the 27 convolutions and the classifier of a MobileNetV1 TFLite file; for a
    quantised file also its own quantization (``Weights.quantization``)."""
    import tflite

    from edge.convert.import_quant import read_quantization

    origin = str(path)
    model, graph, ops = read_ops(origin, data)
    conv_codes = {tflite.BuiltinOperator.CONV_2D, tflite.BuiltinOperator.DEPTHWISE_CONV_2D}
    layer_ops = [(code, op) for code, op in ops
                 if code in conv_codes or code == tflite.BuiltinOperator.FULLY_CONNECTED]
    try:
        layers = [(code, raw_tensor(model, graph, op.Inputs(1), origin),
                   raw_tensor(model, graph, op.Inputs(2), origin)) for code, op in layer_ops]
        convs_raw = [(code == tflite.BuiltinOperator.DEPTHWISE_CONV_2D, w.dequantize(),
                      b.dequantize()) for code, w, b in layers]
        input_tensor = graph.Tensors(graph.Inputs(0))
        input_shape = tuple(int(d) for d in input_tensor.ShapeAsNumpy())
        quantised = any(w.scale is not None for _, w, _ in layers)
    except EdgeError:
        raise
    except Exception as exc:
        raise EdgeError(f"{origin}: damaged or truncated TFLite file "
                        f"({exc.__class__.__name__})") from exc

    fc = None
    if convs_raw:
        # TF-slim's classifier is a 1x1 convolution (Logits/Conv2d_1c_1x1); others use FC
        _, w, b = convs_raw.pop()
        fc = (w.reshape(w.shape[0], -1), b)
    if len(convs_raw) != 27 or fc is None or any(code == tflite.BuiltinOperator.FULLY_CONNECTED
                                                  for code, _ in layer_ops[:-1]):
        raise EdgeError(f"{origin}: not a MobileNetV1 (found {len(convs_raw)} convolutions, "
                        "expected 27 plus a classifier)")
    convs = []
    for depthwise, w, b in convs_raw:
        if depthwise:  # 1HWC -> C1HW
            w = np.ascontiguousarray(w.transpose(3, 0, 1, 2))
        else:  # OHWI -> OIHW
            w = np.ascontiguousarray(w.transpose(0, 3, 1, 2))
        convs.append((w, b.astype(np.float32)))
    if len(input_shape) != 4 or input_shape[1] != input_shape[2] or input_shape[3] != 3:
        raise EdgeError(f"{origin}: expected a square NHWC RGB input, found {input_shape}")
    classes = fc[0].shape[0]
    return Weights(
        convs=convs,
        fc=(np.ascontiguousarray(fc[0], dtype=np.float32), fc[1].astype(np.float32)),
        padding="tf",
        background=classes == 1001,
        resolution=input_shape[1],
        source={"kind": "tflite", "trained": True,
                "note": "dequantised from a quantised TFLite model" if quantised else
                        "float TFLite model"},
        quantization=read_quantization(model, graph, ops, layer_ops, origin) if quantised
        else None,
    )
