"""Frame: one captured image and where and when it came from."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Frame:
    """An HxWx3 uint8 image. ``order`` is its channel order in memory ("RGB" or "BGR");
    ``t_capture_ns`` is a monotonic capture time (or the recorded time on replay)."""

    image: np.ndarray
    order: str
    seq: int
    t_capture_ns: int
    name: str = ""
