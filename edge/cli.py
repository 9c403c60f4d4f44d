"""Command lines. The only place that sets up logging, prints, and turns errors into exit codes."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from edge.errors import EdgeError

EXIT_INTERRUPTED = 130


def _run(main: Callable[[list[str] | None], int], argv: list[str] | None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    prog = Path(sys.argv[0]).name
    try:
        return main(argv)
    except EdgeError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def convert_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="edge-convert",
        description="Build MobileNetV1 as ONNX (fp32, and int8 when calibration frames are "
                    "given), import pretrained weights, verify int8 against fp32.")
    p.add_argument("--weights", metavar="FILE_OR_NAME",
                   help="a .tflite, Keras .h5 or timm .safetensors file, or a published name "
                        "(keras:1.0_224, tflite:0.25_128_quant, timm:mobilenetv1_100; downloads "
                        "once). Without it: random weights, flagged UNTRAINED everywhere")
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
    p.add_argument("--calibration-method", default="minmax",
                   choices=["minmax", "entropy", "percentile"])
    p.add_argument("--verify", type=Path, metavar="DIR_OR_VIDEO",
                   help="held-out frames for the int8-vs-fp32 check (default: calibration "
                        "frames beyond --calibration-samples)")
    p.add_argument("--verify-samples", type=int, default=200, metavar="N")
    p.add_argument("--seed", type=int, default=0, help="seed of the random initialisation")
    p.add_argument("--output", "-o", type=Path, help="folder for the models and report.json")
    p.add_argument("--explain", action="store_true",
                   help="print the per-layer cost table (separable vs standard convolution) "
                        "and exit")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    return p


def _convert(argv: list[str] | None) -> int:
    import json

    from edge.convert import ConvertOptions, convert, resolve_spec
    from edge.convert.report import format_report
    from edge.convert.sources import load_weights
    from edge.convert.spec import explain

    args = convert_parser().parse_args(argv)
    opts = ConvertOptions(
        output=args.output or Path("."), weights=args.weights, alpha=args.alpha,
        resolution=args.resolution, classes=args.classes, labels=args.labels,
        calibration=args.calibration, calibration_samples=args.calibration_samples,
        calibration_method=args.calibration_method, verify=args.verify,
        verify_samples=args.verify_samples, seed=args.seed)
    if args.explain:
        weights = load_weights(args.weights) if args.weights else None
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
    return _run(_convert, argv)


if __name__ == "__main__":
    sys.exit(convert_main())
