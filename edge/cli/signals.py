"""SIGINT and SIGTERM for the three commands, installed first thing.

While a command starts, a signal is only recorded: an exception raised inside an import or a
model load can leave a library half-initialised (and the process hung). Once the command is
ready, a signal either stops the running pipeline (edge-run: it finishes cleanly and prints
its summary) or is raised where the program stands (edge-convert, edge-bench: staging folders
and temporary files are removed on the way out), as KeyboardInterrupt or :class:`Terminated`.
"""

from __future__ import annotations

import signal

EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_TERMINATED = 143  # 128 + SIGTERM


class Terminated(BaseException):
    """SIGTERM, raised where the program is, so cleanup runs as for Ctrl-C."""


class Signals:
    """Records the first signal; see the module docstring for what happens next."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._pipeline = None
        self._raise = False

    def install(self) -> Signals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, _frame) -> None:
        if self.received is None:
            self.received = signum
        if self._pipeline is not None:
            self._pipeline.stop()
        elif self._raise:
            self._throw()

    def _throw(self) -> None:
        raise KeyboardInterrupt if self.received == signal.SIGINT else Terminated

    def arm(self) -> None:
        """From now on a signal is raised where the program stands (one already received is
        raised now)."""
        self._raise = True
        if self.received is not None:
            self._throw()

    def attach(self, pipeline) -> None:
        """From now on a signal stops ``pipeline``; one that came before stops it at once."""
        self._pipeline = pipeline
        if self.received is not None:
            pipeline.stop()

    def exit_code(self, terminated: int = 0) -> int:
        """130 after Ctrl-C (SIGINT); ``terminated`` after SIGTERM (edge-run: 0, a clean
        stop for systemd); 0 without a signal."""
        if self.received is None:
            return 0
        return EXIT_INTERRUPTED if self.received == signal.SIGINT else terminated
