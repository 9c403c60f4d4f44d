"""The OpenCV window, for real: a GUI build of OpenCV on a virtual X display (Xvfb).

The project depends on opencv-python-headless; CI also unpacks the GUI wheel into
.venv/cv-gui, which this test puts first on edge-run's PYTHONPATH.
"""

import json
import os
import shutil
import struct
import subprocess
import time

import numpy as np
import pytest

from .conftest import BIN, ROOT

GUI_OPENCV = ROOT / ".venv" / "cv-gui"
TOOLS = ("Xvfb", "xwininfo", "xwd", "xdotool")


def read_xwd(data: bytes) -> np.ndarray:
    """BGR image from an xwd dump (ZPixmap, 32 bits per pixel, least significant byte first)."""
    h = struct.unpack(">25I", data[:100])
    header_size, width, height, byte_order, bpp, bpl, ncolors = (h[0], h[4], h[5], h[7], h[11],
                                                                h[12], h[19])
    assert bpp == 32 and byte_order == 0, "expected a 24-bit TrueColor display"
    start = header_size + 12 * ncolors
    pixels = np.frombuffer(data[start:start + bpl * height], np.uint8).reshape(height, bpl)
    return pixels[:, : 4 * width].reshape(height, width, 4)[:, :, :3]


@pytest.fixture
def display():
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)}: apt-get install xvfb x11-utils x11-apps xdotool")
    if not (GUI_OPENCV / "cv2").is_dir():
        pytest.skip(f"needs a GUI OpenCV in {GUI_OPENCV}: pip install --no-deps --target "
                    f"{GUI_OPENCV} opencv-python")
    read, write = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "1024x768x24",
                               "-nolisten", "tcp"], pass_fds=(write,),
                              stderr=subprocess.DEVNULL)
    os.close(write)
    number = os.read(read, 16).decode().strip()
    yield f":{number}", server
    server.terminate()
    server.wait(timeout=10)
    os.close(read)  # not before: Xvfb fails once it cannot write to its display fd


def test_window_shows_frames_with_results_and_q_stops(display, tmp_path):
    from edge.convert import ConvertOptions, convert

    display, server = display
    model = convert(ConvertOptions(output=tmp_path, alpha=0.25, resolution=64, classes=10),
                    log=lambda _: None)["files"]["fp32"]["path"]
    env = {**os.environ, "DISPLAY": display, "PYTHONPATH": str(GUI_OPENCV)}
    proc = subprocess.Popen([str(BIN / "edge-run"), "--synthetic", "--camera-fps", "15",
                             "--model", model, "--window", "--duration", "60", "--json", "-q",
                             "--no-config"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        window = None
        deadline = time.monotonic() + 30
        while window is None and time.monotonic() < deadline:
            tree = subprocess.run(["xwininfo", "-root", "-tree"], capture_output=True,
                                  text=True, env=env).stdout
            match = next((line.split()[0] for line in tree.splitlines() if '"edge"' in line),
                         None)
            window = match
            time.sleep(0.2)
        assert window, f"no window (edge-run {proc.poll()}, Xvfb {server.poll()})"
        time.sleep(1.0)  # a few frames drawn
        dump = subprocess.run(["xwd", "-id", window, "-silent"], capture_output=True, env=env,
                              check=True).stdout
        image = read_xwd(dump)
        assert image.shape[:2] == (480, 640)  # the frame, at its own size
        # the synthetic frame's colour bands, left to right, below the overlay box
        assert image[200, 100, 2] > 200 and image[200, 100, 1] < 60  # red (BGR)
        assert image[200, 320, 1] > 200 and image[200, 320, 2] < 60  # green
        assert image[200, 560, 0] > 200 and image[200, 560, 1] < 60  # blue
        assert image[30:120, 10:150].mean() < 120  # the dark results box with text
        subprocess.run(["xdotool", "key", "--window", window, "q"], env=env, check=True)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    summary = json.loads(out)
    assert summary["end"] == "stopped" and summary["elapsed_s"] < 30
