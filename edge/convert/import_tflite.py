"""Import MobileNetV1 weights from a TFLite flatbuffer (float32, or uint8/int8 dequantised).

TFLite stores regular conv weights OHWI and depthwise weights 1HWC; batch norm is already
folded. Quantised tensors are dequantised with their own scale and zero point (per tensor or
per channel), which gives the trained float weights back.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.convert.weights import Weights
from edge.errors import EdgeError

_TYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 9: np.int8}


def _tensor(model, graph, index: int, origin: str) -> np.ndarray:
    tensor = graph.Tensors(index)
    dtype = _TYPES.get(tensor.Type())
    if dtype is None:
        raise EdgeError(f"{origin}: tensor {tensor.Name().decode()} has unsupported type "
                        f"{tensor.Type()}")
    buffer = model.Buffers(tensor.Buffer())
    if buffer is None or buffer.DataLength() == 0:
        raise EdgeError(f"{origin}: tensor {tensor.Name().decode()} has no data "
                        "(weights stored outside the file are not supported)")
    data = np.frombuffer(buffer.DataAsNumpy().tobytes(), dtype=dtype)
    shape = tuple(int(d) for d in tensor.ShapeAsNumpy())
    if data.size != int(np.prod(shape)):
        raise EdgeError(f"{origin}: tensor {tensor.Name().decode()} holds {data.size} values, "
                        f"shape {shape} needs {int(np.prod(shape))} (truncated file?)")
    data = data.reshape(shape)
    if dtype in (np.float32, np.float16):
        return data.astype(np.float32)
    quant = tensor.Quantization()
    if quant is None or quant.ScaleLength() == 0:
        raise EdgeError(f"{origin}: integer tensor {tensor.Name().decode()} has no scale")
    scale = quant.ScaleAsNumpy().astype(np.float64)
    zero = quant.ZeroPointAsNumpy().astype(np.float64) if quant.ZeroPointLength() else 0.0
    if np.size(scale) > 1:  # per-channel along quantized_dimension
        axis = quant.QuantizedDimension()
        bshape = [1] * data.ndim
        bshape[axis] = -1
        scale = scale.reshape(bshape)
        zero = np.reshape(zero, bshape) if np.size(zero) > 1 else zero
    return ((data.astype(np.float64) - zero) * scale).astype(np.float32)


def load_tflite(path: Path, data: bytes) -> Weights:
    """Read the 27 convolutions and the classifier of a MobileNetV1 TFLite file."""
    import tflite  # imported here: only the TFLite path needs it

    origin = str(path)
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise EdgeError(f"{origin}: not a TFLite file (no TFL3 identifier)")
    try:
        model = tflite.Model.GetRootAsModel(data, 0)
        graph = model.Subgraphs(0)
        ops = []
        for i in range(graph.OperatorsLength()):
            op = graph.Operators(i)
            code = model.OperatorCodes(op.OpcodeIndex())
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            ops.append((builtin, op))
        input_shape = tuple(int(d) for d in graph.Tensors(graph.Inputs(0)).ShapeAsNumpy())
    except EdgeError:
        raise
    except Exception as exc:  # flatbuffers raises assorted errors on damaged files
        raise EdgeError(f"{origin}: damaged or truncated TFLite file "
                        f"({exc.__class__.__name__})") from exc

    conv_codes = {tflite.BuiltinOperator.CONV_2D, tflite.BuiltinOperator.DEPTHWISE_CONV_2D}
    convs_raw = []
    fc = None
    try:
        for builtin, op in ops:
            if builtin in conv_codes:
                w = _tensor(model, graph, op.Inputs(1), origin)
                b = _tensor(model, graph, op.Inputs(2), origin)
                convs_raw.append((builtin == tflite.BuiltinOperator.DEPTHWISE_CONV_2D, w, b))
            elif builtin == tflite.BuiltinOperator.FULLY_CONNECTED:
                w = _tensor(model, graph, op.Inputs(1), origin)  # [classes, C]
                b = _tensor(model, graph, op.Inputs(2), origin)
                fc = (w, b)
    except EdgeError:
        raise
    except Exception as exc:
        raise EdgeError(f"{origin}: damaged or truncated TFLite file "
                        f"({exc.__class__.__name__})") from exc

    if fc is None and convs_raw:
        # TF-slim's classifier is a 1x1 convolution: Logits/Conv2d_1c_1x1
        _, w, b = convs_raw.pop()
        fc = (w.reshape(w.shape[0], -1), b)
    if len(convs_raw) != 27 or fc is None:
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
    quantised = graph.Tensors(graph.Inputs(0)).Type() in (3, 9)
    return Weights(
        convs=convs,
        fc=(np.ascontiguousarray(fc[0], dtype=np.float32), fc[1].astype(np.float32)),
        padding="tf",
        background=classes == 1001,
        resolution=input_shape[1],
        source={"kind": "tflite", "trained": True,
                "note": "dequantised from a quantised TFLite model" if quantised else
                        "float TFLite model"},
    )
