"""Raspberry Pi cameras through picamera2 (libcamera).

Two streams: ``main`` (RGB888, for display and recording) and ``lores`` at the model's
resolution, so the ISP does the resize for free. libcamera names formats by word order:
``RGB888`` arrives in numpy as B,G,R bytes. The lores stream is YUV420 (the only lores format
a Pi 4 or older offers), converted to RGB here.
"""

from __future__ import annotations

import time

import cv2
import numpy as np

from edge.errors import SourceError
from edge.frame import Frame
from edge.sources.base import Source

INSTALL_HINT = ("picamera2 is not importable: install it with `sudo apt install "
                "python3-picamera2` and create the venv with --system-site-packages")


def yuv420_to_rgb(array: np.ndarray, width: int, height: int) -> np.ndarray:
    """RGB image from picamera2's YUV420 array: shape (height * 3 / 2, stride), where each
    row of the Y plane and each pair of U or V rows may be padded to the stride."""
    stride = array.shape[1]
    if stride != width:
        y = array[:height, :width]
        chroma = array[height:].reshape(height, stride // 2)[:, : width // 2]
        array = np.concatenate([y.reshape(-1), chroma.reshape(-1)]).reshape(height * 3 // 2,
                                                                            width)
    return cv2.cvtColor(np.ascontiguousarray(array), cv2.COLOR_YUV2RGB_I420)


def lores_size(model_size: int, main: tuple[int, int], crop: str) -> tuple[int, int]:
    """The lores stream's size: the model's size for ``full``; for ``center``, the model's
    height at the main stream's aspect ratio, so only a crop is left to do."""
    if crop == "full":
        return model_size, model_size
    w, h = main
    width = max(model_size, round(model_size * w / h / 2) * 2)
    return width, model_size


class PiCamera2Source(Source):
    """Camera ``index`` (0 unless several are connected) via picamera2."""

    kind = "picamera2"
    live = True

    def __init__(self, index: int = 0, model_size: int = 224, main: tuple[int, int] = (640, 480),
                 fps: float | None = None, crop: str = "center") -> None:
        super().__init__()
        self.index, self.main, self.fps = index, main, fps
        self.lores = lores_size(model_size, main, crop)
        self._cam = None
        self._seq = 0
        self._t0 = 0

    def describe(self) -> str:
        return f"picamera2 camera {self.index}"

    def open(self) -> None:
        try:
            from picamera2 import Picamera2
        except ImportError as exc:
            raise SourceError(f"{self.describe()}: {INSTALL_HINT} ({exc})") from exc
        try:
            cameras = Picamera2.global_camera_info()
        except Exception as exc:
            raise SourceError(f"{self.describe()}: libcamera failed ({exc})") from exc
        if self.index >= len(cameras):
            raise SourceError(f"{self.describe()}: not found ({len(cameras)} camera(s) "
                              "detected; check the ribbon cable and `rpicam-hello --list`)")
        try:
            cam = Picamera2(self.index)
            controls = {"FrameRate": float(self.fps)} if self.fps else {}
            config = cam.create_video_configuration(
                main={"size": self.main, "format": "RGB888"},
                lores={"size": self.lores, "format": "YUV420"},
                buffer_count=2, controls=controls)
            cam.configure(config)
            cam.start()
        except Exception as exc:
            raise SourceError(f"{self.describe()}: cannot start ({exc})") from exc
        self._cam = cam
        self._seq = 0

    def read(self) -> Frame | None:
        if self._cam is None:
            return None
        try:
            request = self._cam.capture_request()
        except Exception as exc:
            raise SourceError(f"{self.describe()}: capture failed ({exc})") from exc
        try:
            main = request.make_array("main")  # RGB888: B,G,R in memory
            lores = yuv420_to_rgb(request.make_array("lores"), *self.lores)
        finally:
            request.release()
        now = time.monotonic_ns()
        self._t0 = self._t0 if self._seq else now
        frame = Frame(main, "BGR", self._seq, now, now - self._t0,
                      f"picamera2:{self.index}#{self._seq}", lores=lores)
        self._seq += 1
        return frame

    def close(self) -> None:
        if self._cam is not None:
            cam, self._cam = self._cam, None
            try:
                cam.stop()
            finally:
                cam.close()
