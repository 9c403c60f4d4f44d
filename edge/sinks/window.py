"""An OpenCV window with the frame, the top-5 and FPS, where a display and a GUI build exist."""

from __future__ import annotations

import os

import cv2

from edge.pipeline import Pipeline, Result, Sink
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

    def open(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline
        cv2.namedWindow(TITLE, cv2.WINDOW_NORMAL)

    def handle(self, result: Result) -> None:
        cv2.imshow(TITLE, draw(result, self._pipeline.infer_rate.per_second()))
        if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
            self._pipeline.stop()

    def close(self) -> None:
        cv2.destroyAllWindows()
