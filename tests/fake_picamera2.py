"""A stand-in for picamera2 that behaves like its documented API, for machines without a Pi.

What it reproduces, because edge relies on it: ``Picamera2(camera_num)``,
``Picamera2.global_camera_info()``, ``create_video_configuration(main=, lores=, ...)`` returning
stream configs with a ``stride``, ``configure``/``start``/``stop``/``close``, and
``capture_request()`` whose ``make_array(name)`` lays memory out as libcamera does:
``RGB888`` is B,G,R bytes per pixel; ``YUV420`` is an (h * 3/2, stride) array whose rows are
padded to the stride (here a multiple of 64, so padding really occurs), with U and V planes
at half resolution. ``release()`` must be called on every request.

The scene is an RGB image the test chooses; each stream sees it scaled to its size, as the ISP
would. ``fail_after`` makes capture raise, as a camera that was unplugged does.
"""

from __future__ import annotations

import cv2
import numpy as np

SCENE = np.zeros((480, 640, 3), np.uint8)
CAMERAS = [{"Model": "imx708", "Location": 2, "Id": "/base/soc/i2c0mux/i2c@1/imx708@1a",
            "Num": 0}]
INSTANCES: list[Picamera2] = []


def _align(n: int, to: int = 64) -> int:
    return (n + to - 1) // to * to


class _Request:
    def __init__(self, cam: Picamera2) -> None:
        self.cam = cam
        self.released = False

    def make_array(self, name: str) -> np.ndarray:
        if self.released:
            raise RuntimeError("request already released")
        cfg = self.cam.config[name]
        w, h = cfg["size"]
        rgb = cv2.resize(SCENE, (w, h), interpolation=cv2.INTER_AREA)
        if cfg["format"] == "RGB888":
            return rgb[:, :, ::-1].copy()  # libcamera's RGB888 is B,G,R in memory
        if cfg["format"] == "BGR888":
            return rgb.copy()
        if cfg["format"] == "YUV420":
            i420 = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)  # (h*3/2, w)
            stride = cfg["stride"]
            out = np.zeros((h * 3 // 2, stride), np.uint8)
            out[:h, :w] = i420[:h]
            chroma = i420[h:].reshape(h, w // 2)  # U rows then V rows, half width
            padded = np.zeros((h, stride // 2), np.uint8)
            padded[:, : w // 2] = chroma
            out[h:] = padded.reshape(h // 2, stride)
            return out
        raise RuntimeError(f"Format {cfg['format']} not supported")

    def get_metadata(self) -> dict:
        return {"SensorTimestamp": self.cam.frames * 33_333_333}

    def release(self) -> None:
        self.released = True
        self.cam.outstanding -= 1


class Picamera2:
    fail_after: int | None = None

    def __init__(self, camera_num: int = 0) -> None:
        if camera_num >= len(CAMERAS):
            raise IndexError("camera index out of range")
        self.camera_num = camera_num
        self.config: dict | None = None
        self.started = False
        self.closed = False
        self.frames = 0
        self.outstanding = 0
        INSTANCES.append(self)

    @staticmethod
    def global_camera_info() -> list[dict]:
        return list(CAMERAS)

    def create_video_configuration(self, main=None, lores=None, buffer_count=6, controls=None,
                                   **_):
        config = {"use_case": "video", "buffer_count": buffer_count,
                  "controls": dict(controls or {})}
        for name, stream, default in (("main", main, "XBGR8888"), ("lores", lores, "YUV420")):
            if stream is None:
                config[name] = None
                continue
            w, h = stream["size"]
            fmt = stream.get("format", default)
            bpp = 3 if fmt in ("RGB888", "BGR888") else 1
            config[name] = {"size": (w, h), "format": fmt, "stride": _align(w * bpp)}
        if config["lores"] is not None and config["main"] is not None:
            mw, mh = config["main"]["size"]
            lw, lh = config["lores"]["size"]
            if lw > mw or lh > mh:
                raise RuntimeError("lores stream dimensions may not exceed main stream")
        return config

    def configure(self, config: dict) -> None:
        self.config = config

    def start(self) -> None:
        if self.config is None:
            raise RuntimeError("Camera has not been configured")
        self.started = True

    def capture_request(self) -> _Request:
        if not self.started:
            raise RuntimeError("Camera not started")
        if self.fail_after is not None and self.frames >= self.fail_after:
            raise RuntimeError("Camera frontend has timed out!")
        self.frames += 1
        self.outstanding += 1
        return _Request(self)

    def stop(self) -> None:
        self.started = False

    def close(self) -> None:
        self.closed = True
