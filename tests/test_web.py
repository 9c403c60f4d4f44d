"""The web page, over real sockets with a real HTTP client, and in a real headless browser."""

import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

from .conftest import PHOTOS, QUANT_025
from .servers import start_edge_run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """edge-run replaying the bundled photos in a loop with real weights, serving on an
    ephemeral loopback port."""
    from edge.convert import ConvertOptions, convert

    out = tmp_path_factory.mktemp("web")
    opts = ConvertOptions(output=out, weights=str(QUANT_025))
    source = ["--replay", str(PHOTOS), "--realtime", "--loop", "--hold", "0.1"]
    model = convert(opts, log=lambda _: None)["files"]["fp32"]["path"]
    proc, notes = start_edge_run(*source, "--model", model, "--http", "127.0.0.1:0",
                                 "--duration", "120", wait_for=("web page on",))
    url = notes["web page on"]
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, response.headers.get("Content-Type"), response.read()


def wait_for_result(url):
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        stats = json.loads(get(url + "stats")[2])
        if stats["latest"]:
            return stats
        time.sleep(0.1)
    raise AssertionError("no result within 20 s")


def test_stats_json(server):
    stats = wait_for_result(server)
    assert stats["frames"]["processed"] >= 1
    assert set(stats["fps"]) >= {"capture", "inference", "dropped"}
    assert stats["latency_ms"]["inference"]["window"]["p50"] > 0
    assert len(stats["latest"]["top"]) == 5
    assert "run" in stats["latency_ms"]["inference"]
    recent = json.loads(get(server + "stats?recent")[2])  # what the page polls: no whole run
    assert "run" not in recent["latency_ms"]["inference"]
    assert recent["latency_ms"]["inference"]["window"]["p50"] > 0


def test_page_snapshot_and_404(server):
    status, ctype, body = get(server)
    assert status == 200 and ctype.startswith("text/html")
    assert b'fetch("snapshot.jpg?after="' in body and b'fetch("stats?recent"' in body
    wait_for_result(server)
    status, ctype, body = get(server + "snapshot.jpg")
    assert ctype == "image/jpeg"
    image = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape[2] == 3
    with pytest.raises(urllib.error.HTTPError) as err:
        get(server + "nope")
    assert err.value.code == 404


def test_prometheus_metrics(server):
    from prometheus_client.parser import text_string_to_metric_families

    wait_for_result(server)
    status, ctype, body = get(server + "metrics")
    assert status == 200 and ctype.startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    frames = {s.labels["kind"]: s.value for s in families["edge_frames"].samples
              if s.name == "edge_frames_total"}
    assert frames["processed"] >= 1 and set(frames) == {"captured", "processed", "dropped",
                                                        "skipped", "gated"}
    fps = {s.labels["kind"] for s in families["edge_frames_per_second"].samples}
    assert fps == {"capture", "inference", "dropped", "gated"}
    latency = families["edge_latency_seconds"]
    assert latency.type == "summary"
    stages = {s.labels["stage"] for s in latency.samples}
    assert {"preprocess", "inference", "postprocess", "capture_to_result"} <= stages
    p50 = {s.labels["stage"]: s.value for s in latency.samples
           if s.labels.get("quantile") == "0.5"}
    assert 0 < p50["inference"] < 1  # seconds, not milliseconds
    assert families["edge_resident_memory_bytes"].samples[0].value > 10e6
    assert "edge_cpu_seconds" in families


def test_mjpeg_stream_delivers_successive_frames(server):
    wait_for_result(server)
    with urllib.request.urlopen(server + "stream.mjpg", timeout=10) as response:
        ctype = response.headers["Content-Type"]
        assert ctype.startswith("multipart/x-mixed-replace; boundary=")
        boundary = ctype.split("boundary=")[1].encode()
        frames = []
        while len(frames) < 2:
            line = response.readline()
            if line.strip() != b"--" + boundary:
                continue
            headers = {}
            while (line := response.readline().strip()):
                key, _, value = line.decode().partition(":")
                headers[key.lower()] = value.strip()
            assert headers["content-type"] == "image/jpeg"
            frames.append(response.read(int(headers["content-length"])))
    decoded = [cv2.imdecode(np.frombuffer(f, np.uint8), cv2.IMREAD_COLOR) for f in frames]
    assert all(d is not None for d in decoded)


