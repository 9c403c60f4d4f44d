"""How good the head is on photos it did not see, and where the unknown answer starts.

- Held-out accuracy: stratified k-fold cross-validation by photo: each photo's views are all
  on one side, and near-duplicate photos (consecutive camera frames: cosine >= 0.97 between
  their embeddings) are held out together, so the figure is not flattered by a twin in the
  training set. A held-out photo is judged on its ``center`` view, what edge-run feeds by
  default, by the int8 form of the fold's head.
- The unknown threshold, from the same held-out folds: the best score of each held-out photo
  (known classes), against the best score of each photo under a head trained without its
  class (novel classes: leave-one-class-out, with three or more classes). The threshold
  maximises balanced accuracy (known kept + novel rejected) among those that keep at least
  90% of the known photos; with two classes there are no novel photos, and it keeps 95% of
  the known ones.
- Probabilities: every logit (the threshold's too) is multiplied by one factor chosen on the
  held-out photos (temperature scaling, Guo et al. 2017, with 2% label smoothing so that a
  head right on every held-out photo is not declared certain). Answers do not change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from edge.train.heads import Head, quantize_head

NEAR_DUPLICATE = 0.97  # cosine between centre-view embeddings
MIN_KNOWN_KEPT = 0.90
KEEP_WITHOUT_NOVEL = 0.95
SMOOTHING = 0.02
Fit = Callable[[np.ndarray, np.ndarray, np.ndarray, int], Head]


@dataclass
class Examples:
    """Embeddings of every view of every photo. Per view: ``codes`` (uint8), ``photo`` and
    ``view`` (0: the centre view); per photo: ``labels`` and ``groups`` (near-duplicates
    share one)."""

    codes: np.ndarray
    photo: np.ndarray
    view: np.ndarray
    labels: np.ndarray
    groups: np.ndarray
    feature_scale: float
    feature_zero: int

    @cached_property
    def x(self) -> np.ndarray:
        """The float features the classifier reads."""
        return (self.codes.astype(np.float64) - self.feature_zero) * self.feature_scale

    def weights(self, photos: np.ndarray) -> np.ndarray:
        """Sample weights of the views of ``photos`` (a mask over photos): each distinct photo
        (near-duplicates together) weighs the same within its class, each class the same in
        all, so a burst of frames of one scene counts as that scene once."""
        mask = photos[self.photo]
        p = self.photo[mask]
        views = np.bincount(p, minlength=len(self.labels))
        group_size = np.bincount(self.groups[photos], minlength=self.groups.max() + 1)
        classes = self.labels.max() + 1
        distinct = np.array([len(np.unique(self.groups[photos & (self.labels == k)]))
                             for k in range(classes)])
        return 1.0 / (views[p] * group_size[self.groups[p]] * distinct[self.labels[p]])


def near_duplicate_groups(centre: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """A group id per photo: photos of one class whose centre-view embeddings have cosine
    >= ``NEAR_DUPLICATE`` share a group (transitively)."""
    unit = centre / np.maximum(np.linalg.norm(centre, axis=1, keepdims=True), 1e-12)
    parent = list(range(len(centre)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for k in np.unique(labels):
        members = np.flatnonzero(labels == k)
        similar = unit[members] @ unit[members].T >= NEAR_DUPLICATE
        for a, b in zip(*np.nonzero(np.triu(similar, 1)), strict=True):
            parent[root(members[a])] = root(members[b])
    roots = [root(i) for i in range(len(centre))]
    return np.unique(roots, return_inverse=True)[1]


def photo_folds(labels: np.ndarray, groups: np.ndarray, k: int, seed: int) -> np.ndarray:
    """A fold in [0, k) per photo: within each class its groups shuffled (``seed``) and dealt
    in turn, each class starting where the last one stopped, so folds stay even."""
    rng = np.random.default_rng(seed)
    fold_of_group: dict[int, int] = {}
    start = 0
    for cls in np.unique(labels):
        members = np.unique(groups[labels == cls])
        for i, g in enumerate(rng.permutation(members)):
            fold_of_group[int(g)] = (start + i) % k
        start = (start + len(members)) % k
    return np.array([fold_of_group[int(g)] for g in groups])


def _fit_on(ex: Examples, photos: np.ndarray, fit: Fit, classes: int,
            relabel: np.ndarray | None = None) -> Head:
    mask = photos[ex.photo]
    y = ex.labels[ex.photo[mask]]
    if relabel is not None:
        y = relabel[y]
    return fit(ex.x[mask], y, ex.weights(photos), classes)


def centre_logits(ex: Examples, head: Head, photos: np.ndarray) -> np.ndarray:
    """Logits of the int8 form of ``head`` on the centre views of ``photos`` (indices)."""
    rows = np.flatnonzero(ex.view == 0)
    by_photo = dict(zip(ex.photo[rows].tolist(), rows.tolist(), strict=True))
    codes = ex.codes[[by_photo[int(p)] for p in photos]]
    return quantize_head(head, ex.feature_scale, ex.feature_zero).logits(codes)


def cross_validate(ex: Examples, fit: Fit, classes: int, folds: np.ndarray
                   ) -> np.ndarray:
    """Held-out logits [photos, classes]: each photo by the head of the folds it is not in."""
    logits = np.zeros((len(ex.labels), classes))
    for f in np.unique(folds):
        held = folds == f
        head = _fit_on(ex, ~held, fit, classes)
        logits[held] = centre_logits(ex, head, np.flatnonzero(held))
    return logits


def leave_class_out(ex: Examples, fit: Fit, classes: int) -> np.ndarray:
    """The best score of each photo under a head trained on all the other classes."""
    scores = np.zeros(len(ex.labels))
    for c in range(classes):
        others = ex.labels != c
        relabel = np.cumsum(np.arange(classes) != c) - 1
        head = _fit_on(ex, others, fit, classes - 1, relabel)
        scores[~others] = centre_logits(ex, head, np.flatnonzero(~others)).max(axis=1)
    return scores


@dataclass(frozen=True)
class Threshold:
    """Where the unknown answer starts (best score below ``value``) and how it was chosen."""

    value: float
    rule: str
    known_kept: int
    known: int
    novel_rejected: int
    novel: int


def choose_threshold(known: np.ndarray, novel: np.ndarray | None) -> Threshold:
    """The threshold on the best score: see the module docstring."""
    known = np.sort(known)
    if novel is None or not len(novel):
        drop = int(np.floor((1 - KEEP_WITHOUT_NOVEL) * len(known)))
        value = float(known[drop]) - 1e-6 if drop else float(known[0]) - _gap(known)
        rule = (f"keeps {100 * KEEP_WITHOUT_NOVEL:.0f}% of the known held-out photos (no "
                "novel classes to set it against: that needs three classes or more)")
        return Threshold(value, rule, int((known >= value).sum()), len(known), 0, 0)
    scores = np.unique(np.concatenate([known, novel]))
    candidates = np.concatenate([[scores[0] - _gap(scores)], (scores[1:] + scores[:-1]) / 2])
    kept = (known[None, :] >= candidates[:, None]).mean(axis=1)
    rejected = (novel[None, :] < candidates[:, None]).mean(axis=1)
    balanced = np.where(kept >= MIN_KNOWN_KEPT, (kept + rejected) / 2, -1.0)
    best = int(np.argmax(balanced))  # the lowest of equals: keep the most known photos
    value = float(candidates[best])
    rule = ("best balanced accuracy between known held-out photos and photos of classes the "
            f"head never saw (leave-one-class-out), keeping at least "
            f"{100 * MIN_KNOWN_KEPT:.0f}% of the known")
    return Threshold(value, rule, int((known >= value).sum()), len(known),
                     int((novel < value).sum()), len(novel))


def _gap(scores: np.ndarray) -> float:
    """Half the typical distance between scores, or 1: how far below the lowest to go."""
    return float(np.median(np.diff(scores))) / 2 if len(scores) > 1 else 1.0


def temperature(logits: np.ndarray, labels: np.ndarray, smoothing: float = SMOOTHING) -> float:
    """The factor for every logit (the threshold's too: no answer changes) that makes the
    held-out photos' probabilities honest: least cross-entropy against their labels,
    smoothed by ``smoothing`` (so that a head that is right on every held-out photo aims at
    probabilities of 1 - smoothing, not at certainty)."""
    classes = logits.shape[1]
    target = np.full(logits.shape, smoothing / (classes - 1))
    target[np.arange(len(labels)), labels] = 1.0 - smoothing
    best, best_loss = 1.0, np.inf
    for factor in np.geomspace(0.05, 50.0, 139):  # 20 steps per decade
        z = logits * factor
        z = z - z.max(axis=1, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        loss = -float((target * log_p).sum(axis=1).mean())
        if loss < best_loss:
            best, best_loss = float(factor), loss
    return best


def confusion(truth: np.ndarray, predicted: np.ndarray, rows: int, columns: int) -> np.ndarray:
    """Counts [true class, predicted class]."""
    matrix = np.zeros((rows, columns), np.int64)
    np.add.at(matrix, (truth, predicted), 1)
    return matrix


def most_confused(matrix: np.ndarray, labels: list[str], n: int = 3) -> list[dict]:
    """The ``n`` largest off-diagonal counts: which class was taken for which."""
    pairs = [(int(matrix[i, j]), i, j) for i in range(matrix.shape[0])
             for j in range(matrix.shape[1]) if i != j and matrix[i, j]]
    pairs.sort(key=lambda p: (-p[0], p[1], p[2]))
    return [{"true": labels[i], "predicted": labels[j], "photos": c,
             "of": int(matrix[i].sum())} for c, i, j in pairs[:n]]
