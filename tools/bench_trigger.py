"""Where the person trigger's defaults come from: the bundled person model (data/person) on
the bundled photos, each shown as a still scene for N frames with what a camera adds (sensor
noise, an auto-exposure step, JPEG re-encoding). For every photo: the share of frames on
the other side of the threshold from the photo's own answer, and the longest run of such
frames in a row: a trigger needs one frame more than that to switch on (or off) by noise.

    python tools/bench_trigger.py [--frames 90] [--noise 6] [--threshold 0.5]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge.engines import OrtEngine  # noqa: E402
from edge.frame import Frame  # noqa: E402
from edge.postprocess import softmax  # noqa: E402
from edge.preprocess import frame_to_input  # noqa: E402


def camera_frames(image: np.ndarray, n: int, sigma: float, rng) -> list[np.ndarray]:
    """``n`` frames of a still scene: Gaussian sensor noise, a +12 exposure step half way,
    JPEG quality 75 (a stream's compression)."""
    out = []
    for i in range(n):
        gain = 12.0 if i >= n // 2 else 0.0
        noisy = image.astype(np.float32) + gain + rng.normal(0, sigma, image.shape)
        frame = np.clip(noisy, 0, 255).astype(np.uint8)
        _, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 75])
        out.append(cv2.imdecode(jpeg, cv2.IMREAD_COLOR))
    return out


def longest_run(flags: list[bool]) -> int:
    best = run = 0
    for f in flags:
        run = run + 1 if f else 0
        best = max(best, run)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None,
                        help="an int8 ONNX of the person model (default: converted here)")
    parser.add_argument("--frames", type=int, default=90)
    parser.add_argument("--noise", type=float, default=6.0, help="sensor noise sigma (grey "
                                                                 "levels)")
    parser.add_argument("--threshold", type=float, default=0.5)
    args = parser.parse_args()
    model = args.model
    if model is None:
        import tempfile

        from edge.convert import ConvertOptions, convert

        out = Path(tempfile.mkdtemp(prefix="bench-trigger-"))
        report = convert(ConvertOptions(output=out, weights=str(ROOT / "data/person/"
                                                                "vww_96_int8.tflite"),
                                        labels=ROOT / "data/person/labels.txt"),
                         log=lambda _: None)
        model = Path(report["files"]["int8"]["path"])
    engine = OrtEngine(model, threads=1, exact=True)
    rng = np.random.default_rng(0)
    print(f"person model, {args.frames} frames per photo, noise sigma {args.noise}, exposure "
          f"step +12 half way, JPEG q75; threshold {args.threshold}")
    print(f"{'photo':<30}{'clean':>7}{'min':>7}{'max':>7}{'flipped':>9}{'longest run':>13}")
    worst = 0
    for photo in sorted((ROOT / "data" / "photos").glob("*.jpg")):
        image = cv2.imread(str(photo))
        clean = float(softmax(engine.run(frame_to_input(Frame(image, "BGR", 0, 0), 96)))[1])
        scores = [float(softmax(engine.run(frame_to_input(Frame(f, "BGR", 0, 0), 96)))[1])
                  for f in camera_frames(image, args.frames, args.noise, rng)]
        flipped = [(s >= args.threshold) != (clean >= args.threshold) for s in scores]
        run = longest_run(flipped)
        worst = max(worst, run)
        print(f"{photo.name:<30}{clean:>7.3f}{min(scores):>7.3f}{max(scores):>7.3f}"
              f"{sum(flipped):>6}/{len(flipped):<3}{run:>12}")
    print(f"longest run of frames across the threshold by noise alone: {worst}; a trigger "
          f"that needs {worst + 1} frames in a row does not flap on these scenes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
