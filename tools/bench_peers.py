#!/usr/bin/env python3
"""Side by side, in one run: LiteRT, bare onnxruntime, our engine and our full pipeline.

Networks (the same weights everywhere):
  1.0-224 and 0.25-128: the LiteRT peer files in ../shared/data/peers (random weights, LiteRT's
      own best int8); ours are converted from the peers' float files and calibrated on the
      bundled photos. In the int8 rows "edge engine" is what ``edge-run --model DIR --prefer
      fastest`` runs (the fastest of our fp32, int8 and int8 .tflite builds, measured here),
      "litert ours" is LiteRT on our exported .tflite, and "best peer" is the faster of LiteRT
      on its own int8 file and bare onnxruntime on our int8;
  QAT 0.25-128 and 0.5-160: LiteRT runs the shared uint8 quantization-aware-trained files;
      ours are converted from the same files (dequantised) and quantized by edge-convert.
For each: latency percentiles and throughput back to back, CPU-ms per frame back to back and
paced at 30 FPS, at 1 and 2 threads. Configurations are interleaved in rounds so drift hits
all alike. Ratios against LiteRT and against bare onnxruntime are the headline.

Back-to-back timings run every onnxruntime session with spin-waiting off: with it on, the
worker threads of the session timed a moment ago keep spinning and steal a core from the
one being timed. The paced column keeps bare onnxruntime's default (spinning on) to show
what that default costs a daemon.

    python tools/bench_peers.py [--runs 200] [--rounds 5] [--threads 1,2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge.bench.models import paced_cpu_ms
from edge.convert import ConvertOptions, convert
from edge.engines import open_engine
from edge.machine import cpu_features
from edge.model import read_model_info
from edge.run.choice import choose
from edge.run.pipeline import Options, Pipeline
from edge.sources.synthetic import SyntheticSource

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
NETWORKS = {
    "1.0-224": (DATA / "peers/mnv1_a1.0_224.tflite", DATA / "peers/mnv1_a1.0_224_int8.tflite"),
    "0.25-128": (DATA / "peers/mnv1_a0.25_128.tflite", DATA / "peers/mnv1_a0.25_128_int8.tflite"),
    "QAT 0.25-128": (DATA / "mobilenet_v1/mobilenet_v1_0.25_128_quant.tflite",
                     DATA / "mobilenet_v1/mobilenet_v1_0.25_128_quant.tflite"),
    "QAT 0.5-160": (DATA / "mobilenet_v1/mobilenet_v1_0.5_160_quant.tflite",
                    DATA / "mobilenet_v1/mobilenet_v1_0.5_160_quant.tflite"),
}


@dataclass
class Runner:
    """One thing to time: ``step()`` runs one inference (or one pipeline frame)."""

    network: str
    runtime: str  # litert, onnxruntime, edge engine, edge pipeline
    precision: str
    threads: int
    step: Callable[[], None]
    latencies: list[float] = field(default_factory=list)
    cpu_s: float = 0.0
    wall_s: float = 0.0
    paced_cpu_ms: float | None = None
    model: str | None = None  # the file edge runs (edge engine, edge pipeline)

    @property
    def key(self) -> str:
        return f"{self.network} {self.precision} {self.runtime} @{self.threads}t"


def litert_step(path: Path, threads: int) -> Callable[[], None]:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path), num_threads=threads)
    interp.allocate_tensors()
    detail = interp.get_input_details()[0]
    rng = np.random.default_rng(0)
    if detail["dtype"] == np.float32:
        data = rng.uniform(-1, 1, detail["shape"]).astype(np.float32)
    else:
        data = rng.integers(0, 256, detail["shape"]).astype(detail["dtype"])
    interp.set_tensor(detail["index"], data)
    return interp.invoke


def ort_step(path: Path, threads: int, spin: bool = False) -> Callable[[], None]:
    """Bare onnxruntime with its defaults (but for spinning, see above), the same file."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    x = np.random.default_rng(0).integers(0, 256, (1, *inp.shape[1:]), dtype=np.uint8)
    feed = {inp.name: x}
    return lambda: session.run(None, feed)


