"""Results log: one JSON object per processed frame, one line each, flushed as written and
fsynced once a second and at close (a power cut loses at most a second; replay skips a torn
last line).

Rotates by size (``file.jsonl`` -> ``file.jsonl.1`` ...). If the disk fills or the file
becomes unwritable, logging stops with an error in the status, the file is cut back to its
last whole line, and inference carries on.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from pathlib import Path

from edge.errors import EdgeError
from edge.sinks.base import PipelineView, Result, Sink
from edge.telemetry.figures import RunStats

log = logging.getLogger(__name__)
SYNC_EVERY_S = 1.0


def brief(stats: RunStats) -> dict:
    """The figures that go into the results log once a second."""
    energy = stats.energy
    return {"fps": stats.fps.inference, "fps_capture": stats.fps.capture,
            "fps_dropped": stats.fps.dropped, "fps_gated": stats.fps.gated,
            "cpu_ms_per_frame": stats.cpu_ms_per_frame,
            "rss_mb": stats.rss_mb,
            "temperature_c": stats.thermal.temperature_c.value if stats.thermal else None,
            "watts": energy.watts_now if energy else None,
            "j_per_inference": energy.j_per_inference if energy else None,
            "power_method": energy.method if energy else None,
            "problems": stats.problems or None}


class JsonlSink(Sink):
    """Every result; once a second the line also carries ``metrics`` (rates, CPU, memory,
    temperature, power with its method)."""

    name = "results"

    def __init__(self, path: Path, metrics_every: float = 1.0, max_bytes: int = 0,
                 keep: int = 3) -> None:
        self.path = Path(path)
        self.metrics_every = metrics_every
        self.max_bytes = max_bytes
        self.keep = keep
        self.error: str | None = None
        self.lines = 0
        self._view: PipelineView | None = None
        self._last = 0.0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._open()
        except OSError as exc:
            raise EdgeError(f"{self.path}: cannot write results log ({exc.strerror})") from exc

    def _open(self) -> None:
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close())
        self._good = self._fh.tell()  # size up to the last whole line
        self._synced = time.monotonic()

    def open(self, view: PipelineView) -> None:
        self._view = view

    def handle(self, result: Result) -> None:
        if self.error is not None:
            return
        line = result.to_dict()
        now = time.monotonic()
        if self._view is not None and now - self._last >= self.metrics_every:
            self._last = now
            line["metrics"] = brief(self._view.stats(run_percentiles=False))
        data = json.dumps(line, separators=(",", ":")) + "\n"
        try:
            if self.max_bytes and self._good + len(data) > self.max_bytes and self._good:
                self._rotate()
            self._fh.write(data)
            self._fh.flush()
            self._good = self._fh.tell()
            self.lines += 1
            if now - self._synced >= SYNC_EVERY_S:  # a power cut loses at most this much
                self._synced = now
                os.fsync(self._fh.fileno())
        except OSError as exc:
            self._fail(exc)

    def _rotate(self) -> None:
        os.fsync(self._fh.fileno())
        self._fh.close()
        for i in range(self.keep, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{i}")
            newer = self.path.with_name(f"{self.path.name}.{i - 1}") if i > 1 else self.path
            if i == self.keep:
                older.unlink(missing_ok=True)
            if newer.exists():
                os.replace(newer, older)
        self._open()

    def _fail(self, exc: OSError) -> None:
        self.error = f"results log stopped: {exc.strerror or exc}"
        log.error("%s: %s", self.path, self.error)
        # drop a torn last line; shrinking a file needs no free space
        with contextlib.suppress(OSError):
            self._fh.close()
        with contextlib.suppress(OSError):
            os.truncate(self.path, self._good)

    def close(self) -> None:
        if self.error is None:
            try:
                self._fh.flush()
                os.fsync(self._fh.fileno())
                self._fh.close()
            except OSError as exc:
                self._fail(exc)
