"""The daemon under fault: sd_notify over a real socket, watchdog, camera loss and return,
full disk, log rotation, and a memory soak. Faults are injected, never waited for."""

import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.run.service import Notifier

from .conftest import BIN
from .helpers import fake_picamera_env


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from edge.convert import ConvertOptions, convert

    out = tmp_path_factory.mktemp("svc_model")
    return convert(ConvertOptions(output=out, alpha=0.25, resolution=64, classes=10),
                   log=lambda _: None)["files"]["fp32"]["path"]


class NotifySocket:
    """The systemd side of sd_notify: a datagram socket that records what arrives."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.path = path
        self.messages: list[tuple[float, dict]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            fields = dict(line.split("=", 1) for line in data.decode().splitlines())
            self.messages.append((time.monotonic(), fields))

    def wait_for(self, predicate, timeout=20.0, after=0.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for t, fields in list(self.messages):
                if t >= after and predicate(fields):
                    return t, fields
            time.sleep(0.05)
        raise AssertionError(f"no matching message; got {self.messages[-5:]}")

    def watchdogs(self, since: float) -> int:
        return sum(1 for t, f in self.messages if t >= since and f.get("WATCHDOG") == "1")

    def close(self):
        self._stop.set()
        self.sock.close()


def test_notifier_speaks_the_protocol_on_path_and_abstract_sockets(tmp_path):
    listener = NotifySocket(tmp_path / "notify")
    try:
        assert Notifier(str(tmp_path / "notify")).send(READY=1, STATUS="hello world")
        listener.wait_for(lambda f: f == {"READY": "1", "STATUS": "hello world"}, timeout=5)
    finally:
        listener.close()
    name = f"edge-test-{os.getpid()}"
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    abstract.bind("\0" + name)
    try:
        assert Notifier("@" + name).send(WATCHDOG=1)
        assert abstract.recv(100) == b"WATCHDOG=1"
    finally:
        abstract.close()
    assert Notifier("").send(READY=1) is False  # not under systemd: silent no-op


def start_service(tmp_path, model, *extra, watchdog_usec=1_000_000):
    camdir = tmp_path / "camera"
    camdir.mkdir()
    listener = NotifySocket(tmp_path / "notify")
    env = fake_picamera_env(camdir, NOTIFY_SOCKET=str(tmp_path / "notify"),
                            WATCHDOG_USEC=str(watchdog_usec))
    proc = subprocess.Popen([str(BIN / "edge-run"), "--picamera", "--model", model, "--quiet",
                             "--reconnect-max", "1", "--no-config", *map(str, extra)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    return proc, listener, camdir


def metrics(url):
    with urllib.request.urlopen(url + "metrics", timeout=5) as response:
        text = response.read().decode()
    return {m.group(1): float(m.group(2))
            for m in re.finditer(r"^(edge_[a-z_]+(?:\{[^}]*\})?) ([0-9.e+-]+)$", text, re.M)}


def stop(proc, listener):
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=15)
    elapsed = time.monotonic() - sent
    listener.wait_for(lambda f: f.get("STOPPING") == "1", timeout=5)
    listener.close()
    return out, err, elapsed


def test_ready_watchdog_status_and_a_camera_that_comes_and_goes(tmp_path, model):
    proc, listener, camdir = start_service(tmp_path, model, "--http", "127.0.0.1:0")
    try:
        url = None
        while url is None:
            line = proc.stderr.readline()
            assert line, "edge-run exited early"
            if match := re.search(r"web page on (http://\S+)", line):
                url = match.group(1)
        t_ready, ready = listener.wait_for(lambda f: f.get("READY") == "1")
        assert re.match(r"[\d.]+ FPS, top-1 ", ready["STATUS"])  # a frame was inferred
        assert not any(f.get("WATCHDOG") for t, f in listener.messages if t < t_ready)
        listener.wait_for(lambda f: f.get("WATCHDOG") == "1", after=t_ready)

        (camdir / "unplugged").touch()  # the camera vanishes
        t_lost, lost = listener.wait_for(lambda f: "lost" in f.get("STATUS", ""))
        assert "picamera2 camera 0" in lost["STATUS"] and "retry" in lost["STATUS"]
        values = metrics(url)
        assert values["edge_source_up"] == 0 and values["edge_source_outages_total"] == 1
        processed_during = values['edge_frames_total{kind="processed"}']
        time.sleep(2.5)  # several failed reopen attempts; the service stays up and watched
        assert proc.poll() is None
        assert listener.watchdogs(since=t_lost) >= 3

        (camdir / "unplugged").unlink()  # and comes back
        listener.wait_for(lambda f: "FPS, top-1" in f.get("STATUS", "")
                                      and "lost" not in f["STATUS"], after=t_lost)
        time.sleep(1.0)
        values = metrics(url)
        assert values["edge_source_up"] == 1
        assert values['edge_frames_total{kind="processed"}'] > processed_during + 5
    finally:
        _, err, elapsed = stop(proc, listener)
    assert proc.returncode == 0 and elapsed < 2.0
    assert "retrying in" in err and "is back after" in err


def test_a_hung_capture_stops_feeding_the_watchdog(tmp_path, model):
    proc, listener, camdir = start_service(tmp_path, model)
    try:
        t_ready, _ = listener.wait_for(lambda f: f.get("READY") == "1")
        listener.wait_for(lambda f: f.get("WATCHDOG") == "1", after=t_ready)
        (camdir / "hang").touch()  # the driver wedges inside a capture call
        t_hang = time.monotonic()
        time.sleep(4.0)  # watchdog interval 0.5 s; the health check allows 1 s of silence
        assert proc.poll() is None
        late = [t for t, f in listener.messages if f.get("WATCHDOG") and t > t_hang + 1.6]
        assert late == [], "a hung pipeline must not keep feeding the watchdog"
        (camdir / "hang").unlink()
    finally:
        stop(proc, listener)


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True)
    return done.returncode == 0


@pytest.fixture
def small_disk(tmp_path):
    disk = tmp_path / "disk"
    if os.geteuid() != 0 or not _mount_tmpfs(disk, "600k"):
        pytest.skip("needs root to mount a small tmpfs as a full disk")
    yield disk
    subprocess.run(["umount", str(disk)], check=False)


def test_full_disk_stops_recording_and_logging_but_not_inference(small_disk, model, tmp_path):
    rec, log = small_disk / "rec", small_disk / "results.jsonl"
    proc = subprocess.run([str(BIN / "edge-run"), "--synthetic", "--camera-fps", "60",
                           "--model", model, "--record", str(rec), "--results", str(log),
                           "--duration", "6", "--json", "--no-config"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    problems = " ".join(summary["problems"])
    assert "recording stopped" in problems and "No space left" in problems
    assert "results log stopped" in problems or log.stat().st_size > 0
    processed = summary["frames"]["processed"]
    manifest = [json.loads(line) for line in (rec / "manifest.jsonl").read_text().splitlines()]
    assert 0 < len(manifest) < summary["frames"]["captured"]
    for entry in manifest:  # nothing already written is damaged
        image = cv2.imread(str(rec / entry["file"]))
        assert image is not None and image.shape == (480, 640, 3)
    assert not list(rec.glob(".*.tmp"))
    lines = [json.loads(line) for line in log.read_text().splitlines()]  # all whole lines
    assert 0 < len(lines) <= processed
    assert processed > len(manifest)  # inference carried on after the disk filled


def test_results_log_rotates_by_size(model, tmp_path):
    log = tmp_path / "r.jsonl"
    proc = subprocess.run([str(BIN / "edge-run"), "--synthetic", "--model", model,
                           "--max-frames", "600", "--results", str(log), "--results-max-mb",
                           "0.02", "--results-keep", "50", "--json", "--no-config"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    files = [log, *sorted(tmp_path.glob("r.jsonl.*"), key=lambda p: int(p.suffix[1:]))]
    assert len(files) > 3
    assert all(f.stat().st_size <= 20_000 for f in files)
    seqs = []
    for f in reversed(files):  # oldest first
        seqs += [json.loads(line)["seq"] for line in f.read_text().splitlines()]
    assert seqs == list(range(600))


@pytest.mark.slow
def test_soak_20000_frames_without_memory_growth(model, tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    rng = np.random.default_rng(1)
    for i in range(40):
        cv2.imwrite(str(frames / f"{i:03d}.jpg"), rng.integers(0, 256, (96, 128, 3), np.uint8))
    log = tmp_path / "soak.jsonl"
    proc = subprocess.run([str(BIN / "edge-run"), "--replay", str(frames), "--loop",
                           "--model", model, "--max-frames", "20000", "--results", str(log),
                           "--results-max-mb", "2", "--json", "--no-config", "-q"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["frames"]["processed"] == 20000
    rss = []
    for f in [*sorted(tmp_path.glob("soak.jsonl.*"), key=lambda p: -int(p.suffix[1:])), log]:
        rss += [json.loads(line)["metrics"]["rss_mb"] for line in f.read_text().splitlines()
                if '"metrics"' in line]
    settled = rss[len(rss) // 10:]  # after warm-up and the first allocations
    growth = max(settled) - settled[0]
    print(f"soak: RSS {settled[0]:.1f} MB after warm-up, max {max(settled):.1f} MB, "
          f"end {summary['rss_mb']:.1f} MB over 20000 frames")
    assert growth < 8.0, f"resident memory grew {growth:.1f} MB"
