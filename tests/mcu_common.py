"""Helpers shared by the microcontroller tests: the interpreters (TFLM's and LiteRT's),
the exact-QDQ reference, agreement in output steps, and the edge-convert command."""

import importlib.util
import shutil
import subprocess

import numpy as np
import pytest

from edge.convert.quant.frames import load_frames

from .conftest import BIN, PHOTOS
from .helpers import exact_qdq

GXX = shutil.which("arm-none-eabi-g++")
needs_gxx = pytest.mark.skipif(GXX is None, reason="needs Debian's gcc-arm-none-eabi")
TFLM_STEPS, LITERT_STEPS = 4, 3  # logits, in output quantization steps
needs_tflm = pytest.mark.skipif(importlib.util.find_spec("tflite_micro") is None,
                                reason="needs tflite-micro (PyPI wheels are x86-64 only)")


def tflm():
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError:
        pytest.skip("needs tflite-micro (PyPI wheels are x86-64 only)")
    return runtime


def convert(*args, timeout=600):
    return subprocess.run([str(BIN / "edge-convert"), *map(str, args)], capture_output=True,
                          text=True, timeout=timeout)


def agreement(run, onnx_path, scale, zero, size, uint8_input=False):
    """(all top-1 agree, max steps, disagreements with ONNX's own top-1 margin)."""
    ref = exact_qdq(onnx_path)
    worst, misses = 0, []
    for name, tensor in load_frames(PHOTOS, size).cases():
        want = np.round(ref(tensor) / scale).astype(np.int32) + zero
        x = tensor if uint8_input else (tensor.astype(np.int16) - 128).astype(np.int8)
        got = run(x).reshape(-1).astype(np.int32)
        worst = max(worst, int(np.abs(got - want).max()))
        if want[got.argmax()] != want.max():  # not the ONNX top-1 (nor tied with it)
            misses.append((name, int(want.max() - np.partition(want, -2)[-2])))
    return worst, misses


def tflm_runner(tflite: bytes, arena: int):
    interp = tflm().Interpreter.from_bytes(tflite, arena_size=arena)

    def run(x):
        interp.set_input(x, 0)
        interp.invoke()
        return interp.get_output(0)

    return run



def tflm_measure(tflite: bytes) -> int:
    from edge.convert.mcu.tflm import measure_arena

    tflm()
    return measure_arena(tflite)["arena_bytes"]


def bench(*args, env=None, timeout=1800):
    """edge-bench from this venv (``env``: the whole environment, when given)."""
    return subprocess.run([str(BIN / "edge-bench"), *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env=env)
