"""One conversion, step by step: spec (layer table) -> weights (import or random) -> fp32
ONNX -> int8 (kept or calibrated) -> .tflite / MCU bundle -> verification -> report.json,
staged in a hidden folder and moved into place only when everything succeeded.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import onnx

from edge import __version__
from edge.convert.checkpoints.download import load_weights
from edge.convert.graph import build_model
from edge.convert.int8_step import build_int8, quantization_mode
from edge.convert.output import check_output, publish, staged
from edge.convert.report import build_report
from edge.convert.settings import BY_NAME
from edge.convert.spec import MIN_RESOLUTION, MobileNetSpec
from edge.convert.weights import TF_NORMALISATION, Weights, random_weights
from edge.errors import EdgeError
from edge.fileio import read_bounded, write_bytes_atomic
from edge.labels import imagenet_labels
from edge.machine import available_memory
from edge.model import ModelInfo, read_model_info


@dataclass(frozen=True)
class ConvertOptions:
    """What edge-convert was asked to do (flags left as None were not given). The names,
    defaults and bounds are edge-convert's settings table (edge/convert/settings.py); values out
    of its bounds are refused here, for callers in Python as for the command line."""

    output: Path
    weights: str | None = None
    sha256: str | None = None
    alpha: float | None = None
    resolution: int | None = None
    classes: int | None = None
    labels: Path | None = None
    input_range: str | None = None  # "-1..1" | "0..1"; None: the file's (TF-slim's -1..1)
    calibration: Path | None = None
    calibration_samples: int = 100
    calibration_method: str | None = None  # None: the default method (quantize.py)
    quantization: str | None = None  # keep | recalibrate; None: keep for quantised files
    verify: Path | None = None
    verify_samples: int = 200
    seed: int = 0
    # --mcu: the int8 .tflite + C bundle for TFLM, checked against a part's SRAM and flash
    tflite: bool = True  # the int8 model as a full-integer .tflite too (LiteRT, TFLM)
    mcu: bool = False
    mcu_input: str = "int8"
    mcu_target: str | None = None
    mcu_sram: str | None = None
    mcu_flash: str | None = None

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            if name in BY_NAME:
                BY_NAME[name].validated(getattr(self, name))


MAX_ALPHA, MAX_RESOLUTION, MAX_CLASSES = 4.0, 2048, 100_000
MCU_NEEDS_INT8 = ("--mcu exports the int8 model: give --calibration frames (a quantized "
                  "checkpoint keeps its own quantization without)")


def check_bounds(alpha: float | None, resolution: int | None, classes: int | None) -> None:
    """Refuse sizes out of bounds before anything is allocated, saying what they would cost
    (a 1000-wide MobileNetV1 asks numpy for 15 GiB, a 100000-pixel input OpenCV for 30 GB)."""
    checks = (("--alpha", alpha, 0, MAX_ALPHA, "> 0 and <= 4"),
              ("--resolution", resolution, MIN_RESOLUTION, MAX_RESOLUTION,
               f">= {MIN_RESOLUTION} and <= {MAX_RESOLUTION}"),
              ("--classes", classes, 1, MAX_CLASSES, f">= 1 and <= {MAX_CLASSES:,}"))
    for flag, value, low, high, allowed in checks:
        if value is None:
            continue
        if not math.isfinite(value) or value > high or value < low or \
                (flag == "--alpha" and value <= 0):
            cost = ""
            if math.isfinite(value) and value > high:
                spec = MobileNetSpec.create(alpha or 1.0, resolution or 224, classes or 1001)
                foot = spec.footprint_int8()
                cost = (f": {spec.params / 1e6:,.0f} M parameters ({_size(4 * spec.params)} as "
                        f"fp32), {_size(4 * foot['peak_activation_bytes'])} of activations "
                        "per frame")
            shown = f"{value:g}" if isinstance(value, float) else str(value)
            raise EdgeError(f"{flag} {shown} is out of bounds ({allowed}){cost}")


def check_memory(spec: MobileNetSpec, available: int | None = None) -> None:
    """Refuse, before building anything, a network whose conversion would not fit in this
    machine's available memory: about 16 bytes a parameter (fp32 weights in numpy, in the
    graph, in two sessions) and 16 a byte of int8 peak activations (float, in and out, in the
    fp32 and int8 sessions)."""
    available = available if available is not None else available_memory()
    need = 16 * spec.params + 16 * spec.footprint_int8()["peak_activation_bytes"]
    if available is not None and need > available:
        raise EdgeError(f"MobileNetV1 {spec.alpha:g}-{spec.resolution} needs about "
                        f"{_size(need)} of memory to convert; this machine has {_size(available)} "
                        "available: choose a smaller --alpha or --resolution")


def _size(n: int) -> str:
    return f"{n / 2**30:,.1f} GiB" if n >= 2**30 else f"{n / 2**20:,.0f} MiB"


def _validate(opts: ConvertOptions) -> None:
    """Cheap checks before any expensive work starts."""
    check_bounds(opts.alpha, opts.resolution, opts.classes)
    for flag, path in (("--calibration", opts.calibration), ("--verify", opts.verify),
                       ("--labels", opts.labels)):
        if path is not None and not Path(path).exists():
            raise EdgeError(f"{path}: {flag} path not found")
    if opts.mcu:  # imported here: the flatbuffer schema is a large package, only --mcu needs it
        from edge.convert.mcu.targets import Target

        if opts.calibration is None and opts.weights is None:
            raise EdgeError(MCU_NEEDS_INT8)
        Target.create(opts.mcu_target, opts.mcu_sram, opts.mcu_flash)
    check_output(Path(opts.output))


def resolve_spec(weights: Weights | None, opts: ConvertOptions) -> MobileNetSpec:
    """Architecture from the weights file, checked against the flags; flags alone otherwise."""
    if weights is None:
        return MobileNetSpec.create(opts.alpha or 1.0, opts.resolution or 224,
                                    opts.classes or 1001, "tf")
    origin = opts.weights
    if opts.alpha is not None and abs(opts.alpha - weights.alpha) > 1e-6:
        raise EdgeError(f"{origin}: weights are alpha {weights.alpha:g} ({weights.channels[-1]} "
                        f"channels in the last block), but --alpha {opts.alpha:g} was given")
    if opts.classes is not None and opts.classes != weights.classes:
        raise EdgeError(f"{origin}: weights have {weights.classes} classes, but --classes "
                        f"{opts.classes} was given")
    resolution = weights.resolution or opts.resolution or 224
    if opts.resolution is not None and weights.resolution and opts.resolution != resolution:
        raise EdgeError(f"{origin}: the file is built for resolution {weights.resolution}, but "
                        f"--resolution {opts.resolution} was given")
    return MobileNetSpec(weights.alpha, resolution, weights.classes, weights.channels,
                         weights.padding)


def read_labels(path: Path | None, classes: int, background: bool) -> list[str] | None:
    """One label per line; a 1001-line file (``background`` first) fits 1000-class heads too."""
    if path is None:
        return None
    try:
        text = read_bounded(path, "labels", "--labels").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EdgeError(f"{path}: cannot read labels ({exc})") from exc
    labels = [line.strip() for line in text.splitlines() if line.strip()]
    if len(labels) == classes + 1 and not background and labels[0].lower() == "background":
        labels = labels[1:]
    if len(labels) != classes:
        raise EdgeError(f"{path}: {len(labels)} labels, the model has {classes} classes")
    return labels


# what the network was trained to read: TF-slim's (x - 127.5) / 127.5, or x / 255 (MLPerf
# Tiny's person model, Keras' rescaling); a quantised input says it itself
INPUT_RANGES = {"-1..1": TF_NORMALISATION,
                "0..1": {"mean": [0.0, 0.0, 0.0], "std": [255.0, 255.0, 255.0]}}


def convert(opts: ConvertOptions, log=print) -> dict:
    """Run the whole conversion; returns the report (also written as report.json)."""
    _validate(opts)
    t0 = time.perf_counter()
    weights = load_weights(opts.weights, opts.sha256) if opts.weights else None
    spec = resolve_spec(weights, opts)
    check_memory(spec)
    if weights is None:
        weights = random_weights(spec, opts.seed)
    if opts.input_range is not None:
        weights.normalisation = dict(INPUT_RANGES[opts.input_range])
    mode = quantization_mode(opts, weights)  # a --quantization the weights contradict fails
    if opts.mcu and mode is None:
        raise EdgeError(MCU_NEEDS_INT8)
    labels = read_labels(opts.labels, spec.classes, weights.background)
    if labels is None and weights.source.get("trained"):
        # every MobileNetV1 checkpoint we import is an ImageNet classifier
        labels = imagenet_labels(spec.classes)
    info = ModelInfo(
        arch="mobilenet_v1", alpha=spec.alpha, resolution=spec.resolution, classes=spec.classes,
        background=weights.background, channel_order="RGB", precision="fp32",
        weights=dict(weights.source), labels=labels, macs=spec.macs, params=spec.params,
        padding=spec.padding, normalisation=dict(weights.normalisation or TF_NORMALISATION),
        producer=f"edge {__version__}",
    )
    if not info.trained:
        log("WARNING: no --weights given: random initialisation, the model is UNTRAINED")
    fp32 = build_model(spec, weights, info)
    timings = {"build_s": time.perf_counter() - t0}

    out = Path(opts.output)
    with staged(out) as staging:
        fp32_path = staging / f"{info.name}.onnx"
        onnx.save(fp32, fp32_path)
        int8 = build_int8(opts, mode, spec, info, weights, fp32, fp32_path, staging, timings)
        int8_path, calibration, verification = int8.path, int8.calibration, int8.verification
        mcu = tflite = None
        outputs: list[Path] = []
        if int8_path is not None and (opts.mcu or opts.tflite):
            # imported here: the flatbuffer schema is a large package, only int8 needs it
            from edge.convert.mcu.export import export_mcu
            from edge.convert.mcu.targets import Target
            from edge.convert.tflite.litert import export_int8_tflite

            t3 = time.perf_counter()
            int8_info = read_model_info(int8_path)
            if opts.mcu:
                mcu, outputs = export_mcu(
                    int8_path, staging, spec, int8_info, Target.create(
                        opts.mcu_target, opts.mcu_sram, opts.mcu_flash), opts.mcu_input,
                    int8.cases)
            else:
                _, tflite, path = export_int8_tflite(int8_path, staging, spec, int8_info,
                                                     "int8", int8.cases)
                outputs = [path]
            timings["tflite_s"] = time.perf_counter() - t3
        timings["total_s"] = time.perf_counter() - t0
        report = build_report(spec, info, fp32_path, int8_path, calibration, verification,
                              opts, timings, int8.quantization, mcu, tflite)
        for entry in (*report["files"].values(), *(
                (mcu["tflite"], mcu["bundle"]) if mcu else ()), *((tflite,) if tflite else ())):
            entry["path"] = str(out / Path(entry["path"]).name)
        write_bytes_atomic(staging / "report.json",
                           (json.dumps(report, indent=2) + "\n").encode())
        names = [p.name for p in (fp32_path, int8_path, *outputs) if p is not None]
        removed = publish(staging, out, [*names, "report.json"])
        if removed:
            log(f"note: removed the previous conversion's {', '.join(removed)} from {out} "
                "(one network per folder)")
        return report
