#!/usr/bin/env python3
"""The kept quantization against the recalibrated one: speed on this CPU and answers.

For each bundled quantization-aware-trained file (data/models): the kept int8 (the file's own
uint8 quantization, bit for bit what LiteRT computes), the recalibrated int8 (post-training
quantization of the dequantised weights on the bundled photos, the default method), the fp32
of the dequantised weights, and LiteRT running the file itself. Latency p50 at one thread,
configurations interleaved in rounds so drift hits all alike; top-1 agreement of each build
with LiteRT on the bundled photos in both crop modes (Pillow preprocessing, as the reference).

    python tools/bench_keep.py [--runs 200] [--rounds 5] [--threads 1] [--json out.json]
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

from edge.convert import ConvertOptions, convert
from edge.engines import OrtEngine
from edge.machine import cpu_features

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
from make_reference import reference_input  # noqa: E402  (tools/: Pillow, as the reference)


def litert(path: Path, threads: int):
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path), num_threads=threads)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]

    def run(x: np.ndarray) -> np.ndarray:
        interp.set_tensor(inp["index"], x)
        interp.invoke()
        return interp.get_tensor(out["index"])[0].astype(np.float64)

    return run


def p50_ms(runs: dict, x: np.ndarray, n: int, rounds: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in runs}
    for run in runs.values():
        for _ in range(20):
            run(x)
    for _ in range(rounds):
        for name, run in runs.items():
            for _ in range(n // rounds):
                t0 = time.perf_counter()
                run(x)
                times[name].append(time.perf_counter() - t0)
    return {name: float(np.median(t)) * 1e3 for name, t in times.items()}


def agreement(runs: dict, reference, size: int) -> dict[str, int]:
    photos = sorted((DATA / "photos").glob("*.jpg"))
    agree = dict.fromkeys(runs, 0)
    for photo in photos:
        for mode in ("full_image", "center_crop"):
            x = reference_input(photo, mode, size)
            want = reference(x)
            for name, run in runs.items():
                agree[name] += bool(want[int(np.argmax(run(x)))] == want.max())
    return agree


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    try:
        import ai_edge_litert  # noqa: F401
    except ImportError:
        print("bench_keep: needs LiteRT: pip install -e '.[test]'", file=sys.stderr)
        return 2
    results = {"cpu": cpu_features(), "machine": platform.machine(), "threads": args.threads,
               "models": {}}
    with tempfile.TemporaryDirectory(prefix="edge-bench-keep-") as tmp:
        for tflite in sorted((DATA / "models").glob("*_quant.tflite")):
            paths = {}
            for mode in ("keep", "recalibrate"):
                report = convert(ConvertOptions(output=Path(tmp) / tflite.stem / mode,
                                                weights=str(tflite), quantization=mode,
                                                calibration=DATA / "photos"),
                                 log=lambda _: None)
                paths[f"int8 {mode}"] = report["files"]["int8"]["path"]
                paths["fp32 dequantised"] = report["files"]["fp32"]["path"]
            size = report["model"]["resolution"]
            engines = {name: OrtEngine(Path(path), threads=args.threads, spin=False, warmup=True)
                       for name, path in paths.items()}
            runs = {name: e.run for name, e in engines.items()}
            runs["LiteRT (the file)"] = litert(tflite, args.threads)
            x = np.random.default_rng(0).integers(0, 256, (1, size, size, 3), dtype=np.uint8)
            ms = p50_ms(runs, x, args.runs, args.rounds)
            agree = agreement({k: v for k, v in runs.items() if k != "LiteRT (the file)"},
                              litert(tflite, 1), size)
            results["models"][tflite.name] = {"p50_ms": ms, "litert_top1_agree": agree,
                                              "cases": 24}
            print(f"{tflite.name} ({args.threads} thread{'s' * (args.threads > 1)}, p50)")
            base = ms["int8 recalibrate"]
            for name, value in ms.items():
                agreed = f"{agree[name]}/24 top-1 as LiteRT" if name in agree else ""
                print(f"  {name:<20} {value:7.3f} ms  {value / base:5.2f}x recalibrated  "
                      f"{agreed}")
            sys.stdout.flush()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
