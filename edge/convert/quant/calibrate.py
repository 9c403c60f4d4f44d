"""Post-training int8 for float weights: QDQ, signed int8 weights per channel; the method
chosen by name.

Calibration tensors come from real frames run through the runtime's own preprocessing
(:func:`edge.preprocess.to_input`); with no frames there is no int8 model, never noise.

Methods: ``gptq`` (the default; :mod:`edge.convert.quant.ptq`: MSE activation ranges, GPTQ
weight rounding, bias correction, float logits, weights that cannot saturate onnxruntime's
x86 kernels) and onnxruntime's own static quantization with ``minmax``, ``entropy`` or
``percentile`` calibration, kept for comparison.
"""

from __future__ import annotations

import numpy as np
import onnx

from edge.convert.settings import CALIBRATION_METHODS
from edge.convert.spec import MobileNetSpec
from edge.convert.weights import Weights
from edge.errors import EdgeError
from edge.model import ModelInfo

ORT_METHODS = ("minmax", "entropy", "percentile")
DEFAULT_METHOD = "gptq"
GPTQ_DETAILS = {
    "weights": "int8 symmetric per-channel, GPTQ rounding; 7-bit stem; neighbouring "
               "same-sign weights within 128 (no 16-bit saturation on x86 without VNNI)",
    "activations": "uint8 per-tensor, ranges minimising squared error over calibration",
    "bias_correction": "analytic (weight error x input mean), then empirical layer by layer",
    "logits": "float (the classifier's output is not quantized)",
}


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
        from edge.convert.quant.ort import quantize_ort

        return quantize_ort(model, tensors, method), {
            "weights": "int8 symmetric per-channel", "activations": "uint8 asymmetric "
            "per-tensor", "note": "onnxruntime quantize_static; on x86 without VNNI its "
            "int8 weights can saturate 16-bit pair sums"}
    from edge.convert.quant.ptq import calibrate, correct_biases, pixel_zero, post_training
    from edge.convert.quant.qdq import build_qdq

    if weights is None or spec is None or info is None:
        raise EdgeError("gptq quantization needs the float weights, spec and model info")
    stats = calibrate(model, spec, tensors, pixel_zero(weights))
    quant = correct_biases(post_training(weights, spec, stats), spec, stats, tensors)
    return build_qdq(spec, quant, weights.normalisation, info, kept=False), \
        dict(GPTQ_DETAILS)


