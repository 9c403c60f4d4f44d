"""The int8 model as the full-integer ``.tflite`` the Pi's LiteRT engine runs (and TFLM): the
export with edge's metadata, its float logits given an int8 scale, and its check in LiteRT."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx

from edge.convert.spec import MobileNetSpec
from edge.convert.tflite.export import Export, export_tflite
from edge.convert.tflite.verify import verify_tflite
from edge.errors import EdgeError
from edge.labels import imagenet_labels
from edge.model import ModelInfo


def logit_scale(model: onnx.ModelProto, path: Path,
                cases: list[tuple[str, np.ndarray]]) -> float | None:
    """For an int8 model whose logits are float: an int8 scale that holds every logit seen on
    the verification frames with a quarter to spare (None when the logits are quantized)."""
    out = model.graph.output[0].name
    if next(n for n in model.graph.node if out in n.output).op_type == "DequantizeLinear":
        return None
    if not cases:
        raise EdgeError("--mcu: the int8 model's logits are float; choosing their int8 scale "
                        "needs frames (--calibration or --verify)")
    from edge.engines import OrtEngine

    engine = OrtEngine(path, threads=1, warmup=False, exact=True)  # the same on every CPU
    peak = max(float(np.abs(engine.run(tensor)).max()) for _, tensor in cases)
    return 1.25 * peak / 127 if peak > 0 else 1.0


def export_int8_tflite(int8_path: Path, staging: Path, spec: MobileNetSpec, info: ModelInfo,
                       input_type: str, cases: list[tuple[str, np.ndarray]],
                       verify: bool = True) -> tuple[Export, dict, Path]:
    """Write ``<name>.tflite`` (full-integer int8, for LiteRT and TFLM) into ``staging``;
    return the export, its report section (verified in LiteRT on ``cases`` when ``verify``)
    and the path."""
    meta = {**json.loads(info.to_json()), "trained": info.trained}
    if info.labels is not None and info.labels == imagenet_labels(info.classes):
        # the runtime has ImageNet's names built in; an MCU's flash has better uses
        meta.update(labels=None, labels_builtin="imagenet")
    model = onnx.load(int8_path)
    export = export_tflite(model, input_type, description=title(spec, info), metadata=meta,
                           logit_scale=logit_scale(model, int8_path, cases))
    path = staging / f"{info.name}.tflite"
    path.write_bytes(export.tflite)
    section = {"path": str(path), "bytes": len(export.tflite), "ops": export.ops,
               "input": export.input, "output": export.output,
               "requantized_weights": export.requantized, "notes": export.notes,
               "verification": (verify_tflite(export.tflite, int8_path, cases, input_type,
                                              export.output)
                                if verify and cases else None)}
    return export, section, path


def title(spec: MobileNetSpec, info: ModelInfo) -> str:
    return f"MobileNetV1 {spec.alpha:g}-{spec.resolution} int8" + (
        "" if info.trained else " (UNTRAINED: random weights, predictions are meaningless)")


