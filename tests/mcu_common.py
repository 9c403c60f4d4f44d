"""Helpers shared by the microcontroller tests: the interpreters (TFLM's and LiteRT's),
the exact-QDQ reference, agreement in output steps, and the edge-convert command."""

import importlib.util
import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from edge.convert.quantize import load_frames

from .conftest import BIN, PHOTOS

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


def reference(onnx_path: Path):
    """The int8 ONNX as the standard defines QDQ (onnxruntime's fused x86 kernels saturate
    u8 x s8 products on CPUs without VNNI)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    return lambda t: session.run(None, {"image": t})[0].reshape(-1)


def agreement(run, onnx_path, scale, zero, size, uint8_input=False):
    """(all top-1 agree, max steps, disagreements with ONNX's own top-1 margin)."""
    ref = reference(onnx_path)
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


def litert(tflite: bytes):
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=tflite, num_threads=1)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]

    def run(x):
        interp.set_tensor(inp["index"], x)
        interp.invoke()
        return interp.get_tensor(out["index"])

    return interp, run



def tflm_measure(tflite: bytes) -> int:
    from edge.convert.tflm import measure_arena

    tflm()
    return measure_arena(tflite)["arena_bytes"]
