"""The training report: one dict for report.json, one table for people. It says how the
accuracy was measured, on what, and what it cannot tell."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import numpy as np
import onnxruntime

from edge import __version__
from edge.convert.report import format_mcu, format_tflite, mcu_warnings
from edge.fileio import write_bytes_atomic
from edge.train.evaluate import confusion, most_confused
from edge.train.views import VIEWS

FEW_PHOTOS = 5  # fewer in a class: warned
UNBALANCED = 3.0  # largest class / smallest class above this: warned


def _evaluation(ex, held, folds: int | None, labels: list[str], classes: int,
                threshold) -> dict:
    """Held-out accuracy, per class, the confusion matrix and the most confused pairs."""
    truth = ex.labels
    if held is None:
        return {"method": None, "why": "a class has a single photo (near-duplicates count as "
                "one): nothing to hold out; add a second photo per class to measure it"}
    closed = held.argmax(axis=1)
    predicted = closed.copy()
    if threshold is not None:
        predicted[held.max(axis=1) < threshold.value] = classes
    matrix = confusion(truth, predicted, classes, len(labels))
    recall = [float(np.mean(closed[truth == k] == k)) for k in range(classes)]
    correct = int((closed == truth).sum())
    section = {
        "method": f"{folds}-fold cross-validation by photo, stratified by class: all views "
                  "of a photo, and its near-duplicates, are held out together; each held-out "
                  "photo is judged on its centre view (edge-run's default crop) by the int8 "
                  "head of the folds that did not see it",
        "folds": folds, "photos": len(truth), "correct": correct,
        "accuracy": correct / len(truth), "balanced_accuracy": float(np.mean(recall)),
        "per_class": [{"class": labels[k], "photos": int((truth == k).sum()),
                       "correct": int(((closed == k) & (truth == k)).sum()),
                       "recall": recall[k]} for k in range(classes)],
        "confusion": {"rows": labels[:classes], "columns": labels, "matrix": matrix.tolist(),
                      "answers": "with the unknown answer" if threshold is not None else
                      "the top class"},
        "most_confused": most_confused(matrix, labels),
    }
    if threshold is not None:
        section["with_unknown"] = {
            "correct": int((predicted == truth).sum()),
            "called_unknown": int((predicted == classes).sum()),
            "note": "the threshold was chosen on these same held-out scores: slightly "
                    "optimistic"}
    return section


def _warnings(opts, scan, ex, classes: int, held, threshold, built,
              cache_note) -> list[str]:
    counts = [int((ex.labels == k).sum()) for k in range(classes)]
    out = []
    few = [f"{scan.classes[k]} ({n})" for k, n in enumerate(counts) if n < FEW_PHOTOS]
    if few:
        out.append(f"few photos: {', '.join(few)}; {FEW_PHOTOS} or more per class, taken as "
                   "the camera will see them, make the answers and the held-out figure "
                   "trustworthy")
    if max(counts) > UNBALANCED * min(counts):
        big, small = int(np.argmax(counts)), int(np.argmin(counts))
        out.append(f"unbalanced classes: {scan.classes[big]} has {counts[big]} photos, "
                   f"{scan.classes[small]} {counts[small]}; the head weighs classes equally, "
                   "but the smaller one's figures rest on few photos")
    groups = len(np.unique(ex.groups))
    if groups < len(ex.labels):
        out.append(f"{len(ex.labels) - groups} photos are near-duplicates of others (cosine "
                   ">= 0.97): held out together, so they add little")
    if held is None:
        out.append("held-out accuracy not measured: a class has a single photo")
    if threshold is None and opts.unknown and opts.unknown_label not in scan.classes:
        out.append(f"no '{opts.unknown_label}' answer: its threshold is learned from held-out "
                   "photos, and a class has a single photo (every photo gets a class)")
    for what, items in (("duplicate", scan.duplicates), ("unreadable, skipped", scan.skipped),
                        ("ignored", scan.ignored)):
        if items:
            shown = "; ".join(items[:3]) + (f"; and {len(items) - 3} more (report.json)"
                                             if len(items) > 3 else "")
            out.append(f"{len(items)} {what}: {shown}")
    if cache_note:
        out.append(cache_note)
    return out + mcu_warnings(built.mcu) + mcu_warnings(built.tflite, "int8 .tflite")


def build_report(*, opts, scan, base, ex, trained, built, verification: dict, timings: dict,
                 cache: dict, out: Path) -> dict:
    """Everything a user needs to trust (or distrust) the trained model."""
    kind, held, threshold, labels = trained.kind, trained.held, trained.threshold, \
        trained.labels
    classes = len(scan.classes)
    files = {}
    for name, path in (("fp32", built.fp32), ("int8", built.int8)):
        files[name] = {"path": str(out / path.name), "bytes": path.stat().st_size}
    for section in (built.tflite, built.mcu and built.mcu["tflite"]):
        if section:
            files["tflite"] = {"path": str(out / Path(section["path"]).name),
                               "bytes": section["bytes"]}
            section["path"] = files["tflite"]["path"]
    if built.mcu:
        built.mcu["bundle"]["path"] = str(out / Path(built.mcu["bundle"]["path"]).name)
    views = len(ex.view) // len(ex.labels)
    unknown = None
    if threshold is not None:
        unknown = {"label": labels[-1], "threshold": threshold.value, "rule": threshold.rule,
                   "how": "one more class in the int8 network: zero weights, the threshold as "
                          "bias; it wins when no class scores above it, in every engine",
                   "known_kept": threshold.known_kept, "known": threshold.known,
                   "novel_rejected": threshold.novel_rejected, "novel": threshold.novel}
    elif opts.unknown and opts.unknown_label in scan.classes:
        unknown = {"label": opts.unknown_label, "threshold": None,
                   "how": "a class of DATA, trained like the others on its own photos (no "
                          "learned threshold)"}
    return {
        "edge_version": __version__, "command": "edge-train",
        "data": {"folder": str(scan.folder), "classes": [
            {"name": name, "photos": int((ex.labels == k).sum()),
             "distinct": len(np.unique(ex.groups[ex.labels == k]))}
            for k, name in enumerate(scan.classes)],
            "photos": len(ex.labels), "duplicates": scan.duplicates, "skipped": scan.skipped,
            "ignored": scan.ignored},
        "base": base.describe(),
        "head": {"kind": "imprinted" if kind == "imprint" else "trained",
                 "method": ("imprinting (the normalised mean of each class's normalised, "
                            "centred embeddings)" if kind == "imprint" else
                            "softmax regression (L2 1e-2; classes, and distinct photos in a "
                            "class, weighted equally; converged in "
                            f"{trained.head.iterations} steps)"),
                 "views": [v.name for v in VIEWS[:views]], "labels": labels,
                 "int8": {"weights": "int8 symmetric per output channel",
                          "bias": "int32 at feature scale x weight scale",
                          "logits": {"scale": trained.output.scale,
                                     "zero_point": trained.output.zero_point}},
                 "temperature": trained.factor},
        "unknown": unknown,
        "evaluation": _evaluation(ex, held, trained.folds, labels, classes, threshold),
        "model": {"alpha": base.spec.alpha, "resolution": base.spec.resolution,
                  "classes": len(labels), "labels": labels, "macs": built.info.macs,
                  "params": built.info.params},
        "files": files, "tflite": built.tflite, "mcu": built.mcu,
        "verification": verification,
        "warnings": _warnings(opts, scan, ex, classes, held, threshold, built, cache["note"]),
        "embeddings": {"views_per_photo": views, "computed_views": cache["added"],
                       "cache": cache["path"]},
        "timings": {k: round(v, 3) for k, v in timings.items()},
        "environment": {"python": platform.python_version(), "machine": platform.machine(),
                        "onnxruntime": onnxruntime.__version__},
    }


def write_report(path: Path, report: dict) -> None:
    write_bytes_atomic(path, (json.dumps(report, indent=2) + "\n").encode())


def _kib(n: int) -> str:
    return f"{n / 1024:,.0f} KiB"


def format_report(report: dict) -> str:
    """The printed summary table."""
    data, base, head = report["data"], report["base"], report["head"]
    extra = [f"{len(data[k])} {w}" for k, w in (("duplicates", "duplicates counted once"),
                                                  ("skipped", "unreadable skipped"),
                                                  ("ignored", "files ignored")) if data[k]]
    lines = [f"edge-train  {len(data['classes'])} classes from {data['folder']} "
             f"({data['photos']} photos{'; ' + '; '.join(extra) if extra else ''})",
             "  " + "   ".join(f"{c['name']} {c['photos']}" for c in data["classes"]),
             f"base        {base['file'] or base['origin']}: MobileNetV1 {base['alpha']:g}-"
             f"{base['resolution']}, {base['embedding']}-d embeddings, quantization "
             f"{base['quantization'].split(':')[0]}",
             f"head        {head['method'].split(' (')[0]}, {len(head['views'])} "
             f"view{'s' if len(head['views']) > 1 else ''} per photo"]
    ev = report["evaluation"]
    if ev["method"] is None:
        lines.append(f"held-out    not measured: {ev['why']}")
    else:
        lines.append(f"held-out    {ev['folds']}-fold cross-validation by photo: "
                     f"{ev['correct']}/{ev['photos']} correct ({100 * ev['accuracy']:.1f}%), "
                     f"balanced {100 * ev['balanced_accuracy']:.1f}%")
        if "with_unknown" in ev:
            w = ev["with_unknown"]
            lines.append(f"            with the unknown answer: {w['correct']}/{ev['photos']} "
                         f"correct, {w['called_unknown']} called "
                         f"{report['unknown']['label']}")
        conf = ev["confusion"]
        width = max(6, *map(len, conf["columns"]))
        lines.append("confusion   " + "true \\ predicted".ljust(width + 2) +
                     "".join(c.rjust(width + 1) for c in conf["columns"]))
        for name, row in zip(conf["rows"], conf["matrix"], strict=True):
            lines.append("            " + name.ljust(width + 2) +
                         "".join(str(v).rjust(width + 1) for v in row))
        for pair in ev["most_confused"]:
            lines.append(f"confused    {pair['true']} taken for {pair['predicted']}: "
                         f"{pair['photos']} of {pair['of']}")
    unknown = report["unknown"]
    if unknown and unknown["threshold"] is None:
        lines.append(f"unknown     '{unknown['label']}': {unknown['how']}")
    elif unknown:
        novel = (f", rejects {unknown['novel_rejected']}/{unknown['novel']} photos of unseen "
                 "classes" if unknown["novel"] else "")
        lines.append(f"unknown     '{unknown['label']}' when no class scores above "
                     f"{unknown['threshold']:.2f}: keeps {unknown['known_kept']}/"
                     f"{unknown['known']} held-out known photos{novel}")
    t = report["timings"]
    lines.append(f"time        {t['total_s']:.1f} s: embeddings {t['embed_s']:.1f} s "
                 f"({report['embeddings']['computed_views']} views computed), training "
                 f"{t['train_s']:.2f} s, models {t['build_s'] + t['export_s']:.1f} s")
    files = report["files"]
    sizes = ", ".join(f"{name} {_kib(f['bytes'])}" for name, f in files.items())
    lines.append(f"size        {sizes}; {report['model']['params'] / 1e6:.2f} M parameters, "
                 f"{report['model']['macs'] / 1e6:.0f} M MACs")
    lines += [f"{name:<12}{f['path']}" for name, f in files.items()]
    if report["tflite"]:
        lines += format_tflite(report["tflite"], report["tflite"]["verification"])[1:]
    if report["mcu"]:
        lines += format_mcu(report["mcu"])
    result = report["verification"]["result"]
    lines.append(f"int8 vs fp32 {result['top1_agree']}/{result['cases']} top-1 agree on "
                 "training photos")
    lines += [f"WARNING: {w}" for w in report["warnings"]]
    return "\n".join(lines)
