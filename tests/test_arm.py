"""The Raspberry Pi path under qemu-user: tools/arm_check.py from nothing (slow, needs root and
qemu-user-static). On emulated Pi 3 / Zero 2 W (Cortex-A53), Pi 4 (A72) and Pi 5 (A76): every
ONNX on onnxruntime and every int8 .tflite on LiteRT's XNNPACK against the exact arithmetic,
LiteRT's reference kernels bit-identical to x86's, edge-run as a whole process answering as x86
does on the same pixels; on 32-bit ARM (Cortex-A7) the .tflite on tflite-runtime. Every model
folder the check finds is checked (bundled checkpoints, data/person, edge-train's).
``EDGE_ARM_WORK=DIR`` keeps the downloads between runs (warm); without it each run starts cold
in a temporary folder. ``EDGE_ARM_QUICK=1`` trims it to 4 photos on Pi 3 and Pi 5 (the A53 and
the dot-product A76), edge-run on Pi 5 only."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from .conftest import ROOT

_SPEC = importlib.util.spec_from_file_location("arm_verdict", ROOT / "tools" / "arm_verdict.py")
arm_verdict = sys.modules.setdefault("arm_verdict", importlib.util.module_from_spec(_SPEC))
_SPEC.loader.exec_module(arm_verdict)  # registered first: its dataclass looks itself up
edge_run_row, int8_verdict = arm_verdict.edge_run_row, arm_verdict.int8_verdict
CPUS = ("pi3 (cortex-a53)", "pi4 (cortex-a72)", "pi5 (cortex-a76)")
ARMHF = "pi2-armhf (cortex-a7)"
QUICK = ["--photos", "4", "--cpus", "pi3,pi5", "--edge-run-cpus", "pi5"]
VERDICT = re.compile(r"^verdict (\S+ \([^)]+\)) (.+): (\d+)/(\d+) (OK|FAIL)$")


def test_int8_verdict_allows_near_ties_only():
    want = np.array([[10.0, 9.0, 0.0], [10.0, 5.0, 0.0]])
    ok, text = int8_verdict(np.array([[9.0, 10.0, 0.0], [10.0, 5.0, 0.0]]), want, 3)
    assert ok and "same top-1 on 1/2 (other 1: near-ties" in text
    ok, text = int8_verdict(np.array([[10.0, 9.0, 0.0], [7.0, 8.0, 0.0]]), want, 3)
    assert not ok and "1 top-1 changed on clear winners" in text
    ok, text = int8_verdict(want + np.array([0, 0, 5.0]), want, 4)
    assert not ok and "max |diff| 5.0 output steps (allowed 4)" in text


def _run(tops: dict[str, list[tuple[int, float]]], code: int = 0, suffix: str = ".jpg") -> dict:
    """An edge_run() result: per-photo top-k of (index, score)."""
    top = {n + suffix: [{"index": i, "score": s} for i, s in t] for n, t in tops.items()}
    return {"code": code, "summary": {"engine": "litert", "frames": {"processed": len(tops)}},
            "top": top, "note": "", "stderr": "a reason"}


def test_edge_run_row_wants_x86s_answers_on_the_same_pixels_and_names_near_ties():
    x86 = {"a": [(979, 0.3268), (978, 0.2867)], "b": [(1, 0.9), (2, 0.05)]}  # a: 1 step apart
    arm = {"a": [(978, 0.3038), (979, 0.3038)], "b": [(1, 0.9), (2, 0.05)]}
    row = edge_run_row("pi4 (cortex-a72)", "m/x.tflite", _run(arm), _run(x86),
                       _run(arm, suffix=".png"), 2, step=0.1308)
    assert row.ok, row.text
    assert "top-1 = x86's on the same pixels on 2/2 photos (top-5 scores identical on 2)" \
        in row.text and "on the photos on 1/2 (near-ties, x86's runner-up within 2 steps: a)" \
        in row.text
    # ARM's pixels fed to x86 must give ARM's answer, near-tie or not
    assert not edge_run_row("pi4 (cortex-a72)", "m/", _run(arm), _run(x86),
                            _run(x86, suffix=".png"), 2, 0.1308).ok
    wrong = {"a": [(979, 0.3)], "b": [(2, 0.9), (1, 0.05)]}  # b: a clear winner changed
    row = edge_run_row("pi4 (cortex-a72)", "m/", _run(wrong), _run(x86),
                       _run(wrong, suffix=".png"), 2, 0.1308)
    assert not row.ok and "top-1 changed on clear winners: b" in row.text
    row = edge_run_row("pi4 (cortex-a72)", "m/", _run(x86, code=1), _run(x86),
                       _run(x86, suffix=".png"), 2, 0.1308)
    assert not row.ok and "a reason" in row.text


@pytest.mark.slow
def test_emulated_pis_compute_what_the_models_define(tmp_path):
    for tool in ("qemu-aarch64-static", "qemu-arm-static", "unshare"):
        if shutil.which(tool) is None:
            pytest.skip(f"no {tool}: apt-get install qemu-user-static")
    if os.geteuid() != 0:
        pytest.skip("needs root for unshare -m and mount --bind")
    work = Path(os.environ.get("EDGE_ARM_WORK") or tmp_path)
    quick = os.environ.get("EDGE_ARM_QUICK") == "1"
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "arm_check.py"), "--work",
                           str(work), *(QUICK if quick else [])], capture_output=True,
                          text=True, timeout=2400)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    folders = re.search(r"^model folders: (.+)$", proc.stdout, re.M).group(1).split(", ")
    assert folders[:2] == ["m0.25_128/", "m0.5_160/"], folders
    if (ROOT / "data" / "person").is_dir():  # MLPerf Tiny's person model, bundled
        assert "person/" in folders
    if importlib.util.find_spec("edge.train") is not None:
        assert "trained/" in folders
    verdicts = {}
    for line in proc.stdout.splitlines():
        match = VERDICT.match(line)
        if match:
            where, engine, passed, total, word = match.groups()
            verdicts[(where, engine)] = (int(passed), int(total), word)
    n = len(folders)  # each folder: fp32 + int8 ONNX and one int8 .tflite
    for cpu in CPUS[::2] if quick else CPUS:
        for engine, count in (("onnxruntime", 2), ("LiteRT XNNPACK", 1),
                              ("LiteRT reference", 1)):
            assert verdicts.get((cpu, engine)) == (count * n, count * n, "OK"), (cpu, engine)
    for cpu in CPUS[2:] if quick else CPUS:  # edge-run on each folder and each .tflite
        assert verdicts.get((cpu, "edge-run")) == (2 * n, 2 * n, "OK"), (cpu, verdicts)
    assert not quick or (CPUS[0], "edge-run") not in verdicts
    for engine in ("tflite-runtime builtin", "tflite-runtime reference"):
        assert verdicts.get((ARMHF, engine)) == (n, n, "OK"), verdicts
    assert "32-bit verdict: " in proc.stdout
    for package in ("onnxruntime", "ai-edge-litert", "opencv-python-headless", "numpy"):
        assert re.search(rf"^  {package} +cp311: ", proc.stdout, re.M), package
    assert not re.search(r"\d ?ms\b|FPS|latency", proc.stdout)  # emulated times are no speed
