"""Import MobileNetV1 weights from a TFLite flatbuffer (float32, or uint8/int8 dequantised).

TFLite stores regular conv weights OHWI and depthwise weights 1HWC; batch norm is already
folded. Quantised tensors are dequantised with their own scale and zero point (per tensor or
per channel), which gives the trained float weights back. A quantised file's own quantization
(integer weights, biases, activation ranges) is read as well, by
:mod:`edge.convert.checkpoints.tflite_quantization`, so the int8 model can keep it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.convert.checkpoints.tflite_quantization import read_quantization
from edge.convert.tflite.read import raw_tensor, read_ops
from edge.convert.weights import Weights
from edge.errors import EdgeError


def load_tflite(path: Path, data: bytes) -> Weights:
    """Read the 27 convolutions and the classifier of a MobileNetV1 TFLite file; for a
    quantised file also its own quantization (``Weights.quantization``)."""
    import tflite

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
        normalisation = input_normalisation(
            raw_tensor(model, graph, graph.Inputs(0), origin, data=False))
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
        **({"normalisation": normalisation} if normalisation else {}),
    )


def input_normalisation(tensor) -> dict | None:
    """The (pixel - mean) / std a quantised input stands for, when it is not TF-slim's
    [-1, 1] (MLPerf Tiny's person model reads pixel / 255: scale 1/255, zero point -128 on an
    int8 input); None for a float input or TF-slim's 1/128 around 128, which the float graph
    keeps as (x - 127.5) / 127.5 (half a grey level, as TF-slim trained it)."""
    if tensor.scale is None or tensor.scale.size != 1:
        return None
    zero = float(tensor.zero_point[0]) + (128.0 if tensor.dtype == np.int8 else 0.0)
    std = 1.0 / float(tensor.scale[0])
    if abs(zero - 127.5) <= 1.0 and abs(std - 127.5) <= 0.02 * 127.5:
        return None
    return {"mean": [zero] * 3, "std": [std] * 3}
