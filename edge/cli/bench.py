"""edge-bench's command line: models side by side, the sweep and the per-layer profile."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge.errors import EdgeError


def bench_parser() -> argparse.ArgumentParser:
    from edge.settings import Parser

    p = Parser(
        prog="edge-bench",
        description="Measure edge models on this device: load time, first inference, latency "
                    "percentiles, throughput, CPU and energy per inference.")
    p.add_argument("models", nargs="*", type=Path, metavar="MODEL",
                   help="edge ONNX models (with --layers also names like 1.0-224)")
    p.add_argument("--threads", default=None, metavar="N[,N...]",
                   help="thread counts to try (default: 1 and the physical cores; --sweep and "
                        "--layers: one count, default the physical cores)")
    p.add_argument("--runs", type=int, default=None, metavar="N",
                   help="timed inferences per model and thread count (default 200; --sweep "
                        "100, --quick 30)")
    p.add_argument("--duration", type=float, metavar="S",
                   help="instead of --runs: spend about S seconds in timed runs")
    p.add_argument("--warmup", type=int, default=None, metavar="N", help="(default 10)")
    p.add_argument("--idle-seconds", type=float, metavar="S",
                   help="measure idle power first and subtract it")
    p.add_argument("--sustained", type=float, metavar="S",
                   help="also run the first model back to back for S seconds and report FPS "
                        "and temperature over time")
    p.add_argument("--json", type=Path, metavar="FILE", help="write the full report")
    p.add_argument("--plot", type=Path, metavar="FILE.png",
                   help="latency distribution plot (--sweep: latency against published "
                        "accuracy; --layers: time against MACs)")
    p.add_argument("--quiet", "-q", action="store_true")
    sw = p.add_argument_group("which MobileNetV1 for this device")
    sw.add_argument("--sweep", action="store_true",
                    help="build (once, cached) and measure the 16 published configurations, "
                         "alpha 1.0/0.75/0.5/0.25 x 224/192/160/128, fp32 and int8, beside "
                         "their published ImageNet top-1; random weights, for timing")
    sw.add_argument("--configs", metavar="A-R[,A-R...]",
                    help="only these configurations, e.g. 1.0-224,0.25-128")
    sw.add_argument("--target-fps", type=float, metavar="N",
                    help="name the most accurate configuration that reaches N FPS here")
    sw.add_argument("--layers", action="store_true",
                    help="each layer's time (onnxruntime's profiler) beside its MACs, for MODEL "
                         "files or names (default: the largest and smallest configuration)")
    sw.add_argument("--quick", action="store_true",
                    help="fewer runs (30 per model in 5 rounds; 20 profiled)")
    sw.add_argument("--engines", metavar="NAME[,NAME]",
                    help="--sweep: onnxruntime, litert (int8 as .tflite); default both when "
                         "LiteRT is installed")
    sw.add_argument("--calibration", type=Path, metavar="DIR_OR_VIDEO",
                    help="frames for the int8 builds (default: the repository's data/photos)")
    return p


def _bench(argv: list[str] | None) -> int:

    from edge.bench import format_table, plot, run_benchmark, sustained
    from edge.fileio import check_writable
    from edge.machine import physical_cores
    from edge.model import read_model_info

    args = bench_parser().parse_args(argv)
    for flag, path in (("--json", args.json), ("--plot", args.plot)):
        if path is not None:  # before minutes of measuring, not after
            check_writable(path, flag)
    if args.sweep or args.layers:
        return _bench_sweep(args)
    if not args.models:
        raise EdgeError("give MODEL files to measure, or --sweep, or --layers")
    for flag, value in (("--configs", args.configs), ("--target-fps", args.target_fps),
                        ("--quick", args.quick), ("--calibration", args.calibration),
                        ("--engines", args.engines)):
        if value:
            raise EdgeError(f"{flag} goes with --sweep or --layers")
    args.runs = 200 if args.runs is None else args.runs
    args.warmup = 10 if args.warmup is None else args.warmup
    try:
        threads = sorted({int(t) for t in args.threads.split(",")}) if args.threads else \
            sorted({1, physical_cores()})
    except ValueError:
        raise EdgeError(f"--threads {args.threads}: expected numbers like 1,2,4") from None
    if any(t < 1 for t in threads):
        raise EdgeError("--threads must be >= 1")
    if args.runs < 10 and args.duration is None:
        raise EdgeError("--runs must be >= 10 (percentiles need samples)")
    for path in args.models:  # fail before measuring anything
        read_model_info(path)
    log = _ready_to_report(args)
    report = run_benchmark(args.models, threads, runs=args.runs, duration=args.duration,
                           warmup=args.warmup, idle_seconds=args.idle_seconds, log=log)
    if args.sustained:
        report["sustained"] = sustained(args.models[0], args.sustained, log=log)
    print(format_table(report))
    if report.get("sustained"):
        s = report["sustained"]
        print(f"sustained {s['model']} @{s['threads']}t for {s['seconds']:g} s: "
              f"{s['fps_first_3s']} FPS at the start, {s['fps_last_3s']} at the end"
              + (f" ({100 * s['slowdown']:+.1f}% slowdown)" if s["slowdown"] is not None
                 else ""))
    _write_outputs(args, report, plot)
    return 0


def _bench_sweep(args: argparse.Namespace) -> int:
    """edge-bench --sweep and --layers: published configurations and per-layer profiles."""

    from edge.engine import default_cache_dir
    from edge.layers import format_layers
    from edge.machine import physical_cores
    from edge.sweep import WEIGHTS_NOTE, execute, make_request
    from edge.sweep.report import format_sweep, plot

    for flag, value in (("--duration", args.duration), ("--sustained", args.sustained)):
        if value is not None:
            raise EdgeError(f"{flag} is not for --sweep or --layers (use --runs or --quick)")
    try:
        threads = int(args.threads) if args.threads else physical_cores()
    except ValueError:
        raise EdgeError(f"--threads {args.threads}: --sweep and --layers measure at one thread "
                        "count, e.g. --threads 4") from None
    request = make_request(sweep=args.sweep, layers=args.layers, models=args.models,
                           configs=args.configs, threads=threads, runs=args.runs,
                           warmup=args.warmup, quick=args.quick, calibration=args.calibration,
                           idle_seconds=args.idle_seconds, target_fps=args.target_fps,
                           engines=args.engines)
    log = _ready_to_report(args)
    if args.sweep:
        log(f"note: {WEIGHTS_NOTE}")
    report = execute(request, default_cache_dir(), log)
    sections = [format_sweep(report)] if args.sweep else []
    sections += [format_layers(profile) for profile in report.get("layers", [])]
    print("\n\n".join(sections))
    _write_outputs(args, report, plot)
    return 0


def _ready_to_report(args: argparse.Namespace):
    """Before measuring: --plot's matplotlib is there; the progress log (quiet with -q)."""
    if args.plot is not None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise EdgeError("--plot needs matplotlib: pip install 'edge[plot]'") from None
    return (lambda _m: None) if args.quiet else (lambda m: print(m, file=sys.stderr))


def _write_outputs(args: argparse.Namespace, report: dict, plot) -> None:
    """edge-bench's --json and --plot files, each written whole or not at all."""
    import json

    from edge.fileio import atomic_path, write_bytes_atomic

    if args.json is not None:
        write_bytes_atomic(args.json, (json.dumps(report, indent=1) + "\n").encode())
    if args.plot is not None:
        with atomic_path(args.plot) as tmp:
            plot(report, tmp)
