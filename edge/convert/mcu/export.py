"""The microcontroller export: the int8 ``.tflite``, its C bundle for TensorFlow Lite Micro
(with labels, a README, a Makefile and an example),
the arena TFLM itself allocates (measured where ``tflite-micro`` is installed, else the
estimate, and the report says which), its flash bytes, whether it fits the part, and the proof
that it is the same model as the int8 ONNX (TFLM's interpreter and LiteRT on the same frames).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.convert.mcu.bundle import c_files, compile_check
from edge.convert.mcu.motion import motion_files
from edge.convert.mcu.recipe import readme, recipe_files
from edge.convert.mcu.targets import Target, check_fit, estimate_arena, estimate_flash
from edge.convert.mcu.tflm import measure_arena, tflm_available, tflm_runner
from edge.convert.spec import MobileNetSpec
from edge.convert.tflite.litert import export_int8_tflite, title
from edge.convert.tflite.verify import verify_tflite
from edge.errors import install_hint
from edge.model import ModelInfo


def arena_note(measured: dict | None, classes: int, arena: int) -> str:
    """The header's word on kTensorArenaSize: how it was found and where it is not enough."""
    if measured is None:
        return ("ESTIMATED from the layer table (tflite-micro was not installed to measure "
                "it); measure on the device before trusting it.")
    return ("measured with TFLM's interpreter (reference kernels, x86-64). A 32-bit build "
            "uses about 3 KB less with the reference kernels or CMSIS-NN's DSP ones "
            "(Cortex-M4/M7/M33; smaller pointers). CMSIS-NN's Helium kernels (Cortex-M55/M85) "
            "keep 4 bytes more per class (FULLY_CONNECTED's weight sums): reserve "
            f"{arena + 4 * classes} (kTensorArenaSize + 4 x {classes}) there. Checked under "
            "QEMU with edge-bench --mcu. Other optimised kernels (esp-nn) may add scratch "
            "buffers: check arena_used_bytes() on the device.")


def tflm_check(tflite: bytes, measured: dict | None) -> dict:
    """verify_tflite's arguments for TFLM: its interpreter with exactly the measured arena,
    or why it could not run."""
    if measured is not None and tflm_available():
        return {"runners": {"tflm": tflm_runner(tflite, measured["arena_bytes"])},
                "details": {"tflm_arena_bytes": measured["arena_bytes"]}}
    return {"unavailable": [f"tflm ({install_hint('mcu')}; x86-64 only)"]}


def export_mcu(int8_path: Path, staging: Path, spec: MobileNetSpec, info: ModelInfo,
               target: Target, input_type: str,
               cases: list[tuple[str, np.ndarray]]) -> tuple[dict, list[Path]]:
    """Write ``<name>.tflite`` and the ``<name>_mcu/`` C bundle into ``staging``; return the
    report section and the paths written. Refuses (EdgeError) a model that does not fit."""
    export, tflite, tflite_path = export_int8_tflite(int8_path, staging, spec, info,
                                                     input_type, cases, verify=False)
    measured = measure_arena(export.tflite)
    estimate = {"arena_bytes": estimate_arena(spec, input_type),
                "flash_bytes": estimate_flash(spec), **spec.footprint_int8()}
    arena = measured["arena_bytes"] if measured else estimate["arena_bytes"]
    check_fit(spec, target, arena, len(export.tflite), measured is not None, input_type)
    bundle = staging / f"{info.name}_mcu"
    bundle.mkdir()
    files = c_files(export.tflite, title(spec, info), int8_path.name, export.input,
                    export.output, export.ops, spec.classes, info.background, info.trained,
                    arena, arena_note(measured, spec.classes, arena), info.labels)
    files.update(motion_files())  # the motion gate for a still camera (docs/motion-gate.md)
    files.update(recipe_files(export.ops))
    _write(bundle, files)
    report = {
        "target": {"name": target.name, "sram_bytes": target.sram, "flash_bytes": target.flash,
                   "about": target.about},
        "tflite": {k: tflite[k] for k in ("path", "bytes", "ops", "input", "output")},
        "bundle": {"path": str(bundle), "files": sorted([*files, "README.md"])},
        "estimate": estimate,
        "measured": ({**measured, "by": "TFLM interpreter (tflite-micro), x86-64"}
                     if measured else None),
        "arena_bytes": arena, "arena_measured": measured is not None,
        "flash_bytes": len(export.tflite),
        "requantized_weights": export.requantized,
        "notes": export.notes,
        "compiled": compile_check(bundle),
        "verification": (verify_tflite(export.tflite, int8_path, cases, input_type,
                                       export.output, **tflm_check(export.tflite, measured))
                         if cases else None),
    }
    _write(bundle, {"README.md": readme(report, title(spec, info), int8_path.name, spec, info,
                                        report["bundle"]["files"])})
    return report, [tflite_path, bundle]


def _write(bundle: Path, files: dict[str, str]) -> None:
    """Write the bundle's files (into the conversion's staging folder: published whole)."""
    for name, text in files.items():
        (bundle / name).parent.mkdir(parents=True, exist_ok=True)
        (bundle / name).write_text(text)
