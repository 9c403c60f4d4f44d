"""Secrets never shown: a camera URL with a password is redacted everywhere edge-run prints or
serves it, checked with a real password-protected HTTP camera (another edge-run); and secret
files that every user can read are pointed out."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest

from edge.redact import redact, redact_url

from .conftest import BIN
from .servers import MOSQUITTO, Mosquitto, get_json, retained, start_edge_run, wait_until
from .web_client import fetch

SECRET = "S3cretPass"


@pytest.mark.parametrize(("text", "shown"), [
    ("rtsp://admin:S3cretPass@10.0.0.7:554/stream1", "rtsp://***@10.0.0.7:554/stream1"),
    ("http://admin:p@ss:w0rd@cam/video.mjpg", "http://***@cam/video.mjpg"),
    ("stream http://u:S3cretPass@h/x#3", "stream http://***@h/x#3"),
    ("http://cam/video.cgi?user=admin&pwd=S3cretPass&res=1",
     "http://cam/video.cgi?user=admin&pwd=***&res=1"),
    ("rtsp://cam/live?token=S3cretPass", "rtsp://cam/live?token=***"),
    ("rtsp://A1B2C3D4@cam/live", "rtsp://***@cam/live"),  # a user name can be the secret
    # what cheap IP cameras call their password
    ("http://cam/v.cgi?loginuse=admin&loginpas=S3cretPass&r=1",
     "http://cam/v.cgi?loginuse=admin&loginpas=***&r=1"),
    ("http://cam/a.cgi?passcode=S3cretPass", "http://cam/a.cgi?passcode=***"),
    ("http://cam/a.cgi?user_pwd=S3cretPass&x", "http://cam/a.cgi?user_pwd=***&x"),
    ("http://cam/a?apiKey=S3cretPass", "http://cam/a?apiKey=***"),
    ("cannot open rtsp://admin:my S3cret pass@cam/s1: timeout",
     "cannot open rtsp://***@cam/s1: timeout"),  # a password with spaces
    ("/dev/video0", "/dev/video0"), ("0", "0"), ("clip.mp4", "clip.mp4"),
    ("mail me@example.com", "mail me@example.com"),
])
def test_redact(text, shown):
    assert redact(text) == shown
    if text.count("://") == 1 and text.split("://")[0].isalpha():
        assert redact_url(text) == shown  # the exact form for a string that is one URL


def test_redact_url_hides_a_query_value_with_spaces():
    assert redact_url("http://cam/a.cgi?user=u&pwd=my S3cret pass&res=1") == \
        "http://cam/a.cgi?user=u&pwd=***&res=1"


def run(*args, env=None):
    return subprocess.run([str(BIN / "edge-run"), *map(str, args)], capture_output=True,
                          text=True, timeout=120, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def camera(tmp_path_factory):
    """A password-protected MJPEG camera on loopback: edge-run's own /stream.mjpg."""
    tmp = tmp_path_factory.mktemp("camera")
    (tmp / "password").write_text(SECRET)
    proc, notes = start_edge_run("--synthetic", "--no-infer", "--camera-fps", "10",
                                 "--http", "127.0.0.1:0", "--http-user", "admin",
                                 "--http-password-file", tmp / "password",
                                 wait_for=("web page on",))
    url = notes["web page on"]
    # and a cheap IP camera's query-string password (the server ignores the query)
    yield url.replace("http://", f"http://admin:{SECRET}@") + f"stream.mjpg?loginpas={SECRET}"
    proc.terminate()
    proc.wait(timeout=15)


def test_a_camera_password_is_never_shown(camera, converted_025, tmp_path):
    mqtt = None
    if os.path.isfile(MOSQUITTO):
        mqtt = Mosquitto(tmp_path).start()
    results = tmp_path / "results.jsonl"
    extra = ["--mqtt", f"mqtt://127.0.0.1:{mqtt.port}", "--mqtt-stats-interval", "1"] \
        if mqtt else []
    model = converted_025["files"]["fp32"]["path"]
    try:
        proc, notes = start_edge_run(
            "--camera", camera, "--model", model, "--http", "127.0.0.1:0", "--metrics",
            "127.0.0.1:0", "--results", results, "--fps-cap", "5", *extra,
            wait_for=("web page on", "metrics on"))
        try:
            url = notes["web page on"]
            stats = wait_until(lambda: (s := get_json(url + "stats"))["frames"]["processed"]
                               > 3 and s, 30, "frames from the protected camera")
            served = [json.dumps(stats), fetch(url, "/metrics")[2].decode(),
                      fetch(url, "/")[2].decode()]
            assert stats["source"].startswith("stream http://***@127.0.0.1:")
            assert stats["latest"]["name"].startswith("http://***@")
            if mqtt:
                payload = wait_until(lambda: retained(mqtt.port, "edge/+/stats", wait=0.5),
                                     20, "stats on MQTT")
                served += [p.decode() for p in payload.values()]
        finally:
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=30)
        printed = out + "".join(proc.log)
        assert "://***@" in printed and "://***@" in served[1]
        for text in [printed, results.read_text(), *served]:
            assert SECRET not in text
    finally:
        if mqtt:
            mqtt.stop()
    # --check-config, --doctor and a camera that cannot be opened say it without it
    for args, code in ((["--check-config"], 0), (["--doctor"], None)):
        done = run("--no-config", "--camera", camera, "--no-infer", *args)
        assert (code is None or done.returncode == code) and SECRET not in \
            done.stdout + done.stderr and "://***@" in done.stdout, done.stderr
    lost = run("--no-config", "--camera", f"http://admin:{SECRET}@127.0.0.1:1/x.mjpg",
               "--no-infer", "--duration", "1")
    assert lost.returncode == 4 and "://***@" in lost.stderr
    assert SECRET not in lost.stdout + lost.stderr


def test_secrets_readable_by_every_user_are_pointed_out(tmp_path):
    password = tmp_path / "password"
    password.write_text("pw-long-enough\n")
    config = tmp_path / "edge.toml"
    config.write_text(f'synthetic = true\ninfer = false\nhttp = "127.0.0.1:0"\n'
                      f'http_password_file = "{password}"\n'
                      f'mqtt = "mqtt://edge:{SECRET}@127.0.0.1:1"\n')
    for path in (password, config):
        path.chmod(0o644)
    loose = run("--config", config, "--check-config")
    assert loose.returncode == 0, loose.stderr
    warnings = [line for line in loose.stdout.splitlines() if line.startswith("WARNING")]
    assert any(f"{config} holds a password" in w and "chmod 640" in w for w in warnings)
    assert any(f"--http-password-file {password}" in w and "chmod 600" in w
               for w in warnings)
    assert SECRET not in loose.stdout + loose.stderr
    doctor = run("--config", config, "--doctor")
    assert "WARN  secrets" in doctor.stdout and SECRET not in doctor.stdout
    for path in (password, config):
        path.chmod(0o600)
    tight = run("--config", config, "--check-config")
    assert tight.returncode == 0 and "WARNING" not in tight.stdout
    assert "OK    secrets" in run("--config", config, "--doctor").stdout


def test_a_broker_password_is_never_shown():
    bad = run("--no-config", "--synthetic", "--no-infer", "--mqtt",
              f"mqtt://edge:{SECRET}@broker.lan/extra", "--check-config")
    assert bad.returncode == 2 and "mqtt://***@broker.lan/extra" in bad.stderr
    good = run("--no-config", "--synthetic", "--no-infer", "--mqtt",
               f"mqtt://edge:{SECRET}@broker.lan", "--check-config")
    assert good.returncode == 0 and SECRET not in good.stdout + good.stderr
