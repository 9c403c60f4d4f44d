"""Static int8 quantization with onnxruntime: QDQ, signed int8 weights per channel.

Calibration tensors come from real frames run through the runtime's own preprocessing
(:func:`edge.preprocess.to_input`); with no frames there is no int8 model, never noise.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from edge.errors import EdgeError
from edge.model import INPUT_NAME
from edge.preprocess import CROP_MODES, to_input
from edge.sources.replay import open_replay

CALIBRATION_METHODS = ("minmax", "entropy", "percentile")


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
    with open_replay(path) as source:
        for frame in source:
            tensors.append({c: to_input(frame.image, frame.order, size, c) for c in crops})
            names.append(frame.name)
            if limit is not None and len(names) >= limit:
                break
        skipped = list(source.skipped_names)
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


def quantize(model: onnx.ModelProto, tensors: list[np.ndarray], method: str = "minmax",
             percentile: float = 99.999) -> onnx.ModelProto:
    """Return a QDQ int8 copy of ``model`` calibrated on ``tensors``.

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

    if method not in CALIBRATION_METHODS:
        raise EdgeError(f"calibration method must be one of {CALIBRATION_METHODS}, got {method!r}")
    if not tensors:
        raise EdgeError("no calibration frames: int8 needs real frames (--calibration)")
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
        return onnx.load(str(dst))
