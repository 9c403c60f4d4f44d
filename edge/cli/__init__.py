"""Command lines. The only place that sets up logging, prints, and turns errors into exit codes:
one module per command (convert, run, bench, train), the shared error handling and signals here.

Imports stay light: the signal handlers are installed before numpy, OpenCV or onnxruntime
load (see :mod:`edge.cli.signals`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from edge.cli.signals import EXIT_INTERRUPTED, EXIT_TERMINATED, Signals, Terminated
from edge.errors import EdgeError

__all__ = ["bench_main", "bench_parser", "convert_main", "convert_parser", "run_main",
           "run_parser", "train_main", "train_parser"]
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell shows for `cmd | head`


def _run(main: Callable[[list[str] | None, Signals], int], argv: list[str] | None) -> int:
    """Run one command: signals first, then errors as one line and an exit code."""
    signals = Signals().install()
    import logging
    from pathlib import Path

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # OpenCV and its FFmpeg print decoder chatter to stderr; our errors say what matters in
    # one line. Read when cv2 first opens a capture, so set before any is opened.
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    # images beyond this are refused by OpenCV's decoders too (decompression bombs); replay
    # and calibration check the headers they can read first, with a reason
    from edge.fileio import MAX_PIXELS

    os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_PIXELS))
    prog = Path(sys.argv[0]).name
    try:
        return main(argv, signals)
    except EdgeError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Terminated:
        print(f"{prog}: terminated (SIGTERM); nothing half-written was left", file=sys.stderr)
        return EXIT_TERMINATED
    except BrokenPipeError:
        # the reader went away (`edge-run ... | head -1`): stop quietly, and keep Python from
        # complaining when it flushes stdout at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


def convert_parser():
    from edge.cli.convert import convert_parser as parser

    return parser()


def run_parser():
    from edge.cli.run import run_parser as parser

    return parser()


def bench_parser():
    from edge.cli.bench import bench_parser as parser

    return parser()


def train_parser():
    from edge.cli.train import train_parser as parser

    return parser()


def convert_main(argv: list[str] | None = None) -> int:
    """Entry point of ``edge-convert``."""
    from edge.cli.convert import _convert

    return _run(_convert, argv)


def run_main(argv: list[str] | None = None) -> int:
    """Entry point of ``edge-run``."""
    from edge.cli.run import _run_edge

    return _run(_run_edge, argv)


def bench_main(argv: list[str] | None = None) -> int:
    """Entry point of ``edge-bench``."""
    from edge.cli.bench import _bench

    return _run(_bench, argv)


def train_main(argv: list[str] | None = None) -> int:
    """Entry point of ``edge-train``."""
    from edge.cli.train import _train

    return _run(_train, argv)
