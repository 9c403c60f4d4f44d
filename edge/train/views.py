"""Augmentation: the views of one photo the head is trained on.

The first two are what the runtime feeds the model (:func:`edge.preprocess.to_input` with
each crop mode, as the converter calibrates); the rest move, mirror and zoom the crop and
change the brightness, the ways a camera's next frame of the same thing differs. Every view is
a fixed function of the photo, so its embedding can be cached by the photo's content and the
view's key.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.preprocess import to_input


@dataclass(frozen=True)
class View:
    """A square crop of ``side`` x the shorter side at (``x``, ``y``) in [0, 1] (side 1: the
    runtime's own ``crop`` mode on the whole frame), mirrored or not, pixel values times
    ``gain``."""

    name: str
    crop: str = "center"
    side: float = 1.0
    x: float = 0.5
    y: float = 0.5
    mirror: bool = False
    gain: float = 1.0

    @property
    def key(self) -> str:
        """Everything the view's pixels depend on (part of the embedding cache key)."""
        return (f"{self.crop}:{self.side:g}:{self.x:g}:{self.y:g}:{int(self.mirror)}:"
                f"{self.gain:g}")

    def tensor(self, image: np.ndarray, order: str, size: int) -> np.ndarray:
        """The model input [1, size, size, 3] uint8 RGB of this view of ``image``."""
        if self.side < 1.0:
            h, w = image.shape[:2]
            side = max(1, int(min(h, w) * self.side))
            top, left = int((h - side) * self.y), int((w - side) * self.x)
            image = image[top:top + side, left:left + side]
        if self.mirror:
            image = image[:, ::-1]
        x = to_input(np.ascontiguousarray(image), order, size, self.crop)
        if self.gain != 1.0:
            x = np.clip(np.rint(x * np.float32(self.gain)), 0, 255).astype(np.uint8)
        return x


VIEWS: tuple[View, ...] = (
    View("center"),  # edge-run's default crop: held-out accuracy is measured on this view
    View("full", crop="full"),
    View("mirrored", mirror=True),
    View("zoom, darker", side=0.8, x=0.2, y=0.3, gain=0.75),
    View("zoom, mirrored, brighter", side=0.8, x=0.8, y=0.7, mirror=True, gain=1.25),
    View("full, mirrored, darker", crop="full", mirror=True, gain=0.85),
    View("close zoom", side=0.65, x=0.5, y=0.4),
    View("full, brighter", crop="full", gain=1.15),
)
DEFAULT_VIEWS = 4  # measured: docs/train.md (views per photo vs held-out accuracy and time)
