#!/usr/bin/env python3
"""The daemon's own cost (#26): edge-run paced against bare inference paced the same way.

For each model and thread count, interleaved over rounds (drift and other load hit all alike):
  bare      the engine edge-run runs (onnxruntime with spinning off, or LiteRT), run() on a
            model-sized frame paced with time.sleep: process CPU-ms per frame, and each
            call's wall time
  edge-run  --synthetic frames at the model's size (what picamera2's lores stream gives),
            --camera-fps and --fps-cap at the same rate: its JSON summary's CPU-ms per frame
            and inference p50, with the default sinks (the terminal status, no results log),
            with the web page open (one viewer on /stream.mjpg polling /stats?recent twice a
            second, as the page does) and with MQTT on (a local mosquitto)
  full speed  edge-run on synthetic frames as fast as they come (lossless) against the
            engine back to back: frames a second and inference p50 (--no-full-speed: not)
  --spin    the bare onnxruntime loop also with its default spin-waiting, which edge-run
            turns off when paced (what that saves)
The ratios: CPU edge-run / bare, inference p50 in the pipeline / bare. Then idle: edge-run
with a source that yields nothing after its first frame (--camera-fps 0.001), --fps-cap 1:
its CPU over a window as a share of one core. The load average is printed beside every run.
--baseline DIR runs every edge-run a second time from another checkout (before and after).

    python tools/bench_cost.py [--model FILE_OR_FOLDER ...] [--threads 1,2] [--fps 30]
        [--seconds 20] [--rounds 3] [--variants default,web,mqtt] [--idle-seconds 20]
        [--baseline DIR] [--spin] [--json FILE]
A folder runs the build `edge-run --prefer fastest` picks there at that thread count. Default:
1.0-224 int8 ONNX at one thread and 0.25-128 (the fastest build) at one and two, converted
from the shared peers' float weights with minmax calibration (times do not depend on weights).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

from edge.bench.models import paced_loop
from edge.engines import open_engine
from edge.machine import cpu_features
from edge.model import read_model_info
from edge.run.choice import choose

ROOT = Path(__file__).resolve().parents[1]
PEERS = ROOT.parent / "shared" / "data" / "peers"
PHOTOS = ROOT / "data" / "photos"
VARIANTS = ("default", "web", "mqtt")


def load() -> float:
    return round(os.getloadavg()[0], 2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def default_models(work: Path) -> list[tuple[Path, list[int]]]:
    """(model, thread counts): 1.0-224 int8 ONNX at 1, the 0.25-128 folder at 1 and 2."""
    from edge.convert import ConvertOptions, convert

    made = []
    for name, threads in (("mnv1_a1.0_224", [1]), ("mnv1_a0.25_128", [1, 2])):
        folder = work / name
        if not any(folder.glob("*_int8.onnx")):
            convert(ConvertOptions(output=folder, weights=str(PEERS / f"{name}.tflite"),
                                   calibration=PHOTOS, calibration_method="minmax"),
                    log=lambda _: None)
        made.append((next(folder.glob("*_int8.onnx")) if "224" in name else folder, threads))
    return made


def pick(model: Path, threads: int, cache: Path) -> Path:
    return choose(model, threads, cache, prefer="fastest")[0] if model.is_dir() else model


def bare(model: Path, threads: int, fps: float | None, seconds: float,
         spin: bool | None = None) -> dict:
    """CPU-ms per frame, run() p50 and frames a second of the engine alone: paced like
    edge-run (spinning off), or back to back (``fps`` None; onnxruntime spinning, as
    edge-run has it for a source that is not live)."""
    info = read_model_info(model)
    spin = fps is None if spin is None else spin
    engine = open_engine(model, threads=threads, spin=spin, cache_dir=None, info=info)
    x = np.random.default_rng(0).integers(0, 256, (1, info.resolution, info.resolution, 3),
                                          dtype=np.uint8)
    rate = fps or 1e9  # back to back: never due later than now
    paced_loop(lambda: engine.run(x), rate, min(2.0, seconds))  # warm, as edge-run is
    at, t0 = load(), time.monotonic()
    cpu_ms, calls = paced_loop(lambda: engine.run(x), rate, seconds)
    return {"cpu_ms": cpu_ms, "p50_ms": float(np.median(calls)), "load": at,
            "fps": len(calls) / (time.monotonic() - t0)}


class Viewer:
    """The live page's traffic: the MJPEG stream read as it comes, /stats?recent twice a
    second, until the server goes away."""

    def __init__(self, url: str) -> None:
        self.url, self.frames_bytes, self.polls = url, 0, 0
        self._threads = [threading.Thread(target=f, daemon=True)
                         for f in (self._stream, self._poll)]
        for t in self._threads:
            t.start()

    def _open(self, path: str) -> http.client.HTTPResponse:
        deadline = time.monotonic() + 60
        while True:
            try:
                return urllib.request.urlopen(self.url + path, timeout=10)
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def _stream(self) -> None:
        try:
            with self._open("stream.mjpg") as stream:
                while chunk := stream.read(65536):
                    self.frames_bytes += len(chunk)
        except OSError:
            pass

    def _poll(self) -> None:
        try:
            while True:
                with self._open("stats?recent") as r:
                    r.read()
                self.polls += 1
                time.sleep(0.5)
        except OSError:
            pass

    def join(self) -> None:
        for t in self._threads:
            t.join(timeout=10)


class Broker:
    """A local anonymous mosquitto on a free port (None when it is not installed)."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        conf = folder / "mosquitto.conf"
        lines = ["persistence false", f"listener {self.port} 127.0.0.1", "allow_anonymous true"]
        if os.geteuid() == 0:
            lines.append("user root")
        conf.write_text("\n".join(lines) + "\n")
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def edge_run(model: Path, threads: int, fps: float | None, seconds: float, *extra: str,
             viewer_port: int | None = None, source: Path | None = None) -> dict:
    """One edge-run, paced (or as fast as frames come, ``fps`` None), from ``source``
    (another checkout of edge) when given."""
    size = read_model_info(model).resolution
    paced = ["--camera-fps", str(fps), "--fps-cap", str(fps)] if fps else []
    cmd = [sys.executable, "-m", "edge.cli", "--synthetic", "--width", str(size), "--height",
           str(size), *paced, "--model", str(model), "--threads", str(threads), "--duration",
           str(seconds), "--json", "--no-config", *extra]
    at = load()
    env = {**os.environ, "PYTHONPATH": str(source)} if source else None
    # run from / : `python -m` puts the working folder first on sys.path, ahead of PYTHONPATH
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd="/")
    viewer = Viewer(f"http://127.0.0.1:{viewer_port}/") if viewer_port else None
    out, err = proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"edge-run failed ({proc.returncode}): {err.strip()[-500:]}")
    summary = json.loads(out)
    if viewer is not None:
        viewer.join()
        if not viewer.frames_bytes or not viewer.polls:
            raise RuntimeError("the viewer saw no frames or no stats")
    return {"cpu_ms": summary["cpu_ms_per_frame"], "load": at,
            "p50_ms": summary["latency_ms"]["inference"]["run"]["p50"],
            "frames": summary["frames"]["processed"], "fps": summary["fps"]["inference_overall"]}


