"""onnxruntime's own static quantization (MinMax, entropy, percentile calibrators), kept for
comparison with GPTQ, and the graph rewrite that lets the int8 stem read the uint8 image."""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

import numpy as np
import onnx

from edge.model import INPUT_NAME


class _Reader:
    """onnxruntime CalibrationDataReader: one method that returns None when done."""

    def __init__(self, tensors: list[np.ndarray]) -> None:
        self._iter = iter(tensors)

    def get_next(self) -> dict[str, np.ndarray] | None:
        tensor = next(self._iter, None)
        return None if tensor is None else {INPUT_NAME: tensor}


def quantize_ort(model: onnx.ModelProto, tensors: list[np.ndarray], method: str = "minmax",
                 percentile: float = 99.999) -> onnx.ModelProto:
    """onnxruntime's static quantization of ``model`` calibrated on ``tensors``.

    Weights: signed int8 per output channel (per-tensor loses many points on the depthwise
    layers). Activations: uint8, the form onnxruntime's fastest x86 and ARM kernels take.
    The normalisation in front of the first convolution stays float.
    """
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    calib = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
             "percentile": CalibrationMethod.Percentile}[method]
    extra = {"ActivationSymmetric": False, "WeightSymmetric": True}
    if method == "percentile":
        extra["CalibPercentile"] = percentile
    # onnxruntime's histogram calibrators print progress to stdout; keep stdout for our output
    with tempfile.TemporaryDirectory(prefix="edge-quant-") as tmp, \
            contextlib.redirect_stdout(io.StringIO()), _temporary_files_in(Path(tmp)):
        raw, src, dst = (Path(tmp) / f for f in ("raw.onnx", "fp32.onnx", "int8.onnx"))
        onnx.save(model, raw)
        # shape inference + graph cleanup, as onnxruntime recommends before quantizing
        quant_pre_process(str(raw), str(src), skip_symbolic_shape=True)
        quantize_static(
            str(src), str(dst), _Reader(tensors),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=["Conv", "Gemm", "Clip", "GlobalAveragePool", "Flatten"],
            per_channel=True,
            weight_type=QuantType.QInt8,
            activation_type=QuantType.QUInt8,
            calibrate_method=calib,
            extra_options={**extra, "CalibTensorRangeSymmetric": False},
        )
        quantized = onnx.load(str(dst))
    feed_pixels_directly(quantized)
    return quantized


@contextlib.contextmanager
def _temporary_files_in(folder: Path):
    """onnxruntime's quantizer makes temporary folders of its own: inside ours, they go with it
    whatever stops the conversion (a signal landing while one is being made included)."""
    saved = tempfile.tempdir
    tempfile.tempdir = str(folder)
    try:
        yield
    finally:
        tempfile.tempdir = saved


def feed_pixels_directly(model: onnx.ModelProto) -> bool:
    """Let the stem's int8 convolution read the uint8 image itself.

    The fp32 graph casts the image to float, transposes it, pads it with the mean and then the
    quantizer quantizes it again: four passes over the largest tensor that change nothing,
    since uint8 pixels are exactly representable with scale 1 and zero point 0. This rewires
    the stem's DequantizeLinear to read Pad(uint8 image, NHWC) -> Transpose, with scale 1 and
    zero point 0, and requantizes the stem's int32 bias for that scale. The pad value is the
    mean rounded to an integer (127.5 -> 128): half a grey level on border taps only.
    Returns False (and changes nothing) when the graph is not the shape build.py makes.
    """
    from onnx import helper, numpy_helper

    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    inits = {init.name: init for init in graph.initializer}
    stem = next((n for n in graph.node if n.op_type == "Conv"), None)
    try:
        dq = producer[stem.input[0]]
        q = producer[dq.input[0]]
        pad = producer[q.input[0]]
        transpose = producer[pad.input[0]]
        cast = producer[transpose.input[0]]
        w_dq = producer[stem.input[1]]
        b_dq = producer[stem.input[2]]
    except (KeyError, AttributeError, IndexError):
        return False
    if [dq.op_type, q.op_type, pad.op_type, transpose.op_type, cast.op_type, b_dq.op_type] != \
            ["DequantizeLinear", "QuantizeLinear", "Pad", "Transpose", "Cast",
             "DequantizeLinear"] or cast.input[0] != INPUT_NAME:
        return False
    pads = numpy_helper.to_array(inits[pad.input[1]])  # NCHW: [0, 0, t, l, 0, 0, b, r]
    fill = float(numpy_helper.to_array(inits[pad.input[2]]))
    w_scale = numpy_helper.to_array(inits[w_dq.input[1]]).astype(np.float64)
    b_float = (numpy_helper.to_array(inits[b_dq.input[0]]).astype(np.float64)
               * numpy_helper.to_array(inits[b_dq.input[1]]).astype(np.float64))
    new_inits = [
        numpy_helper.from_array(np.array([0, pads[2], pads[3], 0, 0, pads[6], pads[7], 0],
                                         np.int64), "pixels/pads"),
        numpy_helper.from_array(np.array(round(fill), np.uint8), "pixels/fill"),
        numpy_helper.from_array(np.array(1.0, np.float32), "pixels/scale"),
        numpy_helper.from_array(np.array(0, np.uint8), "pixels/zero_point"),
        numpy_helper.from_array(np.round(b_float / w_scale).astype(np.int32), "stem/bias_q"),
        numpy_helper.from_array(w_scale.astype(np.float32), "stem/bias_scale"),
        numpy_helper.from_array(np.zeros_like(w_scale, np.int32), "stem/bias_zero_point"),
    ]
    new_nodes = [
        helper.make_node("Pad", [INPUT_NAME, "pixels/pads", "pixels/fill"], ["pixels/padded"],
                         name="pixels/Pad", mode="constant"),
        helper.make_node("Transpose", ["pixels/padded"], ["pixels/nchw"], name="pixels/Transpose",
                         perm=[0, 3, 1, 2]),
    ]
    dq.input[:] = ["pixels/nchw", "pixels/scale", "pixels/zero_point"]
    b_dq.input[:] = ["stem/bias_q", "stem/bias_scale", "stem/bias_zero_point"]
    dead = {id(n) for n in (q, pad, transpose, cast)}
    kept = [n for n in graph.node if id(n) not in dead]
    del graph.node[:]
    graph.node.extend(new_nodes + kept)
    graph.initializer.extend(new_inits)
    used = {name for node in graph.node for name in node.input}
    alive = [init for init in graph.initializer if init.name in used]
    del graph.initializer[:]
    graph.initializer.extend(alive)
    return True