def engine_step(path: Path, threads: int, spin: bool = False) -> Callable[[], None]:
    info = read_model_info(path)
    engine = open_engine(path, threads=threads, spin=spin, cache_dir=None, info=info)
    x = np.random.default_rng(0).integers(0, 256, (1, info.resolution, info.resolution, 3),
                                          dtype=np.uint8)
    return lambda: engine.run(x)


def pipeline_step(path: Path, threads: int) -> Callable[[int], None]:
    """Our full pipeline (capture thread, one-frame slot, preprocessing, postprocessing,
    reporting thread) replaying n in-memory frames at the model's size as fast as possible."""
    info = read_model_info(path)
    engine = open_engine(path, threads=threads, spin=False, cache_dir=None, info=info)

    def batch(n: int) -> int:
        # a pipeline is made for long runs: starting and stopping its threads is not a
        # per-frame cost, so every measurement runs at least 1000 frames
        n = max(n, 1000)
        source = SyntheticSource(info.resolution, info.resolution, count=n)
        summary = Pipeline(source, engine, info, options=Options()).run()
        assert summary.frames.processed == n, summary.frames
        return n

    batch.is_batch = True  # type: ignore[attr-defined]
    return batch


def measure(r: Runner, n: int) -> None:
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if getattr(r.step, "is_batch", False):  # the pipeline runs frames concurrently
        n = r.step(n)
        wall = time.perf_counter() - wall0
        r.latencies += [wall / n * 1e3] * n
    else:
        for _ in range(n):
            t0 = time.perf_counter()
            r.step()
            r.latencies.append((time.perf_counter() - t0) * 1e3)
        wall = time.perf_counter() - wall0
    r.cpu_s += time.process_time() - cpu0
    r.wall_s += wall


def build_ours(workdir: Path, float_file: Path) -> dict[str, Path]:
    """fp32, int8 and the int8 .tflite in one folder (``folder``), as edge-convert writes."""
    folder = workdir / float_file.stem
    report = convert(ConvertOptions(output=folder, weights=str(float_file),
                                    calibration=DATA / "photos", quantization="recalibrate"),
                     log=lambda _: None)
    return {**{k: Path(v["path"]) for k, v in report["files"].items()},
            "tflite": Path(report["tflite"]["path"]), "folder": folder}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=200, help="timed runs per configuration")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", default="1,2")
    p.add_argument("--networks", default=",".join(NETWORKS))
    p.add_argument("--no-paced", action="store_true", help="skip the 30 FPS CPU measurement")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    if not DATA.is_dir():
        print(f"bench_peers: {DATA} not found", file=sys.stderr)
        return 2
    threads = [int(t) for t in args.threads.split(",")]
    runners: list[Runner] = []
    with tempfile.TemporaryDirectory(prefix="edge-peers-") as tmp:
        for name in args.networks.split(","):
            float_file, int8_file = NETWORKS[name]
            ours = build_ours(Path(tmp), float_file)
            for t in threads:
                for precision, lite, onnx_file in (("fp32", float_file, ours["fp32"]),
                                                   ("int8", int8_file, ours["int8"])):
                    if name.startswith("QAT") and precision == "fp32":
                        continue
                    # int8: what edge-run --model DIR runs, the fastest build measured here
                    chosen = onnx_file if precision == "fp32" else choose(
                        ours["folder"], t, None, prefer="fastest")[0]
                    runners += [
                        Runner(name, "litert", precision, t, litert_step(lite, t)),
                        Runner(name, "onnxruntime", precision, t, ort_step(onnx_file, t)),
                        *([Runner(name, "litert ours", precision, t,
                                  litert_step(ours["tflite"], t))]
                          if precision == "int8" and not name.startswith("QAT") else []),
                        Runner(name, "edge engine", precision, t, engine_step(chosen, t),
                               model=chosen.name),
                        Runner(name, "edge pipeline", precision, t, pipeline_step(chosen, t),
                               model=chosen.name),
                    ]
                    if not args.no_paced:
                        paced = {"litert": litert_step(lite, t),
                                 "onnxruntime": ort_step(onnx_file, t, spin=True),
                                 "edge engine": engine_step(chosen, t, spin=False)}
                        for r in runners:
                            if r.network == name and r.precision == precision and \
                                    r.threads == t and r.runtime in paced:
                                r.paced_cpu_ms = paced_cpu_ms(paced[r.runtime], fps=30.0,
                                                              seconds=2.0)
        for r in runners:  # warm-up
            measure(r, 20)
            r.latencies.clear()
            r.cpu_s = r.wall_s = 0.0
        per_round = max(1, args.runs // args.rounds)
        for i in range(args.rounds):
            for r in runners:
                measure(r, per_round)
            print(f"round {i + 1}/{args.rounds}", file=sys.stderr)
    results = []
    for r in runners:
        lat = np.percentile(r.latencies, [50, 90, 99])
        results.append({"network": r.network, "runtime": r.runtime, "precision": r.precision,
                        "threads": r.threads, "p50_ms": round(float(lat[0]), 4),
                        "p90_ms": round(float(lat[1]), 4), "p99_ms": round(float(lat[2]), 4),
                        "fps": round(len(r.latencies) / r.wall_s, 1),
                        "cpu_ms": round(1e3 * r.cpu_s / len(r.latencies), 3),
                        "paced30_cpu_ms": None if r.paced_cpu_ms is None
                        else round(r.paced_cpu_ms, 3), "model": r.model})
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps({"machine": {"cpu": cpu_features(),
                                                     "arch": platform.machine()},
                                         "results": results}, indent=1) + "\n")
    return 0


