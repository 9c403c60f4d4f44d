"""A status line in the terminal: refreshed in place on a TTY, a plain line every few seconds
otherwise (journald, files)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from edge.sinks.base import PipelineView, Result, Sink
from edge.telemetry.figures import RunStats


def status_line(result: Result, stats: RunStats) -> str:
    _, label, p = result.top[0] if result.top else (-1, "-", 0.0)
    lat = stats.latency_ms["inference"].window.p50 or 0.0
    flag = " [UNTRAINED]" if not result.trained else ""
    gated = f", gated {stats.frames.gated}" if stats.frames.gated else ""
    return (f"#{result.seq} {label[:32]} {p * 100:.1f}% | {stats.fps.inference:.1f} FPS "
            f"(cam {stats.fps.capture:.1f}, drop {stats.frames.dropped}{gated}) | "
            f"infer p50 {lat:.1f} ms{flag}")


def result_line(result: Result) -> str:
    """One line per frame: name, then the top-k with scores."""
    tops = ", ".join(f"{label.split(',')[0]} {p * 100:.1f}%" for _, label, p in result.top)
    flag = (" [UNTRAINED]" if not result.trained else "") + \
        (" [carried over]" if result.gated else "")
    return f"{result.name:<28} {tops}{flag}"


class TerminalSink(Sink):
    """``every``: one line per result (for replays you want to read) instead of a status."""

    name = "terminal"

    def __init__(self, stream: TextIO = sys.stderr, interval: float | None = None,
                 every: bool = False) -> None:
        self.stream = stream
        self.every = every
        self.tty = stream.isatty() and not every
        self.interval = interval if interval is not None else (0.2 if self.tty else 5.0)
        self._last = 0.0
        self._view: PipelineView | None = None
        self._width = 0

    def open(self, view: PipelineView) -> None:
        self._view = view

    def handle(self, result: Result) -> None:
        if self.error is not None:
            return
        try:
            self._write(result)
        except BrokenPipeError:  # `edge-run -v | head -1`: nobody reads; stop the run
            self.error = "output closed by its reader"
            if self._view is not None:
                self._view.stop()

    def _write(self, result: Result) -> None:
        for state in result.switched():  # a trigger's change is always worth a line
            self.stream.write(("\n" if self.tty and not self.every else "") +
                              f"trigger {state.label}: {'ON' if state.on else 'OFF'} at "
                              f"{result.name or f'frame {result.seq}'} "
                              f"(score {state.score:.2f})\n")
            self._width = 0
        if self.every:
            self.stream.write(result_line(result) + "\n")
            self.stream.flush()
            return
        now = time.monotonic()
        if now - self._last < self.interval or self._view is None:
            return
        self._last = now
        line = status_line(result, self._view.stats(run_percentiles=False))
        if self.tty:
            self.stream.write("\r" + line.ljust(self._width))
            self._width = len(line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self._width and self.error is None:
            self.stream.write("\n")
            self.stream.flush()


def format_summary(summary: RunStats) -> str:
    """The summary printed at exit."""
    f, fps, lat = summary.frames, summary.fps, summary.latency_ms

    def pct(stage: str) -> str:
        run = lat[stage].run
        if run is None or run.p50 is None:
            return "-"
        return f"p50 {run.p50:.2f} / p90 {run.p90:.2f} / p99 {run.p99:.2f} ms"

    lines = [
        f"source            {summary.source}",
        f"model             {summary.model or '(none: capture only)'}"
        f"{' on ' + summary.engine if summary.engine else ''}"
        f"{'  UNTRAINED (random weights)' if summary.trained is False else ''}",
        f"frames            {f.processed} processed, {f.captured} captured, {f.dropped} "
        f"dropped, {f.skipped} unreadable skipped in {summary.elapsed_s:.1f} s "
        f"({summary.end})",
        f"rate              {fps.inference_overall:.2f} FPS inference overall",
    ]
    if f.gated:
        lines.append(f"motion gate       {f.gated} of {f.processed} answers carried over, "
                     f"{f.processed - f.gated} inferred")
    if summary.model:
        for stage in ("preprocess", "inference", "postprocess", "capture_to_result"):
            lines.append(f"{stage:<18}{pct(stage)}")
    if summary.cpu_ms_per_frame is not None:
        lines.append(f"cpu               {summary.cpu_ms_per_frame:.2f} CPU-ms per frame, "
                     f"{summary.rss_mb:.0f} MB resident")
    if (recorder := summary.sinks.get("recorder")) is not None:
        lines.append(f"recorded          {recorder['written']} frames in {recorder['folder']}"
                     + (f", {recorder['dropped']} not recorded (the disk or the encoder could "
                        "not keep up)" if recorder["dropped"] else ""))
    for label, t in (summary.triggers or {}).items():
        lines.append(f"trigger           {label}: {'ON' if t['on'] else 'off'} at the end, "
                     f"switched {t['changes']} times")
    lines += _system_lines(summary)
    if summary.skipped_names:
        lines.append("skipped           " + ", ".join(summary.skipped_names[:10]))
    if summary.error:
        lines.append(f"error             {summary.error}")
    return "\n".join(lines)


def _system_lines(summary: RunStats) -> list[str]:
    lines = []
    thermal, parts = summary.thermal, []
    if thermal is not None:
        for reading, unit in ((thermal.temperature_c, " C"), (thermal.frequency_mhz, " MHz"),
                              (thermal.governor, "")):
            value = reading.value
            if value is not None:
                parts.append(f"{value:.1f}{unit}" if isinstance(value, float)
                             else f"{value}{unit}")
        if thermal.throttled.value:
            words = thermal.throttled_words
            now = ", ".join(words.get("now") or []) or "not throttled"
            since = ", ".join(words.get("since_boot") or []) or "nothing since boot"
            parts.append(f"{thermal.throttled.value} ({now}; {since})")
    if parts:
        lines.append("thermal           " + ", ".join(parts))
    energy = summary.energy
    if energy is not None and energy.method:
        label = "ESTIMATED " if energy.estimated else ""
        idle = " (idle subtracted)" if energy.idle_subtracted else ""
        lines.append(f"energy            {label}{energy.watts_mean or 0:.2f} W mean, "
                     f"{(energy.j_per_inference or 0) * 1e3:.2f} mJ per inference{idle} "
                     f"[{energy.method}]")
    elif energy is not None and energy.reasons:
        lines.append("energy            no power reader on this machine")
    return lines
