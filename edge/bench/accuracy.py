"""The top-1 a buyer should see beside a model's speed, where it is known: TF-slim's published
ImageNet figure for a model made from one of its checkpoints, or edge-train's held-out
accuracy for a model it trained. Anything else is unknown, and shown as such."""

from __future__ import annotations

import json
import re
from pathlib import Path

from edge.bench.sweep.configs import published
from edge.model import ModelInfo

# mobilenet_v1_0.5_160_quant.tflite, mobilenet_v1_1.0_224.tgz, tflite:0.25_128_quant, ...
_TF_SLIM = re.compile(r"(?:mobilenet_v1_|^)(\d\.\d+)_(\d+)(_quant)?(?:[._]|$)")


def known_accuracy(path: Path, info: ModelInfo) -> dict | None:
    """{"top1": percent, "source": what it is} or None when nothing honest is known."""
    trained = _trained_here(Path(path))
    if trained is not None:
        return trained
    if not info.trained:
        return None
    weights = info.weights or {}
    match = _TF_SLIM.search(str(weights.get("file") or weights.get("origin") or ""))
    if not match or (float(match.group(1)), int(match.group(2))) != (info.alpha,
                                                                     info.resolution):
        return None
    kind = "quant" if match.group(3) else "float"
    row = next((m for m in published()["models"]
                if (m["alpha"], m["resolution"]) == (info.alpha, info.resolution)), None)
    if row is None or kind not in row:
        return None
    note = ("the checkpoint's quantization-aware int8, as published" if kind == "quant"
            else "the float checkpoint; edge's int8 agreement is in its report.json"
            if info.precision == "int8" else "the float checkpoint")
    return {"top1": row[kind]["top1"], "source": f"published, ImageNet val (TF-slim; {note})"}


def _trained_here(path: Path) -> dict | None:
    """edge-train's held-out accuracy from the report beside the model, if it wrote one."""
    report = (path if path.is_dir() else path.parent) / "report.json"
    try:
        data = json.loads(report.read_text())
        ev = data["evaluation"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(ev, dict) or ev.get("accuracy") is None:
        return None
    return {"top1": round(100 * ev["accuracy"], 1),
            "source": f"measured by edge-train on {ev['photos']} held-out photos "
                      f"({ev['folds']}-fold cross-validation), its own classes"}
