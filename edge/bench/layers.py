"""edge-bench --layers: each layer's measured time beside its MACs and what MACs predict.

``edge-convert --explain`` counts MACs per layer; if time followed MACs, each layer would take
its share of MACs of the whole inference. onnxruntime's own profiler (``enable_profiling``,
a JSON trace with one event per node and run) says what each layer really takes here. Node
names come from the graph builder, which names every convolution after its row of the layer
table (``edge/convert/spec.py``), so fused and quantized nodes map back to layers by name.
LiteRT is not profiled: its Python interpreter has no per-op profiler.
"""

from __future__ import annotations

import bisect
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from edge.convert.spec import Layer, MobileNetSpec
from edge.engines import OrtEngine
from edge.errors import ModelError
from edge.model import alpha_text, read_model_info

KINDS = {"conv": "stem conv", "dw": "depthwise", "pw": "pointwise", "fc": "classifier"}
GROUPS = ("depthwise", "pointwise", "rest")
OTHER = "other ops"


def layer_of(node: str, names: list[str]) -> str | None:
    """The layer a profiled node belongs to: the longest layer name that ``node`` starts with,
    followed by a non-digit (so ``Conv2d_1`` never claims ``Conv2d_10``)."""
    best = None
    for name in names:
        if node.startswith(name) and (len(node) == len(name) or not node[len(name)].isdigit()) \
                and (best is None or len(name) > len(best)):
            best = name
    return best


def profile_layers(path: Path, threads: int, runs: int = 50, warmup: int = 5) -> dict:
    """Profile ``runs`` inferences of an edge MobileNetV1 model after ``warmup`` ones."""
    path = Path(path)
    if path.suffix != ".onnx":
        raise ModelError(f"{path}: --layers profiles ONNX models with onnxruntime's profiler "
                         "(LiteRT's Python interpreter has no per-op profiler)")
    info = read_model_info(path)
    if info.arch != "mobilenet_v1":
        raise ModelError(f"{path}: --layers knows MobileNetV1's layer table, not {info.arch}")
    spec = MobileNetSpec.create(info.alpha, info.resolution, info.classes, info.padding)
    with tempfile.TemporaryDirectory(prefix="edge-profile-") as tmp:
        # spinning off, as in the sweep and in edge-run with a camera
        engine = OrtEngine(path, threads=threads, spin=False, info=info, warmup=False,
                        profile_prefix=str(Path(tmp) / "trace"))
        tensor = np.random.default_rng(0).integers(
            0, 256, (1, info.resolution, info.resolution, 3), dtype=np.uint8)
        for _ in range(warmup + runs):
            engine.run(tensor)
        events = json.loads(Path(engine.session.end_profiling()).read_text())
    profile = summarise_trace(events, spec.layers, runs, origin=str(path))
    # the profiler's own cost, which weighs most on small models: the same runs unprofiled
    plain = OrtEngine(path, threads=threads, spin=False, info=info, warmup=False)
    latencies = []
    for i in range(warmup + runs):
        t0 = time.perf_counter()
        plain.run(tensor)
        if i >= warmup:
            latencies.append((time.perf_counter() - t0) * 1e3)
    import onnxruntime as ort

    return {"model": path.name, "path": str(path), "unprofiled_ms": float(np.median(latencies)),
            "config": f"{alpha_text(info.alpha)}-{info.resolution}",
            "precision": info.precision, "engine": "onnxruntime",
            "engine_version": ort.__version__, "threads": engine.threads, "runs": runs,
            "profiler": "onnxruntime SessionOptions.enable_profiling (per-node kernel time)",
            **profile}


