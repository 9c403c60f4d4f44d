"""edge-bench --mcu's measurement: for each CPU and kernel set, build the firmware, run the
inputs under QEMU and compare the logits with TFLM's own interpreter on x86-64.

Where the bundle's arena (measured by edge-convert with TFLM's reference kernels on x86-64)
is too small for a kernel set, as it is for CMSIS-NN's Helium kernels on a 1001-class model
(their FULLY_CONNECTED keeps 4 bytes of weight sums per output), the pair is rebuilt with the
arena it needs and the row says by how much the bundle's falls short.
"""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from edge.bench.mcu.checks import Bundle, check_bundle, check_sources, check_tools
from edge.bench.mcu.compile import compiler_version
from edge.bench.mcu.cores import BOARDS, McuError, check_kernels, core
from edge.bench.mcu.firmware import Firmware, build
from edge.bench.mcu.qemu import ArenaTooSmall, RunResult, as_inputs, run

INSTRUCTIONS_NOTE = (
    "instructions are not cycles: QEMU's -icount counts every instruction Invoke() executes, "
    "exactly, but models no pipeline, cache, flash wait states, dual issue or multi-beat "
    "vector timing; a real core takes more or fewer cycles per instruction (compare kernels, "
    "cores and models with these counts, not latencies). For scale, MLPerf Tiny's visual wake "
    "words model (0.25-96, 2 classes) is published at about 10.7 M cycles on a Cortex-M4 "
    "(X-CUBE-AI, another runtime), 6.7 M on a Cortex-M7 and 6.4 M on a Cortex-M85 (TFLM + "
    "CMSIS-NN); docs/mcu-firmware.md sets those beside these counts")
KIB = 1024


@functools.cache
def qemu_version() -> str:
    out = subprocess.run(["qemu-system-arm", "--version"], capture_output=True, text=True)
    return (out.stdout.splitlines() or ["unknown"])[0]


def frames_as_inputs(bundle: Bundle, frames: Path,
                     count: int) -> tuple[list[np.ndarray], list[str]]:
    """Up to ``count`` frames from a folder or video, as the runtime feeds them (centre square
    at the model's size, RGB), in the bundle's input type (int8: camera byte - 128)."""
    from edge.convert.quant.frames import load_frames

    found = load_frames(frames, bundle.input_shape[1], crops=("center",), limit=count)
    tensors = [by_crop["center"] for by_crop in found.tensors]
    if bundle.input_dtype == "int8":
        tensors = [(t.astype(np.int16) - 128).astype(np.int8) for t in tensors]
    return tensors, found.names


def tflm_reference(model: bytes, inputs: Sequence[np.ndarray]) -> list[np.ndarray] | None:
    """The int8 outputs of TFLM's own interpreter (PyPI tflite-micro, reference kernels,
    x86-64): what bit-identical means for the firmware. None without tflite-micro."""
    from edge.convert.mcu.tflm import MIB, tflm_available, tflm_interpreter

    if not tflm_available():
        return None
    interp = tflm_interpreter(model, max(16 * MIB, 8 * len(model)))  # room: any arena will do
    shape = tuple(interp.get_input_details(0)["shape"])
    outputs = []
    for x in inputs:
        interp.set_input(np.asarray(x).reshape(shape), 0)
        interp.invoke()
        outputs.append(np.asarray(interp.get_output(0)).reshape(-1).copy())
    return outputs


