"""edge-bench --mcu's refusals: a missing bundle or source tree, an unknown CPU or kernel set,
no cross compiler or QEMU: one line naming it, exit 2, nothing written. Also the table's
wording and the harness shipped as package data. No firmware is built: these run everywhere."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edge.bench.mcu import checks, cores, measure
from edge.bench.mcu.report import format_mcu

from .conftest import ROOT
from .mcu_common import bench as _bench


def _fake_bundle(folder: Path, ops: str = "AddConv2D AddFullyConnected") -> Path:
    """The three files of a bundle, with just what the bench reads from them."""
    folder.mkdir(parents=True)
    (folder / "model_data.h").write_text(
        "constexpr int kInputHeight = 8;\nconstexpr int kInputWidth = 8;\n"
        "constexpr int kInputChannels = 3;\nconstexpr bool kInputIsInt8 = true;\n"
        "constexpr int kNumClasses = 2;\nconstexpr size_t kTensorArenaSize = 4096;\n"
        "constexpr size_t kModelSize = 2;\n")
    (folder / "model_data.cc").write_text('const unsigned char g[3] =\n    "\\x1c\\x00";\n')
    (folder / "model_ops.h").write_text(
        "".join(f"  if (resolver.{op}() != kTfLiteOk) return kTfLiteError;\n"
                for op in ops.split()))
    return folder


def _fake_sources(folder: Path) -> Path:
    for name, marker in checks._SOURCE_MARKERS.items():
        path = folder / name / marker
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    return folder


def _refused(proc: subprocess.CompletedProcess, *words: str) -> None:
    """Exit 2 with one line on stderr that holds ``words``; nothing on stdout."""
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edge-bench: error: "), proc.stderr
    for word in words:
        assert word in lines[0]
    assert proc.stdout == ""


def test_bad_command_lines_are_one_line_errors(tmp_path: Path) -> None:
    bundle = _fake_bundle(tmp_path / "tiny_mcu")
    sources = _fake_sources(tmp_path / "tflm")
    report = tmp_path / "report.json"
    base = ("--tflm-sources", sources, "--json", report)
    _refused(_bench("--mcu", tmp_path / "nowhere_mcu", *base), "nowhere_mcu", "not found")
    _refused(_bench("--mcu", tmp_path, *base), str(tmp_path), "no model_data.h")
    _refused(_bench("--mcu", bundle, "--tflm-sources", tmp_path / "nowhere", "--json", report),
             "nowhere", "TFLM sources folder not found")
    _refused(_bench("--mcu", bundle, "--tflm-sources", tmp_path, "--json", report),
             f"{tmp_path / 'tflite-micro'}: missing")
    _refused(_bench("--mcu", bundle, *base, "--cpus", "cortex-m4,cortex-m0"), "--cpus",
             "cortex-m0", "cortex-m55")
    _refused(_bench("--mcu", bundle, *base, "--kernels", "esp-nn"), "--kernels", "esp-nn",
             "cmsis-nn")
    _refused(_bench("--mcu", bundle, *base, "--threads", "2"), "--threads", "--mcu")
    _refused(_bench("--cpus", "cortex-m4", "model.onnx"), "--cpus goes with --mcu")
    env = {k: v for k, v in os.environ.items() if k != "EDGE_TFLM_SOURCES"}
    _refused(_bench("--mcu", bundle, env=env), "--tflm-sources", "EDGE_TFLM_SOURCES")
    assert not report.exists()


def test_missing_tools_are_named_with_their_package(tmp_path: Path) -> None:
    """No cross compiler or QEMU on PATH: the tool and the Debian package, nothing written."""
    bundle = _fake_bundle(tmp_path / "tiny_mcu")
    sources = _fake_sources(tmp_path / "tflm")
    report = tmp_path / "report.json"
    env = {**os.environ, "PATH": str(tmp_path / "empty")}
    proc = _bench("--mcu", bundle, "--tflm-sources", sources, "--json", report, env=env)
    _refused(proc, "no arm-none-eabi-gcc on PATH", "apt-get install gcc-arm-none-eabi")
    assert not report.exists()
    gcc = tmp_path / "bin" / "arm-none-eabi-gcc"
    gcc.parent.mkdir()
    for tool in ("arm-none-eabi-gcc", "arm-none-eabi-g++", "arm-none-eabi-size"):
        os.symlink(sys.executable, gcc.parent / tool)  # present; QEMU is what is missing
    env["PATH"] = str(gcc.parent)
    proc = _bench("--mcu", bundle, "--tflm-sources", sources, "--json", report, env=env)
    _refused(proc, "no qemu-system-arm on PATH", "apt-get install qemu-system-arm")


def test_bundle_checks(tmp_path: Path) -> None:
    bundle = checks.check_bundle(_fake_bundle(tmp_path / "ok_mcu"))
    assert bundle.input_shape == (1, 8, 8, 3) and bundle.input_dtype == "int8"
    assert bundle.ops == ("AddConv2D", "AddFullyConnected") and bundle.model() == b"\x1c\x00"
    odd = _fake_bundle(tmp_path / "odd_mcu", "AddConv2D AddCumSum")
    with pytest.raises(cores.McuError, match=r"odd_mcu/model_ops.h registers AddCumSum"):
        checks.check_bundle(odd)
    header = tmp_path / "ok_mcu" / "model_data.h"
    header.write_text(header.read_text().replace("kNumClasses", "kClasses"))
    with pytest.raises(cores.McuError, match=r"ok_mcu/model_data.h has no kNumClasses"):
        checks.check_bundle(tmp_path / "ok_mcu")
    with pytest.raises(cores.McuError, match=r"known CPUs are cortex-m4, cortex-m7"):
        cores.core("cortex-m0")
    with pytest.raises(cores.McuError, match="kernels must be one of reference, cmsis-nn"):
        cores.check_kernels("esp-nn")


def test_sources_without_cmsis_nn_do_for_the_reference_kernels(tmp_path: Path) -> None:
    sources = _fake_sources(tmp_path / "tflm")
    shutil.rmtree(sources / "CMSIS-NN")
    checks.check_sources(sources, kernels=("reference",))
    with pytest.raises(cores.McuError, match=r"tflm/CMSIS-NN: missing"):
        checks.check_sources(sources)


def test_table_says_instructions_are_not_cycles() -> None:
    row = {"cpu": "cortex-m55", "board": "mps3-an547", "kernels": "cmsis-nn",
           "bit_identical": None, "instructions": 5, "instructions_min": 5,
           "instructions_max": 5, "arena_used_bytes": 90, "arena_reserved_bytes": 100,
           "bundle_arena_bytes": 80, "fits_bundle_arena": False, "flash_bytes": 10,
           "text_bytes": 4, "rodata_bytes": 6, "ram_bytes": 100}
    report = {"bundle": {"path": "x_mcu", "classes": 2, "input_shape": [1, 8, 8, 3],
                         "input_dtype": "int8", "arena_bytes": 80},
              "inputs": {"from": "photos", "frames": ["a"]}, "runs": [row],
              "toolchain": {"compiler": "gcc", "qemu": "qemu"},
              "reference": "none: tflite-micro is not installed", "note": measure.INSTRUCTIONS_NOTE}
    text = format_mcu(report)
    assert "n/a" in text and "needs 100 B, 20 more than the bundle's" in text
    assert "instructions are not cycles" in text and "6.4 M" in text


def test_harness_is_package_data() -> None:
    """Every harness file is in the wheel (pyproject's package data), so an installed edge
    builds firmware without the repository."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib

    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["edge.bench.mcu"]
    package = cores.HARNESS.parent
    shipped = {p for pattern in globs for p in package.glob(pattern)}
    assert shipped == {p for p in cores.HARNESS.rglob("*") if p.is_file()}
