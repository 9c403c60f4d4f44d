#!/usr/bin/env python3
"""End to end, in one run: edge-run replaying a 640x480 MJPG video against a serial loop with
the structure of TensorFlow's Raspberry Pi classification example (OpenCV read, centre crop,
resize, BGR->RGB, LiteRT invoke; one thread), on the same network.

The peer runs LiteRT's own int8 build from ../shared/data/peers (float input, as that example
feeds it); edge runs the folder edge-convert wrote from the peer's float weights, choosing its
build and engine itself (``--model DIR``), at one inference thread. Rounds alternate the two
so drift hits both; the headline is edge-run's frames per second over the loop's.

    python tools/bench_e2e.py [--networks 1.0-224,0.25-128] [--frames 300] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from edge.convert import ConvertOptions, convert
from edge.machine import cpu_features

ROOT = Path(__file__).resolve().parents[1]
PEERS = ROOT.parent / "shared" / "data" / "peers"
NETWORKS = {"1.0-224": ("mnv1_a1.0_224.tflite", "mnv1_a1.0_224_int8.tflite"),
            "0.25-128": ("mnv1_a0.25_128.tflite", "mnv1_a0.25_128_int8.tflite")}
BIN = Path(sys.executable).parent


def make_video(target: Path, frames: int) -> Path:
    """640x480 MJPG AVI of the bundled photos, each shown for a few frames."""
    photos = sorted((ROOT / "data" / "photos").iterdir())
    writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"MJPG"), 30, (640, 480))
    for i in range(frames):
        image = cv2.imread(str(photos[(i // 5) % len(photos)]))
        writer.write(cv2.resize(image, (640, 480), interpolation=cv2.INTER_AREA))
    writer.release()
    return target


def serial_loop(model: Path, video: Path) -> float:
    """TensorFlow's Raspberry Pi example, structurally: frames per second."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(model), num_threads=1)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    size = int(inp["shape"][1])
    cap = cv2.VideoCapture(str(video))
    n, t0 = 0, time.perf_counter()
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        h, w = frame.shape[:2]
        s = min(h, w)
        crop = frame[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
        rgb = cv2.cvtColor(cv2.resize(crop, (size, size)), cv2.COLOR_BGR2RGB)
        if inp["dtype"] == np.float32:
            tensor = (rgb.astype(np.float32) - 127.5) / 127.5
        else:
            tensor = rgb.astype(inp["dtype"])
        interp.set_tensor(inp["index"], tensor[np.newaxis])
        interp.invoke()
        int(np.argmax(interp.get_tensor(out["index"])[0]))
        n += 1
    elapsed = time.perf_counter() - t0
    cap.release()
    return n / elapsed


def edge_run(folder: Path, video: Path, cache: Path) -> tuple[float, dict]:
    proc = subprocess.run([str(BIN / "edge-run"), "--model", str(folder), "--replay",
                           str(video), "--threads", "1", "--json", "-q", "--no-config",
                           "--cache-dir", str(cache)], capture_output=True, text=True, check=True)
    summary = json.loads(proc.stdout)
    return summary["frames"]["processed"] / summary["elapsed_s"], summary


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--networks", default=",".join(NETWORKS))
    p.add_argument("--frames", type=int, default=300)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    if not PEERS.is_dir():
        print(f"bench_e2e: needs LiteRT's peer files in {PEERS}", file=sys.stderr)
        return 2
    rows = []
    with tempfile.TemporaryDirectory(prefix="edge-e2e-") as tmp:
        tmp = Path(tmp)
        video = make_video(tmp / "clip.avi", args.frames)
        for name in args.networks.split(","):
            float_file, int8_file = NETWORKS[name]
            folder = tmp / name
            convert(ConvertOptions(output=folder, weights=str(PEERS / float_file),
                                   calibration=ROOT / "data" / "photos"), log=lambda _: None)
            edge_run(folder, video, tmp / "cache")  # the build choice, measured once
            ours, theirs, summary = [], [], {}
            for _ in range(args.rounds):
                theirs.append(serial_loop(PEERS / int8_file, video))
                fps, summary = edge_run(folder, video, tmp / "cache")
                ours.append(fps)
            rows.append((name, float(np.median(theirs)), float(np.median(ours)), summary))
    print(f"{cpu_features()['model']}, {platform.machine()}; {args.frames} frames of 640x480 "
          f"MJPG, one inference thread, median of {args.rounds} alternating rounds")
    print(f"{'network':<10}{'serial loop FPS':>17}{'edge-run FPS':>14}{'ratio':>8}  edge ran")
    for name, theirs, ours, summary in rows:
        print(f"{name:<10}{theirs:>17.1f}{ours:>14.1f}{ours / theirs:>7.2f}x  "
              f"{summary['model']} on {summary['engine']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
