"""Microcontroller parts and what fits them: SRAM and flash presets, sizes like ``320K``,
the arena and flash a MobileNetV1 needs (estimated from the layer table), and the refusal of
a model that does not fit, naming the largest that would."""

from __future__ import annotations

import re
from dataclasses import dataclass

from edge.convert.spec import MobileNetSpec
from edge.errors import EdgeError

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
