#!/usr/bin/env python3
"""What our pipeline costs on top of the inference it runs, measured as ratios in one run.

1. in-memory frames as fast as possible: edge's Pipeline vs a bare session.run loop (same
   model, threads, spinning);
2. JPEG files as fast as possible: pipeline FPS vs 1 / max(decode + preprocess, inference),
   the best that overlapping the capture thread (decode, preprocess) with inference can reach;
3. paced at 30 FPS: edge-run's CPU-ms per frame vs the inference alone (spinning off), with
   frames at the model's size (what picamera2's lores stream delivers) and at 640x480;
4. cold start of edge-run (process start to first result, optimised model cached) and its
   resident memory.

    python tools/bench_pipeline.py [--model M.onnx] [--threads N] [--seconds S]
Default model: MobileNetV1 1.0-224 int8 converted from the shared LiteRT peer's float weights.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from edge.bench.models import paced_cpu_ms
from edge.convert import ConvertOptions, convert
from edge.engines import OrtEngine
from edge.machine import physical_cores
from edge.model import read_model_info
from edge.preprocess import to_input
from edge.run.pipeline import Pipeline
from edge.sources.replay import ImageFolderSource
from edge.sources.synthetic import SyntheticSource

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
BIN = Path(sys.executable).parent


def bare_fps(engine: OrtEngine, size: int, n: int) -> float:
    x = np.random.default_rng(0).integers(0, 256, (1, size, size, 3), dtype=np.uint8)
    t0 = time.perf_counter()
    for _ in range(n):
        engine.run(x)
    return n / (time.perf_counter() - t0)


def pipeline_fps(engine: OrtEngine, source) -> float:
    t0 = time.perf_counter()
    summary = Pipeline(source, engine, engine.info).run()
    return summary.frames.processed / (time.perf_counter() - t0)


def jpeg_folder(target: Path, count: int) -> Path:
    """``count`` camera-sized JPEGs made from the shared photos."""
    target.mkdir(parents=True, exist_ok=True)
    with ImageFolderSource(DATA / "photos") as source:
        images = [f.image for f in source]
    for i in range(count):
        image = cv2.resize(images[i % len(images)], (640, 480), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(target / f"{i:04d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return target


def edge_run(*args: str, env=None) -> dict:
    proc = subprocess.run([str(BIN / "edge-run"), *args, "--json", "-q", "--no-config"],
                          capture_output=True, text=True, check=True, env=env)
    return json.loads(proc.stdout)


def cold_start(model: Path, photos: Path, cache: Path) -> float:
    """Seconds from process start to the first printed result, optimised model cached."""
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    args = [str(BIN / "edge-run"), "--replay", str(photos), "--model", str(model),
            "--max-frames", "1", "--verbose", "--no-config"]
    subprocess.run(args, capture_output=True, check=True, env=env)  # fills the cache
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
                            text=True)
    proc.stdout.readline()
    elapsed = time.perf_counter() - t0
    proc.communicate()
    return elapsed


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path)
    p.add_argument("--threads", type=int, default=physical_cores())
    p.add_argument("--seconds", type=float, default=10.0, help="for the paced run")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="edge-bench-pipeline-") as tmp:
        tmp = Path(tmp)
        model = args.model or Path(convert(ConvertOptions(
            output=tmp / "model", weights=str(DATA / "peers/mnv1_a1.0_224.tflite"),
            calibration=DATA / "photos"), log=lambda _: None)["files"]["int8"]["path"])
        info = read_model_info(model)
        size = info.resolution
        engine = OrtEngine(model, threads=args.threads, spin=True, info=info)
        n = max(100, int(2.0 * bare_fps(engine, size, 20)))  # about 2 s a measurement

        bare, piped = [], []
        for _ in range(args.rounds):
            bare.append(bare_fps(engine, size, n))
            piped.append(pipeline_fps(engine, SyntheticSource(size, size, count=n)))
        mem_ratio = np.median(piped) / np.median(bare)

        folder = jpeg_folder(tmp / "jpegs", 200)
        files = sorted(folder.iterdir())
        t0 = time.perf_counter()
        images = [cv2.imread(str(f)) for f in files]
        decode_ms = (time.perf_counter() - t0) / len(files) * 1e3
        t0 = time.perf_counter()
        tensors = [to_input(im, "BGR", size, "center") for im in images]
        pre_ms = (time.perf_counter() - t0) / len(files) * 1e3
        t0 = time.perf_counter()
        for t in tensors:
            engine.run(t)
        infer_ms = (time.perf_counter() - t0) / len(files) * 1e3
        jpeg = np.median([pipeline_fps(engine, ImageFolderSource(folder))
                          for _ in range(args.rounds)])
        bound = 1e3 / max(decode_ms + pre_ms, infer_ms)
        jpeg_ratio = jpeg / bound

        paced = {f"{w}x{h}": edge_run("--synthetic", "--camera-fps", "30", "--fps-cap", "30",
                                      "--width", str(w), "--height", str(h), "--model",
                                      str(model), "--threads", str(args.threads),
                                      "--duration", str(args.seconds))
                 for w, h in ((size, size), (640, 480))}
        alone = OrtEngine(model, threads=args.threads, spin=False, info=info)
        x = np.zeros((1, size, size, 3), np.uint8)
        alone_ms = paced_cpu_ms(lambda: alone.run(x), 30.0, args.seconds)
        paced_ratio = {k: v["cpu_ms_per_frame"] / alone_ms for k, v in paced.items()}

        start_s = cold_start(model, DATA / "photos", tmp / "cache")
        running = edge_run("--replay", str(DATA / "photos"), "--loop", "--model", str(model),
                           "--duration", "5")

    print(f"model {info.name}, {args.threads} threads")
    print(f"in-memory frames: pipeline {np.median(piped):.1f} FPS vs bare session.run "
          f"{np.median(bare):.1f} FPS: {mem_ratio:.3f}x")
    print(f"JPEG files (640x480): decode {decode_ms:.2f} ms, preprocess {pre_ms:.2f} ms, "
          f"inference {infer_ms:.2f} ms; pipeline {jpeg:.1f} FPS vs bound {bound:.1f} FPS: "
          f"{jpeg_ratio:.3f}x")
    for frames, summary in paced.items():
        print(f"paced at 30 FPS, {frames} frames: edge-run {summary['cpu_ms_per_frame']:.2f} "
              f"CPU-ms per frame vs inference alone {alone_ms:.2f}: "
              f"{paced_ratio[frames]:.3f}x")
    print(f"cold start to first result (optimised model cached): {start_s:.2f} s; resident "
          f"memory while running {running['rss_mb']:.0f} MB (peak {running['rss_peak_mb']:.0f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
