"""Measure the built configurations with edge-bench's interleaved loop and analyse them:
published accuracy beside measured speed, a MAC-predicted latency, the Pareto front and the
answer to a frame-rate target."""

from __future__ import annotations

import math
import time
from pathlib import Path

from edge.bench.sweep.configs import (
    CHECKPOINT,
    ENGINE,
    PRECISIONS,
    WEIGHTS_NOTE,
    Configuration,
    build_models,
    published,
    published_entry,
)
from edge.convert.spec import MobileNetSpec
from edge.errors import EdgeError
from edge.model import alpha_text


def run_sweep(configs: list[Configuration], calibration: Path, cache_dir: Path, threads: int,
              runs: int, rounds: int, warmup: int, idle_seconds: float | None = None,
              target_fps: float | None = None, engines: tuple[str, ...] = (ENGINE,),
              log=lambda _msg: None) -> dict:
    """Build, measure (interleaved), and analyse; returns the report."""
    from edge.bench.models import run_benchmark

    t0 = time.perf_counter()
    models, build = build_models(configs, calibration, cache_dir, log, engines)
    keys = list(models)
    bench = run_benchmark([models[k] for k in keys], [threads], runs=runs, rounds=rounds,
                          warmup=warmup, idle_seconds=idle_seconds, log=log, spin=False)
    by_key = {(Configuration(r["alpha"], r["resolution"]), r["precision"],
               r.get("engine", ENGINE)): r for r in bench["results"]}
    rows = [make_row(key, by_key[key]) for key in keys]
    rates = fit_mac_rates(rows)
    for row in rows:
        rate = rates[f"{row['engine']}/{row['precision']}"]["gmacs"]
        row["predicted_ms"] = round(row["macs"] / rate / 1e6, 4)
        row["measured_over_predicted"] = round(row["latency_ms"]["p50"] / row["predicted_ms"], 3)
    mark_pareto(rows)
    src = published()
    return {
        "kind": "edge-bench sweep",
        "weights": WEIGHTS_NOTE,
        "published": {k: src[k] for k in ("title", "source", "source_commit", "metric", "float",
                                           "quant")},
        "environment": bench["environment"],
        "settings": {**bench["settings"], "threads": threads, "configurations":
                     [c.name for c in configs],
                     "precisions": [p for p in PRECISIONS if any(k[1] == p for k in keys)],
                     "engines": sorted({k[2] for k in keys})},
        "build": build,
        "power": bench["power"],
        "rows": rows,
        "mac_model": rates,
        "comparisons": bench["comparisons"],
        "target": None if target_fps is None else answer_target(rows, target_fps),
        "raw_latencies_ms": {row["label"]: bench["raw_latencies_ms"][row["bench_label"]]
                             for row in rows},
        "seconds": round(time.perf_counter() - t0, 1),
    }


def make_row(key: tuple[Configuration, str, str], result: dict) -> dict:
    """One sweep row from one edge-bench result and the published table."""
    config, precision, engine = key
    entry = published_entry(config)
    accuracy = entry[CHECKPOINT[precision]] if entry else None
    spec = MobileNetSpec.create(config.alpha, config.resolution, 1001)
    return {
        "label": f"{config.name} {precision} {engine}", "bench_label": result["label"],
        "config": config.name, "alpha": config.alpha, "resolution": config.resolution,
        "precision": precision, "engine": engine, "model": result["model"],
        "threads": result["threads"], "macs": result["macs"] or spec.macs, "params": spec.params,
        "latency_ms": result["latency_ms"], "fps": result["throughput_fps"],
        "cpu_ms_per_inference": result["cpu_ms_per_inference"],
        "mj_per_inference": result["energy"]["mj_per_inference"] if result["energy"] else None,
        "trained": result["trained"], "load_ms": result["load_ms"], "runs": result["runs"],
        "top1": accuracy["top1"] if accuracy else None,
        "top5": accuracy["top5"] if accuracy else None,
        "accuracy_of": (f"TF-slim mobilenet_v1_{alpha_text(config.alpha)}_{config.resolution}"
                        f"{'_quant' if precision == 'int8' else ''}") if accuracy else None,
    }


def fit_mac_rates(rows: list[dict]) -> dict[str, dict]:
    """One GMAC/s rate per engine and precision: the fit of "latency = MACs / rate" to the
    measured p50s with the least squared error in log space (the geometric mean of each
    row's MACs / p50), so a 14M-MAC and a 569M-MAC network weigh alike."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(f"{row['engine']}/{row['precision']}", []).append(row)
    out = {}
    for name, members in groups.items():
        logs = [math.log(r["macs"] / (r["latency_ms"]["p50"] * 1e6)) for r in members]
        gmacs = math.exp(sum(logs) / len(logs))
        per_row = [r["macs"] / (r["latency_ms"]["p50"] * 1e6) for r in members]
        out[name] = {"gmacs": round(gmacs, 3), "min_gmacs": round(min(per_row), 3),
                     "max_gmacs": round(max(per_row), 3), "configurations": len(members),
                     "method": "geometric mean of MACs / p50 over the sweep"}
    return out


def mark_pareto(rows: list[dict]) -> None:
    """``row["pareto"]``: True when no other row is at least as fast (p50) and at least as
    accurate (published top-1), and strictly better in one. Rows without a published
    figure are never on the front."""
    rated = [r for r in rows if r["top1"] is not None]
    for row in rows:
        row["pareto"] = row["top1"] is not None and not any(
            o is not row and o["latency_ms"]["p50"] <= row["latency_ms"]["p50"]
            and o["top1"] >= row["top1"]
            and (o["latency_ms"]["p50"] < row["latency_ms"]["p50"] or o["top1"] > row["top1"])
            for o in rated)


def answer_target(rows: list[dict], fps: float) -> dict:
    """The most accurate row whose measured throughput reaches ``fps`` (ties: the faster),
    with its margin; when none does, the fastest row and how far it falls short."""
    if not fps > 0:
        raise EdgeError(f"--target-fps must be > 0, got {fps}")
    budget_ms = 1e3 / fps
    rated = [r for r in rows if r["top1"] is not None]
    meets = [r for r in rated if r["fps"] and r["fps"] >= fps]
    if meets:
        best = max(meets, key=lambda r: (r["top1"], r["fps"]))
        return {"target_fps": fps, "met": True, "label": best["label"], "config": best["config"],
                "precision": best["precision"], "engine": best["engine"], "top1": best["top1"],
                "fps": best["fps"], "margin": round(best["fps"] / fps, 3),
                "budget_ms": round(budget_ms, 3), "p99_ms": best["latency_ms"]["p99"],
                "p99_headroom_ms": round(budget_ms - best["latency_ms"]["p99"], 3),
                "candidates": len(meets)}
    fastest = max(rated, key=lambda r: r["fps"] or 0)
    return {"target_fps": fps, "met": False, "label": fastest["label"],
            "config": fastest["config"], "precision": fastest["precision"],
            "engine": fastest["engine"], "top1": fastest["top1"], "fps": fastest["fps"],
            "margin": round((fastest["fps"] or 0) / fps, 3), "budget_ms": round(budget_ms, 3),
            "p99_ms": fastest["latency_ms"]["p99"],
            "p99_headroom_ms": round(budget_ms - fastest["latency_ms"]["p99"], 3),
            "candidates": 0}