def chromium(url, tmp_path, *args, width=1200, height=800):
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
             f"--window-size={width},{height}", "--virtual-time-budget=3000"]
    return subprocess.run([CHROMIUM, *flags, *args, url], capture_output=True, text=True,
                          timeout=60, check=True).stdout


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium: apt-get install chromium")
def test_page_in_headless_chromium(server, tmp_path):
    wait_for_result(server)
    shot = tmp_path / "page.png"
    chromium(server, tmp_path, f"--screenshot={shot}")
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[:2] == (800, 1200)
    # the frame area (left) shows a picture, not the empty dark page background
    assert image[100:500, 20:500].std() > 20
    dom = chromium(server, tmp_path, "--dump-dom")
    # one frame: the image shown and the table beside it carry the same sequence number, and
    # the table holds that frame's top-5 (from the snapshot's X-Edge-Result, not from /stats)
    img_seq = re.search(r'<img id="frame"[^>]*data-seq="(\d+)"', dom)
    table_seq = re.search(r'<table id="top" data-seq="(\d+)"', dom)
    assert img_seq and table_seq and img_seq.group(1) == table_seq.group(1), dom[:2000]
    assert re.search(r'<figcaption id="caption">#' + img_seq.group(1) + " ", dom)
    rows = re.findall(r"<td>([^<]+)</td><td class=\"num\">([\d.]+)%</td>", dom)
    assert len(rows) == 5, dom[:2000]
    assert "inference FPS" in dom and 'data-fits="true"' in dom
    from edge.labels import imagenet_labels

    assert all(label in imagenet_labels(1001) for label, _ in rows)
    keep = os.environ.get("EDGE_TEST_ARTIFACTS")
    if keep:  # to look at the screenshot: EDGE_TEST_ARTIFACTS=DIR pytest tests/test_web.py
        shutil.copy(shot, Path(keep) / "web_page.png")


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium: apt-get install chromium")
def test_page_fits_a_phone(server, tmp_path):
    """At 390 px wide (a phone) nothing runs off the side: the page says whether it scrolls
    sideways (body data-fits), measured by the browser itself."""
    wait_for_result(server)
    dom = chromium(server, tmp_path, "--dump-dom", width=390, height=844)
    assert 'data-fits="true"' in dom and "inference FPS" in dom, dom[:2000]


def test_capture_only_streams_the_camera(tmp_path):
    """--no-infer --http: a recording-only device can be previewed (stream, snapshot, page)."""
    proc, notes = start_edge_run("--synthetic", "--no-infer", "--camera-fps", "15", "--http",
                                 "127.0.0.1:0", wait_for=("web page on",))
    try:
        url = notes["web page on"]
        wait_for_result(url)
        _, ctype, body = get(url + "snapshot.jpg")
        image = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
        assert ctype == "image/jpeg" and image.shape == (480, 640, 3)
        # the synthetic camera's bands are there: red, green, blue thirds on top (BGR here)
        assert image[60, 100, 2] > 200 and image[60, 320, 1] > 200 and image[60, 540, 0] > 200
        with urllib.request.urlopen(url + "stream.mjpg", timeout=10) as response:
            assert b"Content-Type: image/jpeg" in response.read(200_000)
        if CHROMIUM is None:  # the stream and the snapshot were checked; the page needs it
            pytest.skip("no chromium for the page: apt-get install chromium")
        dom = chromium(url, tmp_path, "--dump-dom")
        assert "capture only on synthetic 640x480" in dom and "frames per second" in dom
        fps = re.search(r'<span id="fps">([^<]*)</span>', dom).group(1)
        assert fps.endswith("FPS") and "<td>inference p50" not in dom
        assert re.search(r'<img id="frame"[^>]*data-seq="\d+"', dom), dom[:2000]
    finally:
        proc.terminate()
        proc.wait(timeout=15)
