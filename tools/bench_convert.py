#!/usr/bin/env python3
"""Time edge-convert on MobileNetV1 1.0-224 with 100 calibration frames.

The frames are a video this script writes from the shared photographs (a slow pan across each,
so every frame differs), because calibration should see real pixels. Weights are random
(no 1.0-224 checkpoint is shared): quantization and verification cost the same either way.

    python tools/bench_convert.py [--photos ../shared/data/photos] [--frames 100] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import cv2

from edge.convert import ConvertOptions, convert
from edge.machine import cpu_features
from edge.sources.replay import ImageFolderSource

ROOT = Path(__file__).resolve().parents[1]


def write_pan_video(photos: Path, target: Path, frames: int, size: int = 480) -> None:
    with ImageFolderSource(photos) as source:
        images = [f.image for f in source]
    writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"MJPG"), 30, (size, size))
    per = max(1, frames // len(images))
    written = 0
    for image in images:
        h, w = image.shape[:2]
        side = min(h, w) * 3 // 4
        for i in range(per):
            if written == frames:
                break
            x = (w - side) * i // max(1, per - 1)
            y = (h - side) * i // max(1, per - 1)
            writer.write(cv2.resize(image[y:y + side, x:x + side], (size, size)))
            written += 1
    while written < frames:  # top up with the last photo's centre
        writer.write(cv2.resize(images[-1][:side, :side], (size, size)))
        written += 1
    writer.release()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--photos", type=Path, default=ROOT.parent / "shared" / "data" / "photos")
    p.add_argument("--frames", type=int, default=100)
    p.add_argument("--alpha", type=float, default=1.0)
    p.add_argument("--resolution", type=int, default=224)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    if not args.photos.is_dir():
        print(f"bench_convert: {args.photos}: photos folder not found", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="edge-bench-convert-") as tmp:
        video = Path(tmp) / "calibration.avi"
        write_pan_video(args.photos, video, args.frames + 20)
        t0 = time.perf_counter()
        report = convert(ConvertOptions(output=Path(tmp) / "out", alpha=args.alpha,
                                        resolution=args.resolution, calibration=video,
                                        calibration_samples=args.frames, verify_samples=20),
                         log=lambda _: None)
        wall = time.perf_counter() - t0
    result = {
        "model": f"{args.alpha:g}-{args.resolution}",
        "calibration_frames": report["calibration"]["frames"],
        "calibration_tensors": report["calibration"]["tensors"],
        "wall_s": round(wall, 2),
        "stages_s": report["timings"],
        "machine": {"cpu": cpu_features()["model"], "cores": _cores(), "arch": platform.machine(),
                    "python": platform.python_version(),
                    "onnxruntime": report["environment"]["onnxruntime"]},
    }
    print(f"edge-convert {result['model']}, {result['calibration_frames']} calibration frames "
          f"(x2 crops): {wall:.1f} s wall "
          f"(build {report['timings']['build_s']:.1f} s, quantize "
          f"{report['timings']['quantize_s']:.1f} s, verify {report['timings']['verify_s']:.1f} s)"
          f" on {result['machine']['cpu']}, {result['machine']['cores']} cores")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0



def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


if __name__ == "__main__":
    sys.exit(main())
