"""More frames from few photos: crops at several scales and positions, some mirrored (for
tools/bench_ptq.py and the post-training tests).

Post-training quantization is checked on frames it was not calibrated on; twelve bundled
photos give too few, so each photo yields several views, and calibration and verification
use the views of different photos.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

# (side as a fraction of the shorter side, x and y position in [0, 1], mirrored)
VIEWS = ((1.0, 0.5, 0.5, False), (1.0, 0.5, 0.5, True), (0.7, 0.5, 0.5, False),
         (0.7, 0.5, 0.5, True), (0.6, 0.0, 0.0, False), (0.6, 1.0, 1.0, False),
         (0.6, 1.0, 0.0, True), (0.5, 0.0, 1.0, False))


def views(image: np.ndarray, count: int = len(VIEWS)) -> list[np.ndarray]:
    """The first ``count`` views of a BGR image: square crops, the full frame first."""
    h, w = image.shape[:2]
    out = []
    for side_f, fx, fy, mirror in VIEWS[:count]:
        if side_f == 1.0 and not out:
            view = image
        else:
            side = int(min(h, w) * side_f)
            x, y = int((w - side) * fx), int((h - side) * fy)
            view = image[y:y + side, x:x + side]
        out.append(np.ascontiguousarray(view[:, ::-1] if mirror else view))
    return out


def write_views(photos: list[Path], target: Path, count: int = len(VIEWS)) -> Path:
    """Write ``count`` views of each photo into ``target`` as PNG files; returns ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    for photo in photos:
        image = cv2.imread(str(photo), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"{photo}: not an image")
        for i, view in enumerate(views(image, count)):
            cv2.imwrite(str(target / f"{photo.stem}_{i}.png"), view)
    return target


def split_photos(photos: Path) -> tuple[list[Path], list[Path]]:
    """The photos in two disjoint halves (alternate names in sorted order)."""
    files = sorted(p for p in photos.iterdir() if p.suffix.lower() in (".jpg", ".png", ".bmp"))
    return files[0::2], files[1::2]
