"""``--trigger-snapshot DIR``: the frame that switched a trigger on, as a JPEG, written on the
sink's own thread. The folder is bounded: beyond ``keep`` files or ``max_bytes`` the oldest
snapshots go. Files are written whole (a temporary name, then renamed)."""

from __future__ import annotations

import logging
import os
import queue
import time
from pathlib import Path

from edge.errors import EdgeError
from edge.fileio import check_writable
from edge.sinks.base import PipelineView, Result, Sink, guarded_thread

log = logging.getLogger(__name__)
PREFIX = "trigger-"
WAITING = 8  # snapshots queued for the writer at most; beyond, they are counted as missed


class TriggerSnapshots(Sink):
    """Writes ``trigger-<time>-<label>-<seq>.jpg`` when a trigger switches on."""

    name = "trigger_snapshots"

    def __init__(self, folder: Path, keep: int = 100, max_bytes: int = 50_000_000) -> None:
        super().__init__()
        self.folder, self.keep, self.max_bytes = Path(folder), keep, max_bytes
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EdgeError(f"--trigger-snapshot {folder}: {exc.strerror or exc}") from None
        check_writable(self.folder / "x.jpg", "--trigger-snapshot")
        self.written = self.missed = self.removed = 0
        self._queue: queue.Queue = queue.Queue(WAITING)
        self._thread = guarded_thread(self, self._work, "trigger-snapshots")

    def open(self, view: PipelineView) -> None:
        self._thread.start()

    def handle(self, result: Result) -> None:
        for state in result.switched():
            if state.on and result.frame is not None:
                try:
                    self._queue.put_nowait((state.label, result.seq, result.frame))
                except queue.Full:
                    self.missed += 1

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def figures(self) -> dict:
        return {"written": self.written, "missed": self.missed, "removed": self.removed}

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            label, seq, frame = item
            jpeg = frame.jpeg(90)
            if jpeg is None:
                self.missed += 1
                continue
            stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime())
            safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in label)[:40]
            target = self.folder / f"{PREFIX}{stamp}-{safe}-{seq:08d}.jpg"
            partial = target.with_suffix(".part")
            try:
                partial.write_bytes(jpeg)
                os.replace(partial, target)
            except OSError as exc:  # a full disk: keep inferring, say so
                log.warning("--trigger-snapshot: %s: %s", target, exc.strerror or exc)
                self.error = f"cannot write {target}: {exc.strerror or exc}"
                self.missed += 1
                partial.unlink(missing_ok=True)
                continue
            self.written += 1
            self._prune()

    def _prune(self) -> None:
        """Oldest first (names sort by time), until within ``keep`` files and ``max_bytes``."""
        files = sorted(self.folder.glob(f"{PREFIX}*.jpg"))
        sizes = [f.stat().st_size for f in files]
        left, total = len(files), sum(sizes)
        for f, size in zip(files, sizes, strict=True):
            if left <= self.keep and total <= self.max_bytes:
                break
            f.unlink(missing_ok=True)
            left, total = left - 1, total - size
            self.removed += 1
