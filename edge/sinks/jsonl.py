"""Results log: one JSON object per processed frame, one line each, flushed as written."""

from __future__ import annotations

import json
from pathlib import Path

from edge.errors import EdgeError
from edge.pipeline import Result, Sink


class JsonlSink(Sink):
    name = "results"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close())
        except OSError as exc:
            raise EdgeError(f"{self.path}: cannot write results log ({exc.strerror})") from exc

    def handle(self, result: Result) -> None:
        # one write per line: a line is either whole or absent if the process dies
        self._fh.write(json.dumps(result.to_dict(), separators=(",", ":")) + "\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()
