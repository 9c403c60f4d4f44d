"""Logits -> probabilities -> top-k."""

from __future__ import annotations

import math

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable softmax over the last axis, in float64."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def top_k_softmax(logits: np.ndarray, k: int = 5) -> list[tuple[int, float]]:
    """The k most probable classes with their softmax probabilities, without computing the
    whole distribution in float64: the frame loop's share of postprocessing. Five numpy
    calls, the rest on five Python floats: once a frame, with cold caches, each numpy call
    costs tens of microseconds."""
    z = np.asarray(logits, dtype=np.float32).reshape(-1)
    classes = z.size
    k = min(k, classes)
    idx = np.argpartition(z, range(classes - k, classes))[classes - k:]
    # equal logits (a quantised model's often are) rank by class index
    ranked = sorted(zip(z[idx].tolist(), idx.tolist(), strict=True),
                    key=lambda vi: (-vi[0], vi[1]))
    top = ranked[0][0]
    total = float(np.exp(z - np.float32(top)).sum(dtype=np.float64))
    return [(i, math.exp(v - top) / total) for v, i in ranked]


def top_k_softmax_batch(logits: np.ndarray, k: int = 5) -> list[list[tuple[int, float]]]:
    """:func:`top_k_softmax` for each row of an (n, classes) array, in one pass: the
    per-call cost of numpy is paid once per batch, not once per frame."""
    z = np.asarray(logits, dtype=np.float32)
    n, classes = z.shape
    k = min(k, classes)
    rows = np.arange(n)[:, np.newaxis]
    # every one of the k places named: numpy selects them 2-3x faster than the k-th alone
    idx = np.argpartition(z, range(classes - k, classes), axis=1)[:, classes - k:]
    # sorted first so equal logits (a quantised model's often are) rank by class index
    idx.sort(axis=1)
    top = z[rows, idx]
    order = np.argsort(-top, axis=1, kind="stable")
    idx, top = idx[rows, order], top[rows, order]
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
