"""The microcontroller target: the int8 .tflite, its C bundle for TensorFlow Lite Micro, the
arena TFLM itself allocates (measured where ``tflite-micro`` is installed, else the estimate,
and the report says which), its flash bytes, whether it fits a part, and the proof that it is
the same model as the int8 ONNX.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from edge.convert.mcu_bundle import c_files, compile_check
from edge.convert.mcu_verify import verify_tflite
from edge.convert.spec import MobileNetSpec
from edge.convert.tflite_export import Export, export_tflite
from edge.convert.tflm import measure_arena
from edge.errors import EdgeError
from edge.labels import imagenet_labels
from edge.model import ModelInfo

KIB, MIB = 1024, 1024 * 1024
# What the model may use on common parts (datasheet SRAM and flash; the largest contiguous
# SRAM block where the part splits it). The default is a Cortex-M7 / ESP32-S3 class part.
PRESETS: dict[str, tuple[int, int, str]] = {
    "cortex-m7": (512 * KIB, 2 * MIB, "Cortex-M7 class, e.g. STM32H7 (512 KB AXI SRAM, 2 MB "
                                      "flash); an ESP32-S3 has 512 KB of SRAM in all"),
    "stm32f746": (320 * KIB, 1 * MIB, "Cortex-M7, 320 KB SRAM, 1 MB flash"),
    "nrf52840": (256 * KIB, 1 * MIB, "Cortex-M4 (Arduino Nano 33 BLE Sense), 256 KB RAM, "
                                     "1 MB flash"),
    "stm32l4r5": (640 * KIB, 2 * MIB, "Cortex-M4 (NUCLEO-L4R5ZI, MLPerf Tiny's reference), "
                                      "640 KB SRAM, 2 MB flash"),
}
DEFAULT_TARGET = "cortex-m7"
# the grid searched for the largest network that would fit
ALPHAS = (0.25, 0.5, 0.75, 1.0)
RESOLUTIONS = (96, 128, 160, 192, 224)
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(k|kb|kib|m|mb|mib)?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Target:
    """The SRAM and flash the model may use."""

    name: str
    sram: int
    flash: int
    about: str = ""

    @classmethod
    def create(cls, preset: str | None = None, sram: str | int | None = None,
               flash: str | int | None = None) -> Target:
        name = preset or DEFAULT_TARGET
        if name not in PRESETS:
            raise EdgeError(f"--mcu-target must be one of {', '.join(PRESETS)}, got {name!r}")
        base_sram, base_flash, about = PRESETS[name]
        if sram is not None or flash is not None:
            name = "custom" if preset is None else f"{name} (custom)"
            about = ""
        return cls(name, parse_size(sram, "--mcu-sram") if sram is not None else base_sram,
                   parse_size(flash, "--mcu-flash") if flash is not None else base_flash, about)


def parse_size(text: str | int, flag: str) -> int:
    """Bytes from ``300000``, ``320K``, ``2M`` or ``1.5MiB`` (K and M are binary: KiB, MiB)."""
    if isinstance(text, int):
        return text
    match = _SIZE.match(str(text))
    if not match or float(match.group(1)) <= 0:
        raise EdgeError(f"{flag}: expected a size like 320K, 2M or 300000, got {text!r}")
    unit = (match.group(2) or "").lower()[:1]
    return int(float(match.group(1)) * {"": 1, "k": KIB, "m": MIB}[unit])


def estimate_arena(spec: MobileNetSpec, input_type: str = "int8") -> int:
    """The arena from the layer table alone, as TFLM lays it out on x86-64: the head is the
    largest input + output of any op (the file's offline plan reaches exactly that), the tail
    TFLM's bookkeeping: 8 bytes per output channel (requantization multiplier and shift) and
    about 250 bytes per op (tensor and node structs, op data)."""
    peak = spec.footprint_int8()["peak_activation_bytes"]
    if input_type == "uint8":  # QUANTIZE holds the uint8 and the int8 image at once
        peak = max(peak, 2 * spec.resolution**2 * 3)
    ops = len(spec.layers) + 1  # the layers and the pool
    return int(peak + 8 * sum(layer.cout for layer in spec.layers) + 250 * ops + 512)


def estimate_flash(spec: MobileNetSpec) -> int:
    """Model bytes from the layer table: int8 weights, and per output channel an int32 bias
    plus the weight and bias scales (4 bytes each) and zero points (8 each: the schema's
    int64); about 300 bytes of tables per op, and the metadata."""
    ops = len(spec.layers) + 1
    return int(sum(layer.weight_count + 28 * layer.cout for layer in spec.layers)
               + 300 * ops + 4096)


def largest_fitting(spec: MobileNetSpec, target: Target, arena_ratio: float = 1.0,
                    flash_ratio: float = 1.0, input_type: str = "int8") -> list[str]:
    """For each alpha of the grid, the largest resolution whose estimate fits ``target``
    (estimates scaled by measured/estimated of the model at hand)."""
    found = []
    for alpha in ALPHAS:
        best = None
        for res in RESOLUTIONS:
            cand = MobileNetSpec.create(alpha, res, spec.classes, spec.padding)
            if (estimate_arena(cand, input_type) * arena_ratio <= target.sram
                    and estimate_flash(cand) * flash_ratio <= target.flash):
                best = res
        if best is not None:
            found.append(f"{alpha:g}-{best}")
    return found


def check_fit(spec: MobileNetSpec, target: Target, arena: int, flash: int, measured: bool,
              input_type: str = "int8") -> None:
    """Refuse a model that does not fit ``target``, saying why and what would fit."""
    problems = []
    how = "measured with TFLM" if measured else "estimated"
    if arena > target.sram:
        problems.append(f"tensor arena {arena:,} bytes ({how}) > {target.sram:,} bytes SRAM")
    if flash > target.flash:
        problems.append(f"model {flash:,} bytes > {target.flash:,} bytes flash")
    if not problems:
        return
    fits = largest_fitting(spec, target, arena / estimate_arena(spec, input_type),
                           flash / estimate_flash(spec), input_type)
    hint = (f"largest that would fit (estimated, alpha-resolution): {', '.join(fits)}"
            if fits else "no MobileNetV1 from 0.25-96 up fits")
    raise EdgeError(f"--mcu: MobileNetV1 {spec.alpha:g}-{spec.resolution} does not fit "
                    f"{target.name} ({'; '.join(problems)}); {hint}; choose a larger part "
                    "with --mcu-target/--mcu-sram/--mcu-flash")


def arena_note(measured: dict | None) -> str:
    if measured is None:
        return ("ESTIMATED from the layer table (tflite-micro was not installed to measure "
                "it); measure on the device before trusting it.")
    return ("measured with TFLM's interpreter (reference kernels, x86-64). A 32-bit build "
            "uses about 3 KB less, with the reference or the CMSIS-NN kernels (smaller "
            "pointers; checked on Cortex-M4/M7 under QEMU); other optimised kernels (esp-nn) "
            "may add scratch buffers: check arena_used_bytes() on the device.")


def logit_scale(model: onnx.ModelProto, path: Path,
                cases: list[tuple[str, np.ndarray]]) -> float | None:
    """For an int8 model whose logits are float: an int8 scale that holds every logit seen on
    the verification frames with a quarter to spare (None when the logits are quantized)."""
    out = model.graph.output[0].name
    if next(n for n in model.graph.node if out in n.output).op_type == "DequantizeLinear":
        return None
    if not cases:
        raise EdgeError("--mcu: the int8 model's logits are float; choosing their int8 scale "
                        "needs frames (--calibration or --verify)")
    from edge.engine import Engine

    engine = Engine(path, threads=1, warmup=False)
    peak = max(float(np.abs(engine.run(tensor)).max()) for _, tensor in cases)
    return 1.25 * peak / 127 if peak > 0 else 1.0


def export_int8_tflite(int8_path: Path, staging: Path, spec: MobileNetSpec, info: ModelInfo,
                       input_type: str, cases: list[tuple[str, np.ndarray]],
                       verify: bool = True) -> tuple[Export, dict, Path]:
    """Write ``<name>.tflite`` (full-integer int8, for LiteRT and TFLM) into ``staging``;
    return the export, its report section (verified in LiteRT on ``cases`` when ``verify``)
    and the path."""
    meta = {**json.loads(info.to_json()), "trained": info.trained}
    if info.labels is not None and info.labels == imagenet_labels(info.classes):
        # the runtime has ImageNet's names built in; an MCU's flash has better uses
        meta.update(labels=None, labels_builtin="imagenet")
    model = onnx.load(int8_path)
    export = export_tflite(model, input_type, description=_title(spec, info), metadata=meta,
                           logit_scale=logit_scale(model, int8_path, cases))
    path = staging / f"{info.name}.tflite"
    path.write_bytes(export.tflite)
    section = {"path": str(path), "bytes": len(export.tflite), "ops": export.ops,
               "input": export.input, "output": export.output,
               "requantized_weights": export.requantized, "notes": export.notes,
               "verification": (verify_tflite(export.tflite, int8_path, cases, input_type,
                                              export.output, None, with_tflm=False)
                                if verify and cases else None)}
    return export, section, path


def _title(spec: MobileNetSpec, info: ModelInfo) -> str:
    return f"MobileNetV1 {spec.alpha:g}-{spec.resolution} int8" + (
        "" if info.trained else " (UNTRAINED: random weights, predictions are meaningless)")


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
    files = c_files(export.tflite, _title(spec, info), int8_path.name, export.input,
                    export.output, export.ops, spec.classes, info.background, info.trained,
                    arena, arena_note(measured))
    for name, text in files.items():
        (bundle / name).write_text(text)
    report = {
        "target": {"name": target.name, "sram_bytes": target.sram, "flash_bytes": target.flash,
                   "about": target.about},
        "tflite": {k: tflite[k] for k in ("path", "bytes", "ops", "input", "output")},
        "bundle": {"path": str(bundle), "files": sorted(files)},
        "estimate": estimate,
        "measured": ({**measured, "by": "TFLM interpreter (tflite-micro), x86-64"}
                     if measured else None),
        "arena_bytes": arena, "arena_measured": measured is not None,
        "flash_bytes": len(export.tflite),
        "requantized_weights": export.requantized,
        "notes": export.notes,
        "compiled": compile_check(bundle),
        "verification": (verify_tflite(export.tflite, int8_path, cases, input_type,
                                       export.output, arena if measured else None)
                         if cases else None),
    }
    return report, [tflite_path, bundle]
