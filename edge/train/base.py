"""The frozen backbone: any weights edge-convert takes, as the int8 network every target runs.

A quantised TFLite file (the default, TensorFlow's quantization-aware-trained 0.5-160) keeps
its own trained quantization, as edge-convert's ``--quantization keep`` does. Float weights
(Keras ``.h5``, timm, a float ``.tflite``) are quantized post-training as edge-convert does
(GPTQ weights, MSE activation ranges, bias correction), calibrated on DATA's own photos in
both crop modes: the photos the device will see.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import onnx

from edge import __version__
from edge.convert import ConvertOptions, resolve_spec
from edge.convert.checkpoints import load_weights
from edge.convert.graph import build_model
from edge.convert.quant.params import Quantization
from edge.convert.quant.qdq import build_qdq
from edge.convert.spec import MobileNetSpec
from edge.convert.weights import TF_NORMALISATION, Weights
from edge.errors import EdgeError
from edge.model import ModelInfo

BUNDLED = Path(__file__).resolve().parents[2] / "data" / "models" / \
    "mobilenet_v1_0.5_160_quant.tflite"
PUBLISHED = "tflite:0.5_160_quant"  # the same network, downloaded (pinned) when not bundled


def default_base() -> str:
    """The repository's bundled QAT 0.5-160 where it is, else its published name."""
    return str(BUNDLED) if BUNDLED.is_file() else PUBLISHED


@dataclass
class Base:
    """The backbone's float weights and layer table, and its int8 quantization (``kept``:
    the file's own; else post-training, calibrated on ``calibration_photos`` photos)."""

    origin: str
    spec: MobileNetSpec
    weights: Weights
    quant: Quantization | None = None
    kept: bool = False
    calibration_photos: int = 0

    def info(self, precision: str) -> ModelInfo:
        """The base network's own ModelInfo (its original classifier)."""
        return ModelInfo(
            arch="mobilenet_v1", alpha=self.spec.alpha, resolution=self.spec.resolution,
            classes=self.spec.classes, background=self.weights.background, channel_order="RGB",
            precision=precision, weights=dict(self.weights.source), padding=self.spec.padding,
            normalisation=dict(self.weights.normalisation or TF_NORMALISATION),
            producer=f"edge {__version__}")

    def int8(self) -> onnx.ModelProto:
        """The base's int8 QDQ network with its original classifier."""
        if self.quant is None:
            raise EdgeError(f"{self.origin}: float weights need calibration before int8")
        return build_qdq(self.spec, self.quant, self.weights.normalisation,
                         self.info("int8"), kept=self.kept)

    def describe(self) -> dict:
        source = self.weights.source
        return {"origin": self.origin, "file": source.get("file"),
                "sha256": source.get("sha256"), "kind": source.get("kind"),
                "alpha": self.spec.alpha, "resolution": self.spec.resolution,
                "embedding": self.spec.channels[-1],
                "quantization": ("kept: the file's own trained quantization" if self.kept else
                                 "post-training (GPTQ), calibrated on "
                                 f"{self.calibration_photos} DATA photos x 2 crops")}


def load_base(origin: str, sha256: str | None = None) -> Base:
    """Read the base weights (a file, a published name or a URL with ``sha256``)."""
    if Path(origin).is_dir():
        raise EdgeError(f"--base {origin}: a folder; give the weights a model was made from (a "
                        ".tflite, Keras .h5 or timm .safetensors file) or a published name")
    weights = load_weights(origin, sha256)
    if not weights.source.get("trained"):
        raise EdgeError(f"--base {origin}: untrained weights make no embeddings worth training "
                        "on")
    spec = resolve_spec(weights, ConvertOptions(output=Path(".")))
    base = Base(origin, spec, weights)
    if weights.quantization is not None:
        base.quant, base.kept = weights.quantization, True
    return base


def calibrate(base: Base, tensors: list[np.ndarray], photos: int) -> None:
    """Post-training int8 for a float base, calibrated on ``tensors`` (edge-convert's
    default method)."""
    from edge.convert.quant.ptq import calibrate as collect
    from edge.convert.quant.ptq import correct_biases, pixel_zero, post_training

    if not tensors:
        raise EdgeError(f"--base {base.origin}: float weights need photos to calibrate int8")
    fp32 = build_model(base.spec, base.weights, base.info("fp32"))
    stats = collect(fp32, base.spec, tensors, pixel_zero(base.weights))
    base.quant = correct_biases(post_training(base.weights, base.spec, stats), base.spec,
                                stats, tensors)
    base.kept, base.calibration_photos = False, photos


def with_classes(spec: MobileNetSpec, classes: int) -> MobileNetSpec:
    """The same backbone with a classifier of ``classes`` outputs."""
    return replace(spec, classes=classes)
