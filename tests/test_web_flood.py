"""A flood of idle sockets and stream viewers against edge-run under a low open-file limit:
the connection cap keeps file descriptors for the camera, the recorder and the monitor, so
inference, recording and /stats go on, and the run ends cleanly."""

from __future__ import annotations

import json
import resource
import signal
import socket
import time

import pytest

from .conftest import PHOTOS
from .servers import start_edge_run, wait_until
from .web_client import address, fetch, request_bytes

FILE_LIMIT = 64


def low_file_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FILE_LIMIT, FILE_LIMIT))


def stats(url: str) -> dict:
    """/stats, retried: at the connection cap a new connection may get a 503 for a moment."""
    for _ in range(50):
        try:
            status, _, body = fetch(url, "/stats", timeout=5)
        except OSError:
            status = None
        if status == 200:
            return json.loads(body)
        time.sleep(0.1)
    raise AssertionError("/stats did not answer during the flood")


def recorded(folder) -> int:
    manifest = folder / "manifest.jsonl"
    return len(manifest.read_text().splitlines()) if manifest.exists() else 0


@pytest.mark.slow
def test_flood_under_a_low_file_limit(converted_025, tmp_path):
    model = converted_025["files"]["fp32"]["path"]
    recording = tmp_path / "recording"
    proc, notes = start_edge_run(
        "--replay", PHOTOS, "--realtime", "--hold", "0.033", "--loop", "--model", model,
        "--record", recording,
        "--http", "127.0.0.1:0", "--http-timeout", "2", wait_for=("web page on",),
        preexec_fn=low_file_limit)
    url = notes["web page on"]
    idle, viewers = [], []
    try:
        wait_until(lambda: stats(url)["frames"]["processed"] > 10, 20, "frames flowing")
        before, t_before = recorded(recording), time.monotonic()
        host, port = address(url)
        for _ in range(300):  # 300 sockets that send half a request, then nothing
            sock = socket.create_connection((host, port), timeout=5)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
            idle.append(sock)
        time.sleep(0.5)  # long enough to be evicted for a request on its way
        for _ in range(30):
            sock = socket.create_connection((host, port), timeout=5)
            sock.sendall(request_bytes("GET", "/stream.mjpg"))
            viewers.append(sock)
        during = []
        for _ in range(6):
            time.sleep(0.5)
            for sock in viewers:  # read what the admitted viewers get, non-blocking
                sock.setblocking(False)
                try:
                    while sock.recv(1 << 20):
                        pass
                except OSError:
                    pass
            during.append(stats(url))
        assert proc.poll() is None
        web = during[-1]["sinks"]["http"]
        assert web["max_connections"] < FILE_LIMIT // 2  # the cap, fitted to the limit
        assert web["connections_open"] <= web["max_connections"]
        assert web["refused"] + web["evicted"] > 0 and web["accept_errors"] == 0
        assert web["viewers_refused"] >= 20 and web["viewers"] <= 5
        assert during[-1]["fps"]["inference"] > 5 and not during[-1]["problems"]
        assert recorded(recording) - before > 5 * (time.monotonic() - t_before)
    finally:
        for sock in idle + viewers:
            sock.close()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    log = "".join(proc.log)
    assert proc.returncode == 0, log
    assert "Too many open files" not in log and "Traceback" not in log
    assert "frames" in out and recorded(recording) > before
    assert f"the open-file limit is {FILE_LIMIT}" in log  # the cap was lowered, and said so
