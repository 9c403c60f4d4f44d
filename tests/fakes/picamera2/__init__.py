"""picamera2 for subprocess tests: tests/fake_picamera2.py, steered by files in
$EDGE_FAKE_CAMERA_DIR: ``unplugged`` (the camera is gone: capture fails, no camera listed),
``hang`` (capture blocks forever, as a wedged driver does). Put tests/fakes on PYTHONPATH.

Like the real camera stack, it does not survive being stopped or closed while another thread
is inside ``capture_request()``: the process aborts (SIGABRT), as libcamera's would crash or
deadlock."""

import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from edge.sources.synthetic import colour_bands
from tests import fake_picamera2 as _fake

_fake.SCENE = colour_bands(640, 480)
_DIR = Path(os.environ.get("EDGE_FAKE_CAMERA_DIR", "/nonexistent"))


class Picamera2(_fake.Picamera2):
    @staticmethod
    def global_camera_info():
        return [] if (_DIR / "unplugged").exists() else list(_fake.CAMERAS)

    def __init__(self, camera_num=0):
        if (_DIR / "unplugged").exists():
            raise RuntimeError("Failed to acquire camera: No such device")
        super().__init__(camera_num)
        self._inside = set()  # threads inside capture_request()
        self._lock = threading.Lock()

    def capture_request(self):
        me = threading.get_ident()
        with self._lock:
            self._inside.add(me)
        try:
            if (_DIR / "unplugged").exists():
                raise RuntimeError("Camera frontend has timed out!")
            while (_DIR / "hang").exists():
                time.sleep(0.05)
            time.sleep(1 / 30)  # a 30 FPS sensor
            return super().capture_request()
        finally:
            with self._lock:
                self._inside.discard(me)

    def _check_alone(self, what):
        with self._lock:
            others = self._inside - {threading.get_ident()}
        if others:
            sys.stderr.write(f"fake picamera2: {what}() while another thread is inside "
                             "capture_request(); a real camera crashes here\n")
            sys.stderr.flush()
            os.abort()

    def stop(self):
        self._check_alone("stop")
        super().stop()

    def close(self):
        self._check_alone("close")
        super().close()
