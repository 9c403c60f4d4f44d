"""The int8 stage of edge-convert: keep a quantised file's own quantization, or calibrate.

- ``keep`` (the default for quantised TFLite files): the int8 model is built from the file's
  own parameters (:mod:`edge.convert.quant.qdq`); no calibration. Frames given with
  ``--calibration`` or ``--verify`` only verify it: against the file run by LiteRT when
  LiteRT is installed, and against our fp32.
- ``recalibrate`` (the only choice for float weights): post-training quantization calibrated
  on real frames (:mod:`edge.convert.quant.calibrate`), verified against fp32 on held-out frames.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import onnx

from edge.convert.graph import set_metadata
from edge.convert.quant.calibrate import DEFAULT_METHOD, quantize
from edge.convert.quant.frames import FrameSet, load_frames
from edge.convert.quant.qdq import build_qdq, differences
from edge.convert.spec import MobileNetSpec
from edge.convert.verify import compare, compare_with_tflite
from edge.convert.weights import Weights
from edge.errors import EdgeError
from edge.model import ModelInfo
from edge.preprocess import CROP_MODES

MIN_CALIBRATION_FRAMES = 8


@dataclass
class Int8Build:
    """What the int8 stage made: the model file and the report's sections."""

    path: Path | None = None
    quantization: dict | None = None
    calibration: dict | None = None
    verification: dict | None = None
    cases: list = field(default_factory=list)  # the (name, tensor) frames it was verified on


def quantization_mode(opts, weights: Weights) -> str | None:
    """``keep``, ``recalibrate``, or None when no int8 model is to be built."""
    quantised = weights.quantization is not None
    mode = opts.quantization or ("keep" if quantised else "recalibrate")
    if mode == "keep" and not quantised:
        what = opts.weights or "random initialisation"
        raise EdgeError(f"--quantization keep: {what} is not a quantised model, there is no "
                        "trained quantization to keep (use --quantization recalibrate)")
    if mode == "keep" and opts.calibration_method is not None:
        raise EdgeError(f"--calibration-method: {opts.weights} keeps its own quantization; "
                        "calibration methods apply to --quantization recalibrate")
    if mode == "recalibrate" and opts.calibration is None:
        if opts.verify is not None:
            raise EdgeError("--verify compares int8 with fp32 and needs --calibration to "
                            "build int8")
        return None
    return mode


def build_int8(opts, mode: str | None, spec: MobileNetSpec, info: ModelInfo, weights: Weights,
               fp32: onnx.ModelProto, fp32_path: Path, staging: Path,
               timings: dict) -> Int8Build:
    """Build, save (into ``staging``) and verify the int8 model ``opts`` asks for, ``mode``
    being :func:`quantization_mode`'s answer."""
    if mode is None:
        return Int8Build()
    t0 = time.perf_counter()
    if mode == "keep":
        quant = weights.quantization
        section = {"mode": "keep", "format": "QDQ",
                   "method": "kept: the file's own quantization (no calibration)",
                   **quant.describe(), "differs": differences(quant, spec)}
        normalisation = (weights.normalisation if not quant.pixels_direct else
                         {"mean": [float(quant.input.zero_point)] * 3,
                          "std": [1.0 / quant.input.scale] * 3})
        int8_info = replace(info, precision="int8", normalisation=normalisation,
                            quantization=section)
        model = build_qdq(spec, quant, weights.normalisation, int8_info)
        build = Int8Build(quantization=section)
    else:
        method = opts.calibration_method or DEFAULT_METHOD
        frames, calib_n, verification = _calibration_sets(opts, spec.resolution)
        tensors = [t for _, t in frames.cases(0, calib_n)]
        model, details = quantize(fp32, tensors, method, weights, spec,
                                  replace(info, precision="int8"))
        source = Path(opts.calibration).name
        section = {"mode": "recalibrate", "format": "QDQ", "method": method, **details,
                   "calibration": method, "calibration_frames": calib_n,
                   "calibration_source": source}
        set_metadata(model, replace(info, precision="int8", quantization=section))
        build = Int8Build(quantization=section, verification=verification, calibration={
            "source": str(opts.calibration), "frames": calib_n, "tensors": len(tensors),
            "crops": list(CROP_MODES), "method": method, "skipped": frames.skipped})
    onnx.checker.check_model(model)
    build.path = staging / f"{replace(info, precision='int8').name}.onnx"
    onnx.save(model, build.path)
    timings["quantize_s"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    if mode == "keep":
        build.verification, build.cases = _verify_kept(opts, spec, weights, fp32_path,
                                                       build.path)
    else:
        build.cases = build.verification.pop("cases")
        build.verification["result"] = compare(fp32_path, build.path, build.cases)
    if build.verification is not None:
        timings["verify_s"] = time.perf_counter() - t1
    return build


def _verify_kept(opts, spec: MobileNetSpec, weights: Weights, fp32_path: Path,
                 int8_path: Path) -> tuple[dict | None, list]:
    """The kept int8 against the file's own answers (LiteRT) and against our fp32, on the
    frames of --verify and --calibration (all held out: nothing was calibrated on them)."""
    cases, sources = [], []
    for path, limit in ((opts.verify, opts.verify_samples),
                        (opts.calibration, opts.calibration_samples)):
        if path is not None:
            cases += load_frames(path, spec.resolution, CROP_MODES, limit).cases()
            sources.append(str(path))
    if not cases:
        return None, []
    quant = weights.quantization
    return {"source": ", ".join(sources), "held_out": True,
            "result": compare(fp32_path, int8_path, cases),
            "reference": compare_with_tflite(
                Path(quant.file), weights.normalisation, quant.softmax_output, int8_path, cases,
                integer=all(layer.weight.dtype == np.uint8 for layer in [*quant.convs, quant.fc]))
            }, cases


def _calibration_sets(opts, size: int) -> tuple[FrameSet, int, dict]:
    """Frames for calibration (each in both crop modes: the runtime may run either) and the
    verification cases.

    Verification uses --verify when given, else the frames beyond --calibration-samples; only
    when there are none does it reuse the calibration frames, and says so (held_out false).
    """
    wanted = opts.calibration_samples + (0 if opts.verify else opts.verify_samples)
    frames = load_frames(opts.calibration, size, CROP_MODES, wanted)
    calib_n = min(opts.calibration_samples, len(frames.names))
    enough = min(MIN_CALIBRATION_FRAMES, opts.calibration_samples)
    if calib_n < enough:  # one good photo among eleven broken ones is no calibration
        skipped = f" ({len(frames.skipped)} unreadable skipped)" if frames.skipped else ""
        frames_word = "frame" if calib_n == 1 else "frames"
        raise EdgeError(f"{opts.calibration}: only {calib_n} readable calibration "
                        f"{frames_word}{skipped}; int8 needs at least {enough} "
                        f"(--calibration-samples {calib_n} accepts "
                        f"{'it' if calib_n == 1 else 'them'})")
    if opts.verify is not None:
        cases = load_frames(opts.verify, size, CROP_MODES, opts.verify_samples).cases()
        source, held_out = str(opts.verify), True
    else:
        held_out = len(frames.names) > calib_n
        cases = frames.cases(calib_n) if held_out else frames.cases(0, calib_n)
        source = str(opts.calibration)
    return frames, calib_n, {"source": source, "held_out": held_out, "cases": cases}
