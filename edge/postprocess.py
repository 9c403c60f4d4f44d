"""Logits -> probabilities -> top-k."""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable softmax over the last axis, in float64."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def top_k_softmax(logits: np.ndarray, k: int = 5) -> list[tuple[int, float]]:
    """The k most probable classes with their softmax probabilities, without computing the
    whole distribution in float64: the frame loop's share of postprocessing."""
    z = np.asarray(logits, dtype=np.float32).reshape(-1)
    k = min(k, z.size)
    # sorted first so equal logits (a quantised model's often are) rank by class index
    idx = np.sort(np.argpartition(-z, k - 1)[:k])
    idx = idx[np.argsort(-z[idx], kind="stable")]
    peak = z[idx[0]]
    denom = float(np.exp(z - peak, dtype=np.float64).sum())
    return [(int(i), float(np.exp(float(z[i]) - float(peak)) / denom)) for i in idx]


def top_k(probs: np.ndarray, k: int = 5) -> list[tuple[int, float]]:
    """(index, probability) of the ``k`` largest entries of a 1-D array, best first."""
    p = np.asarray(probs).reshape(-1)
    k = min(k, p.size)
    idx = np.sort(np.argpartition(-p, k - 1)[:k])
    idx = idx[np.argsort(-p[idx], kind="stable")]
    return [(int(i), float(p[i])) for i in idx]
