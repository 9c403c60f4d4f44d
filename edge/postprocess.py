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
    return top_k_softmax_batch(np.asarray(logits).reshape(1, -1), k)[0]


def top_k_softmax_batch(logits: np.ndarray, k: int = 5) -> list[list[tuple[int, float]]]:
    """:func:`top_k_softmax` for each row of an (n, classes) array, in one pass: the
    per-call cost of numpy is paid once per batch, not once per frame."""
    z = np.asarray(logits, dtype=np.float32)
    classes = z.shape[1]
    k = min(k, classes)
    # sorted first so equal logits (a quantised model's often are) rank by class index
    idx = np.sort(np.argpartition(z, classes - k, axis=1)[:, classes - k:], axis=1)
    top = np.take_along_axis(z, idx, axis=1)
    order = np.argsort(-top, axis=1, kind="stable")
    idx, top = np.take_along_axis(idx, order, axis=1), np.take_along_axis(top, order, axis=1)
    e = np.exp(z - top[:, :1])
    probs = np.exp(top - top[:, :1]) / e.sum(axis=1, keepdims=True, dtype=np.float64)
    return [list(zip(i, p, strict=True)) for i, p in zip(idx.tolist(), probs.tolist(),
                                                          strict=True)]


def top_k(probs: np.ndarray, k: int = 5) -> list[tuple[int, float]]:
    """(index, probability) of the ``k`` largest entries of a 1-D array, best first."""
    p = np.asarray(probs).reshape(-1)
    k = min(k, p.size)
    idx = np.sort(np.argpartition(-p, k - 1)[:k])
    idx = idx[np.argsort(-p[idx], kind="stable")]
    return [(int(i), float(p[i])) for i in idx]
