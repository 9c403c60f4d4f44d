#!/usr/bin/env python3
"""What a paced edge-run costs in CPU per frame, against the inference alone, in one run.

Three measurements on the same model, threads and frame rate:
  1. bare onnxruntime session.run paced at the rate, spin-waiting ON (onnxruntime's default)
  2. the same with spin-waiting OFF (what edge-run does when paced)
  3. edge-run --synthetic --fps-cap RATE (capture thread, preprocessing, postprocessing,
     reporting, terminal status: the whole pipeline), CPU per processed frame
The headline is 3 / 2: how much the pipeline adds to the inference it paces.

    python tools/bench_pacing.py [--model M.onnx] [--fps 10] [--seconds 10] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from edge.bench.models import paced_cpu_ms
from edge.engines import OrtEngine
from edge.machine import physical_cores
from edge.model import read_model_info

BIN = Path(sys.executable).parent


def bare_paced(model: Path, fps: float, seconds: float, threads: int, spin: bool) -> float:
    """CPU-ms per inference of a bare session.run loop paced at ``fps``."""
    info = read_model_info(model)
    engine = OrtEngine(model, threads=threads, spin=spin, info=info)
    tensor = np.random.default_rng(0).integers(0, 256, (1, info.resolution, info.resolution, 3),
                                               dtype=np.uint8)
    return paced_cpu_ms(lambda: engine.run(tensor), fps, seconds)


def edge_run_paced(model: Path, fps: float, seconds: float, threads: int) -> dict:
    proc = subprocess.run([str(BIN / "edge-run"), "--synthetic", "--camera-fps", "30",
                           "--model", str(model), "--fps-cap", str(fps), "--threads",
                           str(threads), "--duration", str(seconds), "--json", "-q"],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, help="edge model (default: a random 1.0-224 fp32)")
    p.add_argument("--fps", type=float, default=10.0)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--threads", type=int, default=physical_cores())
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None:
            from edge.convert import ConvertOptions, convert

            model = Path(convert(ConvertOptions(output=Path(tmp), alpha=1.0, resolution=224),
                                 log=lambda _: None)["files"]["fp32"]["path"])
        spin_on = bare_paced(model, args.fps, args.seconds, args.threads, spin=True)
        spin_off = bare_paced(model, args.fps, args.seconds, args.threads, spin=False)
        summary = edge_run_paced(model, args.fps, args.seconds, args.threads)
    pipeline = summary["cpu_ms_per_frame"]
    print(f"model {model.name}, {args.threads} threads, paced at {args.fps:g} FPS for "
          f"{args.seconds:g} s each")
    print(f"  bare session.run, spinning on   {spin_on:8.2f} CPU-ms per frame")
    print(f"  bare session.run, spinning off  {spin_off:8.2f} CPU-ms per frame")
    print(f"  edge-run --fps-cap {args.fps:g}           {pipeline:8.2f} CPU-ms per frame "
          f"({summary['frames']['processed']} frames, "
          f"inference p50 {summary['latency_ms']['inference']['run']['p50']:.2f} ms)")
    print(f"ratio edge-run / bare inference (spinning off): {pipeline / spin_off:.2f}x; "
          f"spinning on would cost {spin_on / spin_off:.1f}x the inference")
    return 0


if __name__ == "__main__":
    sys.exit(main())
