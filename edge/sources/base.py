"""The Source interface: open(), read() -> Frame | None (None: the stream ended), close()."""

from __future__ import annotations

from collections.abc import Iterator

from edge.frame import Frame


class Source:
    """Base class whose methods do nothing until a subclass overrides them.

    ``skipped`` counts unreadable inputs that were passed over; ``skipped_names`` says which.
    """

    kind = "source"
    live = False  # True: frames keep coming whether we keep up or not (newest frame wins)

    def __init__(self) -> None:
        self.skipped = 0
        self.skipped_names: list[str] = []

    def open(self) -> None:
        """Acquire the device or file; raise EdgeError with a one-line reason on failure."""

    def read(self) -> Frame | None:
        """Return the next frame, or None when the stream has ended."""
        return None

    def close(self) -> None:
        """Release what open() acquired. Safe to call twice."""

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
