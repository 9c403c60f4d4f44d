"""Results log: one JSON object per processed frame, one line each, flushed as written."""

from __future__ import annotations

import json
import time
from pathlib import Path

from edge.errors import EdgeError
from edge.pipeline import Pipeline, Result, Sink


def brief(stats: dict) -> dict:
    """The figures that go into the results log once a second."""
    energy = stats.get("energy") or {}
    temp = ((stats.get("thermal") or {}).get("temperature_c") or {}).get("value")
    return {"fps": stats["fps"]["inference"], "fps_capture": stats["fps"]["capture"],
            "fps_dropped": stats["fps"]["dropped"],
            "cpu_ms_per_frame": stats["cpu_ms_per_frame"], "rss_mb": stats["rss_mb"],
            "temperature_c": temp, "watts": energy.get("watts_now"),
            "j_per_inference": energy.get("j_per_inference"),
            "power_method": energy.get("method")}


class JsonlSink(Sink):
    """Every result; once a second the line also carries ``metrics`` (rates, CPU, memory,
    temperature, power with its method)."""

    name = "results"

    def __init__(self, path: Path, metrics_every: float = 1.0) -> None:
        self.path = Path(path)
        self.metrics_every = metrics_every
        self._pipeline: Pipeline | None = None
        self._last = 0.0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close())
        except OSError as exc:
            raise EdgeError(f"{self.path}: cannot write results log ({exc.strerror})") from exc

    def open(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline

    def handle(self, result: Result) -> None:
        line = result.to_dict()
        now = time.monotonic()
        if self._pipeline is not None and now - self._last >= self.metrics_every:
            self._last = now
            line["metrics"] = brief(self._pipeline.stats())
        # one write per line: a line is either whole or absent if the process dies
        self._fh.write(json.dumps(line, separators=(",", ":")) + "\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()
