"""Sources: colour order through every path, picamera2 through its stand-in, replay."""

import errno
import json
import os
import sys
import types

import cv2
import numpy as np
import pytest

from edge.errors import SourceError
from edge.preprocess import frame_to_input
from edge.sources.opencv import OpenCVSource
from edge.sources.picam import PiCamera2Source, lores_size, yuv420_to_rgb
from edge.sources.replay import ImageFolderSource, open_replay
from edge.sources.synthetic import SyntheticSource, colour_bands

from . import fake_picamera2

W, H = 640, 480


def assert_bands_in_rgb(tensor: np.ndarray) -> None:
    """Top half of a [1,S,S,3] full-frame input: red, green, blue thirds, left to right."""
    img = tensor[0].astype(int)
    s = img.shape[0]
    row = s // 4
    for third, channel in enumerate((0, 1, 2)):
        pixel = img[row, int(s * (third + 0.5) / 3)]
        assert pixel[channel] > 200, (third, pixel)
        assert all(pixel[c] < 60 for c in range(3) if c != channel), (third, pixel)


@pytest.fixture
def bands():
    return colour_bands(W, H)


def test_synthetic_source_arrives_rgb():
    with SyntheticSource(W, H, count=2) as source:
        frames = list(source)
    assert len(frames) == 2
    assert_bands_in_rgb(frame_to_input(frames[0], 96, "full"))


def test_image_file_arrives_rgb(tmp_path, bands):
    cv2.imwrite(str(tmp_path / "bands.png"), cv2.cvtColor(bands, cv2.COLOR_RGB2BGR))
    with ImageFolderSource(tmp_path) as source:
        frame = source.read()
    assert frame.order == "BGR"  # as OpenCV decodes
    assert_bands_in_rgb(frame_to_input(frame, 96, "full"))


def test_video_file_arrives_rgb(tmp_path, bands):
    path = tmp_path / "bands.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (W, H))
    for _ in range(3):
        writer.write(cv2.cvtColor(bands, cv2.COLOR_RGB2BGR))
    writer.release()
    with OpenCVSource(str(path)) as source:
        frames = list(source)
    assert len(frames) == 3
    assert [f.t_source_ns for f in frames] == [0, 100_000_000, 200_000_000]
    assert_bands_in_rgb(frame_to_input(frames[0], 96, "full"))


@pytest.fixture
def picamera2(monkeypatch, bands):
    module = types.ModuleType("picamera2")
    module.Picamera2 = fake_picamera2.Picamera2
    monkeypatch.setitem(sys.modules, "picamera2", module)
    monkeypatch.setattr(fake_picamera2, "SCENE", bands)
    fake_picamera2.INSTANCES.clear()
    return fake_picamera2


@pytest.mark.parametrize("crop", ["full", "center"])
def test_picamera2_lores_arrives_rgb_at_model_size(picamera2, crop):
    source = PiCamera2Source(0, model_size=96, main=(W, H), fps=15, crop=crop)
    with source:
        frame = source.read()
    cam = picamera2.INSTANCES[0]
    assert cam.config["main"]["format"] == "RGB888"
    assert cam.config["lores"] == {"size": lores_size(96, (W, H), crop), "format": "YUV420",
                                   "stride": cam.config["lores"]["stride"]}
    assert cam.config["controls"] == {"FrameRate": 15.0}
    assert cam.outstanding == 0, "every request must be released"
    assert cam.closed and not cam.started
    assert frame.order == "BGR" and frame.image.shape == (H, W, 3)
    assert frame.lores.shape[0] == 96  # the ISP did the resize
    tensor = frame_to_input(frame, 96, crop)
    assert tensor.shape == (1, 96, 96, 3)
    if crop == "full":
        assert_bands_in_rgb(tensor)
    else:  # the centre square of the bands still has red, green, blue left to right
        img = tensor[0].astype(int)
        assert img[20, 2, 0] > 200 and img[20, 48, 1] > 200 and img[20, 93, 2] > 200
    # main stream: B,G,R in memory, so its first (left) third is red in channel 2
    assert frame.image[10, 10, 2] > 200 and frame.image[10, 10, 0] < 60


def test_yuv420_padding_is_removed():
    rgb = np.random.default_rng(0).integers(0, 256, (96, 136, 3), dtype=np.uint8)
    plain = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)
    padded = np.zeros((144, 192), np.uint8)
    padded[:96, :136] = plain[:96]
    chroma = np.zeros((96, 96), np.uint8)
    chroma[:, :68] = plain[96:].reshape(96, 68)
    padded[96:] = chroma.reshape(48, 192)
    np.testing.assert_array_equal(yuv420_to_rgb(padded, 136, 96),
                                  cv2.cvtColor(plain, cv2.COLOR_YUV2RGB_I420))


def test_picamera2_missing_gives_the_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "picamera2", None)
    with pytest.raises(SourceError, match=r"python3-picamera2.*--system-site-packages"):
        PiCamera2Source(0).open()


