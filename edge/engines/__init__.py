"""Engines: one model file in, ``run(uint8 NHWC pixels) -> float logits`` out.

- :mod:`edge.engines.ort`: onnxruntime for ``.onnx`` (optimised-model cache, spinning off when
  paced);
- :mod:`edge.engines.litert`: LiteRT with XNNPACK for the int8 ``.tflite`` edge-convert writes.

May import the shared core (``edge.model``, ``edge.machine``, ``edge.fileio``) only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from edge.engines.ort import OrtEngine, check_graph, cpu_key, default_cache_dir
from edge.model import ModelInfo

__all__ = ["InferenceEngine", "OrtEngine", "check_graph", "cpu_key", "default_cache_dir",
           "open_engine"]


class InferenceEngine(Protocol):
    """What the pipeline, edge-bench and the engine choice need of an engine."""

    kind: str
    input_shape: tuple[int, ...]

    def run(self, tensor: np.ndarray) -> np.ndarray:
        """Logits for one uint8 NHWC tensor, as a 1-D float32 array."""
        ...


def open_engine(path: Path, threads: int | None = None, spin: bool = True,
                cache_dir: Path | None = None, info: ModelInfo | None = None,
                warmup: bool = True):
    """The engine for a model file: LiteRT for the int8 ``.tflite`` edge-convert writes,
    onnxruntime for ONNX. Both take uint8 NHWC pixels and return float logits."""
    if Path(path).suffix.lower() == ".tflite":
        from edge.engines.litert import LiteRTEngine

        return LiteRTEngine(path, threads=threads, info=info, warmup=warmup)
    return OrtEngine(path, threads=threads, spin=spin, cache_dir=cache_dir, info=info,
                  warmup=warmup)
