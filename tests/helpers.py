"""Helpers several test files share: onnxruntime sessions (optimised, or the exact QDQ
arithmetic), LiteRT runners, and the environment that puts the picamera2 stand-in in front of
a real edge-run process."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .conftest import ROOT

FAKES = ROOT / "tests" / "fakes"


def ort_session(model: Path | bytes, optimize: bool = True):
    """An onnxruntime CPU session. ``optimize=False`` evaluates a QDQ graph as the ONNX standard
    defines it (dequantize, float operator, quantize): the exact int8 arithmetic, the same on
    every CPU (onnxruntime's fused x86 kernels saturate u8 x s8 products without VNNI)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if not optimize:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def exact_qdq(onnx_path: Path):
    """run(uint8 image) -> the model's output, by the exact QDQ arithmetic."""
    session = ort_session(onnx_path, optimize=False)
    name = session.get_inputs()[0].name
    return lambda tensor: session.run(None, {name: tensor})[0].reshape(-1)


def litert(model: bytes | Path, **options):
    """(LiteRT interpreter, run(input) -> output) for a .tflite file or its bytes."""
    from ai_edge_litert.interpreter import Interpreter

    source = {"model_content": model} if isinstance(model, bytes) else \
        {"model_path": str(model)}
    interp = Interpreter(**source, num_threads=1, **options)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]

    def run(x: np.ndarray) -> np.ndarray:
        interp.set_tensor(inp["index"], x)
        interp.invoke()
        return interp.get_tensor(out["index"])

    return interp, run


def fake_picamera_env(camera_dir: Path | str | None = None, **extra: str) -> dict[str, str]:
    """os.environ with the picamera2 stand-in (tests/fakes) first on the path; its camera
    reads frames from ``camera_dir`` (a folder the test controls)."""
    env = {**os.environ, "PYTHONPATH": str(FAKES), **extra}
    if camera_dir is not None:
        env["EDGE_FAKE_CAMERA_DIR"] = str(camera_dir)
    return env
