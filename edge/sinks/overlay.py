"""Draw the top-1 label and score (and the FPS, for the window) onto a copy of a frame (window
and web stream)."""

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


def _fit(text: str, width: int, font: int, scale: float, thick: int) -> tuple[str, float]:
    """``text`` shrunk to fit ``width`` pixels (down to half size), then cut with an ellipsis
    only if it still does not."""
    for s in (scale, scale * 0.85, scale * 0.7, scale * 0.5):
        if cv2.getTextSize(text, font, s, thick)[0][0] <= width:
            return text, s
    while len(text) > 4 and cv2.getTextSize(text + "...", font, s, thick)[0][0] > width:
        text = text[:-1]
    return text + "...", s


def draw(result: Result, fps: float | None = None, max_width: int = 960,
         canvas: Canvas | None = None) -> np.ndarray:
    """A BGR image of the result's frame, scaled to at most ``max_width``, with the top-1
    label and its score in a translucent band along the bottom (the whole label, shrunk to
    fit, never an opaque box over the picture), and ``fps`` when given (the window has no
    other place for it; the web page shows it beside the image). Drawn into ``canvas`` when
    given (valid until its next use)."""
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
    lines = []
    if not result.trained:
        lines.append(("UNTRAINED MODEL (random weights)", (80, 80, 255)))
    if result.top:
        _, label, p = result.top[0]
        lines.append((f"{label}  {p * 100:.0f}%", (255, 255, 255)))
    if fps is not None:
        lines.append((f"{fps:.1f} FPS  {result.latency_ms.get('inference', 0):.1f} ms",
                      (200, 200, 200)))
    if not lines:
        return image
    font, thick = cv2.FONT_HERSHEY_SIMPLEX, 1
    base = max(0.5, min(1.0, size[0] / 640))  # text grows with the picture, within reason
    fitted = [(*_fit(text, size[0] - 16, font, base, thick), colour) for text, colour in lines]
    heights = [int(28 * s) + 6 for _, s, _ in fitted]
    top = max(size[1] - sum(heights) - 8, 0)
    band = image[top:, :]
    band[:] = (band * 0.45).astype(np.uint8)  # darkened, the picture still shows through
    y = top + 4
    for (text, s, colour), line_h in zip(fitted, heights, strict=True):
        y += line_h
        cv2.putText(image, text, (8, y - 6), font, s, colour, thick, cv2.LINE_AA)
    return image
