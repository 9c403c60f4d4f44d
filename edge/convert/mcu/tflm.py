"""TensorFlow Lite Micro's own interpreter (PyPI ``tflite-micro``, x86-64 wheels only): load a
model with a given arena, and measure the arena it allocates.

TFLM has no getter for the arena it used, but ``print_allocations()`` writes ``Arena
allocation total N bytes`` to file descriptor 2 (C++ stderr, which Python's sys.stderr never
sees), and that N is the size it needs.
"""

from __future__ import annotations

import re

import numpy as np

from edge.errors import EdgeError
from edge.fileio import capture_fd2

MIB = 1024 * 1024


def tflm_available() -> bool:
    try:
        from tflite_micro.python.tflite_micro import runtime  # noqa: F401
    except ImportError:
        return False
    return True


def tflm_interpreter(tflite: bytes, arena: int):
    """TFLM's own interpreter (reference kernels) on ``tflite`` with an arena of ``arena``
    bytes. TFLM logs to fd 2; failures come back as EdgeError with that log."""
    from tflite_micro.python.tflite_micro import runtime

    with capture_fd2() as log:
        try:
            return runtime.Interpreter.from_bytes(tflite, arena_size=arena)
        except (RuntimeError, ValueError) as exc:
            failure = exc
    detail = " ".join(line.strip() for line in "".join(log).splitlines() if line.strip())
    raise EdgeError(f"TFLM cannot load the model with a {arena}-byte arena: {failure}"
                    f"{' (' + detail + ')' if detail else ''}")


def measure_arena(tflite: bytes) -> dict | None:
    """The arena TFLM allocates for ``tflite`` (None without ``tflite-micro``): run it once
    with room to spare and read ``Arena allocation total N bytes`` from its allocation log."""
    if not tflm_available():
        return None
    interp = tflm_interpreter(tflite, max(16 * MIB, 8 * len(tflite)))
    details = interp.get_input_details(0)
    interp.set_input(np.zeros(details["shape"], details["dtype"]), 0)
    with capture_fd2():  # nothing to say on success
        interp.invoke()
    with capture_fd2() as log:
        interp.print_allocations()
    text = "".join(log)
    figures = {key: int(n) for key, n in re.findall(
        r"Arena allocation (total|head|tail) (\d+) bytes", text)}
    if "total" not in figures:
        raise EdgeError(f"TFLM's allocation log has no arena total: {text[:200]!r}")
    return {"arena_bytes": figures["total"], "head_bytes": figures.get("head"),
            "tail_bytes": figures.get("tail")}


def tflm_runner(tflite: bytes, arena: int):
    """run(input) -> integer logits, in TFLM's interpreter with exactly ``arena`` bytes."""
    interp = tflm_interpreter(tflite, arena)

    def run(x: np.ndarray) -> np.ndarray:
        interp.set_input(x, 0)
        interp.invoke()
        return np.asarray(interp.get_output(0)).reshape(-1).astype(np.int32)

    return run
