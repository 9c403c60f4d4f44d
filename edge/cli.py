"""Command lines. The only place that sets up logging, prints, and turns errors into exit codes."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from edge.config import DEFAULT_PATH as DEFAULT_CONFIG
from edge.errors import EdgeError

EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


class _Terminated(BaseException):
    """SIGTERM, raised where the program is, so cleanup runs as for Ctrl-C."""


def _terminate(signum, _frame) -> None:
    raise _Terminated


def _run(main: Callable[[list[str] | None], int], argv: list[str] | None,
         terminate_cleanly: bool = False) -> int:
    """``terminate_cleanly``: SIGTERM unwinds like Ctrl-C (staging folders and temporary
    files removed) instead of killing the process where it stands."""
    if terminate_cleanly:
        signal.signal(signal.SIGTERM, _terminate)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # OpenCV and its FFmpeg print decoder chatter to stderr; our errors say what matters in
    # one line. Read when cv2 first opens a capture, so set before any is opened.
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    # images beyond this are refused by OpenCV's decoders too (decompression bombs); replay
    # and calibration check the headers they can read first, with a reason
    from edge.sources.imagesize import MAX_PIXELS

    os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_PIXELS))
    prog = Path(sys.argv[0]).name
    try:
        return main(argv)
    except EdgeError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except _Terminated:
        print(f"{prog}: terminated (SIGTERM); nothing half-written was left", file=sys.stderr)
        return EXIT_TERMINATED


def convert_parser() -> argparse.ArgumentParser:
    from edge.settings import Parser

    p = Parser(
        prog="edge-convert",
        description="Build MobileNetV1 as ONNX (fp32, and int8 when calibration frames are "
                    "given), import pretrained weights, verify int8 against fp32.")
    p.add_argument("--weights", metavar="FILE_OR_NAME",
                   help="a .tflite, Keras .h5 or timm .safetensors file, a published name "
                        "(tflite:0.25_128_quant, timm:mobilenetv1_100, keras:1.0_224 with "
                        "--sha256; downloads once, checksum verified) or an https URL with "
                        "--sha256. Without it: random weights, flagged UNTRAINED everywhere")
    p.add_argument("--sha256", metavar="HEX",
                   help="the weights' checksum: required for a URL or a published name edge "
                        "pins none for; checked for a file too")
    p.add_argument("--alpha", type=float, help="width multiplier (default 1.0, or the file's)")
    p.add_argument("--resolution", type=int, help="input size in pixels (default 224, or the "
                                                  "file's)")
    p.add_argument("--classes", type=int, help="classifier outputs (default 1001, or the file's)")
    p.add_argument("--labels", type=Path, help="text file, one class name per line")
    p.add_argument("--calibration", type=Path, metavar="DIR_OR_VIDEO",
                   help="real frames for int8 calibration: a folder of images or a video file")
    p.add_argument("--calibration-samples", type=int, default=100, metavar="N",
                   help="frames used for calibration (default 100); later frames are held "
                        "out for verification")
    p.add_argument("--quantization", choices=["keep", "recalibrate"],
                   help="int8 from a quantised TFLite file: keep its own trained quantization "
                        "(default for such files; no calibration needed, --calibration frames "
                        "only verify) or recalibrate on --calibration frames (float weights)")
    p.add_argument("--calibration-method", choices=["gptq", "minmax", "entropy", "percentile"],
                   help="for recalibrate: gptq (default: GPTQ weights, bias correction, "
                        "float logits) or onnxruntime's calibrators, for comparison")
    p.add_argument("--verify", type=Path, metavar="DIR_OR_VIDEO",
                   help="held-out frames for the int8-vs-fp32 check (default: calibration "
                        "frames beyond --calibration-samples)")
    p.add_argument("--verify-samples", type=int, default=200, metavar="N")
    p.add_argument("--seed", type=int, default=0, help="seed of the random initialisation")
    p.add_argument("--tflite", action=argparse.BooleanOptionalAction, default=True,
                   help="write the int8 model as a full-integer .tflite too, for the LiteRT "
                        "engine (edge-run picks it when it is faster; default on)")
    mcu = p.add_argument_group("microcontroller (TensorFlow Lite Micro)")
    mcu.add_argument("--mcu", action="store_true",
                     help="also write a C bundle for TFLM (model_data.cc/.h, op resolver) with "
                          "the measured arena; refuses a model that does not fit the target "
                          "(needs an int8 model: --calibration, or a quantized checkpoint)")
    mcu.add_argument("--mcu-target", metavar="PART",
                     help="SRAM/flash preset: cortex-m7 (default: 512K/2M), stm32f746, "
                          "nrf52840, stm32l4r5")
    mcu.add_argument("--mcu-sram", metavar="SIZE", help="SRAM for the arena, e.g. 320K")
    mcu.add_argument("--mcu-flash", metavar="SIZE", help="flash for the model, e.g. 1M")
    mcu.add_argument("--mcu-input", choices=["int8", "uint8"], default="int8",
                     help="int8 pixels (camera byte - 128; default, smallest arena) or the "
                          "camera's uint8 bytes (adds a QUANTIZE op and its input tensor)")
    p.add_argument("--output", "-o", type=Path, help="folder for the models and report.json")
    p.add_argument("--explain", action="store_true",
                   help="print the per-layer cost table (separable vs standard convolution) "
                        "and exit")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    return p


def _convert(argv: list[str] | None) -> int:
    import json

    from edge.convert import ConvertOptions, check_bounds, convert, resolve_spec
    from edge.convert.download import load_weights
    from edge.convert.report import format_report
    from edge.convert.spec import explain

    args = convert_parser().parse_args(argv)
    opts = ConvertOptions(
        output=args.output or Path("."), weights=args.weights, sha256=args.sha256,
        alpha=args.alpha,
        resolution=args.resolution, classes=args.classes, labels=args.labels,
        calibration=args.calibration, calibration_samples=args.calibration_samples,
        calibration_method=args.calibration_method, quantization=args.quantization,
        verify=args.verify,
        verify_samples=args.verify_samples, seed=args.seed, tflite=args.tflite, mcu=args.mcu,
        mcu_input=args.mcu_input, mcu_target=args.mcu_target, mcu_sram=args.mcu_sram,
        mcu_flash=args.mcu_flash)
    if args.explain:
        check_bounds(args.alpha, args.resolution, args.classes)
        weights = load_weights(args.weights, args.sha256) if args.weights else None
        try:
            print(explain(resolve_spec(weights, opts)))
        except ValueError as exc:
            raise EdgeError(str(exc)) from exc
        return 0
    if args.output is None:
        raise EdgeError("--output DIR is required (where the models and report.json go)")
    log = (lambda msg: print(msg, file=sys.stderr)) if args.json else print
    report = convert(opts, log=log)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


def convert_main(argv: list[str] | None = None) -> int:
    """Entry point of ``edge-convert``."""
    return _run(_convert, argv, terminate_cleanly=True)


def run_parser() -> argparse.ArgumentParser:
    from edge.settings import SERVICE, Parser, add_settings

    p = Parser(prog="edge-run",
               description="Classify live camera frames or recorded ones with an edge model.")
    add_settings(p)
    svc = p.add_argument_group(SERVICE)
    svc.add_argument("--config", type=Path, metavar="FILE.toml",
                     help=f"settings file; flags override it (default {DEFAULT_CONFIG} when "
                          "it exists)")
    svc.add_argument("--no-config", action="store_true", help="ignore the default config file")
    svc.add_argument("--check-config", action="store_true",
                     help="validate the configuration and model without touching hardware")
    svc.add_argument("--doctor", action="store_true",
                     help="check this machine for what usually breaks a camera service")
    svc.add_argument("--mqtt-remove", action="store_true",
                     help="clear this node's retained messages and its Home Assistant device "
                          "from the broker (--mqtt), then exit")
    return p


def _run_edge(argv: list[str] | None) -> int:
    import json
    import signal

    from edge.config import parse_with_config

    args, config_path = parse_with_config(run_parser(), argv)
    # imported after parsing: --help and usage errors need no numpy, OpenCV or onnxruntime
    from edge.runtime import build_pipeline, check_config
    from edge.service import ServiceLoop
    from edge.sinks.terminal import format_summary

    if args.doctor:
        from edge.doctor import format_checks, run_checks

        checks = run_checks(args, config_path)
        print(format_checks(checks))
        return 1 if any(c.status == "FAIL" for c in checks) else 0
    if args.check_config:
        print(check_config(args, config_path))
        return 0
    if args.mqtt_remove:
        from edge.runtime import mqtt_options
        from edge.sinks.mqtt import remove

        for topic in remove(mqtt_options(args)):
            print(f"cleared {topic}")
        return 0
    pipeline, notes = build_pipeline(args)

    def on_signal(signum, _frame):
        pipeline.stop()

    service = ServiceLoop(pipeline)
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        pipeline.start()  # opens the source on its capture thread; fails fast with one line
        for note in notes:
            print(note, file=sys.stderr)
        service.start()
        summary = pipeline.run()
    finally:
        service.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    if pipeline.error is not None:
        raise pipeline.error if isinstance(pipeline.error, EdgeError) else \
            EdgeError(f"stopped by an unexpected error: {pipeline.error}", exit_code=1)
    return 0


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
                        ("--quick", args.quick), ("--calibration", args.calibration)):
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
    if args.plot is not None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise EdgeError("--plot needs matplotlib: pip install 'edge[plot]'") from None
    log = (lambda _m: None) if args.quiet else (lambda m: print(m, file=sys.stderr))
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
                           idle_seconds=args.idle_seconds, target_fps=args.target_fps)
    if args.plot is not None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise EdgeError("--plot needs matplotlib: pip install 'edge[plot]'") from None
    log = (lambda _m: None) if args.quiet else (lambda m: print(m, file=sys.stderr))
    if args.sweep:
        log(f"note: {WEIGHTS_NOTE}")
    report = execute(request, default_cache_dir(), log)
    sections = [format_sweep(report)] if args.sweep else []
    sections += [format_layers(profile) for profile in report.get("layers", [])]
    print("\n\n".join(sections))
    _write_outputs(args, report, plot)
    return 0


def _write_outputs(args: argparse.Namespace, report: dict, plot) -> None:
    """edge-bench's --json and --plot files, each written whole or not at all."""
    import json

    from edge.fileio import atomic_path, write_bytes_atomic

    if args.json is not None:
        write_bytes_atomic(args.json, (json.dumps(report, indent=1) + "\n").encode())
    if args.plot is not None:
        with atomic_path(args.plot) as tmp:
            plot(report, tmp.with_suffix(".png"))
            tmp.with_suffix(".png").replace(tmp)


def bench_main(argv: list[str] | None = None) -> int:
    """Entry point of ``edge-bench``."""
    return _run(_bench, argv, terminate_cleanly=True)


def run_main(argv: list[str] | None = None) -> int:
    """Entry point of ``edge-run``."""
    return _run(_run_edge, argv)


if __name__ == "__main__":
    sys.exit(run_main())
