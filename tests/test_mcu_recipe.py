"""The MCU bundle a firmware engineer builds from: the class names as a C array, the README,
the Makefile and the example. The example is built with ``make`` against TFLM's sources
(EDGE_TFLM_SOURCES) for this computer and for a Cortex-M4 (run under QEMU), and its logits on
real photos must equal those of TFLM's own x86-64 interpreter (PyPI tflite-micro).

The builds keep TFLM's objects in EDGE_MCU_CACHE (or one folder per session): about a minute
each cold, seconds warm.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edge.convert.mcu.bundle import c_string
from edge.convert.quant.frames import load_frames

from .conftest import PHOTOS, QUANT_025
from .mcu_common import convert

NAME = "mobilenet_v1_0.25_128_int8"
SOURCES = Path(os.environ["EDGE_TFLM_SOURCES"]) if os.environ.get("EDGE_TFLM_SOURCES") else None
FILES = ["Makefile", "README.md", "edge_motion.c", "edge_motion.h", "example/main.cc",
         "model_data.cc", "model_data.h", "model_labels.cc", "model_labels.h", "model_ops.h"]


def _convert(out: Path) -> dict:
    proc = convert("--weights", QUANT_025, "--calibration", PHOTOS, "--mcu", "--output", out,
                   "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """edge-convert --mcu on the bundled QAT 0.25-128, verified on the photos."""
    out = tmp_path_factory.mktemp("recipe")
    report = _convert(out)
    return {"out": out, "dir": out / f"{NAME}_mcu", "mcu": report["mcu"],
            "tflite": (out / f"{NAME}.tflite").read_bytes()}


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_bundle_files_and_labels(bundle: dict) -> None:
    assert sorted(_files(bundle["dir"])) == FILES == bundle["mcu"]["bundle"]["files"]
    labels = (bundle["dir"] / "model_labels.cc").read_text()
    names = re.findall(r'^    (".*"),$', labels, re.MULTILINE)
    assert len(names) == 1001 and names[:2] == ['"background"', '"tench, Tinca tinca"']
    assert "kNumLabels = 1001;" in (bundle["dir"] / "model_labels.h").read_text()
    assert "static_assert(kNumLabels == kNumClasses" in labels
    assert c_string('a "b" \\ ?? é') == '"a \\"b\\" \\\\ \\077\\077 \\303\\251"'


def test_rerun_writes_the_same_bytes(bundle: dict, tmp_path: Path) -> None:
    _convert(tmp_path)
    assert _files(tmp_path / f"{NAME}_mcu") == _files(bundle["dir"])


def test_readme_says_what_the_report_says(bundle: dict) -> None:
    mcu, text = bundle["mcu"], (bundle["dir"] / "README.md").read_text()
    inp, out = mcu["tflite"]["input"], mcu["tflite"]["output"]
    assert f"| tensor arena (SRAM) | {mcu['arena_bytes']:,} B, measured" in text
    assert f"| model (flash) | {mcu['flash_bytes']:,} B" in text
    assert "CONV_2D, DEPTHWISE_CONV_2D, MEAN, FULLY_CONNECTED" in text
    assert f"scale {inp['scale']!r} and zero point {inp['zero_point']}" in text
    assert "`(int8_t)(byte ^ 0x80)`" in text and f"{out['scale']!r} x (q + 32)" in text
    for name, res in mcu["verification"]["runtimes"].items():
        assert res["top1_agree"] == res["cases"] == 24
        assert f"{res['top1_agree']}/{res['cases']} frames, logits within {res['max_steps']} " \
               "output steps" in text, name
    assert "make TFLM=/path/to/tflite-micro" in text and "xnnpack" not in text.lower()
    assert max(len(line) for line in text.splitlines() if not line.startswith("|")) <= 96


def test_readme_of_an_untrained_uint8_model_without_tflm_or_frames() -> None:
    """The other branches, from a report as export_mcu writes it: the arena estimated, no
    verification, no compile check, no labels, uint8 input, the motion gate present."""
    from edge.convert.mcu.recipe import readme
    from edge.convert.spec import MobileNetSpec
    from edge.model import ModelInfo

    spec = MobileNetSpec.create(0.25, 96, 4, "tf")
    info = ModelInfo(arch="mobilenet_v1", alpha=0.25, resolution=96, classes=4,
                     background=False, channel_order="RGB", precision="int8",
                     weights={"kind": "random", "trained": False})
    mcu = {"tflite": {"ops": ["QUANTIZE", "CONV_2D"],
                      "input": {"shape": [1, 96, 96, 3], "dtype": "uint8", "scale": 1.0,
                                "zero_point": 128},
                      "output": {"scale": 0.5, "zero_point": 0}},
           "target": {"name": "nrf52840", "sram_bytes": 262144, "flash_bytes": 1048576},
           "arena_bytes": 85000, "arena_measured": False, "flash_bytes": 300000,
           "compiled": None, "verification": None, "requantized_weights": []}
    text = readme(mcu, "MobileNetV1 0.25-96 int8", "m.onnx", spec, info,
                  ["edge_motion.c", "model_data.cc"])
    assert "ESTIMATED from the layer table" in text and "**UNTRAINED**" in text
    assert "`class N` placeholders" in text and "Feed the camera bytes as they are" in text
    assert "= 0.5 x q." in text and "`edge_motion.h`, `edge_motion.c`" in text
    assert "Not run against the ONNX model" in text and "compiles with" not in text


def test_makefile_builds_only_the_bundles_kernels(bundle: dict) -> None:
    text = (bundle["dir"] / "Makefile").read_text()
    kernels = re.search(r"^KERNEL_NAMES := (.*)$", text, re.MULTILINE).group(1).split()
    assert kernels == ["conv", "conv_common", "depthwise_conv", "depthwise_conv_common",
                       "fully_connected", "fully_connected_common", "kernel_util",
                       "micro_tensor_utils", "reduce", "reduce_common"]
    assert not re.search(r"@[A-Z_]+@", text)  # every placeholder filled
    proc = subprocess.run(["make", "-n", "TFLM=/nonexistent"], cwd=bundle["dir"],
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "set TFLM to a tflite-micro checkout" in proc.stderr


# ---- built with make against TFLM's sources ----------------------------------------------

@pytest.fixture(scope="module")
def sources() -> Path:
    if SOURCES is None:
        pytest.skip("set EDGE_TFLM_SOURCES to a folder with tflite-micro, flatbuffers, gemmlowp "
                    "and ruy (../shared/tflm)")
    for tool in ("make", "g++"):
        if shutil.which(tool) is None:
            pytest.skip(f"needs {tool}")
    pytest.importorskip("tflite_micro", reason="needs tflite-micro (the x86-64 reference)")
    return SOURCES.resolve()


def _make(bundle_dir: Path, sources: Path, target: str, *extra: str) -> Path:
    """make for ``target``; TFLM's objects in the cache, keyed by the compiler, TFLM's
    sources and the Makefile (which holds the flags and the kernels)."""
    from edge.bench.mcu.compile import sha, sources_key

    cache = Path(os.environ.get("EDGE_MCU_CACHE") or bundle_dir.parent / "cache")
    cxx = "g++" if target == "host" else "arm-none-eabi-g++"
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout
    key = sha(version, sources_key(sources), (bundle_dir / "Makefile").read_bytes(), extra)
    tflm_build = cache / "make" / f"{target}-{key}"
    proc = subprocess.run(["make", "-j", str(os.cpu_count() or 2),
                           f"TFLM={sources / 'tflite-micro'}", f"TARGET={target}",
                           f"TFLM_BUILD={tflm_build}", *extra], cwd=bundle_dir,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "main.cc" not in proc.stderr  # the example compiles without a warning
    return bundle_dir / "build" / f"{target}-reference" / (
        "edge_example" if target == "host" else "edge_example.elf")


def _photos(n: int) -> list[tuple[str, np.ndarray]]:
    return load_frames(PHOTOS, 128, ("center",)).cases()[:n]


def _parse(stdout: str) -> tuple[int, np.ndarray]:
    top1 = int(re.search(r"^top-1: (\d+) ", stdout, re.MULTILINE).group(1))
    logits = re.search(r"^logits: (.*)$", stdout, re.MULTILINE).group(1).split()
    return top1, np.array(logits, np.int32)


def _tflm(bundle: dict):
    from edge.convert.mcu.tflm import tflm_runner

    run = tflm_runner(bundle["tflite"], bundle["mcu"]["arena_bytes"])
    return lambda x: run((x.astype(np.int16) - 128).astype(np.int8))


@pytest.mark.slow
def test_host_build_matches_tflm(bundle: dict, sources: Path, tmp_path: Path) -> None:
    """make for this computer; the example on raw and PPM photos and the grey test image:
    logits bit-identical with TFLM's interpreter, top-1 printed with its label."""
    exe = _make(bundle["dir"], sources, "host")
    reference = _tflm(bundle)
    labels = re.findall(r'^    "(.*)",$', (bundle["dir"] / "model_labels.cc").read_text(),
                        re.MULTILINE)
    grey = np.full((1, 128, 128, 3), 128, np.uint8)
    for i, (name, x) in enumerate([*_photos(3), ("grey", grey)]):
        image = tmp_path / ("in.ppm" if i == 1 else "in.rgb")
        head = b"P6\n128 128\n255\n" if image.suffix == ".ppm" else b""
        image.write_bytes(head + x.tobytes())
        args = [] if name == "grey" else [str(image)]
        proc = subprocess.run([str(exe), *args, "--logits"], capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        top1, logits = _parse(proc.stdout)
        want = reference(x).reshape(-1)
        assert np.array_equal(logits, want), name
        assert top1 == int(want.argmax())
        assert f"top-1: {top1} {labels[top1]} (int8 {want[top1]}, logit " in proc.stdout
    short = tmp_path / "short.rgb"
    short.write_bytes(bytes(100))
    proc = subprocess.run([str(exe), str(short)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "does not hold exactly 49152 image bytes" in proc.stdout


@pytest.mark.slow
@pytest.mark.firmware
def test_cortex_m4_build_runs_under_qemu(bundle: dict, sources: Path, tmp_path: Path) -> None:
    """make TARGET=cortex-m4 with the bench harness as the board (startup code, linker
    script): the ELF runs on QEMU's MPS2 AN386 and gives TFLM's x86-64 logits."""
    from edge.bench.mcu import checks
    from edge.bench.mcu.cores import HARNESS, McuError

    try:
        checks.check_tools()
    except McuError as exc:
        pytest.skip(str(exc))
    elf = _make(bundle["dir"], sources, "cortex-m4", f"BOARD_SRCS={HARNESS}/edge_startup.c",
                f"CFLAGS=-DEDGE_BOARD_MPS2 -I{HARNESS}",
                f"LDFLAGS=-nostartfiles -L{HARNESS}/ld -T mps2.ld")
    name, x = _photos(1)[0]
    (tmp_path / "in.rgb").write_bytes(x.tobytes())
    proc = subprocess.run(
        ["qemu-system-arm", "-M", "mps2-an386", "-display", "none", "-monitor", "none",
         "-serial", "null", "-semihosting-config",
         "enable=on,target=native,arg=edge_example,arg=in.rgb,arg=--logits", "-kernel",
         str(elf)], cwd=tmp_path, capture_output=True, text=True, timeout=300,
        stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    _, logits = _parse(proc.stdout)
    assert np.array_equal(logits, _tflm(bundle)(x).reshape(-1)), name
    used = int(re.search(r"^arena: (\d+) of", proc.stdout, re.MULTILINE).group(1))
    assert used < bundle["mcu"]["arena_bytes"]  # 32-bit pointers: less than on x86-64
