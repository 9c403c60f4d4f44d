"""edge-run's command line: flags from the settings table, plus what is about this
invocation (config file, checks)."""

from __future__ import annotations

import argparse
import sys

from edge.cli.signals import Signals
from edge.errors import EdgeError


def run_parser() -> argparse.ArgumentParser:
    from edge.run.settings import SETTINGS
    from edge.settings import build_parser

    return build_parser("edge-run", "Classify live camera frames or recorded ones with an edge "
                                    "model.", SETTINGS)


def _run_edge(argv: list[str] | None, signals: Signals) -> int:
    import json

    from edge.run.config import parse_with_config

    args, config_path = parse_with_config(run_parser(), argv)
    if signals.received is not None:
        print("edge-run: stopped before starting", file=sys.stderr)
        return signals.exit_code()
    # imported after parsing: --help and usage errors need no numpy, OpenCV or onnxruntime
    from edge.run.service import ServiceLoop
    from edge.run.wiring import build_pipeline, check_config
    from edge.settings import STDOUT, write_json
    from edge.sinks.terminal import format_summary

    if args.doctor:
        from edge.run.doctor import format_checks, run_checks

        checks = run_checks(args, config_path)
        print(format_checks(checks))
        return 1 if any(c.status == "FAIL" for c in checks) else signals.exit_code()
    if args.check_config:
        print(check_config(args, config_path))
        return signals.exit_code()
    if args.mqtt_remove:
        from edge.run.wiring import mqtt_options
        from edge.sinks.mqtt import remove

        for topic in remove(mqtt_options(args)):
            print(f"cleared {topic}")
        return signals.exit_code()
    pipeline, notes = build_pipeline(args)
    signals.attach(pipeline)
    service = ServiceLoop(pipeline)
    try:
        pipeline.start()  # opens the source on its capture thread; fails fast with one line
        for note in notes:
            print(note, file=sys.stderr)
        service.start()
        summary = pipeline.run()
    finally:
        service.stop()
    if args.json == STDOUT:
        print(json.dumps(summary.to_dict(), indent=2))
    else:
        if args.json is not None:
            write_json(args.json, summary.to_dict())
        print(format_summary(summary))
    if pipeline.error is not None:
        raise pipeline.error if isinstance(pipeline.error, EdgeError) else \
            EdgeError(f"stopped by an unexpected error: {pipeline.error}", exit_code=1)
    return signals.exit_code()
