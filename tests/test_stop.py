"""Stopping while the capture thread is busy, the way it used to crash: a looped MJPG video
(a cv2.VideoCapture being read) and the picamera2 stand-in (which aborts, as a real camera
does, when stopped or closed under a thread inside capture_request), stopped by --max-frames,
--duration and SIGTERM, many times in a row. Each run must exit 0 with its summary and a
results log whose every line is whole and counted."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import cv2
import pytest

from .conftest import BIN, PHOTOS, QUANT_025
from .helpers import fake_picamera_env

RUNS = 6


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from edge.convert import ConvertOptions, convert

    work = tmp_path_factory.mktemp("stop")
    report = convert(ConvertOptions(output=work / "m", weights=str(QUANT_025),
                                    calibration=PHOTOS), log=lambda _: None)
    clip = work / "clip.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 30, (640, 480))
    photos = sorted(PHOTOS.iterdir())
    for i in range(120):
        writer.write(cv2.resize(cv2.imread(str(photos[i % len(photos)])), (640, 480)))
    writer.release()
    return {"model": report["files"]["int8"]["path"], "clip": clip, "work": work}


def start(args, env=None):
    return subprocess.Popen([str(BIN / "edge-run"), *map(str, args), "--no-config", "--json",
                             "--threads", "1", "--quiet"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def finished(proc, results, timeout=60):
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, (proc.returncode, err[-2000:])
    summary = json.loads(out)
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert len(lines) == summary["frames"]["processed"] > 0
    assert "error" not in summary
    return summary


def wait_for_lines(path, n, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().count("\n") >= n:
            return
        time.sleep(0.02)
    raise AssertionError(f"{path}: fewer than {n} results after {timeout} s")


def test_video_replay_stopped_by_max_frames_duration_and_sigterm(setup, tmp_path):
    video = ["--model", setup["model"], "--replay", setup["clip"], "--loop"]
    for i in range(RUNS):
        results = tmp_path / f"max{i}.jsonl"
        summary = finished(start([*video, "--max-frames", 700, "--results", results]), results)
        assert summary["end"] == "max frames reached"
        assert summary["frames"]["processed"] == 700
    for i in range(RUNS):
        results = tmp_path / f"dur{i}.jsonl"
        summary = finished(start([*video, "--duration", 0.5, "--results", results]), results)
        assert summary["end"] == "duration reached"
    for i in range(RUNS):
        results = tmp_path / f"term{i}.jsonl"
        proc = start([*video, "--results", results])
        wait_for_lines(results, 50 + 37 * i)  # at varying points in the loop
        proc.send_signal(signal.SIGTERM)
        assert finished(proc, results)["end"] == "stopped"


def test_picamera2_stopped_while_capture_is_busy(setup, tmp_path):
    camdir = tmp_path / "cam"
    camdir.mkdir()
    env = fake_picamera_env(camdir)
    cam = ["--model", setup["model"], "--picamera"]
    for i in range(3):
        results = tmp_path / f"max{i}.jsonl"
        summary = finished(start([*cam, "--max-frames", 15, "--results", results], env), results)
        assert summary["end"] == "max frames reached"
        results = tmp_path / f"dur{i}.jsonl"
        summary = finished(start([*cam, "--duration", 0.6, "--results", results], env), results)
        assert summary["end"] == "duration reached"
        results = tmp_path / f"term{i}.jsonl"
        proc = start([*cam, "--results", results], env)
        wait_for_lines(results, 5 + 3 * i)
        proc.send_signal(signal.SIGTERM)
        assert finished(proc, results)["end"] == "stopped"


def test_a_wedged_camera_driver_ends_the_run_with_a_clear_error_not_a_hang(setup, tmp_path):
    camdir = tmp_path / "cam"
    camdir.mkdir()
    results = tmp_path / "r.jsonl"
    proc = start(["--model", setup["model"], "--picamera", "--results", results],
                 fake_picamera_env(camdir))
    wait_for_lines(results, 5)
    (camdir / "hang").touch()  # the next capture_request never returns
    time.sleep(0.3)
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 10
    assert proc.returncode == 4, err
    summary = json.loads(out)
    assert "did not return from a read" in summary["error"]
    assert err.strip().splitlines()[-1].startswith("edge-run: error: picamera2 camera 0: the "
                                                   "driver did not return from a read")
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert len(lines) == summary["frames"]["processed"]
