"""LiteRT (ai-edge-litert, XNNPACK) for the full-integer int8 .tflite that edge-convert writes.

The same contract as the onnxruntime engine: ``run(uint8 NHWC pixels) -> float logits``. The
file's ``edge`` metadata says how pixels enter (int8 pixels = pixel - 128, or the camera's uint8
bytes) and the output's scale and zero point. Needs the ``litert`` extra (ai-edge-litert).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.errors import ModelError, install_hint
from edge.fileio import capture_fd2
from edge.machine import physical_cores
from edge.model import ModelInfo, read_model_info


def litert_available() -> tuple[bool, str]:
    """(importable, why not)."""
    try:
        import ai_edge_litert.interpreter  # noqa: F401
    except ImportError as exc:
        return False, f"LiteRT is not installed: {install_hint('litert')} ({exc})"
    return True, ""


def litert_version() -> str | None:
    """The installed LiteRT's version (package metadata: no import), or None."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ai-edge-litert")
    except PackageNotFoundError:  # not installed (the litert extra)
        return None


class LiteRTEngine:
    """One LiteRT interpreter with XNNPACK (LiteRT's default CPU delegate) on ``threads``."""

    kind = "litert"

    def __init__(self, path: Path, threads: int | None = None, info: ModelInfo | None = None,
                 warmup: bool = True) -> None:
        ok, why = litert_available()
        if not ok:
            raise ModelError(f"{path}: {why}")
        from ai_edge_litert.interpreter import Interpreter

        self.path = Path(path)
        self.info = info or read_model_info(self.path)
        self.threads = threads or physical_cores()
        try:
            with capture_fd2():  # LiteRT announces its XNNPACK delegate on fd 2
                self.interp = Interpreter(model_path=str(self.path), num_threads=self.threads)
                self.interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            raise ModelError(f"{self.path}: LiteRT cannot load this model ({first})") from exc
        inp, out = self.interp.get_input_details(), self.interp.get_output_details()
        r, classes = self.info.resolution, self.info.classes
        if len(inp) != 1 or list(inp[0]["shape"]) != [1, r, r, 3] or \
                inp[0]["dtype"] not in (np.int8, np.uint8):
            takes = [(d["dtype"].__name__, list(d["shape"])) for d in inp]
            raise ModelError(f"{self.path}: the metadata says int8/uint8 input [1, {r}, {r}, 3], "
                             f"the graph takes {takes}")
        if len(out) != 1 or list(out[0]["shape"]) != [1, classes]:
            raise ModelError(f"{self.path}: the metadata says {classes} classes, the graph "
                             f"outputs {[list(d['shape']) for d in out]}")
        self._in, self._out = inp[0]["index"], out[0]["index"]
        self._int8_input = inp[0]["dtype"] == np.int8
        scale, zero = out[0]["quantization"]
        self._scale, self._zero = np.float32(scale or 1.0), np.float32(zero)
        self.input_shape = (1, r, r, 3)
        if warmup:
            self.run(np.zeros(self.input_shape, np.uint8))

    def run(self, tensor: np.ndarray) -> np.ndarray:
        """Logits for one uint8 NHWC tensor, as a 1-D float32 array."""
        if self._int8_input:  # pixel - 128 as int8 is the pixel's byte with the top bit flipped
            np.bitwise_xor(tensor, 0x80, out=self.interp.tensor(self._in)().view(np.uint8))
        else:
            self.interp.set_tensor(self._in, tensor)
        self.interp.invoke()
        raw = self.interp.get_tensor(self._out)[0]
        return (raw.astype(np.float32) - self._zero) * self._scale
