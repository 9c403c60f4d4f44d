"""The installer with a temporary root and apt/systemctl replaced by recorders; the units
through systemd's own analysers; shell scripts through shellcheck."""

import os
import re
import shutil
import subprocess
import sys

import pytest

from .conftest import BIN, ROOT

INSTALL = ROOT / "deploy" / "install.sh"
UNIT = ROOT / "systemd" / "edge-run.service"
INSTANCE_SED = ROOT / "systemd" / "edge-run@.sed"


def unit_texts() -> dict[str, str]:
    """edge-run.service and the per-camera template made from it, as install.sh makes it."""
    instance = subprocess.run(["sed", "-f", str(INSTANCE_SED), str(UNIT)], capture_output=True,
                              text=True, check=True).stdout
    return {"edge-run.service": UNIT.read_text(), "edge-run@.service": instance}


@pytest.fixture
def sandbox(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    calls = tmp_path / "calls.log"
    for tool in ("apt-get", "systemctl"):
        script = tmp_path / tool
        script.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{calls}"\n')
        script.chmod(0o755)
    env = {**os.environ, "EDGE_ROOT": str(root), "EDGE_APT_GET": str(tmp_path / "apt-get"),
           "EDGE_SYSTEMCTL": str(tmp_path / "systemctl"), "EDGE_PYTHON": sys.executable,
           "EDGE_PIP_ARGS": "--no-deps", "EDGE_ARCH": "aarch64"}
    return root, calls, env


def install(env, *args):
    return subprocess.run(["bash", str(INSTALL), *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=600)


def test_install_is_complete_and_idempotent(sandbox, tmp_path):
    root, calls, env = sandbox
    model = tmp_path / "m.onnx"
    model.write_bytes(b"model bytes")
    first = install(env, "--model", model)
    assert first.returncode == 0, first.stderr
    assert calls.read_text().splitlines() == [
        "apt-get install -y python3-venv python3-pip python3-picamera2 v4l-utils",
        "systemctl daemon-reload",
        "systemctl enable --now edge-run.service",
    ]
    for rel in ("etc/edge/edge.toml", "etc/systemd/system/edge-run.service",
                "etc/systemd/system/edge-run@.service", "opt/edge/README.md"):
        assert (root / rel).is_file(), rel
    assert (root / "opt/edge/models/model.onnx").read_bytes() == b"model bytes"
    assert "--system-site-packages" in first.stdout  # the venv sees apt's picamera2
    help_text = subprocess.run([str(root / "opt/edge/venv/bin/edge-run"), "--help"],
                               capture_output=True, text=True, timeout=60)
    assert help_text.returncode == 0 and "--picamera" in help_text.stdout

    config = root / "etc/edge/edge.toml"
    config.write_text("# mine\n")
    second = install(env)
    assert second.returncode == 0, second.stderr
    assert config.read_text() == "# mine\n", "an existing config is never overwritten"
    assert (root / "etc/edge/edge.toml.example").is_file()
    assert "venv" in second.stdout and "exists" in second.stdout


def test_dry_run_prints_every_step_and_changes_nothing(sandbox):
    root, calls, env = sandbox
    proc = install(env, "--dry-run")
    assert proc.returncode == 0, proc.stderr
    steps = [line for line in proc.stdout.splitlines() if line.startswith("+ ")]
    assert any("apt-get install -y" in s and "python3-picamera2" in s for s in steps)
    assert any("-m venv --system-site-packages" in s for s in steps)
    assert any("pip install" in s for s in steps)
    assert any("edge-run.service" in s and s.startswith("+ install") for s in steps)
    assert any("enable --now edge-run.service" in s for s in steps)
    assert proc.stdout.rstrip().endswith("dry run: nothing was changed")
    assert not calls.exists() and list(root.iterdir()) == []


def test_a_model_folder_and_the_litert_extra(sandbox, tmp_path):
    """The folder edge-convert wrote is installed whole (its builds, report.json and nothing
    else), so edge-run can pick among them; --litert installs the LiteRT engine's extra."""
    root, _, env = sandbox
    folder = tmp_path / "out"
    folder.mkdir()
    for name in ("m_fp32.onnx", "m_int8.onnx", "m_int8.tflite", "report.json", "notes.txt"):
        (folder / name).write_text(name)
    proc = install(env, "--dry-run", "--litert", "--model", folder)
    assert proc.returncode == 0, proc.stderr
    pip = next(line for line in proc.stdout.splitlines() if "pip install" in line)
    assert pip.endswith("[litert]")
    proc = install(env, "--model", folder)
    assert proc.returncode == 0, proc.stderr
    installed = sorted(p.name for p in (root / "opt/edge/models/model").iterdir())
    assert installed == ["m_fp32.onnx", "m_int8.onnx", "m_int8.tflite", "report.json"]
    assert 'model = "/opt/edge/models/model"' in proc.stdout


def test_uninstall_keeps_recordings_unless_purged(sandbox):
    root, calls, env = sandbox
    assert install(env, "--no-start").returncode == 0
    recording = root / "var/lib/private/edge/recording/00000000.jpg"
    recording.parent.mkdir(parents=True)
    recording.write_bytes(b"jpeg")
    proc = install(env, "--uninstall")
    assert proc.returncode == 0, proc.stderr
    assert "systemctl disable --now edge-run.service" in calls.read_text()
    assert not (root / "opt/edge").exists()
    assert not (root / "etc/systemd/system/edge-run.service").exists()
    assert recording.is_file() and (root / "etc/edge/edge.toml").is_file()
    proc = install(env, "--uninstall", "--purge")
    assert proc.returncode == 0, proc.stderr
    assert not recording.exists() and not (root / "etc/edge").exists()


def test_32_bit_os_is_refused_with_a_reason(sandbox):
    root, calls, env = sandbox
    proc = install({**env, "EDGE_ARCH": "armv7l"})
    assert proc.returncode == 1
    assert "32-bit" in proc.stderr and "64-bit" in proc.stderr
    assert not calls.exists() and list(root.iterdir()) == []


def test_unknown_option(sandbox):
    proc = install(sandbox[2], "--frobnicate")
    assert proc.returncode == 2 and "unknown option --frobnicate" in proc.stderr


@pytest.mark.skipif(shutil.which("shellcheck") is None,
                    reason="no shellcheck: apt-get install shellcheck")
def test_shell_scripts_pass_shellcheck():
    scripts = [INSTALL, ROOT / "tools" / "demo.sh", ROOT / ".ci" / "run"]
    proc = subprocess.run(["shellcheck", *map(str, scripts)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


@pytest.fixture
def analyzable_units(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("no systemd-analyze")
    out = []
    for name, text in unit_texts().items():  # ExecStart must name a real executable for verify
        target = tmp_path / name
        target.write_text(text.replace("/opt/edge/venv/bin/edge-run", str(BIN / "edge-run")))
        out.append(target)
    return out


def test_units_pass_systemd_analyze_verify(analyzable_units):
    for unit in analyzable_units:
        proc = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0 and proc.stderr.strip() == "", proc.stderr


def test_units_score_3_or_lower_in_systemd_analyze_security(analyzable_units):
    for unit in analyzable_units:
        proc = subprocess.run(["systemd-analyze", "security", "--offline=true", str(unit)],
                              capture_output=True, text=True, timeout=60)
        match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", proc.stdout)
        assert match, proc.stdout[-500:] + proc.stderr
        assert float(match.group(1)) <= 3.0


def test_unit_keeps_what_the_runtime_needs():
    text = UNIT.read_text()
    assert "Type=notify" in text and "WatchdogSec=" in text
    assert "RestartPreventExitStatus=2 3" in text  # bad config/model: no crash loop
    assert "SupplementaryGroups=video" in text
    assert "ProcSubset=pid" not in text  # onnxruntime reads /proc/cpuinfo
    assert "PrivateDevices=no" in text and "DeviceAllow=char-video4linux rw" in text
