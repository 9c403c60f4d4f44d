"""Replay: a folder of images (sorted by name) or a video file, decoded with OpenCV."""

from __future__ import annotations

import time
from pathlib import Path

import cv2

from edge.errors import EdgeError
from edge.frame import Frame
from edge.sources.base import Source

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
VIDEO_SUFFIXES = {".avi", ".mp4", ".mkv", ".mov", ".webm", ".m4v", ".mjpeg", ".mjpg"}


class ImageFolderSource(Source):
    """Every image file in a folder, in sorted name order; unreadable files are skipped."""

    kind = "images"

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = Path(folder)
        self.files: list[Path] = []
        self._next = 0
        self._seq = 0

    def open(self) -> None:
        if not self.folder.is_dir():
            raise EdgeError(f"{self.folder}: not a folder")
        try:
            entries = sorted(self.folder.iterdir())
        except OSError as exc:
            raise EdgeError(f"{self.folder}: cannot list folder ({exc.strerror})") from exc
        self.files = [p for p in entries if p.suffix.lower() in IMAGE_SUFFIXES]
        if not self.files:
            raise EdgeError(f"{self.folder}: no image files "
                            f"({', '.join(sorted(IMAGE_SUFFIXES))})")
        self._next = 0

    def read(self) -> Frame | None:
        while self._next < len(self.files):
            path = self.files[self._next]
            self._next += 1
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None or image.size == 0:
                self.skip(path.name)
                continue
            frame = Frame(image, "BGR", self._seq, time.monotonic_ns(), path.name)
            self._seq += 1
            return frame
        return None

    def describe(self) -> str:
        return f"{len(self.files)} images in {self.folder}"


class VideoFileSource(Source):
    """Frames of a video file decoded by OpenCV (FFmpeg or its built-in MJPEG reader)."""

    kind = "video"

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = Path(path)
        self._cap: cv2.VideoCapture | None = None
        self._seq = 0

    def open(self) -> None:
        if not self.path.is_file():
            raise EdgeError(f"{self.path}: video file not found")
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            cap.release()
            raise EdgeError(f"{self.path}: OpenCV cannot decode this video file")
        self._cap = cap

    def read(self) -> Frame | None:
        if self._cap is None:
            return None
        ok, image = self._cap.read()
        if not ok or image is None:
            return None
        frame = Frame(image, "BGR", self._seq, time.monotonic_ns(), f"{self.path.name}#{self._seq}")
        self._seq += 1
        return frame

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def open_replay(path: Path) -> Source:
    """A folder of images or a video file, chosen by what ``path`` is."""
    path = Path(path)
    if path.is_dir():
        return ImageFolderSource(path)
    if not path.exists():
        raise EdgeError(f"{path}: no such file or folder")
    return VideoFileSource(path)
