"""Frame: one captured image and where and when it came from."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Frame:
    """An HxWx3 uint8 image. ``order`` is its channel order in memory ("RGB" or "BGR").

    ``t_capture_ns`` is when the frame reached us (``time.monotonic_ns``), for latency;
    ``t_source_ns`` is the source's own timeline (since the first frame of a camera, the
    recorded time on replay, the position in a video), for pacing, logs and recordings.

    ``lores`` is an optional second, smaller RGB image of the same view already scaled by the
    camera's ISP (picamera2), which preprocessing uses instead of resizing ``image``.
    """

    image: np.ndarray
    order: str
    seq: int
    t_capture_ns: int
    t_source_ns: int = 0
    name: str = ""
    lores: np.ndarray | None = None

    def jpeg(self, quality: int) -> bytes | None:
        """The image as JPEG bytes at ``quality`` (None when encoding fails)."""
        import cv2

        image = self.image if self.order == "BGR" else cv2.cvtColor(self.image,
                                                                    cv2.COLOR_RGB2BGR)
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        return data.tobytes() if ok else None
