"""Recorder: captured frames as JPEGs plus ``manifest.jsonl`` (file, seq, t_ns) that replay
reads back with the original timing. Encoding and writing run on the recorder's own thread.

It keeps every frame as long as it encodes and writes them as fast as they arrive (a camera at
30 FPS on a Pi's SD card, a replay paced by --realtime); beyond that it samples: a frame that
arrives while ``queue_size`` are waiting is not recorded, and counted (``dropped`` in /stats,
/metrics and the summary). Capture never waits for the disk."""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import queue
import threading
import time
from pathlib import Path

from edge.errors import EdgeError
from edge.fileio import fsync_file
from edge.frame import Frame
from edge.sinks.base import FrameSink, PipelineView, guarded_thread
from edge.sources.replay import MANIFEST

log = logging.getLogger(__name__)
# out of file descriptors or memory for a moment: the next frame may well be written
TRANSIENT = {errno.EMFILE, errno.ENFILE, errno.EAGAIN, errno.EINTR, errno.ENOMEM}
SYNC_EVERY_S = 1.0


def free_folder(folder: Path) -> Path:
    """``folder``, or when it already holds a recording the first free ``folder.1``,
    ``folder.2``...: a restarted service starts a new recording and never touches the old."""
    candidate, n = folder, 0
    while (candidate / MANIFEST).exists():
        n += 1
        candidate = folder.with_name(f"{folder.name}.{n}")
    return candidate


class Recorder(FrameSink):
    name = "recorder"

    def __init__(self, folder: Path, quality: int = 95, queue_size: int = 32) -> None:
        self.folder = free_folder(Path(folder))
        self.quality = quality
        self.written = 0
        self.dropped = 0
        self.error: str | None = None
        self._queue: queue.Queue[Frame | None] = queue.Queue(maxsize=queue_size)
        self._thread: threading.Thread | None = None
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EdgeError(f"{self.folder}: cannot create recording folder "
                            f"({exc.strerror})") from exc

    def open(self, view: PipelineView) -> None:
        self._manifest = open(self.folder / MANIFEST, "a", encoding="utf-8")  # noqa: SIM115
        self._good = self._manifest.tell()
        self._synced = time.monotonic()
        self._thread = guarded_thread(self, self._work, "recorder")
        self._thread.start()

    def figures(self) -> dict:
        return {"folder": str(self.folder), "written": self.written, "dropped": self.dropped}

    def offer(self, frame: Frame) -> None:
        if self.error is not None:
            return
        try:
            self._queue.put_nowait(frame)
        except queue.Full:
            self.dropped += 1

    def _work(self) -> None:
        while (frame := self._queue.get()) is not None:
            if self.error is None:
                try:
                    self._write(frame)
                except OSError as exc:
                    if exc.errno in TRANSIENT:  # lose this frame, not the recording
                        self.dropped += 1
                        log.warning("%s: frame %d not recorded (%s)", self.folder, frame.seq,
                                    exc.strerror or exc)
                        continue
                    self.error = f"recording stopped: {exc.strerror or exc}"
                    log.error("%s: %s", self.folder, self.error)
                    self._cut_back()

    def _write(self, frame: Frame) -> None:
        data = frame.jpeg(self.quality)
        if data is None:
            raise OSError("JPEG encoding failed")
        name = f"{frame.seq:08d}.jpg"
        tmp = self.folder / f".{name}.tmp"
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())  # whole on disk before it gets its name
            os.replace(tmp, self.folder / name)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise
        # the manifest line is written only once the frame is whole on disk
        self._manifest.write(json.dumps({"file": name, "seq": frame.seq,
                                         "t_ns": frame.t_source_ns}) + "\n")
        self._manifest.flush()
        self._good = self._manifest.tell()
        self.written += 1
        now = time.monotonic()
        if now - self._synced >= SYNC_EVERY_S:  # a power cut loses at most this much
            self._synced = now
            os.fsync(self._manifest.fileno())
            fsync_file(self.folder)

    def _cut_back(self) -> None:
        """Leave the manifest ending in a whole line (shrinking needs no free space)."""
        with contextlib.suppress(OSError):
            self._manifest.close()
        with contextlib.suppress(OSError):
            os.truncate(self.folder / MANIFEST, self._good)

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None
            if self.error is None:
                try:
                    self._manifest.flush()
                    os.fsync(self._manifest.fileno())
                    self._manifest.close()
                    fsync_file(self.folder)
                except OSError:
                    self._cut_back()
