"""Replay: a folder of images, a folder written by the recorder, or a video file.

As fast as possible by default (every frame processed, none dropped, so results are
deterministic); ``realtime`` paces frames at their recorded times; ``loop`` starts over.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

from edge.errors import SourceError
from edge.fileio import LIMITS
from edge.frame import Frame
from edge.sources.base import Source
from edge.sources.images import display_name, read_image
from edge.sources.opencv import OpenCVSource

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
MANIFEST = "manifest.jsonl"
HOLD_S = 2.0  # how long each photo of a plain image folder is shown under --realtime


class ImageFolderSource(Source):
    """Images in sorted name order, or in a recorder manifest's order with its timestamps.
    Unreadable or missing files are skipped and counted, never fatal. A plain folder of photos
    is stills, not video: paced (``--realtime``), each is shown for ``hold_s`` seconds, one
    frame each, so every photo is inferred once and stays on the page long enough to read."""

    kind = "images"

    def __init__(self, folder: Path, hold_s: float = HOLD_S) -> None:
        super().__init__()
        self.folder = Path(folder)
        self.step_ns = max(int(hold_s * 1e9), 1)
        self.entries: list[tuple[str, int]] = []  # (file name, source time ns)
        self.recorded = False
        self._next = 0
        self._seq = 0

    def open(self) -> None:
        if not self.folder.is_dir():
            raise SourceError(f"{self.folder}: not a folder")
        manifest = self.folder / MANIFEST
        self._next = self._seq = 0
        if manifest.is_file():
            if (size := manifest.stat().st_size) > LIMITS["manifest"]:
                raise SourceError(f"{manifest}: {size / 2**20:,.0f} MB, more than a recording's "
                                  f"manifest may hold ({LIMITS['manifest'] / 2**20:,.0f} MB)")
            self.recorded = True
            self.entries = list(_read_manifest(manifest))
            if not self.entries:
                raise SourceError(f"{manifest}: manifest lists no frames")
            return
        try:
            names = sorted(p.name for p in self.folder.iterdir()
                           if p.suffix.lower() in IMAGE_SUFFIXES)
        except OSError as exc:
            raise SourceError(f"{self.folder}: cannot list folder ({exc.strerror})") from exc
        if not names:
            raise SourceError(f"{self.folder}: no image files "
                              f"({', '.join(sorted(IMAGE_SUFFIXES))})")
        self.entries = [(name, i * self.step_ns) for i, name in enumerate(names)]

    def read(self) -> Frame | None:
        while self._next < len(self.entries):
            name, t_source = self.entries[self._next]
            self._next += 1
            image, why = read_image(self.folder / name)
            if image is None:
                self.skip(f"{display_name(name)} ({why})")
                continue
            frame = Frame(image, "BGR", self._seq, time.monotonic_ns(), t_source,
                          display_name(name))
            self._seq += 1
            return frame
        return None

    def describe(self) -> str:
        what = "recorded frames" if self.recorded else "images"
        return f"{len(self.entries)} {what} in {display_name(str(self.folder))}"


def _read_manifest(path: Path):
    """(file, t_ns) per line of a recorder manifest; damaged lines are skipped."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                entry = json.loads(line)
                yield str(entry["file"]), int(entry["t_ns"])
            except (ValueError, KeyError, TypeError):
                continue  # a torn last line after a power cut, for instance


class Replay(Source):
    """Wraps a finite source: paces it at its recorded times and/or loops it."""

    def __init__(self, inner: Source, realtime: bool = False, loop: bool = False) -> None:
        super().__init__()
        self.inner, self.realtime, self.loop = inner, realtime, loop
        # between the last frame and the first of the next round: a photo's hold, a video frame
        self._gap_ns = getattr(inner, "step_ns", int(1e9 / 30))
        self.kind = inner.kind
        self.live = realtime  # paced replay behaves like a camera: the newest frame wins
        self.interrupted = inner.interrupted
        self._seq = 0
        self._offset_ns = 0
        self._last_ns = 0
        self._start: tuple[int, int] | None = None  # (wall ns, source ns) of the first frame

    def open(self) -> None:
        self.inner.open()

    def read(self) -> Frame | None:
        frame = self.inner.read()
        if frame is None and self.loop and not self.interrupted.is_set() and self._seq:
            self.inner.close()
            self.inner.open()
            self._offset_ns = self._last_ns + self._gap_ns
            frame = self.inner.read()
        self.skipped, self.skipped_names = self.inner.skipped, self.inner.skipped_names
        if frame is None:
            return None
        t_source = frame.t_source_ns + self._offset_ns
        self._last_ns = t_source
        if self.realtime:
            now = time.monotonic_ns()
            if self._start is None:
                self._start = (now, t_source)
            due = self._start[0] + (t_source - self._start[1])
            if due > now and self.interrupted.wait((due - now) / 1e9):
                return None
        frame = dataclasses.replace(frame, seq=self._seq, t_source_ns=t_source,
                                    t_capture_ns=time.monotonic_ns())
        self._seq += 1
        return frame

    def close(self) -> None:
        self.inner.close()

    def describe(self) -> str:
        return self.inner.describe() + (" (realtime)" if self.realtime else "") + \
            (" (loop)" if self.loop else "")


def open_replay(path: Path, realtime: bool = False, loop: bool = False,
                hold_s: float = HOLD_S) -> Source:
    """A folder of images (or a recording) or a video file, chosen by what ``path`` is;
    ``hold_s``: how long each photo of a plain folder is shown when ``realtime``."""
    path = Path(path)
    if path.is_dir():
        inner: Source = ImageFolderSource(path, hold_s)
    elif path.is_file():
        inner = OpenCVSource(str(path))
    else:
        raise SourceError(f"{path}: no such file or folder")
    if not realtime and not loop:
        return inner
    return Replay(inner, realtime, loop)
