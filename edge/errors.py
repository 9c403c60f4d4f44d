"""Exceptions the command-line layer turns into one line and a distinct exit code.

Distinct codes let systemd tell a bad configuration (no point restarting) from a crash:
2 usage or configuration, 3 model, 4 frame source. See ``RestartPreventExitStatus`` in systemd/.
"""

from __future__ import annotations


class EdgeError(Exception):
    """A problem the user can fix: bad input, missing file, contradicting options."""

    exit_code = 2

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class ModelError(EdgeError):
    """The model file is missing, not ONNX, or not an edge model."""

    exit_code = 3


class SourceError(EdgeError):
    """The camera, stream or file cannot be opened or read."""

    exit_code = 4


DISTRIBUTION = "edge-vision"  # the name pip knows ("edge" on PyPI is an unrelated project)


def install_hint(extra: str) -> str:
    """How to install ``extra`` into the Python that runs edge: ``python -m pip`` of this very
    interpreter (a venv included, activated or not), from the clone when edge runs from one
    (``pip install -e``), else from the package index."""
    import shlex
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    if (root / "pyproject.toml").is_file() and (root / "edge").is_dir():
        target = "-e " + shlex.quote(f"{root}[{extra}]")
    else:
        target = shlex.quote(f"{DISTRIBUTION}[{extra}]")
    return f"{shlex.quote(sys.executable)} -m pip install {target}"
