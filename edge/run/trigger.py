"""Triggers (``--trigger LABEL``): a class score turned into an on/off state with hysteresis,
so one odd frame does not flap it. A trigger switches on after ``frames_on`` consecutive
frames scoring at least ``threshold`` and off after ``frames_off`` consecutive frames below
it; every frame is counted, whether inferred or carried over.

Defaults come from tools/bench_trigger.py (docs/trigger.md): with the bundled person model on
the bundled photos as still scenes with camera noise, an exposure step and JPEG re-encoding,
no empty scene ever crossed 0.5, and noise pushed the person photo below it for at most 3
frames in a row. So 2 frames switch on (one odd frame does not) and 8 switch off (twice the
longest noise dropout, with margin: a quarter of a second at 30 FPS)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.errors import EdgeError
from edge.postprocess import softmax

THRESHOLD = 0.5  # two classes: the model's own decision boundary
FRAMES_ON = 2
FRAMES_OFF = 8


@dataclass
class TriggerState:
    """One trigger's state after a frame: ``changed`` on the frame that switched it."""

    label: str
    on: bool
    score: float
    changed: bool
    changes: int  # switches since the run began (on and off)

    def to_dict(self) -> dict:
        return {"on": self.on, "score": round(self.score, 4), "changed": self.changed}


class Triggers:
    """The triggers of one run, updated once per frame on the reporting thread."""

    def __init__(self, labels: list[str], model_labels: list[str] | None,
                 threshold: float = THRESHOLD, frames_on: int = FRAMES_ON,
                 frames_off: int = FRAMES_OFF) -> None:
        self.indices = [find_label(label, model_labels) for label in labels]
        self.labels = [model_labels[i] for i in self.indices] if model_labels else labels
        self.threshold, self.frames_on, self.frames_off = threshold, frames_on, frames_off
        self.on = [False] * len(labels)
        self.changes = [0] * len(labels)
        self.scores = [0.0] * len(labels)
        self._streak = [0] * len(labels)  # consecutive frames that contradict the state

    def update(self, logits: np.ndarray | None) -> dict[str, TriggerState] | None:
        """The states after one frame, from its logits (None: a frame with no answer, which
        changes nothing)."""
        if logits is None:
            return None
        probabilities = softmax(logits)
        out = {}
        for k, index in enumerate(self.indices):
            score = float(probabilities[index])
            self.scores[k] = score
            contradicts = (score >= self.threshold) != self.on[k]
            self._streak[k] = self._streak[k] + 1 if contradicts else 0
            needed = self.frames_off if self.on[k] else self.frames_on
            changed = self._streak[k] >= needed
            if changed:
                self.on[k], self._streak[k] = not self.on[k], 0
                self.changes[k] += 1
            out[self.labels[k]] = TriggerState(self.labels[k], self.on[k], score, changed,
                                               self.changes[k])
        return out

    def snapshot(self) -> dict[str, dict]:
        """For /stats, /metrics and the summary: each trigger's state now."""
        return {label: {"on": on, "score": round(score, 4), "changes": changes}
                for label, on, score, changes in zip(self.labels, self.on, self.scores,
                                                     self.changes, strict=True)}


def find_label(label: str, model_labels: list[str] | None) -> int:
    """The class index of ``label``: a class name, one of its comma-separated synonyms
    (ImageNet's "tabby, tabby cat"), case-insensitive; or ``class N``."""
    wanted = label.strip().lower()
    if model_labels:
        for i, name in enumerate(model_labels):
            if wanted == name.lower() or wanted in (s.strip().lower() for s in name.split(",")):
                return i
    if wanted.startswith("class ") and wanted[6:].isdigit():
        index = int(wanted[6:])
        if model_labels is None or index < len(model_labels):
            return index
    shown = ", ".join(model_labels[:6]) + (", ..." if len(model_labels) > 6 else "") \
        if model_labels else "none: the model has no labels (use class N)"
    raise EdgeError(f"--trigger: the model has no class {label!r} (its classes: {shown})")
