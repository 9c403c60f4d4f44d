"""Command lines. The only place that sets up logging, prints, and turns errors into exit codes:
one module per command (convert, run, bench, train), the shared error handling here."""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from edge.cli.bench import _bench, bench_parser
from edge.cli.convert import _convert, convert_parser
from edge.cli.run import _run_edge, run_parser
from edge.cli.train import _train, train_parser
from edge.errors import EdgeError

__all__ = ["bench_main", "bench_parser", "convert_main", "convert_parser", "run_main",
           "run_parser", "train_main", "train_parser"]
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


class _Terminated(BaseException):
    """SIGTERM, raised where the program is, so cleanup runs as for Ctrl-C."""


def _terminate(signum, _frame) -> None:
    raise _Terminated


def _run(main: Callable[[list[str] | None], int], argv: list[str] | None,
         terminate_cleanly: bool = False) -> int:
    """``terminate_cleanly``: SIGTERM unwinds like Ctrl-C (staging folders and temporary
    files removed) instead of killing the process where it stands."""
    if terminate_cleanly:
        signal.signal(signal.SIGTERM, _terminate)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # OpenCV and its FFmpeg print decoder chatter to stderr; our errors say what matters in
    # one line. Read when cv2 first opens a capture, so set before any is opened.
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    # images beyond this are refused by OpenCV's decoders too (decompression bombs); replay
    # and calibration check the headers they can read first, with a reason
    from edge.sources.imagesize import MAX_PIXELS

    os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_PIXELS))
    prog = Path(sys.argv[0]).name
    try:
        return main(argv)
    except EdgeError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except _Terminated:
        print(f"{prog}: terminated (SIGTERM); nothing half-written was left", file=sys.stderr)
        return EXIT_TERMINATED


def convert_main(argv: list[str] | None = None) -> int:
    """Entry point of ``edge-convert``."""
    return _run(_convert, argv, terminate_cleanly=True)


def run_main(argv: list[str] | None = None) -> int:
    """Entry point of ``edge-run``."""
    return _run(_run_edge, argv)


def bench_main(argv: list[str] | None = None) -> int:
    """Entry point of ``edge-bench``."""
    return _run(_bench, argv, terminate_cleanly=True)


def train_main(argv: list[str] | None = None) -> int:
    """Entry point of ``edge-train``."""
    return _run(_train, argv, terminate_cleanly=True)
