"""Draw the top-k labels, scores and FPS onto a copy of a frame (window and web stream)."""

from __future__ import annotations

import cv2
import numpy as np

from edge.sinks.base import Result


class Canvas:
    """One buffer, grown as needed and never shrunk, that images of any size are drawn into:
    a thread that draws every frame then allocates no image-sized buffers (glibc keeps
    megabytes of such churn in each thread's arena for good)."""

    def __init__(self) -> None:
        self._flat = np.empty(0, np.uint8)

    def get(self, height: int, width: int) -> np.ndarray:
        n = height * width * 3
        if self._flat.size < n:
            self._flat = np.empty(n, np.uint8)
        return self._flat[:n].reshape(height, width, 3)

    def release(self) -> None:
        self._flat = np.empty(0, np.uint8)


def draw(result: Result, fps: float, max_width: int = 960,
         canvas: Canvas | None = None) -> np.ndarray:
    """A BGR image of the result's frame, scaled to at most ``max_width``, with the overlay
    (drawn into ``canvas`` when given: valid until its next use)."""
    frame = result.frame
    image = frame.image if frame is not None else np.zeros((240, 320, 3), np.uint8)
    h, w = image.shape[:2]
    scale = min(1.0, max_width / w)
    size = (int(w * scale), int(h * scale))
    out = canvas.get(size[1], size[0]) if canvas is not None else None
    if scale < 1.0:
        image = cv2.resize(image, size, dst=out, interpolation=cv2.INTER_AREA)
    elif out is not None:
        np.copyto(out, image)
        image = out
    else:
        image = image.copy()
    if frame is not None and frame.order == "RGB":
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR, dst=image)
    lines = [f"{p * 100:5.1f}%  {label[:40]}" for _, label, p in result.top]
    lines.append(f"{fps:5.1f} FPS  {result.latency_ms.get('inference', 0):.1f} ms")
    if not result.trained:
        lines.insert(0, "UNTRAINED MODEL (random weights)")
    font, size, thick = cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1
    line_h = 20
    box_w = max(cv2.getTextSize(t, font, size, thick)[0][0] for t in lines) + 16
    cv2.rectangle(image, (0, 0), (min(box_w, image.shape[1]), line_h * len(lines) + 10),
                  (0, 0, 0), -1)
    for i, text in enumerate(lines):
        colour = (0, 0, 255) if text.startswith("UNTRAINED") else (255, 255, 255)
        cv2.putText(image, text, (8, 20 + i * line_h), font, size, colour, thick, cv2.LINE_AA)
    return image
