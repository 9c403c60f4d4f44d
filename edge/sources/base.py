"""The Source interface: open(), read() -> Frame | None (None: the stream ended), close().

Ownership: the thread that reads a source is the only one that opens and closes it (releasing
a ``cv2.VideoCapture`` or a ``Picamera2`` while another thread reads it segfaults or
deadlocks). Other threads may only call :meth:`Source.interrupt`, which wakes a read that is
waiting on time (pacing, reconnect back-off) and releases nothing.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from edge.frame import Frame


class Signal:
    """A flag that is set once and never cleared, like :class:`threading.Event`, but waited
    on in one C call (a lock used as a latch) instead of a Python ``Condition``: the waits
    that pace every frame cost less. ``set()`` is thread- and signal-safe."""

    def __init__(self) -> None:
        self._flag = False
        self._latch = threading.Lock()
        self._latch.acquire()

    def set(self) -> None:
        self._flag = True
        with contextlib.suppress(RuntimeError):  # already open
            self._latch.release()

    def is_set(self) -> bool:
        return self._flag

    def wait(self, timeout: float | None = None) -> bool:
        """True once set; False when ``timeout`` seconds passed first."""
        if self._flag:
            return True
        if self._latch.acquire(timeout=-1 if timeout is None else max(timeout, 0.0)):
            with contextlib.suppress(RuntimeError):  # open it again for any other waiter
                self._latch.release()
        return self._flag


class Source:
    """Base class whose methods do nothing until a subclass overrides them.

    ``skipped`` counts unreadable inputs that were passed over; ``skipped_names`` says which.
    ``state`` is "up", or what is wrong while a live source is being reopened; ``outages``
    counts losses.
    """

    kind = "source"
    live = False  # True: frames keep coming whether we keep up or not (newest frame wins)

    def __init__(self) -> None:
        self.skipped = 0
        self.skipped_names: list[str] = []
        self.state = "up"
        self.outages = 0
        self.interrupted = Signal()

    def open(self) -> None:
        """Acquire the device or file; raise EdgeError with a one-line reason on failure."""

    def read(self) -> Frame | None:
        """Return the next frame, or None when the stream has ended (or was interrupted)."""
        return None

    def close(self) -> None:
        """Release what open() acquired. Safe to call twice. Only the reading thread calls it."""

    def interrupt(self) -> None:
        """Thread-safe: make a waiting read() return soon. Releases nothing."""
        self.interrupted.set()

    def describe(self) -> str:
        return self.kind

    def skip(self, name: str) -> None:
        self.skipped += 1
        if len(self.skipped_names) < 100:
            self.skipped_names.append(name)

    def __enter__(self) -> Source:
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self.read()) is not None:
            yield frame
