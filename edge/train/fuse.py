"""The trained model: the base network with its classifier replaced by the new head, written
as edge-convert writes a model folder: fp32 ONNX, int8 ONNX (QDQ), the int8 ``.tflite`` (and
with ``--mcu`` the TFLM bundle), each with the labels in its metadata.

In the int8 graph the head is the classifier layer itself (int8 weights per output channel,
int32 bias, uint8 logits at a scale chosen from the training photos' logits), so onnxruntime,
LiteRT and TFLM all run the whole network, the unknown answer included; the fp32 graph holds
the same head in float.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import onnx

from edge import __version__
from edge.convert.graph import build_model
from edge.convert.quant.params import QLayer, QParams
from edge.convert.quant.qdq import build_qdq
from edge.convert.weights import TF_NORMALISATION
from edge.model import ModelInfo
from edge.train.base import Base, with_classes
from edge.train.heads import Head, QHead


@dataclass
class Built:
    """Paths of the models written into the staging folder, and their report sections."""

    fp32: Path
    int8: Path
    info: ModelInfo  # of the int8 model
    outputs: list[Path]
    tflite: dict | None = None
    mcu: dict | None = None


def model_info(base: Base, labels: list[str], head: dict) -> ModelInfo:
    """The fp32 model's ModelInfo: the base's network, the new labels, and what was trained."""
    spec = with_classes(base.spec, len(labels))
    source = dict(base.weights.source)
    weights = {**source, "kind": "edge-train", "trained": True,
               "note": f"{head['kind']} head for {len(labels)} classes on the frozen "
                       f"{source.get('file') or base.origin}", "base": source, "head": head}
    return ModelInfo(arch="mobilenet_v1", alpha=spec.alpha, resolution=spec.resolution,
                     classes=spec.classes, background=False, channel_order="RGB",
                     precision="fp32", weights=weights, labels=list(labels), macs=spec.macs,
                     params=spec.params, padding=spec.padding,
                     normalisation=dict(base.weights.normalisation or TF_NORMALISATION),
                     producer=f"edge {__version__} (edge-train)")


def head_layer(q: QHead, output: QParams) -> QLayer:
    """The classifier layer of the int8 graph."""
    return QLayer(q.weight, q.weight_scale, np.zeros(len(q.weight_scale), np.int8), q.bias,
                  q.bias_scale, output, "none")


def build(base: Base, head: Head, q: QHead, output: QParams, labels: list[str],
          head_section: dict, staging: Path) -> Built:
    """Write the fp32 and int8 ONNX models into ``staging``."""
    spec = with_classes(base.spec, len(labels))
    info = model_info(base, labels, head_section)
    weights = replace(base.weights, fc=(head.weight.astype(np.float32),
                                        head.bias.astype(np.float32)), quantization=None)
    fp32 = build_model(spec, weights, info)
    quant = base.quant
    section = {"mode": "keep" if base.kept else "recalibrate", "format": "QDQ",
               "method": ("kept: the base file's own quantization" if base.kept else
                          "post-training (GPTQ) calibrated on DATA's photos") +
                         "; the trained head int8 per channel",
               **replace(quant, fc=head_layer(q, output)).describe()}
    normalisation = info.normalisation
    if base.kept and quant.pixels_direct:
        normalisation = {"mean": [float(quant.input.zero_point)] * 3,
                         "std": [1.0 / quant.input.scale] * 3}
    int8_info = replace(info, precision="int8", normalisation=normalisation,
                        quantization=section)
    int8 = build_qdq(spec, replace(quant, fc=head_layer(q, output)),
                     base.weights.normalisation, int8_info, kept=base.kept)
    title = (f"MobileNetV1 {spec.alpha:g}-{spec.resolution}, {len(labels)} classes "
             f"({', '.join(labels)}): a {head_section['kind']} head on the frozen base")
    paths = []
    for model, model_info_, doc in ((fp32, info, title), (int8, int8_info, title + ", int8")):
        model.doc_string = doc
        model.graph.name = model_info_.name
        path = staging / f"{model_info_.name}.onnx"
        onnx.save(model, path)
        paths.append(path)
    return Built(paths[0], paths[1], int8_info, list(paths))


def export(built: Built, base: Base, staging: Path, cases: list[tuple[str, np.ndarray]],
           mcu: dict | None) -> None:
    """The int8 ``.tflite`` (verified in LiteRT on ``cases``), or with ``mcu`` (Target,
    input type) the TFLM bundle too (verified in TFLM and LiteRT)."""
    from edge.convert.mcu.export import export_mcu
    from edge.convert.tflite.litert import export_int8_tflite

    spec = with_classes(base.spec, built.info.classes)
    if mcu is not None:
        built.mcu, written = export_mcu(built.int8, staging, spec, built.info, mcu["target"],
                                        mcu["input"], cases)
    else:
        _, built.tflite, path = export_int8_tflite(built.int8, staging, spec, built.info,
                                                   "int8", cases)
        written = [path]
    built.outputs += written
