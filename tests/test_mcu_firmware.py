"""edge-bench --mcu: TFLM firmware built for emulated Cortex-M boards and run under
qemu-system-arm. Logits bit-identical with TFLM's x86-64 interpreter on real photos, instructions
per inference, the Helium (MVE) and DSP code paths, the arena the bundle under-reserves for
Helium, the instruction clock on every board, the object cache (the errors a caller sees:
test_mcu_bench_errors.py).

The firmware tests (marked ``firmware``) need arm-none-eabi-gcc, qemu-system-arm and TFLM's
sources (EDGE_TFLM_SOURCES, e.g. ../shared/tflm); without them they skip, saying which is
missing. They build M4 (reference and CMSIS-NN) and M55 (CMSIS-NN with Helium) for the bundled
0.25-128 model: a few minutes cold on 2 cores, seconds with a warm EDGE_MCU_CACHE (objects are
shared by every test through one session cache).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import uuid
from pathlib import Path

import numpy as np
import pytest

from edge.bench.mcu import checks, compile, cores, firmware, measure, qemu

from .conftest import PHOTOS, QUANT_025
from .mcu_common import bench, convert

SOURCES = Path(os.environ["EDGE_TFLM_SOURCES"]) if os.environ.get("EDGE_TFLM_SOURCES") else None


def heavy(test):
    """Builds and runs firmware: minutes with a cold cache."""
    return pytest.mark.firmware(pytest.mark.slow(test))


@pytest.fixture(scope="session")
def sources() -> Path:
    """TFLM's source trees and the tools, or a skip that says which is missing."""
    if SOURCES is None:
        pytest.skip("set EDGE_TFLM_SOURCES to a folder with tflite-micro, flatbuffers, gemmlowp, "
                    "ruy and CMSIS-NN (../shared/tflm; SOURCES.md there says which commits)")
    try:
        checks.check_sources(SOURCES)
        checks.check_tools()
    except cores.McuError as exc:
        pytest.skip(str(exc))
    pytest.importorskip("tflite_micro", reason="needs tflite-micro (the x86-64 reference)")
    return SOURCES.resolve()


@pytest.fixture(scope="session")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """EDGE_MCU_CACHE when set (CI keeps it between runs), else one folder for the session."""
    given = os.environ.get("EDGE_MCU_CACHE")
    return Path(given) if given else tmp_path_factory.mktemp("mcu-cache")


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """edge-convert --mcu on the bundled QAT 0.25-128 (1001 classes, int8 input)."""
    out = tmp_path_factory.mktemp("mcu-bundle")
    proc = convert("--weights", QUANT_025, "--mcu", "--output", out)
    assert proc.returncode == 0, proc.stderr
    return out / "mobilenet_v1_0.25_128_int8_mcu"