def _build_and_run(bundle: Bundle, sources: Path, cpu: str, kernels: str, cache_dir: Path,
                   inputs: list[np.ndarray], log: Callable[[str], None]
                   ) -> tuple[Firmware, list[RunResult], float]:
    """Build with the bundle's arena; if TFLM cannot allocate in it, read the arena it uses
    given room to spare, then rebuild with the smallest arena from there that works (a few
    bytes of alignment above arena_used_bytes). Also the build seconds in all."""
    fw = build(bundle.folder, sources, cpu, kernels, cache_dir)
    seconds = fw.build_seconds
    try:
        return fw, run(fw, inputs), seconds
    except ArenaTooSmall as exc:
        roomy = bundle.arena_bytes + max(16 * KIB, 4 * exc.missing)
        log(f"  the bundle's {bundle.arena_bytes:,}-byte arena is too small for {kernels} on "
            f"{cpu}; measuring what it needs")
        fw = build(bundle.folder, sources, cpu, kernels, cache_dir, arena_bytes=roomy)
        used = arena = run(fw, inputs[:1])[0].arena_used_bytes
        seconds += fw.build_seconds
    for _ in range(8):
        fw = build(bundle.folder, sources, cpu, kernels, cache_dir, arena_bytes=arena)
        seconds += fw.build_seconds
        try:
            return fw, run(fw, inputs), seconds
        except ArenaTooSmall as exc:
            arena += -(-exc.missing // 16) * 16
    raise McuError(f"{cpu} {kernels}: TFLM used {used:,} arena bytes given {roomy:,}, yet "
                   f"cannot allocate in {arena:,}")


def measure_pair(bundle: Bundle, sources: Path, cpu: str, kernels: str, cache_dir: Path,
                 inputs: list[np.ndarray], want: list[np.ndarray] | None,
                 log: Callable[[str], None]) -> dict:
    """One CPU and kernel set: the row of the report."""
    fw, results, build_seconds = _build_and_run(bundle, sources, cpu, kernels, cache_dir,
                                                inputs, log)
    counts = sorted(r.instructions for r in results)
    same = (None if want is None else
            all(np.array_equal(r.output, w) for r, w in zip(results, want, strict=True)))
    used = results[0].arena_used_bytes
    return {
        "cpu": cpu, "board": BOARDS[cpu], "kernels": kernels,
        "cmsis_nn_paths": list(fw.cmsis_nn_paths),
        "bit_identical": same,
        "instructions": counts[len(counts) // 2],
        "instructions_min": counts[0], "instructions_max": counts[-1],
        "arena_used_bytes": used,
        "arena_reserved_bytes": fw.arena_bytes,
        "bundle_arena_bytes": bundle.arena_bytes,
        "fits_bundle_arena": fw.arena_bytes == bundle.arena_bytes,
        "flash_bytes": fw.flash_bytes,
        "text_bytes": fw.sections.get(".text", 0),
        "rodata_bytes": fw.sections.get(".rodata", 0),
        "ram_bytes": fw.ram_bytes,
        "build_seconds": round(build_seconds, 2),
        "objects_compiled": fw.compiled,
        "elf": str(fw.elf),
    }


def measure_mcu(bundle_dir: Path, sources: Path, cpus: Sequence[str], kernels: Sequence[str],
                cache_dir: Path, frames: Path, count: int,
                log: Callable[[str], None] = lambda _m: None) -> dict:
    """Every CPU x kernel set on ``count`` frames: the report edge-bench --mcu prints."""
    bundle = check_bundle(bundle_dir)
    for cpu in cpus:
        core(cpu)
    for name in kernels:
        check_kernels(name)
    check_sources(sources, kernels)
    check_tools()
    inputs, names = frames_as_inputs(bundle, frames, count)
    inputs = as_inputs(bundle, inputs)
    want = tflm_reference(bundle.model(), inputs)
    runs = []
    for cpu in cpus:
        for name in kernels:
            log(f"{cpu} ({BOARDS[cpu]}), {name} kernels: building (a minute or two per CPU "
                "the first time, then cached) and running")
            runs.append(measure_pair(bundle, sources, cpu, name, cache_dir, inputs, want, log))
    return {
        "bundle": {"path": str(bundle.folder), "input_shape": list(bundle.input_shape),
                   "input_dtype": bundle.input_dtype, "classes": bundle.num_classes,
                   "arena_bytes": bundle.arena_bytes, "model_bytes": bundle.model_bytes,
                   "ops": list(bundle.ops)},
        "inputs": {"from": str(frames), "frames": names, "crop": "center"},
        "reference": ("TFLM's interpreter (tflite-micro), reference kernels, x86-64"
                      if want is not None else
                      "none: tflite-micro is not installed, so bit_identical is null"),
        "toolchain": {"compiler": compiler_version(), "qemu": qemu_version(),
                      "sources": str(Path(sources).resolve()), "cache": str(cache_dir)},
        "note": INSTRUCTIONS_NOTE,
        "runs": runs,
    }
