"""edge-run --doctor on this machine: each check says OK/WARN/FAIL/SKIP with a one-line fix,
and the exit code is 0 only when nothing blocks the configured job."""

import os
import subprocess

import pytest

from .conftest import BIN
from .helpers import fake_picamera_env


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from edge.convert import ConvertOptions, convert

    out = tmp_path_factory.mktemp("doctor")
    return convert(ConvertOptions(output=out, alpha=0.25, resolution=64, classes=10),
                   log=lambda _: None)["files"]["fp32"]["path"]


def doctor(*args, env=None):
    proc = subprocess.run([str(BIN / "edge-run"), "--doctor", "--no-config", *map(str, args)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})
    checks = {}
    for line in proc.stdout.splitlines():
        parts = line.split(None, 2)
        if parts and parts[0] in ("OK", "WARN", "FAIL", "SKIP"):
            checks[parts[1]] = (parts[0], line)
    return proc, checks


def test_nothing_blocks_a_synthetic_job(model):
    proc, checks = doctor("--synthetic", "--model", model)
    assert proc.returncode == 0, proc.stdout
    assert checks["camera"][0] == "SKIP"
    assert checks["64-bit"][0] in ("OK", "WARN") and checks["onnxruntime"][0] == "OK"
    assert "dot-product" in checks["onnxruntime"][1]
    assert checks["model"][0] == "WARN" and "UNTRAINED" in checks["model"][1]
    assert proc.stdout.rstrip().endswith("nothing blocks the configured job")


def test_a_missing_camera_and_a_bad_model_block_with_fixes(tmp_path):
    if os.path.exists("/dev/video9"):
        pytest.skip("this machine has /dev/video9")
    bogus = tmp_path / "bogus.onnx"
    bogus.write_bytes(b"nope")
    proc, checks = doctor("--camera", "9", "--model", bogus)
    assert proc.returncode == 1
    assert checks["camera"][0] == "FAIL" and "/dev/video9 does not exist" in checks["camera"][1]
    assert checks["model"][0] == "FAIL"
    assert "fix: connect the camera" in proc.stdout and "fix: convert it" in proc.stdout
    assert "2 problem(s) block the configured job" in proc.stdout


def test_picamera2_found_but_not_from_apt(model):
    env = fake_picamera_env("/nonexistent")
    proc, checks = doctor("--picamera", "--model", model, env=env)
    assert checks["picamera2"][0] == "WARN" and "apt" in proc.stdout
    assert checks["camera"][0] == "OK" and "1 camera(s) detected" in checks["camera"][1]
    assert proc.returncode == 0


def test_vcgencmd_reachable_and_throttling_reported(model, tmp_path):
    tool = tmp_path / "vcgencmd"
    tool.write_text("#!/bin/sh\necho throttled=0x50000\n")
    tool.chmod(0o755)
    proc, checks = doctor("--synthetic", "--model", model,
                          env={"PATH": f"{tmp_path}:{os.environ['PATH']}"})
    if not os.path.exists("/dev/vcio"):
        assert checks["vcgencmd"][0] == "WARN" and "/dev/vcio" in checks["vcgencmd"][1]
    else:
        assert checks["throttling"][0] == "WARN"
        assert "under-voltage has occurred" in checks["throttling"][1]
    assert proc.returncode == 0  # worth knowing, not blocking