@pytest.fixture(scope="session")
def cli_report(sources: Path, cache: Path, bundle_dir: Path,
               tmp_path_factory: pytest.TempPathFactory) -> dict:
    """edge-bench --mcu for CMSIS-NN on the M4 (DSP) and the M55 (Helium), three photos."""
    out = tmp_path_factory.mktemp("mcu-report") / "mcu.json"
    proc = bench("--mcu", bundle_dir, "--tflm-sources", sources, "--cpus",
                  "cortex-m4,cortex-m55", "--kernels", "cmsis-nn", "--json", out,
                  env={**os.environ, "EDGE_MCU_CACHE": str(cache)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {"json": json.loads(out.read_text()), "text": proc.stdout}


def _photos(bundle: checks.Bundle, count: int = 3) -> list[np.ndarray]:
    inputs, _ = measure.frames_as_inputs(bundle, PHOTOS, count)
    return inputs


# --- the firmware, built and run -----------------------------------------------------------

@heavy
def test_cli_reports_each_pair(cli_report: dict) -> None:
    """Bit-identical logits, exact instruction counts, arena, flash and RAM per pair; the text
    says that instructions are not cycles."""
    report, text = cli_report["json"], cli_report["text"]
    runs = {run["cpu"]: run for run in report["runs"]}
    assert list(runs) == ["cortex-m4", "cortex-m55"]
    for run in runs.values():
        assert run["kernels"] == "cmsis-nn" and run["bit_identical"] is True
        assert run["instructions_min"] == run["instructions"] == run["instructions_max"] > 0
        assert 0 < run["arena_used_bytes"] <= run["arena_reserved_bytes"]
        assert run["flash_bytes"] > run["text_bytes"] + run["rodata_bytes"] - 64
        assert run["rodata_bytes"] > report["bundle"]["model_bytes"]  # the model is in flash
        assert run["ram_bytes"] >= run["arena_reserved_bytes"]
    assert runs["cortex-m4"]["board"] == "mps2-an386"
    assert runs["cortex-m55"]["board"] == "mps3-an547"
    # Helium runs about 3.5x fewer instructions than the DSP path for this model
    assert runs["cortex-m55"]["instructions"] * 3 < runs["cortex-m4"]["instructions"]
    assert "instructions are not cycles" in report["note"] and "not cycles" in text
    assert "bit-identical" in text and "mps3-an547" in text


@heavy
def test_helium_needs_more_arena_than_the_bundle_reserves(cli_report: dict, cache: Path,
                                                          sources: Path, bundle_dir: Path) -> None:
    """CMSIS-NN's MVE FULLY_CONNECTED keeps 4 bytes per class: 1001 classes outgrow the
    x86-64 arena the bundle reserves. The bench rebuilds with the smallest arena that works
    and says so; the DSP build fits the bundle's arena."""
    runs = {run["cpu"]: run for run in cli_report["json"]["runs"]}
    m4, m55 = runs["cortex-m4"], runs["cortex-m55"]
    assert m4["fits_bundle_arena"] and m4["arena_reserved_bytes"] == m4["bundle_arena_bytes"]
    assert not m55["fits_bundle_arena"]
    short = m55["arena_reserved_bytes"] - m55["bundle_arena_bytes"]
    assert 0 < short <= 4 * 1001 + 16
    assert f"{short:,} more than the bundle's kTensorArenaSize" in cli_report["text"]
    header = " ".join((bundle_dir / "model_data.h").read_text().replace("//", "").split())
    helium = re.search(r"reserve (\d+) \(kTensorArenaSize \+ 4 x 1001\) there", header)
    assert helium and m55["arena_reserved_bytes"] <= int(helium.group(1))  # the header's advice
    fw = firmware.build(bundle_dir, sources, "cortex-m55", "cmsis-nn", cache)
    with pytest.raises(qemu.ArenaTooSmall, match=r"AllocateTensors failed with a 135984"):
        qemu.run(fw, np.zeros(fw.bundle.input_shape, np.int8))
    tight = firmware.build(bundle_dir, sources, "cortex-m55", "cmsis-nn", cache,
                           arena_bytes=m55["arena_reserved_bytes"] - 16)
    with pytest.raises(qemu.ArenaTooSmall):
        qemu.run(tight, np.zeros(fw.bundle.input_shape, np.int8))


@heavy
def test_reference_kernels_on_the_m4(cli_report: dict, cache: Path, sources: Path,
                                     bundle_dir: Path) -> None:
    """TFLM's reference kernels: bit-identical too, about 4x the instructions of CMSIS-NN's
    DSP kernels, and an input-dependent count (requantisation branches)."""
    bundle = checks.check_bundle(bundle_dir)
    inputs = _photos(bundle)
    want = measure.tflm_reference(bundle.model(), inputs)
    row = measure.measure_pair(bundle, sources, "cortex-m4", "reference", cache, inputs, want,
                               lambda _m: None)
    assert row["bit_identical"] is True and row["cmsis_nn_paths"] == []
    cmsis = next(r for r in cli_report["json"]["runs"] if r["cpu"] == "cortex-m4")
    assert 3.5 * cmsis["instructions"] < row["instructions_min"] < 5 * cmsis["instructions"]
    assert row["instructions_min"] < row["instructions_max"] < 1.001 * row["instructions_min"]
    assert row["fits_bundle_arena"] and row["text_bytes"] < cmsis["text_bytes"]


@heavy
def test_helium_and_dsp_instructions_are_in_the_images(cli_report: dict) -> None:
    """The M55 image holds MVE instructions (vector loads and multiply-accumulates,
    tail-predicated loops), the M4 image DSP ones (dual 16-bit multiply-accumulate), both
    built for the hard-float ABI."""
    elf = {run["cpu"]: run["elf"] for run in cli_report["json"]["runs"]}
    paths = {run["cpu"]: run["cmsis_nn_paths"] for run in cli_report["json"]["runs"]}
    assert paths["cortex-m4"] == ["ARM_MATH_DSP"]
    assert {"ARM_MATH_DSP", "ARM_MATH_MVEI"} <= set(paths["cortex-m55"])  # and MVEF (float)

    def mnemonics(path: str, *arch: str) -> set[str]:
        out = subprocess.run(["arm-none-eabi-objdump", "-d", *arch, path], capture_output=True,
                             text=True, check=True).stdout
        return {line.split("\t")[2].split(".")[0].strip() for line in out.splitlines()
                if line.count("\t") >= 2}

    m55 = mnemonics(elf["cortex-m55"], "-m", "armv8.1-m.main")  # objdump's MVE decoder
    m4 = mnemonics(elf["cortex-m4"])
    assert {"vldrb", "vmlava", "wlstp", "letp"} <= m55
    assert {"smlad", "sxtb16"} <= m4 and not {"vldrb", "vmlava"} & m4
    for path in elf.values():
        attrs = subprocess.run(["arm-none-eabi-readelf", "-A", path], capture_output=True,
                               text=True, check=True).stdout
        assert "Tag_ABI_VFP_args: VFP registers" in attrs  # the hard-float ABI


@pytest.mark.firmware
def test_cmsis_nn_code_paths_per_core(sources: Path) -> None:
    """CMSIS-NN's own header, preprocessed with each core's flags: DSP on M4/M7/M33, DSP and
    Helium (MVEI) on the M55; every core hard-float."""
    for cpu, core in cores.CORES.items():
        paths = compile.cmsis_nn_paths(cpu, sources)
        assert "ARM_MATH_DSP" in paths
        assert ("ARM_MATH_MVEI" in paths) == (cpu == "cortex-m55")
        assert "-mfloat-abi=hard" in core.flags and set(core.cmsis_nn_paths) <= set(paths)


@pytest.mark.parametrize("cpu", list(cores.BOARDS))
@pytest.mark.firmware
def test_clock_counts_instructions_exactly(sources: Path, cache: Path, cpu: str) -> None:
    """Every board boots and its counter gives exact instruction counts: a loop of 3
    instructions an iteration minus 3n is the same small constant for every n."""
    image = firmware.build_program(cpu, [cores.HARNESS / "clock_check.c"], cache,
                                   name="clock_check")
    loops = [0, 1, 2, 10, 1000, 123457, 1000000]
    done = qemu.run_program(image, {"loops.bin": struct.pack(f"<{len(loops)}I", *loops)}, 60)
    assert done.exit_code == 0, done.stdout
    counts = {int(n): int(c) for n, c in
              (line.split()[1::2] for line in done.stdout.splitlines()
               if line.startswith("loop "))}
    assert sorted(counts) == loops
    setup = {counts[n] - 3 * n for n in loops}
    assert len(setup) == 1 and 0 < setup.pop() < 8


@heavy
def test_cached_build_compiles_only_the_model(cli_report: dict, cache: Path, sources: Path,
                                              bundle_dir: Path, tmp_path: Path) -> None:
    """A new bundle with the same ops reuses TFLM, CMSIS-NN and main; an unchanged one
    compiles nothing."""
    copy = tmp_path / "copy_mcu"
    shutil.copytree(bundle_dir, copy)
    with (copy / "model_data.cc").open("a") as f:
        f.write(f"// {uuid.uuid4()}\n")  # a model the cache has not seen
    assert firmware.build(copy, sources, "cortex-m4", "cmsis-nn", cache).compiled == 2
    again = firmware.build(copy, sources, "cortex-m4", "cmsis-nn", cache)
    assert again.compiled == 0
    shutil.rmtree(again.elf.parent)  # a kept EDGE_MCU_CACHE must not grow with every run


@heavy
def test_run_refuses_bad_inputs(cli_report: dict, cache: Path, sources: Path,
                                bundle_dir: Path) -> None:
    fw = firmware.build(bundle_dir, sources, "cortex-m4", "cmsis-nn", cache)
    shape = fw.bundle.input_shape
    with pytest.raises(cores.McuError, match=r"is uint8; the model takes int8 \(camera byte"):
        qemu.run(fw, np.zeros(shape, np.uint8))
    with pytest.raises(cores.McuError, match="has shape"):
        qemu.run(fw, [np.zeros((1, 96, 96, 3), np.int8)])
    with pytest.raises(cores.McuError, match="no inputs"):
        qemu.run(fw, [])
    with pytest.raises(cores.McuError, match=r"did not finish in 0\.05 s"):
        qemu.run(fw, np.zeros(shape, np.int8), timeout=0.05)


@heavy
def test_uint8_input_bundle(cli_report: dict, cache: Path, sources: Path,
                            tmp_path: Path) -> None:
    """--mcu-input uint8 adds a QUANTIZE op; the firmware takes the camera's bytes as they
    are and gives TFLM's logits."""
    proc = convert("--weights", QUANT_025, "--mcu", "--mcu-input", "uint8", "--output", tmp_path)
    assert proc.returncode == 0, proc.stderr
    bundle = checks.check_bundle(tmp_path / "mobilenet_v1_0.25_128_int8_mcu")
    assert bundle.input_dtype == "uint8" and bundle.ops[0] == "AddQuantize"
    inputs = _photos(bundle, 2)
    assert inputs[0].dtype == np.uint8
    row = measure.measure_pair(bundle, sources, "cortex-m4", "cmsis-nn", cache, inputs,
                               measure.tflm_reference(bundle.model(), inputs), lambda _m: None)
    assert row["bit_identical"] is True and row["fits_bundle_arena"]


@heavy
def test_profile_counts_each_op(cli_report: dict, cache: Path, sources: Path,
                                bundle_dir: Path) -> None:
    """build(profile=True): per-op counts; the kernels are nearly all of Invoke(), and the
    logits are the same."""
    fw = firmware.build(bundle_dir, sources, "cortex-m4", "cmsis-nn", cache, profile=True)
    (profiled,) = qemu.run(fw, _photos(fw.bundle, 1))
    plain = next(r for r in cli_report["json"]["runs"] if r["cpu"] == "cortex-m4")
    names = [name for name, _ in profiled.ops]
    assert names[0] == "CONV_2D" and names[-2:] == ["MEAN", "FULLY_CONNECTED"]
    assert names.count("DEPTHWISE_CONV_2D") == 13 and len(names) == 29
    kernels = sum(n for _, n in profiled.ops)
    assert 0 < plain["instructions"] - kernels < 2000  # the interpreter's own loop
    want = measure.tflm_reference(fw.bundle.model(), _photos(fw.bundle, 1))
    np.testing.assert_array_equal(profiled.output, want[0])

