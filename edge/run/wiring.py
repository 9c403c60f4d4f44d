"""Turn edge-run's options into a wired pipeline: source, engine, sinks."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from edge.engines import default_cache_dir, open_engine
from edge.errors import EdgeError
from edge.model import read_model_info
from edge.motion import GateParams
from edge.run.config import chosen_sources
from edge.run.pipeline import Options, Pipeline
from edge.sources.base import Source
from edge.telemetry.monitor import SystemMonitor

if TYPE_CHECKING:
    from edge.web.access import WebConfig


def build_source(args: argparse.Namespace, model_size: int) -> Source:
    if args.camera is not None:
        from edge.sources.opencv import OpenCVSource

        return OpenCVSource(args.camera, args.width, args.height, args.camera_fps)
    if args.picamera is not None:
        from edge.sources.picam import PiCamera2Source

        main = (args.width or 640, args.height or 480)
        return PiCamera2Source(args.picamera, model_size, main, args.camera_fps, args.crop)
    if args.replay is not None:
        from edge.sources.replay import open_replay

        return open_replay(args.replay, realtime=args.realtime, loop=args.loop,
                           hold_s=args.hold)
    from edge.sources.synthetic import SyntheticSource

    return SyntheticSource(args.width or 640, args.height or 480, args.camera_fps)


def mqtt_options(args: argparse.Namespace, model: str | None = None):
    """The --mqtt-* flags as MqttOptions: URL parsed, password read, nothing connected."""
    import socket

    from edge.sinks.mqtt_options import MqttOptions, parse_broker

    if args.mqtt is None:
        raise EdgeError("--mqtt URL is needed" + (" by --mqtt-remove" if args.mqtt_remove
                                                  else ""))
    return MqttOptions(
        broker=parse_broker(args.mqtt, args.mqtt_password_file), prefix=args.mqtt_prefix,
        node=args.mqtt_node or socket.gethostname(), rate=args.mqtt_rate,
        stats_interval=args.mqtt_stats_interval, snapshot=args.mqtt_snapshot,
        ca_file=args.mqtt_ca, discovery_prefix=args.mqtt_ha_prefix if args.mqtt_ha else None,
        hold_s=args.mqtt_hold, model=model, triggers=tuple(args.trigger or ()))


def secret_files(args: argparse.Namespace) -> dict[str, Path | None]:
    """The settings that name files holding secrets (flag -> path)."""
    return {"--http-password-file": args.http_password_file,
            "--metrics-token-file": args.metrics_token_file, "--http-key": args.http_key,
            "--mqtt-password-file": args.mqtt_password_file}


def web_config(args: argparse.Namespace):
    """The --http and --metrics settings as a WebConfig (nothing opened)."""
    from edge.web.access import WebConfig

    return WebConfig(http=args.http, metrics=args.metrics, user=args.http_user,
                     password_file=args.http_password_file, token_file=args.metrics_token_file,
                     insecure=args.http_insecure, cert=args.http_cert, key=args.http_key,
                     max_viewers=args.http_max_viewers,
                     max_connections=args.http_max_connections, timeout_s=args.http_timeout)


def web_sinks(cfg: WebConfig, collect=None) -> tuple[list, list[str]]:
    """The --http and --metrics sinks, listening (a busy port fails here), and their notes:
    where they serve, and the warnings of an unprotected listener."""
    from edge.sinks.metrics import MetricsSink
    from edge.sinks.web import HttpSink
    from edge.web.access import access, check_exposure, limits
    from edge.web.live import parse_bind

    web = access(cfg)
    notes = check_exposure(cfg, web.credentials)
    sinks = []
    for flag, value, kind in (("--http", cfg.http, HttpSink),
                              ("--metrics", cfg.metrics, MetricsSink)):
        if value is None:
            continue
        bounds, note = limits(cfg, flag)
        extra = {"collect": collect} if kind is HttpSink and collect is not None else {}
        sink = kind(*parse_bind(value, flag), bounds, web.credentials, web.tls, **extra)
        sinks.append(sink)
        what = "web page" if flag == "--http" else "metrics"
        guard = " (password required)" if web.credentials.basic else \
            " (bearer token required)" if web.credentials.bearer and flag == "--metrics" else ""
        notes.append(f"{what} on {sink.url}{guard}")
        notes += [note] if note else []
    return sinks, notes


def validate(args: argparse.Namespace) -> list[str]:
    """Checks across settings (each setting's own bounds are checked when it is parsed);
    returns the warnings to print at every start."""
    chosen = chosen_sources(vars(args))
    if len(chosen) != 1:
        raise EdgeError("choose one source: --camera, --picamera, --replay or --synthetic"
                        if not chosen else f"choose one source, not {' and '.join(chosen)}")
    if args.infer and args.model is None:
        raise EdgeError("--model is required (or --no-infer to only capture)")
    warnings = []
    if args.http is not None or args.metrics is not None:
        from edge.web.access import validate as validate_web

        warnings = validate_web(web_config(args))
    if args.mqtt is not None:
        mqtt_options(args)
    return warnings


def check_config(args: argparse.Namespace, config_path) -> str:
    """--check-config: everything that can be checked without opening a device or port."""
    from edge.redact import exposed_secrets, redact

    warnings = validate(args) + exposed_secrets(secret_files(args), config_path)
    lines = [f"config {config_path or '(none: flags only)'}: OK"]
    lines += [w if w.startswith("WARNING") else f"WARNING: {w}" for w in warnings]
    if args.infer and args.model.is_dir():
        from edge.run.choice import builds_in

        builds = builds_in(args.model)
        lines.append(f"model folder {args.model}: {' and '.join(sorted(builds))} builds; --prefer "
                     "picks one at start")
    elif args.infer:
        info = read_model_info(args.model)
        lines.append(f"model {args.model}: {info.name}, {info.classes} classes"
                     f"{'' if info.trained else ', UNTRAINED'}")
    if args.replay is not None and not args.replay.exists():
        raise EdgeError(f"--replay {args.replay}: no such file or folder")
    for flag, path in (("--results", args.results), ("--record", args.record)):
        if path is not None:
            parent = next((p for p in [path, *path.parents] if p.exists()), None)
            if parent is None or not os.access(parent, os.W_OK):
                raise EdgeError(f"{flag} {path}: not writable")
    name = chosen_sources(vars(args))[0]
    lines.append(f"source {name} {redact(str(getattr(args, name)))} (not opened)")
    return "\n".join(lines)


def motion_params(args: argparse.Namespace) -> GateParams | None:
    """The --motion-* settings, or None without --motion-gate."""
    if not args.motion_gate:
        return None
    return GateParams(area=args.motion_area, level=args.motion_level,
                      refresh_s=args.motion_refresh)


def build_pipeline(args: argparse.Namespace) -> tuple[Pipeline, list[str]]:
    """Everything but the source is validated and opened here (the source is opened by the
    thread that reads it, in Pipeline.start): a bad model or port fails fast with one line."""
    notes: list[str] = []
    validate(args)
    info = engine = None
    cache = (args.cache_dir or default_cache_dir()) if args.cache else None
    model = args.model
    if args.infer and model.is_dir():
        from edge.run.choice import choose

        model, note = choose(model, args.threads, cache, prefer=args.prefer)
        notes.append(note)
    if args.infer:
        info = read_model_info(model)
    elif args.motion_gate:
        notes.append("WARNING: --motion-gate does nothing with --no-infer")
    source = build_source(args, info.resolution if info else 224)
    if info is not None:
        # Spin-waiting only pays when frames come back to back; between paced frames it
        # burns a core doing nothing.
        paced = args.fps_cap is not None or getattr(source, "live", False)
        engine = open_engine(model, threads=args.threads, spin=not paced, cache_dir=cache,
                             info=info)
        if not info.trained:
            notes.append(f"WARNING: {model} is UNTRAINED (random weights): its "
                         "predictions mean nothing")
    triggers = None
    if args.trigger:
        if info is None:
            raise EdgeError("--trigger needs a model (not --no-infer)")
        from edge.run.trigger import Triggers

        triggers = Triggers(args.trigger, info.labels, args.trigger_threshold, args.trigger_on,
                            args.trigger_off)
    elif args.trigger_snapshot is not None:
        raise EdgeError("--trigger-snapshot needs --trigger LABEL")
    sinks, frame_sinks = [], []
    if args.trigger_snapshot is not None:
        from edge.sinks.snapshots import TriggerSnapshots

        sinks.append(TriggerSnapshots(args.trigger_snapshot, args.trigger_snapshot_keep,
                                      int(args.trigger_snapshot_mb * 1e6)))
    if args.results is not None:
        from edge.sinks.results_log import JsonlSink

        max_bytes = int(args.results_max_mb * 1e6) if args.results_max_mb else 0
        sinks.append(JsonlSink(args.results, max_bytes=max_bytes, keep=args.results_keep))
    if args.record is not None:
        from edge.sinks.recorder import Recorder

        recorder = Recorder(args.record)
        frame_sinks.append(recorder)
        if recorder.folder != args.record:
            notes.append(f"{args.record} already holds a recording: recording into "
                         f"{recorder.folder}")
    collect = None
    if args.collect is not None:
        from edge.sinks.collect import CollectSink

        keys = sys.stdin if sys.stdin is not None and sys.stdin.isatty() else None
        collect = CollectSink(args.collect, args.collect_class, keys_from=keys)
        sinks.append(collect)
        if keys is None and args.http is None:
            raise EdgeError("--collect needs --http (buttons on the page) or a terminal "
                            "(a key per class)")
    elif args.collect_class:
        raise EdgeError("--collect-class needs --collect DATA")
    if args.http is not None or args.metrics is not None:
        # listening now: a busy port fails here
        web, web_notes = web_sinks(web_config(args), collect)
        sinks += web
        notes += web_notes
    if args.mqtt is not None:
        from edge.sinks.mqtt import MqttSink

        options = mqtt_options(args, info.name if info else None)
        if triggers is not None:  # as the model spells them
            options = replace(options, triggers=tuple(triggers.labels))
        mqtt = MqttSink(options)
        mqtt.connect()  # bad credentials or an untrusted certificate fail here
        sinks.append(mqtt)
        notes.append(f"MQTT to {mqtt.options.broker.url} as {args.mqtt_prefix}/"
                     f"{mqtt.options.node}"
                     + ("" if mqtt.connected else " (not connected yet: retrying)"))
    if args.window is not False and info is not None:
        from edge.sinks.window import WindowSink, window_available

        usable, why = window_available()
        if usable:
            sinks.append(WindowSink())
        elif args.window:
            raise EdgeError(f"--window: {why}")
    if not args.quiet:
        from edge.sinks.terminal import TerminalSink

        sinks.append(TerminalSink(sys.stdout if args.verbose else sys.stderr,
                                  every=args.verbose))
    monitor = SystemMonitor(subtract_idle=args.idle_seconds is not None)
    if args.idle_seconds is not None:
        idle = monitor.energy.measure_idle(args.idle_seconds)
        notes.append(f"idle power {idle:.2f} W [{monitor.energy.method}]" if idle is not None
                     else "idle power: no power reader on this machine")
    options = Options(crop=args.crop, top_k=args.top_k, fps_cap=args.fps_cap,
                      max_frames=args.max_frames, duration=args.duration,
                      reconnect_max_s=args.reconnect_max, motion=motion_params(args))
    return Pipeline(source, engine, info, sinks, frame_sinks, options, monitor,
                    triggers), notes