def variant_args(variant: str, broker: Broker | None) -> tuple[list[str], int | None]:
    variant = variant.removesuffix("@baseline")
    if variant == "web":
        port = free_port()
        return ["--http", f"127.0.0.1:{port}"], port
    if variant == "mqtt":
        return ["--mqtt", f"mqtt://127.0.0.1:{broker.port}", "--mqtt-node", "bench"], None
    return [], None


def idle(model: Path, seconds: float, *extra: str) -> dict:
    """Share of one core edge-run uses while its source yields nothing (after one frame)."""
    cmd = [sys.executable, "-m", "edge.cli", "--synthetic", "--camera-fps", "0.001",
           "--fps-cap", "1", "--model", str(model), "--threads", "1", "--no-config",
           "--duration", str(seconds + 8), *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/")
    try:
        time.sleep(5)  # loaded, first frame done
        at, cpu0, t0 = load(), process_cpu_ns(proc.pid), time.monotonic()
        time.sleep(seconds)
        used = (process_cpu_ns(proc.pid) - cpu0) / 1e9 / (time.monotonic() - t0)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return {"core_percent": round(100 * used, 3), "load": at}


def process_cpu_ns(pid: int) -> int:
    """CPU time of every thread of a process (schedstat: nanoseconds)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):  # a thread that ended
            total += int((task / "schedstat").read_text().split()[0])
    return total


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, action="append", help="file or edge-convert folder")
    p.add_argument("--threads", type=lambda s: [int(t) for t in s.split(",")],
                   help="thread counts for every --model (default 1)")
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--seconds", type=float, default=20.0, help="per measurement")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--full-speed", action=argparse.BooleanOptionalAction, default=True,
                   help="also unpaced: edge-run on frames as fast as they come against the "
                   "engine back to back (FPS and inference p50)")
    p.add_argument("--spin", action="store_true", help="also the bare onnxruntime loop with "
                   "its default spin-waiting on: what edge-run saves by turning it off")
    p.add_argument("--idle-seconds", type=float, default=20.0, help="0: no idle measurement")
    p.add_argument("--work", type=Path, help="where the default models are made (kept)")
    p.add_argument("--baseline", type=Path, help="another checkout of edge (its root): each "
                   "edge-run is also run from it, interleaved, as SINKS@baseline")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    variants = [v for v in args.variants.split(",") if v]
    baseline = args.baseline.resolve() if args.baseline else None
    if baseline:
        variants += [f"{v}@baseline" for v in variants]
    with tempfile.TemporaryDirectory(prefix="edge-bench-cost-") as tmp:
        tmp = Path(tmp)
        specs = [(m.resolve(), args.threads or [1]) for m in args.model] if args.model else \
            default_models(args.work or tmp / "models")
        cache = tmp / "cache"
        runs = [(pick(m, t, cache), t) for m, ts in specs for t in ts]
        broker = Broker(tmp) if any(v.startswith("mqtt") for v in variants) else None
        rows: dict[tuple[str, int, str], list[dict]] = {}
        try:
            for r in range(args.rounds):
                for model, threads in runs:
                    key = (str(model), threads)
                    rows.setdefault((*key, "bare"), []).append(
                        bare(model, threads, args.fps, args.seconds))
                    if args.spin and model.suffix == ".onnx":
                        rows.setdefault((*key, "bare, spinning"), []).append(
                            bare(model, threads, args.fps, args.seconds, spin=True))
                    for variant in variants:
                        extra, port = variant_args(variant, broker)
                        rows.setdefault((*key, variant), []).append(edge_run(
                            model, threads, args.fps, args.seconds, *extra, viewer_port=port,
                            source=baseline if variant.endswith("@baseline") else None))
                    if args.full_speed:
                        rows.setdefault((*key, "bare full speed"), []).append(
                            bare(model, threads, None, args.seconds))
                        rows.setdefault((*key, "full speed"), []).append(
                            edge_run(model, threads, None, args.seconds))
                    print(f"round {r + 1}: {model.name} x{threads}: " + ", ".join(
                        f"{v} {rows[(*key, v)][-1]['cpu_ms']:.3f} (load "
                        f"{rows[(*key, v)][-1]['load']})" for v in ["bare", *variants]),
                        flush=True)
            idle_rows = {}
            if args.idle_seconds:
                small = min((m for m, _ in runs), key=lambda m: read_model_info(m).resolution)
                idle_rows["default"] = idle(small, args.idle_seconds)
                if broker is not None:
                    idle_rows["web+mqtt"] = idle(
                        small, args.idle_seconds, "--http", f"127.0.0.1:{free_port()}",
                        "--mqtt", f"mqtt://127.0.0.1:{broker.port}", "--mqtt-node", "idle")
        finally:
            if broker is not None:
                broker.stop()
    report = summarise(rows, runs, variants, idle_rows, args)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


def summarise(rows: dict[tuple[str, int, str], list[dict]], runs: list[tuple[Path, int]],
              variants: list[str], idle_rows: dict[str, dict], args: argparse.Namespace) -> dict:
    """Print the tables (Markdown) and return the report for --json."""
    cpu = cpu_features()
    print(f"\n{cpu['model']} ({', '.join(cpu['features'])}), {os.cpu_count()} CPUs; paced at "
          f"{args.fps:g} FPS, {args.seconds:g} s a run, medians of {args.rounds} rounds (a "
          "ratio: the median of each round's)")
    print("| model | threads | sinks | CPU-ms/frame bare | edge-run | ratio | inference p50 "
          "bare | edge-run | ratio | load |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    table = []
    for model, threads in runs:
        base = rows[(str(model), threads, "bare")]
        b_cpu, b_p50 = (float(np.median([x[k] for x in base])) for k in ("cpu_ms", "p50_ms"))
        for variant in variants:
            got = rows[(str(model), threads, variant)]
            e_cpu, e_p50 = (float(np.median([x[k] for x in got])) for k in ("cpu_ms", "p50_ms"))
            # each round's edge-run against that round's bare loop, then the median: drift
            # between rounds cancels
            cpu_ratio, p50_ratio = (float(np.median([e[k] / b[k] for b, e in zip(base, got,
                                                                                strict=True)]))
                                    for k in ("cpu_ms", "p50_ms"))
            loads = [x["load"] for x in base + got]
            row = {"model": model.name, "threads": threads, "sinks": variant,
                   "bare_cpu_ms": round(b_cpu, 3), "edge_cpu_ms": round(e_cpu, 3),
                   "cpu_ratio": round(cpu_ratio, 3), "bare_p50_ms": round(b_p50, 4),
                   "edge_p50_ms": round(e_p50, 4), "p50_ratio": round(p50_ratio, 3),
                   "load": [min(loads), max(loads)],
                   "rounds": {"bare": base, "edge": got}}
            table.append(row)
            print(f"| {model.name} | {threads} | {variant} | {b_cpu:.3f} | {e_cpu:.3f} | "
                  f"**{cpu_ratio:.2f}x** | {b_p50:.3f} | {e_p50:.3f} | "
                  f"{p50_ratio:.2f}x | {min(loads):.1f}-{max(loads):.1f} |")
        spun = rows.get((str(model), threads, "bare, spinning"))
        if spun:
            spin_cpu = float(np.median([x["cpu_ms"] for x in spun]))  # against the median
            table.append({"model": model.name, "threads": threads, "sinks": "bare, spinning",
                          "bare_cpu_ms": round(spin_cpu, 3), "rounds": {"bare": spun}})
            print(f"| {model.name} | {threads} | bare, onnxruntime spinning | {b_cpu:.3f} | "
                  f"{spin_cpu:.3f} | **{spin_cpu / b_cpu:.2f}x** | | | | |")
    if args.full_speed:
        print("\nAs fast as frames come (edge-run lossless, the engine back to back):")
        print("| model | threads | FPS bare | edge-run | ratio | inference p50 bare | edge-run "
              "| ratio |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for model, threads in runs:
            b, e = (rows[(str(model), threads, k)] for k in ("bare full speed", "full speed"))
            (b_fps, b_p50), (e_fps, e_p50) = (
                [float(np.median([x[k] for x in got])) for k in ("fps", "p50_ms")]
                for got in (b, e))
            fps_ratio, p50_ratio = (float(np.median([y[k] / x[k] for x, y in zip(b, e,
                                                                                  strict=True)]))
                                    for k in ("fps", "p50_ms"))
            table.append({"model": model.name, "threads": threads, "sinks": "full speed",
                          "bare_fps": round(b_fps, 1), "edge_fps": round(e_fps, 1),
                          "fps_ratio": round(fps_ratio, 3), "bare_p50_ms": round(b_p50, 4),
                          "edge_p50_ms": round(e_p50, 4), "p50_ratio": round(p50_ratio, 3),
                          "rounds": {"bare": b, "edge": e}})
            print(f"| {model.name} | {threads} | {b_fps:.0f} | {e_fps:.0f} | "
                  f"{fps_ratio:.3f}x | {b_p50:.3f} | {e_p50:.3f} | {p50_ratio:.3f}x |")
    for name, got in idle_rows.items():
        print(f"idle ({name} sinks, no frames, --fps-cap 1): {got['core_percent']:.2f}% of a "
              f"core (load {got['load']})")
    return {"machine": {"cpu": cpu, "cpus": os.cpu_count()}, "fps": args.fps,
            "seconds": args.seconds, "rounds": args.rounds, "rows": table, "idle": idle_rows}


if __name__ == "__main__":
    sys.exit(main())
