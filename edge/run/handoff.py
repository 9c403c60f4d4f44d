"""What the pipeline's threads hand each other (small frozen records, the frame slot) and how
they share the work (the per-frame costs that decide where preprocessing runs)."""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass

import numpy as np

from edge.frame import Frame


@dataclass(frozen=True, slots=True)
class Captured:
    """Capture -> inference: a frame, already preprocessed for lossless replays."""

    frame: Frame
    tensor: np.ndarray | None
    preprocess_ms: float


@dataclass(frozen=True, slots=True)
class Inferred:
    """Inference -> reporting. No pixels: a backlog of full frames could take hundreds of MB;
    display sinks get the newest frame instead. ``logits`` is None when only capturing;
    ``gated``: the motion gate carried the last answer over (no inference ran)."""

    seq: int
    name: str
    t_source_ns: int
    t_capture_ns: int
    logits: np.ndarray | None
    wait_ms: float
    preprocess_ms: float
    inference_ms: float
    gated: bool = False


class Slot:
    """Frames between capture and inference.

    Live (``wait=False``): one frame; a new one replaces an unprocessed one. Lossless
    (``wait=True``): up to ``depth`` frames, so capture runs ahead and is woken only when the
    buffer runs low, not once per frame.
    """

    def __init__(self, depth: int = 4) -> None:
        self._cond = threading.Condition()
        self._items: collections.deque[Captured] = collections.deque()
        self.depth = depth
        self.closed = False
        self._producer_waiting = False

    def put(self, item: Captured, wait: bool, stop: threading.Event) -> bool:
        """Returns True when an unprocessed frame was replaced (dropped)."""
        dropped = False
        with self._cond:
            if wait:
                while len(self._items) >= self.depth and not stop.is_set():
                    self._producer_waiting = True
                    self._cond.wait(0.1)
                self._producer_waiting = False
            elif self._items:
                self._items.clear()
                dropped = True
            self._items.append(item)
            self._cond.notify_all()
        return dropped

    def get(self, timeout: float) -> Captured | None:
        with self._cond:
            if not self._items and not self.closed:
                self._cond.wait(timeout)
            item = self._items.popleft() if self._items else None
            if self._producer_waiting and len(self._items) <= 1:
                self._cond.notify_all()
            return item

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()


def ema(old: float, new: float, weight: float = 0.1) -> float:
    """Exponential moving average; the first value starts it."""
    return new if old == 0.0 else old + weight * (new - old)


@dataclass
class Costs:
    """Per-frame milliseconds, moving averages, each written by one thread: reading a frame
    (capture), preprocessing it (either), inference."""

    read: float = 0.0
    preprocess: float = 0.0
    inference: float = 0.0

    def capture_should_preprocess(self) -> bool:
        """Whether the slower of the two threads is faster with preprocessing on capture."""
        return max(self.read + self.preprocess, self.inference) <= \
            max(self.read, self.inference + self.preprocess)
