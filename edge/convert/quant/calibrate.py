"""Post-training int8 for float weights: QDQ, signed int8 weights per channel.

Calibration tensors come from real frames run through the runtime's own preprocessing
(:func:`edge.preprocess.to_input`); with no frames there is no int8 model, never noise.

Methods: ``gptq`` (the default; :mod:`edge.convert.ptq`: MSE activation ranges, GPTQ
weight rounding, bias correction, float logits, weights that cannot saturate onnxruntime's
x86 kernels) and onnxruntime's own static quantization with ``minmax``, ``entropy`` or
``percentile`` calibration, kept for comparison.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from edge.convert.spec import MobileNetSpec
from edge.convert.weights import Weights
from edge.errors import EdgeError, SourceError
from edge.model import INPUT_NAME, ModelInfo
from edge.preprocess import CROP_MODES, to_input
from edge.sources.replay import open_replay

ORT_METHODS = ("minmax", "entropy", "percentile")
CALIBRATION_METHODS = ("gptq", *ORT_METHODS)
DEFAULT_METHOD = "gptq"
GPTQ_DETAILS = {
    "weights": "int8 symmetric per-channel, GPTQ rounding; 7-bit stem; neighbouring "
               "same-sign weights within 128 (no 16-bit saturation on x86 without VNNI)",
    "activations": "uint8 per-tensor, ranges minimising squared error over calibration",
    "bias_correction": "analytic (weight error x input mean), then empirical layer by layer",
    "logits": "float (the classifier's output is not quantized)",
}


@dataclass
class FrameSet:
    """Model-ready uint8 tensors from a folder or video: ``tensors[i][crop]`` for frame
    ``names[i]``, with the names of unreadable files that were skipped."""

    names: list[str]
    tensors: list[dict[str, np.ndarray]]
    skipped: list[str]

    def cases(self, start: int = 0, stop: int | None = None) -> list[tuple[str, np.ndarray]]:
        """(frame:crop, tensor) for each frame in [start, stop) and each crop mode."""
        return [(f"{name}:{crop}", tensor)
                for name, by_crop in zip(self.names[start:stop], self.tensors[start:stop],
                                         strict=True)
                for crop, tensor in by_crop.items()]


def load_frames(path: Path, size: int, crops: tuple[str, ...] = CROP_MODES,
                limit: int | None = None) -> FrameSet:
    """Decode up to ``limit`` frames from a folder of images or a video and preprocess each
    in every crop mode with the runtime's own code."""
    names: list[str] = []
    tensors: list[dict[str, np.ndarray]] = []
    try:
        with open_replay(path) as source:
            for frame in source:
                tensors.append({c: to_input(frame.image, frame.order, size, c) for c in crops})
                names.append(frame.name)
                if limit is not None and len(names) >= limit:
                    break
            skipped = list(source.skipped_names)
    except SourceError as exc:  # bad input to a conversion, not a camera failing
        raise EdgeError(str(exc)) from exc
    if not names:
        detail = f" ({len(skipped)} unreadable files skipped)" if skipped else ""
        raise EdgeError(f"{path}: no readable frames{detail}")
    return FrameSet(names, tensors, skipped)


class _Reader:
    """onnxruntime CalibrationDataReader: one method that returns None when done."""

    def __init__(self, tensors: list[np.ndarray]) -> None:
        self._iter = iter(tensors)

    def get_next(self) -> dict[str, np.ndarray] | None:
        tensor = next(self._iter, None)
        return None if tensor is None else {INPUT_NAME: tensor}


def quantize(model: onnx.ModelProto, tensors: list[np.ndarray], method: str = DEFAULT_METHOD,
             weights: Weights | None = None, spec: MobileNetSpec | None = None,
             info: ModelInfo | None = None) -> tuple[onnx.ModelProto, dict]:
    """Return a QDQ int8 copy of the fp32 ``model`` calibrated on ``tensors``, and what the
    method did. ``gptq`` needs the float ``weights``, their ``spec`` and the model ``info``."""
    if method not in CALIBRATION_METHODS:
        raise EdgeError(f"calibration method must be one of {CALIBRATION_METHODS}, got {method!r}")
    if not tensors:
        raise EdgeError("no calibration frames: int8 needs real frames (--calibration)")
    if method != "gptq":
        return quantize_ort(model, tensors, method), {
            "weights": "int8 symmetric per-channel", "activations": "uint8 asymmetric "
            "per-tensor", "note": "onnxruntime quantize_static; on x86 without VNNI its "
            "int8 weights can saturate 16-bit pair sums"}
    from edge.convert.build_kept import build_kept
    from edge.convert.ptq import calibrate, correct_biases, pixel_zero, post_training

    if weights is None or spec is None or info is None:
        raise EdgeError("gptq quantization needs the float weights, spec and model info")
    stats = calibrate(model, spec, tensors, pixel_zero(weights))
    quant = correct_biases(post_training(weights, spec, stats), spec, stats, tensors)
    return build_kept(spec, quant, weights.normalisation, info, kept=False), \
        dict(GPTQ_DETAILS)


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
            contextlib.redirect_stdout(io.StringIO()):
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
