"""The photos through edge's own preprocessing on this machine (run by arm_check.py under
emulation, with edge on PYTHONPATH), so x86 can be fed exactly the pixels an ARM edge-run saw.

    python arm_pixels.py PHOTOS COUNT OUT SIZE [SIZE ...]

For each of the first COUNT photos and each SIZE: OUT/pixels.npz holds ``size{S}`` arrays of
both crops (as arm_check's inputs.npz), and OUT/size{S}/NAME.png the centre crop (edge-run's
default) as a lossless PNG at the model's size: replaying that folder, edge-run resizes
nothing, so its model sees these very pixels.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

from edge.preprocess import to_input
from edge.sources.replay import ImageFolderSource


def main() -> int:
    """Write OUT/pixels.npz and the PNG folders."""
    photos, count, out, *sizes = sys.argv[1:]
    with ImageFolderSource(Path(photos)) as source:
        frames = list(source)[:int(count)]
    out_dir = Path(out)
    arrays = {}
    for size in map(int, sizes):
        folder = out_dir / f"size{size}"
        folder.mkdir(parents=True, exist_ok=True)
        tensors = []
        for frame in frames:
            center, full = (to_input(frame.image, frame.order, size, crop)
                            for crop in ("center", "full"))
            tensors += [center, full]
            png = folder / f"{Path(frame.name).stem}.png"
            if not cv2.imwrite(str(png), cv2.cvtColor(center[0], cv2.COLOR_RGB2BGR)):
                raise OSError(f"{png}: not written")
        arrays[f"size{size}"] = np.concatenate(tensors)
    np.savez(out_dir / "pixels.npz", **arrays)
    return 0


if __name__ == "__main__":
    sys.exit(main())
