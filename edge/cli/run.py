"""edge-run's command line: flags from the settings table, plus what is about this
invocation (config file, checks)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge.config import DEFAULT_PATH as DEFAULT_CONFIG
from edge.errors import EdgeError


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
