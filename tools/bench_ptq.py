#!/usr/bin/env python3
"""Post-training int8 methods against fp32 on held-out frames, for every float model we have.

Models: the bundled quantization-aware-trained files dequantised (used as float weights) and,
when ../shared/data is there, TensorFlow's float 0.25-128. Frames: eight views of each bundled
photo (tools/views.py); the views of six photos calibrate and those of the other six verify,
then the other way round, each view in both crop modes (96 held-out cases a fold). For each
method: top-1 agreement with fp32 on all views and on the whole and centre views, and the mean
squared logit error. Methods: gptq (the default) and ablations of it, and onnxruntime's static
quantization with its three calibrators.

    python tools/bench_ptq.py [--methods gptq,minmax] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx

from edge.convert import ConvertOptions, convert, resolve_spec
from edge.convert.checkpoints.download import load_weights
from edge.convert.quant.frames import load_frames
from edge.convert.quant.ort import quantize_ort
from edge.convert.quant.ptq import calibrate, correct_biases, pixel_zero, post_training
from edge.convert.quant.qdq import build_qdq
from edge.engines import OrtEngine
from edge.machine import cpu_features
from edge.model import read_model_info

ROOT = Path(__file__).resolve().parents[1]
from views import VIEWS, split_photos, write_views  # noqa: E402  (tools/views.py)

SHARED = ROOT.parent / "shared" / "data" / "mobilenet_v1" / "mobilenet_v1_0.25_128.tflite"
MODELS = {"QAT 0.25-128 dequantised": ROOT / "data/models/mobilenet_v1_0.25_128_quant.tflite",
          "QAT 0.5-160 dequantised": ROOT / "data/models/mobilenet_v1_0.5_160_quant.tflite",
          "float 0.25-128": SHARED}
WHOLE = {i for i, (side, *_) in enumerate(VIEWS) if side >= 0.7}


def gptq_variant(gptq: bool = True, analytic: bool = True, empirical: bool = True):
    def build(fp32, weights, spec, info, tensors):
        stats = calibrate(fp32, spec, tensors, pixel_zero(weights))
        quant = post_training(weights, spec, stats, gptq=gptq, bias_correction=analytic)
        if empirical:
            quant = correct_biases(quant, spec, stats, tensors)
        return build_qdq(spec, quant, weights.normalisation, info, kept=False)
    return build


METHODS = {
    "gptq": gptq_variant(),  # the default
    "gptq-no-empirical-bc": gptq_variant(empirical=False),
    "gptq-no-bc": gptq_variant(analytic=False, empirical=False),
    "nearest-rounding+bc": gptq_variant(gptq=False),
    "minmax": lambda fp32, w, s, i, t: quantize_ort(fp32, t, "minmax"),
    "entropy": lambda fp32, w, s, i, t: quantize_ort(fp32, t, "entropy"),
    "percentile": lambda fp32, w, s, i, t: quantize_ort(fp32, t, "percentile"),
}


def view_index(case: str) -> int:
    """"bird_3.png:center" -> 3."""
    return int(Path(case.split(":")[0]).stem.rsplit("_", 1)[1])


def evaluate(fp32: Path, int8: Path, cases) -> list[tuple[str, bool, float]]:
    # int8 as the QDQ standard defines it: the same figures on every CPU
    a = OrtEngine(fp32, threads=1, warmup=False)
    b = OrtEngine(int8, threads=1, warmup=False, exact=True)
    rows = []
    for name, tensor in cases:
        la, lb = a.run(tensor), b.run(tensor)
        rows.append((name, bool(np.argmax(la) == np.argmax(lb)), float(((la - lb) ** 2).mean())))
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    methods = args.methods.split(",")
    unknown = set(methods) - set(METHODS)
    if unknown:
        print(f"bench_ptq: unknown methods {sorted(unknown)}; known: {list(METHODS)}",
              file=sys.stderr)
        return 2
    results = {"cpu": cpu_features(), "machine": platform.machine(), "models": {}}
    with tempfile.TemporaryDirectory(prefix="edge-bench-ptq-") as tmp:
        tmp = Path(tmp)
        halves = split_photos(ROOT / "data" / "photos")
        folders = [write_views(h, tmp / f"views{i}") for i, h in enumerate(halves)]
        for label, path in MODELS.items():
            if not path.is_file():
                print(f"{label}: {path} not found, skipped")
                continue
            report = convert(ConvertOptions(output=tmp / path.stem, weights=str(path)),
                             log=lambda _: None)
            fp32_path = Path(report["files"]["fp32"]["path"])
            fp32, info = onnx.load(fp32_path), read_model_info(fp32_path)
            weights = load_weights(str(path))
            spec = resolve_spec(weights, ConvertOptions(output=tmp))
            info = info.__class__(**{**info.__dict__, "precision": "int8"})
            size = spec.resolution
            for method in methods:
                rows, seconds = [], 0.0
                for cal, ver in ((0, 1), (1, 0)):
                    tensors = [t for _, t in load_frames(folders[cal], size).cases()]
                    t0 = time.perf_counter()
                    model = METHODS[method](fp32, weights, spec, info, tensors)
                    seconds += time.perf_counter() - t0
                    target = tmp / f"{path.stem}-{len(rows)}.onnx"
                    onnx.save(model, target)
                    rows += evaluate(fp32_path, target, load_frames(folders[ver], size).cases())
                whole = [r for r in rows if view_index(r[0]) in WHOLE]
                entry = {"agree": sum(r[1] for r in rows), "cases": len(rows),
                         "whole_agree": sum(r[1] for r in whole), "whole_cases": len(whole),
                         "logit_mse": float(np.mean([r[2] for r in rows])),
                         "quantize_s": seconds / 2}
                results["models"].setdefault(label, {})[method] = entry
                print(f"{label:<26} {method:<22} {entry['agree']:3d}/{entry['cases']} "
                      f"({100 * entry['agree'] / entry['cases']:5.1f}%)  whole/centre "
                      f"{entry['whole_agree']}/{entry['whole_cases']}  logit MSE "
                      f"{entry['logit_mse']:.4f}  {entry['quantize_s']:.1f} s", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
