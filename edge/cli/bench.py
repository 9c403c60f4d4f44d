"""edge-bench's command line: models side by side, the sweep, the per-layer profile and the
microcontroller firmware under emulation (--mcu)."""

from __future__ import annotations

import argparse
import sys

from edge.cli.signals import Signals
from edge.errors import EdgeError, install_hint

EXIT_NOT_IDENTICAL = 1  # --mcu: some firmware's logits differ from TFLM's on x86-64


def bench_parser() -> argparse.ArgumentParser:
    from edge.bench.settings import SETTINGS
    from edge.settings import build_parser

    return build_parser("edge-bench", "Measure edge models on this device: load time, first "
                        "inference, latency percentiles, throughput, CPU and energy per "
                        "inference.", SETTINGS)


def _bench(argv: list[str] | None, signals: Signals) -> int:
    from edge.bench.models import format_table, plot, run_benchmark, sustained
    from edge.fileio import check_writable
    from edge.machine import physical_cores
    from edge.model import read_model_info
    from edge.settings import STDOUT

    signals.arm()  # numpy and onnxruntime are loaded: stop where it stands from now
    args = bench_parser().parse_args(argv)
    for flag, path in (("--json", args.json), ("--plot", args.plot)):
        if path is not None and path != STDOUT:  # before minutes of measuring, not after
            check_writable(path, flag)
    if args.mcu is not None:
        return _bench_mcu(args)
    for flag, value in (("--tflm-sources", args.tflm_sources), ("--cpus", args.cpus),
                        ("--kernels", args.kernels)):
        if value:
            raise EdgeError(f"{flag} goes with --mcu BUNDLE_DIR")
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
    threads = sorted(set(args.threads or [1, physical_cores()]))
    if args.runs < 10 and args.duration is None:
        raise EdgeError("--runs must be >= 10 (percentiles need samples)")
    for path in args.models:  # fail before measuring anything
        read_model_info(path)
    log = _ready_to_report(args)
    report = run_benchmark(args.models, threads, runs=args.runs, duration=args.duration,
                           warmup=args.warmup, idle_seconds=args.idle_seconds, log=log)
    if args.sustained:
        report["sustained"] = sustained(args.models[0], args.sustained, log=log)
    lines = [format_table(report)]
    if report.get("sustained"):
        s = report["sustained"]
        lines.append(f"sustained {s['model']} @{s['threads']}t for {s['seconds']:g} s: "
                     f"{s['fps_first_3s']} FPS at the start, {s['fps_last_3s']} at the end"
                     + (f" ({100 * s['slowdown']:+.1f}% slowdown)" if s["slowdown"] is not None
                        else ""))
    _write_outputs(args, report, "\n".join(lines), plot)
    return 0


def _bench_sweep(args: argparse.Namespace) -> int:
    """edge-bench --sweep and --layers: published configurations and per-layer profiles."""

    from edge.bench.layers import format_layers
    from edge.bench.sweep import WEIGHTS_NOTE, execute, make_request
    from edge.bench.sweep.report import format_sweep, plot
    from edge.engines import default_cache_dir
    from edge.machine import physical_cores

    for flag, value in (("--duration", args.duration), ("--sustained", args.sustained)):
        if value is not None:
            raise EdgeError(f"{flag} is not for --sweep or --layers (use --runs or --quick)")
    if args.threads and len(args.threads) > 1:
        raise EdgeError(f"--threads {','.join(map(str, args.threads))}: --sweep and --layers "
                        "measure at one thread count, e.g. --threads 4")
    threads = args.threads[0] if args.threads else physical_cores()
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
    _write_outputs(args, report, "\n\n".join(sections), plot)
    return 0


def _bench_mcu(args: argparse.Namespace) -> int:
    """edge-bench --mcu: the bundle's firmware on each emulated CPU and kernel set."""
    import os
    from pathlib import Path

    from edge.bench.mcu.cores import BOARDS, KERNELS
    from edge.bench.mcu.measure import measure_mcu
    from edge.bench.mcu.report import format_mcu
    from edge.bench.sweep.configs import bundled_photos
    from edge.engines import default_cache_dir

    others = (("MODEL", args.models), ("--sweep", args.sweep), ("--layers", args.layers),
              ("--threads", args.threads), ("--duration", args.duration),
              ("--sustained", args.sustained), ("--plot", args.plot),
              ("--idle-seconds", args.idle_seconds), ("--warmup", args.warmup),
              ("--configs", args.configs), ("--target-fps", args.target_fps),
              ("--quick", args.quick), ("--engines", args.engines))
    for flag, value in others:
        if not (value is None or value is False or value == []):  # given, even as 0
            raise EdgeError(f"{flag} does not go with --mcu")
    sources = args.tflm_sources or os.environ.get("EDGE_TFLM_SOURCES")
    if not sources:
        raise EdgeError("--mcu needs --tflm-sources DIR (or EDGE_TFLM_SOURCES): a folder with "
                        "tflite-micro, flatbuffers, gemmlowp, ruy and CMSIS-NN checkouts")
    frames = args.calibration or bundled_photos()
    if frames is None:
        raise EdgeError("--mcu feeds the firmware real frames, and the bundled data/photos "
                        "folder is not here (edge is installed without its repository): pass "
                        "--calibration DIR_OR_VIDEO")
    if not Path(frames).exists():
        raise EdgeError(f"{frames}: --calibration path not found")
    cache = Path(os.environ.get("EDGE_MCU_CACHE") or default_cache_dir() / "mcu")
    log = _ready_to_report(args)
    cpus = list(dict.fromkeys(args.cpus or BOARDS))  # in the order given, once each
    kernels = list(dict.fromkeys(args.kernels or KERNELS))
    report = measure_mcu(args.mcu, Path(sources), cpus, kernels, cache, Path(frames),
                         args.runs or 3, log)
    _write_outputs(args, report, format_mcu(report), None)
    differ = [f"{r['cpu']} {r['kernels']}" for r in report["runs"]
              if r["bit_identical"] is False]
    if differ:
        print(f"edge-bench: the logits differ from TFLM on x86-64 for {', '.join(differ)}",
              file=sys.stderr)
        return EXIT_NOT_IDENTICAL
    return 0


def _ready_to_report(args: argparse.Namespace):
    """Before measuring: --plot's matplotlib is there; the progress log (quiet with -q)."""
    if args.plot is not None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise EdgeError("--plot needs matplotlib: " + install_hint("plot")) from None
    return (lambda _m: None) if args.quiet else (lambda m: print(m, file=sys.stderr))


def _write_outputs(args: argparse.Namespace, report: dict, text: str, plot) -> None:
    """The table (or with a bare --json the report as JSON) on stdout; --json FILE and --plot
    files, each written whole or not at all."""
    import json

    from edge.fileio import atomic_path
    from edge.settings import STDOUT, write_json

    print(json.dumps(report, indent=1) if args.json == STDOUT else text)
    if args.json not in (None, STDOUT):
        write_json(args.json, report)
    if args.plot is not None:
        with atomic_path(args.plot) as tmp:
            plot(report, tmp)
