"""edge-bench --sweep and --layers: which MobileNetV1 fits this device, and where its time goes.

Width (alpha) and resolution are MobileNetV1's knobs: cost scales with about alpha^2 and rho^2,
and accuracy falls with both. The sweep builds the 16 published configurations (random
weights: speed does not depend on them) in fp32 and int8, measures them all with
edge-bench's interleaved loop, and sets the measured speed beside the *published* ImageNet
top-1 of each configuration's trained checkpoint, so a user can pick the most accurate
network that meets a frame rate here. ``--layers`` profiles single models layer by layer
(:mod:`edge.bench.layers`). Engines are one dimension of every row: onnxruntime runs fp32 and int8,
LiteRT (when installed) the int8 build's full-integer .tflite.

    request = make_request(sweep=True, ...)   # every check before any work
    report = execute(request, cache_dir, log)  # builds (cached), measures, profiles
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edge.bench.sweep.configs import (
    WEIGHTS_NOTE,
    Configuration,
    all_configurations,
    build_models,
    calibration_source,
    parse_configuration,
    parse_configurations,
    parse_engines,
)
from edge.convert.spec import MobileNetSpec
from edge.errors import EdgeError

__all__ = ["WEIGHTS_NOTE", "Configuration", "SweepRequest", "execute", "make_request"]


@dataclass(frozen=True)
class SweepRequest:
    """What to build, measure and profile, validated."""

    sweep: bool
    configs: list[Configuration]
    layers: list[Configuration | Path]  # configurations (both precisions) or model files
    calibration: Path | None
    threads: int
    runs: int
    rounds: int
    warmup: int
    profile_runs: int
    idle_seconds: float | None = None
    target_fps: float | None = None
    engines: tuple[str, ...] = ("onnxruntime",)


def make_request(*, sweep: bool, layers: bool, models: list[Path], configs: str | None,
                 threads: int, runs: int | None, warmup: int | None, quick: bool,
                 calibration: Path | None, idle_seconds: float | None = None,
                 target_fps: float | None = None, engines: str | None = None) -> SweepRequest:
    """Check the options of a sweep and/or a layer profile before any expensive work."""
    if sweep and models and not layers:
        raise EdgeError("--sweep measures the published configurations: choose them with "
                        "--configs, not MODEL files")
    if target_fps is not None and not sweep:
        raise EdgeError("--target-fps needs --sweep")
    if engines is not None and not sweep:
        raise EdgeError("--engines needs --sweep (--layers profiles onnxruntime only)")
    if target_fps is not None and not target_fps > 0:
        raise EdgeError(f"--target-fps must be > 0, got {target_fps:g}")
    if threads < 1:
        raise EdgeError("--threads must be >= 1")
    runs = runs if runs is not None else (30 if quick else 100)
    if runs < 10:
        raise EdgeError("--runs must be >= 10 (percentiles need samples)")
    chosen = parse_configurations(configs) if configs else all_configurations()
    targets: list[Configuration | Path] = []
    for model in models if layers else []:
        target = Path(model) if Path(model).is_file() else parse_configuration(str(model))
        if target is None:
            raise EdgeError(f"{model}: no such model file, nor a configuration like 1.0-224")
        if isinstance(target, Configuration):  # built here: the published ones only
            target = parse_configurations(str(model), "--layers")[0]
        if isinstance(target, Path) and target.suffix != ".onnx":
            raise EdgeError(f"{model}: --layers profiles ONNX models with onnxruntime's profiler "
                            "(LiteRT's Python interpreter has no per-op profiler)")
        targets.append(target)
    if layers and not targets:  # the largest and the smallest network
        by_macs = sorted(chosen, key=lambda c: MobileNetSpec.create(c.alpha, c.resolution,
                                                                     1001).macs)
        targets = list(dict.fromkeys([by_macs[-1], by_macs[0]]))
    needs_build = sweep or any(isinstance(t, Configuration) for t in targets)
    return SweepRequest(
        sweep=sweep, configs=chosen, layers=targets,
        calibration=calibration_source(calibration) if needs_build else None,
        threads=threads, runs=runs, rounds=5 if quick else 10,
        warmup=warmup if warmup is not None else (3 if quick else 10),
        profile_runs=20 if quick else 50, idle_seconds=idle_seconds, target_fps=target_fps,
        engines=tuple(parse_engines(engines)) if sweep else ("onnxruntime",))


def execute(request: SweepRequest, cache_dir: Path, log=lambda _msg: None) -> dict:
    """Run the sweep and/or the layer profiles; returns the report (``rows`` from the sweep,
    ``layers`` from the profiles, the environment either way)."""
    from edge.bench.layers import profile_layers
    from edge.bench.models import environment
    from edge.bench.sweep.measure import run_sweep

    r = request
    if r.sweep:
        report = run_sweep(r.configs, r.calibration, cache_dir, r.threads, runs=r.runs,
                           rounds=r.rounds, warmup=r.warmup, idle_seconds=r.idle_seconds,
                           target_fps=r.target_fps, engines=r.engines, log=log)
    else:
        report = {"kind": "edge-bench layers", "environment": {"before": environment()}}
    if r.layers:
        paths: list[Path] = []
        for target in r.layers:
            if isinstance(target, Configuration):
                built, _ = build_models([target], r.calibration, cache_dir, log)
                paths += list(built.values())
            else:
                paths.append(target)
        report["layers"] = [profile_layers(path, r.threads, runs=r.profile_runs)
                            for path in paths]
    return report
