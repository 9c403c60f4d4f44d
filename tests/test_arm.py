"""The aarch64 path under qemu-user: tools/arm_check.py from nothing (slow, needs root): on
emulated Pi 4 and Pi 5 CPUs, fp32 within 1e-4 and int8 within three output steps of the exact
int8 arithmetic (graph optimisation off), same top-1 everywhere."""

import os
import shutil
import subprocess
import sys

import pytest

from .conftest import ROOT


@pytest.mark.slow
def test_int8_bit_identical_and_fp32_close_on_emulated_pi4_and_pi5(tmp_path):
    if shutil.which("qemu-aarch64-static") is None:
        pytest.skip("no qemu-aarch64-static: apt-get install qemu-user-static")
    if os.geteuid() != 0:
        pytest.skip("needs root for unshare -m and mount --bind")
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "arm_check.py"), "--work",
                           str(tmp_path)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if "inputs:" in line]
    assert len(lines) == 6  # fp32 and int8 on x86 and two emulated CPUs
    arm = [line for line in lines if "cortex" in line]
    assert len(arm) == 4 and all("top-1 agreement 100%" in line for line in arm)
    assert all("DIFFERS" not in line for line in arm)
    assert "ms" not in proc.stdout.replace("no timings", "")  # emulated times are not speed