def summarise_trace(events: list[dict], layers: list[Layer], runs: int,
                    origin: str = "model") -> dict:
    """Per-layer and per-group time from an onnxruntime trace over its last ``runs`` runs:
    each layer's (and each other op's) median time per run, so that a run preempted on a
    busy machine does not count."""
    run_events = sorted((e for e in events if e.get("cat") == "Session"
                         and e.get("name") == "model_run"), key=lambda e: e["ts"])[-runs:]
    if len(run_events) < runs:
        raise ModelError(f"{origin}: the profile holds {len(run_events)} runs, {runs} expected")
    starts = [e["ts"] for e in run_events]
    names = [layer.name for layer in layers]
    per_run = np.zeros((runs, len(names)))
    other_ops: dict[str, np.ndarray] = {}
    for event in events:
        if event.get("cat") != "Node" or event["ts"] < starts[0] or \
                not event["name"].endswith("_kernel_time"):
            continue
        run = bisect.bisect_right(starts, event["ts"]) - 1
        node = event["name"][: -len("_kernel_time")]
        layer = layer_of(node, names)
        if layer is not None:
            per_run[run, names.index(layer)] += event["dur"]
        else:
            op = event.get("args", {}).get("op_name", node)
            other_ops.setdefault(op, np.zeros(runs))[run] += event["dur"]
    per_layer = dict(zip(names, np.median(per_run, axis=0), strict=True))
    other = {op: float(np.median(us)) for op, us in other_ops.items()}
    missing = [name for name in names if per_layer[name] == 0.0]
    if missing:
        raise ModelError(f"{origin}: no profiled node matches layer(s) {', '.join(missing)} of "
                         "the layer table (not a graph edge-convert built?)")
    kernel_ms = (sum(per_layer.values()) + sum(other.values())) / 1e3
    total_macs = sum(layer.macs for layer in layers)
    rows = []
    for layer in layers:
        ms = per_layer[layer.name] / 1e3
        rows.append({"layer": layer.name, "kind": KINDS[layer.kind], "macs": layer.macs,
                     "mac_share": layer.macs / total_macs,
                     "predicted_ms": kernel_ms * layer.macs / total_macs,
                     "ms": ms, "time_share": ms / kernel_ms, "gmacs": layer.macs / ms / 1e6})
    other_ms = {op: us / 1e3 for op, us in sorted(other.items(), key=lambda kv: -kv[1])}
    rows.append({"layer": OTHER, "kind": OTHER, "macs": 0, "mac_share": 0.0,
                 "predicted_ms": 0.0, "ms": sum(other_ms.values()),
                 "time_share": sum(other_ms.values()) / kernel_ms, "gmacs": None})
    groups = {}
    for group in GROUPS:
        members = [r for r in rows if (r["kind"] == group) or
                   (group == "rest" and r["kind"] not in GROUPS)]
        ms = sum(r["ms"] for r in members)
        macs = sum(r["macs"] for r in members)
        groups[group] = {"layers": sum(r["layer"] != OTHER for r in members), "macs": macs,
                         "mac_share": macs / total_macs, "ms": ms, "time_share": ms / kernel_ms,
                         "gmacs": macs / ms / 1e6 if ms else None}
    return {"run_ms": float(np.median([e["dur"] for e in run_events])) / 1e3,
            "kernel_ms": kernel_ms, "macs": total_macs, "gmacs": total_macs / kernel_ms / 1e6,
            "layers": rows, "other_ops_ms": other_ms, "groups": groups}


def format_layers(profile: dict) -> str:
    """The per-layer table and the depthwise / pointwise / rest summary."""
    p = profile
    lines = [f"{p['model']}: {p['engine']} {p['engine_version']}, {p['threads']} thread(s), "
             f"{p['runs']} profiled runs: {p['run_ms']:.3f} ms per inference (p50; "
             f"{p['unprofiled_ms']:.3f} ms unprofiled), {p['kernel_ms']:.3f} ms in kernels "
             f"(sum of per-layer medians), {p['gmacs']:.1f} GMAC/s overall"]
    header = (f"{'layer':<20}{'kind':<12}{'MACs':>12}{'MAC %':>8}{'MAC-pred ms':>13}"
              f"{'measured ms':>13}{'time %':>8}{'GMAC/s':>9}")
    lines += [header, "-" * len(header)]
    for r in p["layers"]:
        gmacs = f"{r['gmacs']:.1f}" if r["gmacs"] is not None else "-"
        lines.append(f"{r['layer']:<20}{r['kind']:<12}{r['macs']:>12,}"
                     f"{100 * r['mac_share']:>7.1f}%{r['predicted_ms']:>13.4f}"
                     f"{r['ms']:>13.4f}{100 * r['time_share']:>7.1f}%{gmacs:>9}")
    lines.append("-" * len(header))
    for name, g in p["groups"].items():
        gmacs = f"{g['gmacs']:.1f} GMAC/s" if g["gmacs"] else "-"
        lines.append(f"{name:<10} {g['layers']:>2} layers: {100 * g['mac_share']:5.1f}% of MACs, "
                     f"{100 * g['time_share']:5.1f}% of time ({g['ms']:.3f} ms), {gmacs}")
    if p["other_ops_ms"]:
        lines.append("rest = stem conv, classifier and " + ", ".join(
            f"{op} {ms:.3f} ms" for op, ms in p["other_ops_ms"].items()))
    inflation = p["kernel_ms"] / p["unprofiled_ms"]
    if inflation > 1.25:
        lines.append(f"WARNING: the profiled kernels add up to {inflation:.1f}x the unprofiled "
                     "inference (the profiler's bookkeeping, or a busy machine): the shares are "
                     "approximate"
                     + ("; --threads 1 profiles closest to the truth" if p["threads"] > 1
                        else ""))
    lines.append("MAC-pred ms: the measured kernel time shared out by MACs, as "
                 "`edge-convert --explain` counts them (what the time would be if it followed "
                 "MACs)")
    return "\n".join(lines)
