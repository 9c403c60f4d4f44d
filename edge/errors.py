"""The one exception type the command-line layer turns into a one-line message and an exit code."""

from __future__ import annotations


class EdgeError(Exception):
    """A problem the user can fix: bad input, missing file, contradicting options.

    ``exit_code`` lets callers (systemd in particular) tell configuration errors from crashes.
    """

    exit_code = 2

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code
