"""The real edge-convert command: output, errors, nothing half-written, downloads."""

import hashlib
import http.server
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import threading

import pytest

from .conftest import BIN, PHOTOS, QUANT_025

TFLITE = QUANT_025


def run(*args, env=None, timeout=300):
    return subprocess.run([str(BIN / "edge-convert"), *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def assert_clean_failure(proc, *needles, out=None):
    assert proc.returncode != 0
    err = proc.stderr.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("edge-convert: error: ")
    for needle in needles:
        assert needle in err, err
    if out is not None and out.exists():
        assert [p.name for p in out.iterdir()] == [], "nothing may be left half-written"


def test_explain_prints_the_cost_table():
    proc = run("--explain", "--alpha", "0.5", "--resolution", "160")
    assert proc.returncode == 0, proc.stderr
    assert "block 13" in proc.stdout and "ratio" in proc.stdout
    assert "MobileNetV1 0.5-160" in proc.stdout


def test_random_build_says_untrained(tmp_path):
    proc = run("--alpha", "0.25", "--resolution", "64", "--output", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "UNTRAINED" in proc.stdout
    assert (tmp_path / "mobilenet_v1_0.25_64_fp32.onnx").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mobilenet_v1_0.25_64_fp32.onnx",
                                                          "report.json"]


def test_convert_real_weights_with_calibration(tmp_path):
    proc = run("--weights", TFLITE, "--quantization", "recalibrate", "--calibration", PHOTOS,
               "--calibration-samples", "8", "--calibration-method", "percentile",
               "--output", tmp_path, "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report == json.loads((tmp_path / "report.json").read_text())
    assert report["calibration"]["frames"] == 8 and report["calibration"]["method"] == "percentile"
    # photos beyond the 8 calibration frames are held out: 4 photos x 2 crops
    assert report["verification"]["held_out"] is True
    assert report["verification"]["result"]["cases"] == 8
    assert report["model"]["weights"]["sha256"] and report["model"]["trained"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_missing_weights_file(tmp_path):
    out = tmp_path / "out"
    assert_clean_failure(run("--weights", tmp_path / "nope.tflite", "-o", out), "nope.tflite",
                         "not found", out=out)


def test_file_that_is_not_a_model(tmp_path):
    bogus = tmp_path / "notes.tflite"
    bogus.write_text("hello, not a flatbuffer")
    out = tmp_path / "out"
    assert_clean_failure(run("--weights", bogus, "-o", out), "notes.tflite", "TFLite", out=out)
    other = tmp_path / "weights.bin2"
    other.write_bytes(b"\0" * 64)
    assert_clean_failure(run("--weights", other, "-o", out), "unrecognised", out=out)


def test_truncated_tflite(tmp_path):
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(TFLITE.read_bytes()[: TFLITE.stat().st_size // 2])
    out = tmp_path / "out"
    assert_clean_failure(run("--weights", cut, "-o", out), "cut.tflite", out=out)


@pytest.mark.parametrize(("flag", "value", "needle"), [("--alpha", "0.5", "alpha 0.25"),
                                                       ("--resolution", "224", "resolution 128"),
                                                       ("--classes", "1000", "1001 classes")])
def test_flags_contradicting_the_weights(tmp_path, flag, value, needle):
    out = tmp_path / "out"
    assert_clean_failure(run("--weights", TFLITE, flag, value, "-o", out), needle, flag, out=out)


def test_empty_calibration_folder(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "out"
    assert_clean_failure(run("--alpha", "0.25", "--resolution", "64", "--calibration", empty,
                             "-o", out), "empty", "no image files", out=out)


def test_unreadable_calibration_images(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    for i in range(3):
        (bad / f"frame{i}.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    out = tmp_path / "out"
    assert_clean_failure(run("--alpha", "0.25", "--resolution", "64", "--calibration", bad,
                             "-o", out), "no readable frames", "3 unreadable", out=out)


def test_unreadable_images_are_skipped_and_counted(tmp_path):
    mixed = tmp_path / "mixed"
    shutil.copytree(PHOTOS, mixed)
    (mixed / "zz_broken.jpg").write_bytes(b"\xff\xd8 truncated")
    proc = run("--weights", TFLITE, "--quantization", "recalibrate", "--calibration", mixed,
               "-o", tmp_path / "out", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["calibration"]["skipped"] == ["zz_broken.jpg (not an image OpenCV can decode)"]
    assert any("unreadable" in w for w in report["warnings"])


def test_unwritable_output(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = run("--alpha", "0.25", "--resolution", "64", "-o", blocker / "out")
    assert_clean_failure(proc, str(blocker / "out"), "not writable")


def test_output_is_required_and_bad_alpha_refused(tmp_path):
    assert_clean_failure(run("--alpha", "0.25"), "--output")
    assert_clean_failure(run("--alpha", "-1", "-o", tmp_path), "--alpha")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_published_name_offline_fails_clearly(tmp_path):
    mirror = f"http://127.0.0.1:{_closed_port()}"
    proc = run("--weights", "tflite:1.0_224_quant", "-o", tmp_path / "out",
               env={"EDGE_DOWNLOAD_MIRROR": mirror, "XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert_clean_failure(proc, "tflite:1.0_224_quant", "cannot download", "--weights FILE")


def test_unknown_published_name(tmp_path):
    assert_clean_failure(run("--weights", "keras:3.0_999", "-o", tmp_path), "keras:<alpha>_<res>")


class Mirror:
    """A loopback HTTP server that serves ``payload`` for every path and records the hits."""

    def __init__(self, payload: bytes) -> None:
        self.hits: list[str] = []
        mirror = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                mirror.hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def tflite_archive(name: str) -> bytes:
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        tar.add(TFLITE, arcname=f"./{name}")
    return archive.getvalue()


def test_a_published_name_is_verified_and_downloaded_once(tmp_path):
    """A real HTTP round trip on loopback: an unpinned name with the user's --sha256 is
    downloaded, checked, unpacked and cached; the second run uses the cache."""
    payload = tflite_archive("mobilenet_v1_0.25_128.tflite")
    digest = hashlib.sha256(payload).hexdigest()
    mirror = Mirror(payload)
    env = {"EDGE_DOWNLOAD_MIRROR": mirror.url, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    try:
        for i in range(2):
            proc = run("--weights", "tflite:0.25_128", "--sha256", digest, "-o",
                       tmp_path / f"out{i}", "--json", env=env)
            assert proc.returncode == 0, proc.stderr
    finally:
        mirror.close()
    assert mirror.hits == ["/download.tensorflow.org/models/mobilenet_v1_2018_08_02/"
                           "mobilenet_v1_0.25_128.tgz"]
    report = json.loads(proc.stdout)
    assert report["model"]["weights"]["file"] == "mobilenet_v1_0.25_128.tflite"
    assert (tmp_path / "cache" / "edge" / "mobilenet_v1_0.25_128.tflite").is_file()


def test_a_tampered_download_is_refused_and_nothing_cached(tmp_path):
    """The mirror serves a different archive than the one TensorFlow published: the pinned
    checksum refuses it."""
    from edge.convert.checkpoints.pins import PINNED

    mirror = Mirror(tflite_archive("mobilenet_v1_0.25_128_quant.tflite"))
    env = {"EDGE_DOWNLOAD_MIRROR": mirror.url, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    try:
        out = tmp_path / "out"
        proc = run("--weights", "tflite:0.25_128_quant", "-o", out, env=env)
        assert_clean_failure(proc, "tflite:0.25_128_quant", "has sha256",
                             f"expected {PINNED['tflite:0.25_128_quant']}", "refused", out=out)
        wrong = run("--weights", f"{mirror.url}/weights.tflite", "--sha256", "0" * 64, "-o",
                    out, env=env)
        assert_clean_failure(wrong, "weights.tflite", "expected 0000", out=out)
    finally:
        mirror.close()
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.tflite"))


def test_downloads_without_a_checksum_are_refused_before_connecting(tmp_path):
    env = {"EDGE_DOWNLOAD_MIRROR": f"http://127.0.0.1:{_closed_port()}",
           "XDG_CACHE_HOME": str(tmp_path / "cache")}
    assert_clean_failure(run("--weights", "keras:0.5_160", "-o", tmp_path / "o", env=env),
                         "keras:0.5_160", "no checksum", "--sha256")
    assert_clean_failure(run("--weights", "https://example.com/w.tflite", "-o", tmp_path / "o"),
                         "needs --sha256")
    assert_clean_failure(run("--weights", "tflite:0.5_160_quant", "--sha256", "abc", "-o",
                             tmp_path / "o"), "64 hexadecimal digits")


def test_a_local_file_is_checked_against_sha256(tmp_path):
    assert_clean_failure(run("--weights", TFLITE, "--sha256", "f" * 64, "-o", tmp_path / "o"),
                         str(TFLITE), "expected ffff")
    proc = run("--weights", TFLITE, "--sha256", hashlib.sha256(TFLITE.read_bytes()).hexdigest(),
               "-o", tmp_path / "ok")
    assert proc.returncode == 0, proc.stderr
