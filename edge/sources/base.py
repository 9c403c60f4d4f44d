"""The Source interface: open(), read() -> Frame | None (None: the stream ended), close().

Ownership: the thread that reads a source is the only one that opens and closes it (releasing
a ``cv2.VideoCapture`` or a ``Picamera2`` while another thread reads it segfaults or
deadlocks). Other threads may only call :meth:`Source.interrupt`, which wakes a read that is
waiting on time (pacing, reconnect back-off) and releases nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from edge.frame import Frame


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
        self.interrupted = threading.Event()

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
