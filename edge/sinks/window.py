"""An OpenCV window with the frame, the top-5 and FPS, where a display and a GUI build exist.

GUI toolkits draw only from the thread that made the window, so handle() (reporting thread)
just keeps the newest result and pump(), which the pipeline calls from its main thread at
most ~30 times a second, shows it.
"""

from __future__ import annotations

import os
import time

import cv2

from edge.sinks.base import PipelineView, Result, Sink
from edge.sinks.overlay import draw

TITLE = "edge"


def window_available() -> tuple[bool, str]:
    """(usable, why not): needs a display and an OpenCV built with a GUI backend."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False, "no display (DISPLAY/WAYLAND_DISPLAY unset)"
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GUI:") and "NONE" in line.upper():
            return False, "this OpenCV has no GUI (opencv-python-headless); pip install " \
                          "opencv-python for a window"
    return True, ""


class WindowSink(Sink):
    """Shows results; 'q' or Esc in the window stops the run."""

    name = "window"
    main_thread = True
    interval = 1 / 30

    def __init__(self) -> None:
        self._pending: Result | None = None
        self._last = 0.0

    def open(self, view: PipelineView) -> None:
        self._view = view
        cv2.namedWindow(TITLE, cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL)

    def handle(self, result: Result) -> None:
        self._pending = result

    def pump(self) -> None:
        now = time.monotonic()
        if now - self._last < self.interval:
            return
        self._last = now
        result, self._pending = self._pending, None
        if result is not None:
            cv2.imshow(TITLE, draw(result, self._view.fps()))
        if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
            self._view.stop()

    def close(self) -> None:
        cv2.destroyAllWindows()
