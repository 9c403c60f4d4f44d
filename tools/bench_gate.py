#!/usr/bin/env python3
"""The motion gate's figures (docs/motion-gate.md), measured in one run.

1. The still clip (3 s of one photo, 3 s of another, 3 s of the first again, 30 FPS, 640x480):
   edge-run with and without --motion-gate, alternating, as fast as it goes; inferences as a
   share of frames, process CPU-ms per frame gated against ungated, and the delay from each
   change to the new answer, in frames. Two sources: the clip as an MJPG video (decoded on the
   CPU, as a USB webcam's MJPG is) and as BMP frames already at the model's size (what
   picamera2's lores stream hands over: nothing to decode or resize).
2. The noisy clip (one photo for 9 s with Gaussian sensor noise, an exposure step up at 3 s and
   back at 6 s, every frame re-encoded as JPEG): the inferences the gate lets through.
3. The detector alone on the bundled photos at its defaults: changes it reports on noisy,
   exposure-stepped frames of an unchanged scene, and the share of pasted objects covering 1,
   2 and 5 % of the model's view that it sees.

    python tools/bench_gate.py [--model M.onnx] [--threads N] [--rounds N] [--json FILE]
Default model: the bundled 0.5-160 (trained) converted to int8 ONNX.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from edge.motion import GateParams, MotionGate, cells, changed_cells
from edge.preprocess import to_input

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT / "data" / "photos"
BIN = Path(sys.executable).parent
FPS = 30
SIZE = (640, 480)
STILL = ("parrot.jpg", "bird.jpg", "parrot.jpg")  # answers: macaw, chickadee, macaw
NOISY = "parrot.jpg"


def camera_frame(photo: str) -> np.ndarray:
    """A bundled photo as a 640x480 BGR camera frame."""
    return cv2.resize(cv2.imread(str(PHOTOS / photo)), SIZE, interpolation=cv2.INTER_AREA)


def write_video(path: Path, frames: Iterable[np.ndarray], fps: int = FPS) -> int:
    """MJPG .avi of the BGR frames; returns how many were written."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, SIZE)
    count = 0
    for frame in frames:
        writer.write(frame)
        count += 1
    writer.release()
    return count


def still_clip(path: Path, seconds: float = 3.0, photos: tuple[str, ...] = STILL) -> list[int]:
    """The still clip: each photo held ``seconds``; returns the frame numbers where the scene
    changes."""
    per = round(seconds * FPS)
    write_video(path, (camera_frame(p) for p in photos for _ in range(per)))
    return [i * per for i in range(1, len(photos))]


