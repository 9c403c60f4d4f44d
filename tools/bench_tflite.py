#!/usr/bin/env python3
"""Our int8 .tflite (edge-convert --mcu) against LiteRT's own int8 build of the same network,
both under LiteRT with XNNPACK, in one run.

The peers in ../shared/data/peers are LiteRT's post-training int8 builds (random weights);
ours is converted from the peers' float files and calibrated on the bundled photos, so the
weights are the same. Peer files take float input and give float output (a QUANTIZE and a
DEQUANTIZE at the edges); ours take int8 pixels and give int8 logits. Runs are interleaved
in chunks so drift hits both alike; the ratio of medians is the result, not the times.

    python tools/bench_tflite.py [--runs 300] [--threads 1,2] [--networks 0.25-128,1.0-224]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from edge.convert import ConvertOptions, convert

ROOT = Path(__file__).resolve().parents[1]
PEERS = ROOT.parent / "shared" / "data" / "peers"
PHOTOS = ROOT / "data" / "photos"
NETWORKS = {"0.25-128": "mnv1_a0.25_128", "1.0-224": "mnv1_a1.0_224"}


def interpreter(path: Path, threads: int):
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path), num_threads=threads)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    rng = np.random.default_rng(0)
    if inp["dtype"] == np.float32:
        x = rng.uniform(-1, 1, inp["shape"]).astype(np.float32)
    else:
        x = rng.integers(-128, 128, inp["shape"]).astype(inp["dtype"])
    interp.set_tensor(inp["index"], x)

    def step() -> None:
        interp.invoke()

    return step


def time_pair(a, b, runs: int, chunk: int = 20) -> tuple[float, float]:
    """Median ms of ``a`` and ``b``, interleaved in chunks after a warm-up."""
    for _ in range(10):
        a()
        b()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(max(1, runs // chunk)):
        for fn, out in ((a, times[0]), (b, times[1])):
            for _ in range(chunk):
                t0 = time.perf_counter()
                fn()
                out.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times[0]), statistics.median(times[1])


def ours(name: str, work: Path) -> Path:
    out = work / name
    report = convert(ConvertOptions(output=out, weights=str(PEERS / f"{NETWORKS[name]}.tflite"),
                                    calibration=PHOTOS, mcu=True, mcu_sram="64M",
                                    mcu_flash="64M"), log=lambda _: None)
    return Path(report["mcu"]["tflite"]["path"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--networks", default=",".join(NETWORKS))
    args = ap.parse_args()
    if not PEERS.is_dir():
        print(f"needs the LiteRT peer files in {PEERS}", file=sys.stderr)
        return 2
    print("| network | threads | LiteRT's int8 | edge --mcu .tflite | ours vs LiteRT's |")
    print("| --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory(prefix="edge-bench-tflite-") as tmp:
        for name in args.networks.split(","):
            mine = ours(name, Path(tmp))
            peer = PEERS / f"{NETWORKS[name]}_int8.tflite"
            for threads in (int(t) for t in args.threads.split(",")):
                p50_peer, p50_ours = time_pair(interpreter(peer, threads),
                                               interpreter(mine, threads), args.runs)
                print(f"| {name} | {threads} | {p50_peer:.3f} ms | {p50_ours:.3f} ms | "
                      f"{p50_ours / p50_peer:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
