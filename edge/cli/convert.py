"""edge-convert's command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge.cli.signals import Signals
from edge.errors import EdgeError


def convert_parser() -> argparse.ArgumentParser:
    from edge.convert.settings import SETTINGS
    from edge.settings import build_parser

    return build_parser("edge-convert", "Build MobileNetV1 as ONNX (fp32, and int8 when "
                        "calibration frames are given), import pretrained weights, verify int8 "
                        "against fp32.", SETTINGS)


def _convert(argv: list[str] | None, signals: Signals) -> int:
    import json

    from edge.convert import ConvertOptions, check_bounds, convert, resolve_spec
    from edge.convert.checkpoints.download import load_weights
    from edge.convert.report import format_report
    from edge.convert.spec import explain
    from edge.fileio import check_writable
    from edge.settings import STDOUT, write_json

    signals.arm()  # numpy, onnx and onnxruntime are loaded: stop where it stands from now
    args = convert_parser().parse_args(argv)
    values = {name: getattr(args, name) for name in ConvertOptions.__dataclass_fields__}
    opts = ConvertOptions(**{**values, "output": args.output or Path(".")})
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
    if args.json not in (None, STDOUT):
        check_writable(args.json, "--json")
    log = (lambda msg: print(msg, file=sys.stderr)) if args.json == STDOUT else print
    report = convert(opts, log=log)
    if args.json == STDOUT:
        print(json.dumps(report, indent=2))
        return 0
    if args.json is not None:
        write_json(args.json, report)
    print(format_report(report))
    return 0
