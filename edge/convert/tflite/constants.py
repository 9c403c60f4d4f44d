"""Quantized constants for TFLite: TFLM takes int8 weights symmetric per output channel
(zero point 0, [-127, 127]); ONNX QDQ may hold uint8, per-tensor or asymmetric ones."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edge.errors import EdgeError


@dataclass
class QConst:
    """A DequantizeLinear of an initializer."""

    q: np.ndarray
    scale: np.ndarray
    zero_point: np.ndarray
    axis: int

    def real(self) -> np.ndarray:
        shape = [1] * self.q.ndim
        if self.scale.size > 1:
            shape[self.axis] = -1
        scale = self.scale.astype(np.float64).reshape(shape)
        zero = self.zero_point.astype(np.float64).reshape(shape)
        return (self.q.astype(np.float64) - zero) * scale


def tf_same(size: int, k: int, stride: int) -> tuple[int, int]:
    """(before, after) padding of TensorFlow's SAME along one axis."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + k - size, 0)
    return total // 2, total - total // 2


def int8_domain(zero_point: np.ndarray, value: np.ndarray) -> np.ndarray:
    """int8-domain copy of a uint8 or int8 quantized array."""
    value = value.astype(np.int32)
    return value - 128 if zero_point.dtype == np.uint8 else value


def int8_per_channel(w: QConst, axis: int = 0) -> tuple[np.ndarray, np.ndarray, int]:
    """int8 weights symmetric per ``axis`` (zero point 0, range [-127, 127]) and their scales.

    Returns (weights, scales, channels re-quantized). A channel whose integers minus zero
    point fit in [-127, 127] keeps them and its scale: the same numbers, bit for bit (int8
    symmetric weights always; uint8 QAT weights mostly). Any other channel is re-quantized
    from its dequantized values with scale max|w| / 127.
    """
    n = w.q.shape[axis]
    if w.scale.size not in (1, n) or (w.scale.size == n and n > 1 and w.axis != axis):
        raise EdgeError("int8 ONNX -> TFLite: weights quantized along an axis other than "
                        "the output channels")
    shape = np.moveaxis(w.q, axis, 0).shape
    ints = np.moveaxis(w.q.astype(np.int32), axis, 0).reshape(n, -1)
    zero = np.broadcast_to(w.zero_point.astype(np.int32).reshape(-1), (n,))[:, None]
    scale = np.broadcast_to(w.scale.astype(np.float32).reshape(-1), (n,)).copy()
    ints = ints - zero
    exact = np.abs(ints).max(axis=1) <= 127
    if not exact.all():
        real = np.moveaxis(w.real(), axis, 0).reshape(n, -1)
        peak = np.abs(real).max(axis=1)
        fresh = np.where(peak > 0, peak / 127.0, 1.0)
        requant = np.clip(np.round(real / fresh[:, None]), -127, 127)
        ints = np.where(exact[:, None], ints, requant)
        scale = np.where(exact, scale, fresh.astype(np.float32))
    q = np.moveaxis(ints.astype(np.int8).reshape(shape), 0, axis)
    return q, scale, int((~exact).sum())
