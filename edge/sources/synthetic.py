"""Synthetic frames: known content without files or cameras, for benchmarks and tests.

Each frame has a red, a green and a blue vertical band (left to right) on the top half and a
moving gradient on the bottom half, so colour order can be checked and frames differ.
"""

from __future__ import annotations

import time

import numpy as np

from edge.frame import Frame
from edge.sources.base import Source


def colour_bands(width: int, height: int, phase: int = 0) -> np.ndarray:
    """An RGB image: red, green, blue thirds on top; a gradient shifted by ``phase`` below."""
    image = np.zeros((height, width, 3), np.uint8)
    third = width // 3
    top = height // 2
    image[:top, :third, 0] = 255
    image[:top, third:2 * third, 1] = 255
    image[:top, 2 * third:, 2] = 255
    ramp = ((np.arange(width) + phase) % 256).astype(np.uint8)
    image[top:, :, :] = ramp[np.newaxis, :, np.newaxis]
    return image


class SyntheticSource(Source):
    """``count`` frames (None: endless) at ``fps`` (None: as fast as they are read)."""

    kind = "synthetic"

    def __init__(self, width: int = 640, height: int = 480, fps: float | None = None,
                 count: int | None = None) -> None:
        super().__init__()
        self.width, self.height, self.fps, self.count = width, height, fps, count
        self.live = fps is not None
        self._frames = [colour_bands(width, height, p) for p in range(0, 256, 32)]
        self._seq = 0
        self._t0 = 0

    def open(self) -> None:
        self._seq = 0
        self._t0 = time.monotonic_ns()

    def read(self) -> Frame | None:
        if self.count is not None and self._seq >= self.count:
            return None
        if self.fps:
            due = self._t0 + int(self._seq * 1e9 / self.fps)
            now = time.monotonic_ns()
            if due > now and self.interrupted.wait((due - now) / 1e9):
                return None
        now = time.monotonic_ns()
        image = self._frames[self._seq % len(self._frames)]
        frame = Frame(image, "RGB", self._seq, now, now - self._t0, f"synthetic#{self._seq}")
        self._seq += 1
        return frame

    def describe(self) -> str:
        rate = f" at {self.fps:g} FPS" if self.fps else ""
        return f"synthetic {self.width}x{self.height}{rate}"
