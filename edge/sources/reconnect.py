"""Reconnect: a live source that fails is closed and reopened with exponential back-off, on
the reading thread itself, until it works again or the run is interrupted."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from edge.errors import SourceError
from edge.frame import Frame
from edge.sources.base import Source

log = logging.getLogger(__name__)


class Reconnecting(Source):
    """Wraps a live source. ``beat`` is called while waiting, so a watchdog sees a thread that
    is alive and retrying rather than one stuck in a driver."""

    def __init__(self, inner: Source, initial_s: float = 1.0, max_s: float = 30.0,
                 beat: Callable[[], None] = lambda: None) -> None:
        super().__init__()
        self.inner, self.initial_s, self.max_s, self.beat = inner, initial_s, max_s, beat
        self.kind, self.live = inner.kind, inner.live
        self.interrupted = inner.interrupted  # one event: interrupting either wakes both

    def open(self) -> None:
        self.inner.open()

    def close(self) -> None:
        self.inner.close()

    def describe(self) -> str:
        return self.inner.describe()

    def read(self) -> Frame | None:
        while True:
            try:
                frame = self.inner.read()
            except SourceError as exc:
                if self.interrupted.is_set() or not self._recover(exc):
                    return None
                continue
            self.skipped, self.skipped_names = self.inner.skipped, self.inner.skipped_names
            return frame

    def _recover(self, exc: SourceError) -> bool:
        """Close, then reopen with back-off. False when interrupted while waiting."""
        self.outages += 1
        down_since = time.monotonic()
        delay = self.initial_s
        log.warning("%s; retrying in %.0f s", exc, delay)
        self.inner.close()
        attempt = 0
        while True:
            attempt += 1
            self.state = f"lost ({exc}); retry {attempt} in {delay:.0f} s"
            deadline = time.monotonic() + delay
            while (left := deadline - time.monotonic()) > 0:
                self.beat()
                if self.interrupted.wait(min(0.5, left)):
                    return False
            try:
                self.inner.open()
            except SourceError as again:
                exc = again
                delay = min(delay * 2, self.max_s)
                log.warning("%s; retrying in %.0f s", again, delay)
                continue
            log.warning("%s is back after %.1f s", self.describe(), time.monotonic() - down_since)
            self.state = "up"
            return True
