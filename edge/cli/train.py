"""edge-train's command line."""

from __future__ import annotations

import argparse
import sys

from edge.cli.signals import Signals


def train_parser() -> argparse.ArgumentParser:
    from edge.settings import build_parser
    from edge.train.settings import SETTINGS

    return build_parser("edge-train", "Teach MobileNetV1 your own classes from a few photos "
                        "per class: a new head on the frozen backbone, inside the int8 network, "
                        "with an honest held-out report.", SETTINGS)


def _train(argv: list[str] | None, signals: Signals) -> int:
    import json

    from edge.errors import EdgeError
    from edge.fileio import check_writable
    from edge.settings import STDOUT, write_json
    from edge.train import TrainOptions, train
    from edge.train.report import format_report

    signals.arm()  # a stop from now on leaves OUT as it was (staged, published whole)
    args = train_parser().parse_args(argv)
    if args.output is None:
        raise EdgeError("--output OUT is required (the model folder to write)")
    if args.json not in (None, STDOUT):
        check_writable(args.json, "--json")
    opts = TrainOptions(**{name: getattr(args, name)
                           for name in TrainOptions.__dataclass_fields__})
    to_stderr = args.json == STDOUT

    def log(msg: str) -> None:
        if not args.quiet:
            print(msg, file=sys.stderr if to_stderr else sys.stdout, flush=True)

    report = train(opts, log=log)
    if to_stderr:
        print(json.dumps(report, indent=2))
        return 0
    if args.json is not None:
        write_json(args.json, report)
    print(format_report(report))
    return 0