def test_picamera2_absent_camera_index(picamera2):
    with pytest.raises(SourceError, match="camera 3: not found"):
        PiCamera2Source(3).open()


def test_unreadable_files_are_skipped_and_counted(tmp_path, bands):
    cv2.imwrite(str(tmp_path / "a.png"), bands)
    (tmp_path / "b.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (tmp_path / "c.png").write_bytes(cv2.imencode(".png", bands)[1].tobytes()[:100])
    cv2.imwrite(str(tmp_path / "d.png"), bands)
    with ImageFolderSource(tmp_path) as source:
        names = [f.name for f in source]
        assert names == ["a.png", "d.png"]
        assert source.skipped == 2
        assert [n.split(" (")[0] for n in source.skipped_names] == ["b.jpg", "c.png"]
        assert all("not an image OpenCV can decode" in n for n in source.skipped_names)


def test_recording_manifest_order_and_times_and_torn_line(tmp_path, bands):
    for name in ("x.png", "y.png"):
        cv2.imwrite(str(tmp_path / name), bands)
    lines = [json.dumps({"file": "y.png", "seq": 0, "t_ns": 5}),
             json.dumps({"file": "x.png", "seq": 1, "t_ns": 40_000_005}), '{"file": "z.p']
    (tmp_path / "manifest.jsonl").write_text("\n".join(lines))
    with open_replay(tmp_path) as source:
        frames = list(source)
    assert [(f.name, f.t_source_ns) for f in frames] == [("y.png", 5), ("x.png", 40_000_005)]


def test_loop_and_realtime_pacing(tmp_path, bands):
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i}.png"), bands)
    source = open_replay(tmp_path, realtime=True, loop=True)
    with source:
        frames = [source.read() for _ in range(7)]
    assert [f.seq for f in frames] == list(range(7))
    times = [f.t_source_ns for f in frames]
    assert times == sorted(times) and len(set(times)) == 7
    # paced at the nominal 30 FPS: 6 intervals take at least 6/30 s of wall time
    assert frames[-1].t_capture_ns - frames[0].t_capture_ns >= 0.95 * 6 / 30 * 1e9


def test_missing_paths():
    with pytest.raises(SourceError, match="no such file"):
        open_replay("/nonexistent/replay")
    with pytest.raises(SourceError, match="video file not found"):
        OpenCVSource("/nonexistent.avi").open()


def test_mjpg_video_is_read_as_packets_and_decoded_like_ffmpeg(tmp_path):
    """Replays of MJPG videos decode each packet with libjpeg (faster than FFmpeg's decoder
    and colour conversion): the same frames but for chroma upsampling (a grey level or two on
    average), the same timestamps."""
    from edge.sources.opencv import OpenCVSource

    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 25, (320, 240))
    rng = np.random.default_rng(0)
    for i in range(10):
        image = cv2.GaussianBlur(rng.integers(0, 256, (240, 320, 3), np.uint8), (9, 9), 3)
        writer.write(cv2.putText(image, str(i), (100, 150), cv2.FONT_HERSHEY_SIMPLEX, 3,
                                 (255, 255, 255), 5))
    writer.release()
    ffmpeg = cv2.VideoCapture(str(video), cv2.CAP_FFMPEG)
    with OpenCVSource(str(video)) as source:
        assert source.raw
        frames = list(source)
    assert len(frames) == 10
    for i, frame in enumerate(frames):
        ok, want = ffmpeg.read()
        assert ok and frame.image.shape == want.shape == (240, 320, 3)
        diff = np.abs(frame.image.astype(int) - want)
        assert diff.mean() < 2.5 and np.percentile(diff, 99) <= 8
        assert frame.t_source_ns == int(i * 40e6)


@pytest.mark.parametrize(("code", "stops"), [(errno.EMFILE, False), (errno.ENOSPC, True)])
def test_recorder_loses_a_frame_to_a_transient_error_but_stops_on_a_full_disk(
        tmp_path, bands, monkeypatch, code, stops):
    from edge.frame import Frame
    from edge.sinks import recorder as module
    from edge.sinks.recorder import Recorder

    real_open = open

    def flaky_open(path, *args, **kwargs):  # the third frame's file cannot be created
        if str(path).endswith("00000002.jpg.tmp"):
            raise OSError(code, os.strerror(code))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(module, "open", flaky_open, raising=False)
    rec = Recorder(tmp_path / "rec")
    rec.open(None)
    for seq in range(5):
        rec.offer(Frame(bands, "RGB", seq, 0, seq * 1000, f"f{seq}"))
    rec.close()
    written = [json.loads(line)["seq"] for line in
               (rec.folder / "manifest.jsonl").read_text().splitlines()]
    if stops:
        assert written == [0, 1] and "recording stopped: No space left" in rec.error
    else:
        assert written == [0, 1, 3, 4] and rec.error is None and rec.dropped == 1
