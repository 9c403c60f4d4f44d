"""edge-run --collect DATA (#23): examples for edge-train saved from the running camera, from
the web page (real HTTP, and the page's buttons in a real headless browser) and from the
terminal (a real pseudo-terminal, a key per class); then edge-train reads the folders."""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import time
import urllib.error
import urllib.request

import cv2
import pytest

from .conftest import BIN, PHOTOS
from .servers import start_edge_run
from .test_web import CHROMIUM, chromium


@pytest.fixture(scope="module")
def model(converted_025):
    return converted_025["files"]["int8"]["path"]


def post(url: str, headers: dict | None = None):
    request = urllib.request.Request(url, method="POST", headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_the_page_saves_frames_into_class_folders(model, tmp_path):
    data = tmp_path / "data"
    proc, notes = start_edge_run("--model", model, "--replay", PHOTOS, "--realtime", "--loop",
                                 "--hold", "0.2", "--http", "127.0.0.1:0", "--collect", data,
                                 "--collect-class", "cat", wait_for=("web page on",))
    try:
        url = notes["web page on"]
        with urllib.request.urlopen(url + "collect", timeout=10) as response:
            assert json.loads(response.read()) == {"classes": {"cat": 0}}
        with pytest.raises(urllib.error.HTTPError) as err:  # what another site could send
            post(url + "collect?label=dog")
        assert err.value.code == 403 and not (data / "dog").exists()
        deadline = time.monotonic() + 20
        while True:  # the first frame may not be there yet
            try:
                answer = post(url + "collect?label=dog", {"X-Edge-Action": "collect"})
                break
            except urllib.error.HTTPError as exc:
                assert exc.code == 400 and time.monotonic() < deadline
                time.sleep(0.2)
        assert answer["label"] == "dog" and answer["classes"] == {"cat": 0, "dog": 1}
        saved = data / "dog" / answer["saved"]
        assert cv2.imread(str(saved)).shape[2] == 3
        with pytest.raises(urllib.error.HTTPError) as err:
            post(url + "collect?label=..%2Fescape", {"X-Edge-Action": "collect"})
        assert err.value.code == 400 and b"not valid" in err.value.read()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]
        stats = json.loads(urllib.request.urlopen(url + "stats", timeout=10).read())
        assert stats["sinks"]["collect"]["classes"] == {"cat": 0, "dog": 1}
        if CHROMIUM is None:
            pytest.skip("no chromium for the page: apt-get install chromium")
        dom = chromium(url, tmp_path, "--dump-dom")
        buttons = re.findall(r'<button data-label="([^"]+)">([^<]+)</button>', dom)
        assert buttons == [("cat", "cat (0)"), ("dog", "dog (1)")], dom[-3000:]
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_a_key_per_class_in_the_terminal(model, tmp_path):
    data = tmp_path / "data"
    master, slave = os.openpty()
    proc = subprocess.Popen(
        [str(BIN / "edge-run"), "--no-config", "--model", model, "--replay", str(PHOTOS),
         "--realtime", "--loop", "--hold", "0.2", "--collect", str(data), "--collect-class",
         "cat,owl", "--duration", "30", "-q"],
        stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    os.close(slave)

    def read_until(text: str) -> str:
        out, deadline = "", time.monotonic() + 20
        while text not in out and time.monotonic() < deadline:
            if select.select([proc.stderr], [], [], 0.5)[0]:
                out += os.read(proc.stderr.fileno(), 4096).decode()
        return out

    try:
        line = read_until("saves the current frame")
        assert "1 = cat, 2 = owl saves the current frame" in line, line
        time.sleep(1.0)  # frames flowing
        os.write(master, b"2")
        out = read_until(")\n")
        assert re.search(r"collect: saved \S+\.jpg into owl \(1\)", out), out
        assert len(list((data / "owl").iterdir())) == 1 and not list((data / "cat").iterdir())
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        os.close(master)
    assert proc.returncode == 0


def test_collect_without_a_way_to_ask_is_one_line(model, tmp_path):
    proc = subprocess.run([str(BIN / "edge-run"), "--no-config", "--model", model, "--replay",
                           str(PHOTOS), "--collect", str(tmp_path / "d")],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("edge-run: error: --collect needs --http (buttons on the "
                                   "page) or a terminal (a key per class)")
