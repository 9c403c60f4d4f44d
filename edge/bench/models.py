"""edge-bench: measure models on this device the way a buyer compares boards.

For every model and thread count: load time, first inference, then steady-state latency
percentiles, throughput, CPU-ms and energy per inference. Configurations are interleaved in
short chunks so that thermal drift and background noise hit all of them equally.
"""

from __future__ import annotations

import os
import platform
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge import __version__
from edge.bench.accuracy import known_accuracy
from edge.bench.sweep.report import plain_log_ticks
from edge.engines import OrtEngine, open_engine
from edge.engines.litert import litert_version
from edge.machine import cpu_features, physical_cores
from edge.model import ModelInfo, alpha_text, read_model_info
from edge.telemetry.metrics import percentiles
from edge.telemetry.power import EnergyMeter, PowerReader, PowerSample, default_readers
from edge.telemetry.thermal import read_thermal_state


@dataclass
class Config:
    path: Path
    info: ModelInfo
    threads: int
    engine: OrtEngine | None = None
    load_ms: float = 0.0
    first_ms: float = 0.0
    latencies: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    cpu_s: float = 0.0
    joules: float = 0.0
    energy_s: float = 0.0

    @property
    def label(self) -> str:
        return f"{self.path.name} @{self.threads}t"


def environment() -> dict:
    import onnxruntime as ort

    thermal = read_thermal_state().to_dict()
    return {
        "cpu": cpu_features(),
        "logical_cpus": os.cpu_count(),
        "physical_cores": physical_cores(),
        "machine": platform.machine(),
        "os_bits": struct.calcsize("P") * 8,
        "kernel": platform.release(),
        "system": platform.system(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "onnxruntime": ort.__version__,
        "litert": litert_version(),
        "providers": ort.get_available_providers(),
        "edge": __version__,
        "thermal": thermal,
    }


class _ChunkEnergy:
    """Energy over one chunk of work from a reader: counter delta, or mean watts x time."""

    def __init__(self, reader: PowerReader | None) -> None:
        self.reader = reader

    def begin(self) -> PowerSample | None:
        return self.reader.sample() if self.reader else None

    def end(self, start: PowerSample | None, seconds: float) -> float | None:
        if start is None or self.reader is None:
            return None
        stop = self.reader.sample()
        if start.energy_j is not None and stop.energy_j is not None:
            return stop.energy_j - start.energy_j
        watts = [w for w in (start.watts, stop.watts) if w is not None]
        if stop.estimated and stop.watts is not None:
            watts = [stop.watts]  # the estimate covers the chunk's CPU utilisation
        return float(np.mean(watts)) * seconds if watts else None


def run_benchmark(paths: list[Path], threads: list[int], runs: int | None = 200,
                  duration: float | None = None, warmup: int = 10, rounds: int = 10,
                  readers: list[PowerReader] | None = None, idle_seconds: float | None = None,
                  log=lambda _msg: None, spin: bool | None = None) -> dict:
    """Measure every (model, threads) pair; returns the report as a dict.

    ``spin=False`` stops idle worker threads spin-waiting, as edge-run does with a camera.
    None (the default): on for a single pair, off when several are interleaved: the spinning
    workers of the session that just ran would steal cores, and CPU time, from the next one.
    """
    if spin is None:
        spin = len(paths) * len(threads) == 1
    env_before = environment()
    meter = EnergyMeter(readers if readers is not None else default_readers())
    idle = meter.measure_idle(idle_seconds) if idle_seconds else None
    reader = meter.reader or meter.choose()
    energy = _ChunkEnergy(reader)
    configs: list[Config] = []
    for path in paths:
        info = read_model_info(path)
        for t in threads:
            config = Config(Path(path), info, t)
            t0 = time.perf_counter()
            config.engine = open_engine(path, threads=t, spin=spin, cache_dir=None, info=info,
                                   warmup=False)
            config.load_ms = (time.perf_counter() - t0) * 1e3
            tensor = _input(info)
            t0 = time.perf_counter()
            config.engine.run(tensor)
            config.first_ms = (time.perf_counter() - t0) * 1e3
            for _ in range(warmup):
                config.engine.run(tensor)
            configs.append(config)
            log(f"loaded {config.label}: {config.load_ms:.0f} ms, first inference "
                f"{config.first_ms:.1f} ms")
    if duration is not None:
        # size chunks from the warm-up speed so the whole run takes about `duration`
        per_config = duration / len(configs)
        chunk = {id(c): max(1, int(per_config / rounds / _quick_ms(c) * 1e3)) for c in configs}
    else:
        chunk = {id(c): max(1, (runs or 200) // rounds) for c in configs}
    for r in range(rounds):
        for c in configs:
            tensor = _input(c.info)
            n = chunk[id(c)]
            start = energy.begin()
            cpu0, wall0 = time.process_time(), time.perf_counter()
            for _ in range(n):
                t0 = time.perf_counter()
                c.engine.run(tensor)
                c.latencies.append((time.perf_counter() - t0) * 1e3)
            wall = time.perf_counter() - wall0
            c.cpu_s += time.process_time() - cpu0
            c.wall_s += wall
            joules = energy.end(start, wall)
            if joules is not None:
                c.joules += joules
                c.energy_s += wall
        log(f"round {r + 1}/{rounds} done")
    results = [_summarise(c, idle, meter) for c in configs]
    return {
        "environment": {"before": env_before, "after_thermal": read_thermal_state().to_dict()},
        "settings": {"threads": threads, "runs_per_config": len(configs[0].latencies),
                     "rounds": rounds, "warmup": warmup, "interleaved": True,
                     "spinning": "onnxruntime default (on)" if spin else
                     "off (as edge-run with a camera or --fps-cap; interleaved sessions "
                     "would otherwise steal each other's cores)"},
        "power": {"method": meter.method or None, "estimated": meter.estimated,
                  "idle_watts": idle, "unavailable": meter.reasons if not reader else {}},
        "results": results,
        "comparisons": compare_precisions(results, env_before["cpu"]["dot_product"]),
        "raw_latencies_ms": {r["label"]: c.latencies for r, c in zip(results, configs,
                                                                    strict=True)},
    }


def paced_cpu_ms(step, fps: float, seconds: float) -> float:
    """Process CPU-ms per call of ``step()`` called ``fps`` times a second for ``seconds``:
    what a frame costs a device that is mostly waiting for the next one."""
    return paced_loop(step, fps, seconds)[0]


def paced_loop(step: Callable[[], object], fps: float,
               seconds: float) -> tuple[float, list[float]]:
    """:func:`paced_cpu_ms` and the wall milliseconds of each call."""
    interval, calls = 1.0 / fps, []
    cpu0 = time.process_time()
    start = next_due = time.monotonic()
    while time.monotonic() - start < seconds:
        delay = next_due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        next_due += interval
        t0 = time.perf_counter()
        step()
        calls.append((time.perf_counter() - t0) * 1e3)
    return (time.process_time() - cpu0) / len(calls) * 1e3, calls


def _quick_ms(config: Config) -> float:
    tensor = _input(config.info)
    t0 = time.perf_counter()
    for _ in range(3):
        config.engine.run(tensor)
    return max((time.perf_counter() - t0) / 3 * 1e3, 0.01)


def _input(info: ModelInfo) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (1, info.resolution, info.resolution, 3), dtype=np.uint8)


def _summarise(c: Config, idle: float | None, meter: EnergyMeter) -> dict:
    n = len(c.latencies)
    lat = percentiles(c.latencies)
    joules = c.joules
    if idle is not None and c.energy_s:
        joules = max(joules - idle * c.energy_s, 0.0)
    return {
        "label": c.label, "model": c.path.name, "engine": c.engine.kind if c.engine else None,
        "threads": c.threads,
        "alpha": c.info.alpha, "resolution": c.info.resolution, "precision": c.info.precision,
        "macs": c.info.macs, "trained": c.info.trained,
        "accuracy": known_accuracy(c.path, c.info),
        "load_ms": round(c.load_ms, 2), "first_inference_ms": round(c.first_ms, 3),
        "runs": n,
        "latency_ms": {**{k: round(v, 4) for k, v in lat.items()},
                       "mean": round(float(np.mean(c.latencies)), 4)},
        "throughput_fps": round(n / c.wall_s, 2) if c.wall_s else None,
        "cpu_ms_per_inference": round(1e3 * c.cpu_s / n, 4) if n else None,
        "energy": None if not c.energy_s else {
            "method": meter.method, "estimated": meter.estimated,
            "idle_subtracted": idle is not None,
            "watts_mean": round(joules / c.energy_s, 4),
            "mj_per_inference": round(1e3 * joules / n, 4),
            "inferences_per_j": round(n / joules, 2) if joules > 0 else None},
    }


def compare_precisions(results: list[dict], dot_product: bool | None = None) -> list[dict]:
    """fp32 against int8 of the same network at the same thread count."""
    out = []
    for r in results:
        if r["precision"] != "int8":
            continue
        twin = next((f for f in results if f["precision"] == "fp32"
                     and (f["alpha"], f["resolution"], f["threads"])
                     == (r["alpha"], r["resolution"], r["threads"])), None)
        if twin is None:
            continue
        ratio = twin["latency_ms"]["p50"] / r["latency_ms"]["p50"]
        if abs(ratio - 1) < 0.02:  # the noise of one run: neither a win nor a warning
            verdict = f"int8 is as fast as fp32 here ({ratio:.2f}x)"
        elif ratio >= 1:
            verdict = f"int8 is {ratio:.2f}x faster than fp32"
        else:
            why = ("this CPU lacks dot-product instructions, like the Pi 3, Pi 4 and Zero 2 W"
                   if dot_product is False else
                   "at this size quantize/dequantize overhead outweighs the int8 arithmetic")
            verdict = (f"WARNING: int8 is {1 / ratio:.2f}x SLOWER than fp32 here; run the fp32 "
                       f"model on this device ({why})")
        out.append({"network": f"{alpha_text(r['alpha'])}-{r['resolution']}",
                    "threads": r["threads"],
                    "fp32": twin["model"], "int8": r["model"], "speedup": round(ratio, 3),
                    "int8_faster": ratio >= 1, "verdict": verdict})
    return out


def sustained(path: Path, seconds: float, threads: int | None = None,
              log=lambda _msg: None) -> dict:
    """Run back to back for ``seconds``; FPS, temperature and clock each second."""
    info = read_model_info(path)
    engine = open_engine(path, threads=threads, spin=True, cache_dir=None, info=info)
    tensor = _input(info)
    series = []
    start = time.monotonic()
    while (elapsed := time.monotonic() - start) < seconds:
        count, t0 = 0, time.monotonic()
        while time.monotonic() - t0 < 1.0:
            engine.run(tensor)
            count += 1
        state = read_thermal_state().to_dict()
        point = {"t_s": round(elapsed + 1.0, 1), "fps": round(count / (time.monotonic() - t0), 2),
                 "temperature_c": state["temperature_c"]["value"],
                 "frequency_mhz": state["frequency_mhz"]["value"],
                 "throttled": state["throttled"]["value"]}
        series.append(point)
        log(f"{point['t_s']:>6.1f} s {point['fps']:8.1f} FPS  {point['temperature_c']} C")
    fps = [p["fps"] for p in series]
    drop = 1 - np.mean(fps[-3:]) / np.mean(fps[:3]) if len(fps) >= 6 else None
    return {"model": path.name, "threads": engine.threads, "seconds": seconds,
            "series": series,
            "fps_first_3s": round(float(np.mean(fps[:3])), 2) if fps else None,
            "fps_last_3s": round(float(np.mean(fps[-3:])), 2) if fps else None,
            "slowdown": None if drop is None else round(float(drop), 4)}


def format_table(report: dict) -> str:
    cpu = report["environment"]["before"]["cpu"]
    env = report["environment"]["before"]
    lines = [f"{cpu['model']}, {env['logical_cpus']} CPUs ({env['physical_cores']} cores), "
             f"{env['machine']} {env['os_bits']}-bit, onnxruntime {env['onnxruntime']}, "
             f"dot-product: {'yes' if cpu['dot_product'] else 'no'}"]
    power = report["power"]
    energy_head = "mJ/inf" + (" (est.)" if power["estimated"] else "")
    header = (f"{'model':<38}{'thr':>4}{'load ms':>9}{'first ms':>10}{'p50 ms':>9}{'p90 ms':>9}"
              f"{'p99 ms':>9}{'FPS':>9}{'CPU-ms':>8}{energy_head:>15}{'top-1':>8}")
    lines += [header, "-" * len(header)]
    sources: list[str] = []
    for r in report["results"]:
        lat = r["latency_ms"]
        mj = f"{r['energy']['mj_per_inference']:.2f}" if r["energy"] else "-"
        acc = r.get("accuracy")
        if acc and acc["source"] not in sources:
            sources.append(acc["source"])
        top1 = f"{acc['top1']:.1f}%{'*' * (sources.index(acc['source']) + 1)}" if acc else "?"
        lines.append(f"{r['model'][:37]:<38}{r['threads']:>4}{r['load_ms']:>9.0f}"
                     f"{r['first_inference_ms']:>10.2f}{lat['p50']:>9.3f}{lat['p90']:>9.3f}"
                     f"{lat['p99']:>9.3f}{r['throughput_fps']:>9.1f}"
                     f"{r['cpu_ms_per_inference']:>8.2f}{mj:>15}{top1:>8}")
    for i, source in enumerate(sources):
        lines.append(f"top-1 {'*' * (i + 1)}: {source}")
    if any(not r.get("accuracy") for r in report["results"]):
        lines.append("top-1 ?: not known for that model (not a published checkpoint nor "
                     "trained by edge-train)")
    if power["method"]:
        lines.append(f"energy by {power['method']}"
                     f"{' (ESTIMATED)' if power['estimated'] else ''}")
    else:
        lines.append("energy: no power reader on this machine (" +
                     "; ".join(f"{k}: {v}" for k, v in power["unavailable"].items()) + ")")
    for c in report["comparisons"]:
        lines.append(f"{c['network']} at {c['threads']} thread(s), {c['int8']} against "
                     f"{c['fp32']}: {c['verdict']}")
    if not all(r["trained"] for r in report["results"]):
        lines.append("note: some models are UNTRAINED (random weights); speed is still real")
    return "\n".join(lines)


def plot(report: dict, target: Path) -> None:
    """Latency distribution per model and thread count (and the sustained run, if any)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    raw = report["raw_latencies_ms"]
    sus = report.get("sustained")
    fig, axes = plt.subplots(1, 2 if sus else 1, figsize=(13 if sus else 9, 5),
                             squeeze=False)
    ax = axes[0][0]
    labels = list(raw)
    ax.boxplot([raw[k] for k in labels], vert=False, showfliers=True, whis=(1, 99),
               flierprops={"markersize": 2})
    ax.set_yticks(range(1, len(labels) + 1), labels, fontsize=8)
    ax.set_xscale("log")
    plain_log_ticks(ax.xaxis)
    ax.set_xlabel("latency per inference (ms, log scale); whiskers p1-p99")
    env = report["environment"]["before"]
    ax.set_title(f"edge-bench on {env['cpu']['model'][:50]}", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    if sus:
        ax2 = axes[0][1]
        t = [p["t_s"] for p in sus["series"]]
        ax2.plot(t, [p["fps"] for p in sus["series"]], color="tab:blue")
        ax2.set_xlabel("seconds")
        ax2.set_ylabel("FPS", color="tab:blue")
        ax2.set_title(f"sustained: {sus['model']} @{sus['threads']}t", fontsize=10)
        temps = [p["temperature_c"] for p in sus["series"]]
        if any(v is not None for v in temps):
            ax3 = ax2.twinx()
            ax3.plot(t, [v if v is not None else np.nan for v in temps], color="tab:red")
            ax3.set_ylabel("SoC temperature (C)", color="tab:red")
        else:
            ax2.text(0.5, 0.05, "no temperature sensor on this machine", ha="center",
                     transform=ax2.transAxes, color="tab:red")
        ax2.set_ylim(bottom=0)
    fig.tight_layout()
    fig.savefig(target, dpi=110, format="png")  # the name may be a temporary one
    plt.close(fig)