def sensor(image: np.ndarray, rng: np.random.Generator, sigma: float, gain: float,
           quality: int) -> np.ndarray:
    """What a camera might deliver of a still scene: exposure gain, Gaussian noise, JPEG."""
    noisy = image.astype(np.float32) * gain + rng.normal(0.0, sigma, image.shape)
    _, data = cv2.imencode(".jpg", np.clip(np.rint(noisy), 0, 255).astype(np.uint8),
                           [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(data, cv2.IMREAD_COLOR)


def noisy_clip(path: Path, photo: str = NOISY, seconds: float = 9.0, sigma: float = 8.0,
               step: float = 1.25, quality: int = 75, seed: int = 0) -> int:
    """One photo with sensor noise, exposure x``step`` for the middle third, each frame
    JPEG re-encoded; returns the frame count."""
    rng, image, count = np.random.default_rng(seed), camera_frame(photo), round(seconds * FPS)
    gains = [step if count // 3 <= i < 2 * count // 3 else 1.0 for i in range(count)]
    return write_video(path, (sensor(image, rng, sigma, g, quality) for g in gains))


def model_size_folder(video: Path, folder: Path, size: int) -> Path:
    """The video's frames as the model sees them (centre square at ``size``), as BMP files:
    a replay with nothing to decode or resize, like picamera2's lores stream."""
    folder.mkdir(parents=True, exist_ok=True)
    cap = cv2.VideoCapture(str(video))
    i = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        rgb = to_input(frame, "BGR", size)[0]
        cv2.imwrite(str(folder / f"{i:05d}.bmp"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        i += 1
    cap.release()
    return folder


def edge_run(source: Path, model: Path, threads: int, gate: bool, results: Path) -> dict:
    """edge-run's summary; its results log is left at ``results``."""
    results.unlink(missing_ok=True)
    args = [str(BIN / "edge-run"), "--replay", str(source), "--model", str(model),
            "--threads", str(threads), "--results", str(results), "--json", "-q",
            "--no-config", *(["--motion-gate"] if gate else [])]
    proc = subprocess.run(args, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def read_results(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def change_delays(gated: list[dict], ungated: list[dict], changes: list[int]) -> list[int | None]:
    """For each change: frames from it until the gated run gives the ungated run's answer for
    the new scene (None: never within the clip)."""
    delays = []
    for c in changes:
        new = ungated[min(c + 2, len(ungated) - 1)]["top"][0]["index"]
        delays.append(next((i - c for i in range(c, len(gated))
                            if gated[i]["top"][0]["index"] == new), None))
    return delays


def compare(source: Path, model: Path, threads: int, rounds: int, changes: list[int],
            tmp: Path) -> dict:
    """Gated against ungated on one source, alternating for ``rounds`` rounds."""
    cpu: dict[str, list[float]] = {"gated": [], "ungated": []}
    runs: dict[str, dict] = {}
    for _ in range(rounds):
        for kind in ("ungated", "gated"):
            log = tmp / f"{kind}.jsonl"
            summary = edge_run(source, model, threads, kind == "gated", log)
            cpu[kind].append(summary["cpu_ms_per_frame"])
            runs[kind] = {"summary": summary, "results": read_results(log)}
    frames = runs["gated"]["summary"]["frames"]
    gated_results, ungated_results = runs["gated"]["results"], runs["ungated"]["results"]
    agree = sum(g["top"][0]["index"] == u["top"][0]["index"]
                for g, u in zip(gated_results, ungated_results, strict=True))
    ratio = statistics.median(cpu["gated"]) / statistics.median(cpu["ungated"])
    return {"frames": frames["processed"], "gated": frames["gated"],
            "inferences": frames["processed"] - frames["gated"],
            "inference_share": round((frames["processed"] - frames["gated"])
                                     / frames["processed"], 4),
            "cpu_ms_per_frame": {k: round(statistics.median(v), 3) for k, v in cpu.items()},
            "cpu_ms_per_frame_runs": cpu, "cpu_ratio": round(ratio, 3),
            "delay_frames": change_delays(gated_results, ungated_results, changes),
            "top1_agreement": f"{agree}/{len(gated_results)}",
            "answers": sorted({r["top"][0]["label"] for r in gated_results}),
            "dropped": frames["dropped"]}


def detector_sweep(size: int, params: GateParams, seed: int = 1) -> dict:
    """The gate alone on the bundled photos: false changes on still scenes and objects seen."""
    rng = np.random.default_rng(seed)
    names = sorted(p.name for p in PHOTOS.iterdir())
    images = {n: camera_frame(n) for n in names}

    def grid(image: np.ndarray) -> np.ndarray:
        return cells(to_input(image, "BGR", size), params.grid) << 8

    still = {}
    for sigma in (4.0, 12.0):
        for gain in (0.8, 1.0, 1.25):
            false = needed = 0
            for n in names:
                gate = MotionGate(params)
                gate.check(to_input(sensor(images[n], rng, sigma, 1.0, 75), "BGR", size), 0)
                for k in range(1, 11):
                    view = to_input(sensor(images[n], rng, sigma, gain, 75), "BGR", size)
                    false += gate.check(view, k).why == "change"
                    needed = max(needed, level_needed(cells(view, params.grid) << 8,
                                                      gate.reference, params))
            still[f"sigma {sigma:g}, gain {gain:g}"] = \
                f"{false}/{10 * len(names)} changes; quiet from level {needed} grey levels"
    seen = {}
    for share in (0.01, 0.02, 0.05):
        side = int(np.sqrt(share) * SIZE[1])
        hits = trials = 0
        for n in names:
            for _ in range(8):
                other = names[rng.integers(len(names))]
                if other == n or {n, other} == {"cat.jpg", "cat_720p.jpg"}:
                    continue
                y = int(rng.integers(0, SIZE[1] - side))
                x = (SIZE[0] - SIZE[1]) // 2 + int(rng.integers(0, SIZE[1] - side))
                scene = images[n].copy()
                scene[y:y + side, x:x + side] = cv2.resize(images[other], (side, side))
                before, after = grid(sensor(images[n], rng, 4.0, 1.0, 75)), \
                    grid(sensor(scene, rng, 4.0, 1.0, 75))
                hits += changed_cells(after, before, params.level_grey) >= \
                    params.min_cells(before.size)
                trials += 1
        seen[f"{share:.0%} of the view"] = f"{hits}/{trials} ({hits / trials:.0%})"
    return {"false_changes": still, "objects_seen": seen,
            "slow_change": slow_change(images, size, params, rng)}


def level_needed(current: np.ndarray, reference: np.ndarray, params: GateParams) -> int:
    """The smallest level (grey levels) at which this still frame is no change."""
    level, least = 0, params.min_cells(reference.size)
    while changed_cells(current, reference, level) >= least:
        level += 1
    return level


def slow_change(images: dict[str, np.ndarray], size: int, params: GateParams,
                rng: np.random.Generator, seconds: float = 4.0) -> dict:
    """An object of 5 % of the view fading in over ``seconds`` (noisy frames): the frame the
    gate first calls it a change, with the reference kept as inferred and adapting 1/16 a
    frame (None: not within the fade; only the refresh would see it)."""
    side, frames = int(np.sqrt(0.05) * SIZE[1]), round(seconds * FPS)
    scene = images["parrot.jpg"].astype(np.float32)
    patch = cv2.resize(images["bird.jpg"], (side, side)).astype(np.float32)
    out = {}
    for shift in (0, 4):
        gate = MotionGate(GateParams(params.area, params.level, params.refresh_s,
                                     params.grid, shift))
        first = None
        for i in range(frames + 1):
            frame = scene.copy()
            region = frame[200:200 + side, 300:300 + side]
            region += (patch - region) * (i / frames)
            view = to_input(sensor(frame, rng, 4.0, 1.0, 75), "BGR", size)
            if gate.check(view, i * 1_000_000_000 // FPS).why == "change" and i and first is None:
                first = i
        out[f"adapt_shift {shift}"] = None if first is None else f"frame {first} of {frames}"
    return out


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{cpu}, {os.cpu_count()} cores, load average {load}"


def default_model(tmp: Path) -> Path:
    from edge.convert import ConvertOptions, convert

    report = convert(ConvertOptions(output=tmp / "model", weights=str(
        ROOT / "data" / "models" / "mobilenet_v1_0.5_160_quant.tflite")), log=lambda _: None)
    return Path(report["files"]["int8"]["path"])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--json", type=Path, help="write the figures here too")
    args = p.parse_args()
    from edge.model import read_model_info

    params = GateParams()
    out: dict = {"machine_before": machine(), "threads": args.threads, "gate": {
        "area": params.area, "level": params.level, "refresh_s": params.refresh_s,
        "grid": params.grid}}
    with tempfile.TemporaryDirectory(prefix="edge-bench-gate-") as tmp:
        tmp = Path(tmp)
        model = args.model or default_model(tmp)
        size = read_model_info(model).resolution
        out["model"] = model.name
        clip = tmp / "still.avi"
        changes = still_clip(clip)
        lores = model_size_folder(clip, tmp / "lores", size)
        out["still"] = {
            "mjpg_video": compare(clip, model, args.threads, args.rounds, changes, tmp),
            "model_size_frames": compare(lores, model, args.threads, args.rounds, changes, tmp),
            "changes_at": changes}
        noisy = tmp / "noisy.avi"
        noisy_clip(noisy)
        summary = edge_run(noisy, model, args.threads, True, tmp / "noisy.jsonl")
        frames = summary["frames"]
        out["noisy"] = {"frames": frames["processed"],
                        "inferences": frames["processed"] - frames["gated"],
                        "clip": "parrot, sigma 8 noise, exposure x1.25 from 3 s to 6 s, "
                                "JPEG q75 then MJPG"}
        out["detector"] = detector_sweep(size, params)
    out["machine_after"] = machine()
    text = json.dumps(out, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