def print_table(results: list[dict]) -> None:
    cpu = cpu_features()
    print(f"{cpu['model']}, {platform.machine()}; p50 latency (pipeline: time per frame)")
    head = (f"{'network':<14}{'prec':<6}{'thr':>4}{'runtime':>15}{'p50 ms':>9}{'p99 ms':>9}"
            f"{'FPS':>9}{'CPU-ms':>8}{'@30fps':>8}{'vs LiteRT':>11}{'vs ORT':>9}")
    print(head)
    print("-" * len(head))
    index = {(r["network"], r["precision"], r["threads"], r["runtime"]): r for r in results}
    for r in results:
        lite = index.get((r["network"], r["precision"], r["threads"], "litert"))
        bare = index.get((r["network"], r["precision"], r["threads"], "onnxruntime"))
        vs_lite = f"{r['p50_ms'] / lite['p50_ms']:.2f}x" if lite and r is not lite else ""
        vs_ort = f"{r['p50_ms'] / bare['p50_ms']:.2f}x" \
            if bare and r["runtime"].startswith("edge") else ""
        note = ""
        if lite and bare and r["runtime"] == "edge engine":
            note = f"  ({r['p50_ms'] / min(lite['p50_ms'], bare['p50_ms']):.2f}x best peer)"
        engine = index.get((r["network"], r["precision"], r["threads"], "edge engine"))
        if engine and r["runtime"] == "edge pipeline":  # a mean per frame: compare throughput
            vs_ort, note = "", f"  ({r['fps'] / engine['fps']:.2f}x the engine's FPS)"
        paced = f"{r['paced30_cpu_ms']:.2f}" if r["paced30_cpu_ms"] is not None else "-"
        print(f"{r['network']:<14}{r['precision']:<6}{r['threads']:>4}{r['runtime']:>15}"
              f"{r['p50_ms']:>9.3f}{r['p99_ms']:>9.3f}{r['fps']:>9.1f}{r['cpu_ms']:>8.2f}"
              f"{paced:>8}{vs_lite:>11}{vs_ort:>9}{note}")
    print("ratios are p50 latency against LiteRT / bare onnxruntime on the same network, "
          "precision and threads (below 1.00x: faster)")
    for r in results:
        if r["runtime"] == "edge engine" and r["precision"] == "int8":
            print(f"edge engine, {r['network']} int8 @{r['threads']}t: {r['model']} "
                  "(edge-run --prefer fastest)")


if __name__ == "__main__":
    sys.exit(main())
