"""What the pipeline's threads hand each other (small frozen records, the frame slot, the
reporting thread's batches) and how they share the work (the per-frame costs that decide
where preprocessing runs)."""

from __future__ import annotations

import collections
import contextlib
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from edge.frame import Frame
from edge.sources.base import Signal


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

    Waiting is on plain locks used as binary semaphores, released outside the mutex: a
    handoff costs the waiting thread one wake-up (a ``Condition`` notified under its lock
    wakes it into that lock, often twice), and the waits are in C, not Python.
    """

    def __init__(self, depth: int = 4) -> None:
        self._mutex = threading.Lock()  # guards _items, closed, _producer_waiting
        self._items: collections.deque[Captured] = collections.deque()
        self.depth = depth
        self.closed = False
        self._producer_waiting = False
        self._ready = _signal_lock()  # released: frames waiting, the slot closed, or woken
        self._room = _signal_lock()  # released: a producer waiting for room may go on

    def put(self, item: Captured, wait: bool, stop: Signal) -> bool:
        """Returns True when an unprocessed frame was replaced (dropped)."""
        while wait:
            with self._mutex:
                self._producer_waiting = len(self._items) >= self.depth and not stop.is_set()
                if not self._producer_waiting:
                    break
            self._room.acquire(timeout=0.1)
        with self._mutex:
            dropped = not wait and bool(self._items)
            if dropped:
                self._items.clear()
            self._items.append(item)
            first = len(self._items) == 1 and not dropped
        if first:
            _release(self._ready)
        return dropped

    def get(self, timeout: float) -> Captured | None:
        """The oldest waiting frame; None after ``timeout``, once closed and empty, or when
        woken by :meth:`wake`."""
        if not self._ready.acquire(timeout=timeout):
            return None
        with self._mutex:
            item = self._items.popleft() if self._items else None
            more = bool(self._items) or self.closed
            room = self._producer_waiting and len(self._items) <= 1
            if room:
                self._producer_waiting = False
        if more:
            _release(self._ready)
        if room:
            _release(self._room)
        return item

    def wake(self) -> None:
        """Make a waiting get() return now (thread- and signal-safe)."""
        _release(self._ready)

    def close(self) -> None:
        with self._mutex:
            self.closed = True
        _release(self._ready)


def _signal_lock() -> threading.Lock:
    lock = threading.Lock()
    lock.acquire()
    return lock


def _release(lock: threading.Lock) -> None:
    """Signal a binary semaphore; signalling one that is already signalled does nothing."""
    with contextlib.suppress(RuntimeError):
        lock.release()


REPORT_EVERY_S = 0.005  # results closer together than this are taken in batches
MAX_BATCH = 32


def batches(results: queue.SimpleQueue[Inferred | None]) -> Iterator[list[Inferred]]:
    """The reporting thread's results, until None. It sleeps until one arrives (one wake-up
    a frame at camera rates, none while idle); when they come faster than every
    ``REPORT_EVERY_S``, it lets them gather: a fast small model then hands the GIL over once
    a batch, not once a frame, and numpy's per-call cost is paid once a batch."""
    last = -REPORT_EVERY_S
    while (first := results.get()) is not None:
        if (early := last + REPORT_EVERY_S - time.monotonic()) > 0:
            time.sleep(early)
        batch = [first]
        while len(batch) < MAX_BATCH:
            try:
                batch.append(results.get_nowait())
            except queue.Empty:
                break
            if batch[-1] is None:  # the end, once these are delivered
                batch.pop()
                results.put(None)
                break
        # behind (a full batch): take the next one at once
        last = -REPORT_EVERY_S if len(batch) == MAX_BATCH else time.monotonic()
        yield batch


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
