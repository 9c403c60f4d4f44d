"""Calibration and verification frames: a folder of images or a video, decoded by the replay
source and preprocessed by the runtime's own code (:func:`edge.preprocess.to_input`), in
every crop mode, so int8 is calibrated on what the device will feed it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.errors import EdgeError, SourceError
from edge.preprocess import CROP_MODES, to_input
from edge.sources.replay import open_replay


@dataclass
class FrameSet:
    """Model-ready uint8 tensors from a folder or video: ``tensors[i][crop]`` for frame
    ``names[i]``, with the names of unreadable files that were skipped."""

    names: list[str]
    tensors: list[dict[str, np.ndarray]]
    skipped: list[str]

    def cases(self, start: int = 0, stop: int | None = None) -> list[tuple[str, np.ndarray]]:
        """(frame:crop, tensor) for each frame in [start, stop) and each crop mode."""
        return [(f"{name}:{crop}", tensor)
                for name, by_crop in zip(self.names[start:stop], self.tensors[start:stop],
                                         strict=True)
                for crop, tensor in by_crop.items()]


def load_frames(path: Path, size: int, crops: tuple[str, ...] = CROP_MODES,
                limit: int | None = None) -> FrameSet:
    """Decode up to ``limit`` frames from a folder of images or a video and preprocess each
    in every crop mode with the runtime's own code."""
    names: list[str] = []
    tensors: list[dict[str, np.ndarray]] = []
    try:
        with open_replay(path) as source:
            for frame in source:
                tensors.append({c: to_input(frame.image, frame.order, size, c) for c in crops})
                names.append(frame.name)
                if limit is not None and len(names) >= limit:
                    break
            skipped = list(source.skipped_names)
    except SourceError as exc:  # bad input to a conversion, not a camera failing
        raise EdgeError(str(exc)) from exc
    if not names:
        detail = f" ({len(skipped)} unreadable files skipped)" if skipped else ""
        raise EdgeError(f"{path}: no readable frames{detail}")
    return FrameSet(names, tensors, skipped)
