"""The conversion report: one dict for report.json, one table for people."""

from __future__ import annotations

import platform
from pathlib import Path

import onnxruntime

from edge import __version__
from edge.convert.mcu.targets import Target
from edge.convert.spec import MobileNetSpec
from edge.errors import install_hint
from edge.model import ModelInfo

NEAR_TIE_STEPS = 2  # a top-1 swap where ONNX's own margin is this small is a near tie


def build_report(spec: MobileNetSpec, info: ModelInfo, fp32: Path, int8: Path | None,
                 calibration: dict | None, verification: dict | None, opts,
                 timings: dict, quantization: dict | None = None,
                 mcu: dict | None = None, tflite: dict | None = None) -> dict:
    """Everything a user needs to trust (or distrust) the converted models."""
    foot = spec.footprint_int8()
    part = Target.create()  # the part --mcu assumes unless told otherwise
    files = {"fp32": {"path": str(fp32), "bytes": fp32.stat().st_size}}
    if int8 is not None:
        files["int8"] = {"path": str(int8), "bytes": int8.stat().st_size}
    warnings = []
    if not info.trained:
        warnings.append("UNTRAINED: random initialisation; predictions are meaningless")
    if int8 is None:
        warnings.append("no --calibration given: no int8 model was built")
    elif verification is None:
        warnings.append("int8 not verified: give --verify DIR_OR_VIDEO (or --calibration) to "
                        "compare it with the file's own answers and with fp32")
    elif "reference" in verification and verification["reference"] is None:
        warnings.append(f"LiteRT is not installed ({install_hint('litert')}): the kept int8 "
                        "was compared with fp32 only, not with the file's own answers")
    if verification and not verification["held_out"]:
        warnings.append("verification reused the calibration frames (no held-out frames): "
                        "agreement is optimistic")
    if calibration and calibration["skipped"]:
        warnings.append(f"{len(calibration['skipped'])} unreadable calibration files skipped")
    return {
        "edge_version": __version__,
        "model": {"arch": info.arch, "alpha": spec.alpha, "resolution": spec.resolution,
                  "classes": spec.classes, "background_class": info.background,
                  "channels": list(spec.channels), "padding": spec.padding,
                  "weights": info.weights, "trained": info.trained,
                  "labels": (Path(opts.labels).name if opts.labels else
                             "ImageNet (built in)" if info.labels else None)},
        "macs": spec.macs,
        "params": spec.params,
        "files": files,
        "footprint_int8": {
            **foot,
            "target": part.name,
            "sram_budget_bytes": part.sram, "flash_budget_bytes": part.flash,
            "fits_sram": foot["peak_activation_bytes"] <= part.sram,
            "fits_flash": foot["weight_bytes"] <= part.flash,
        },
        "quantization": quantization,
        "calibration": calibration,
        "verification": verification,
        "tflite": tflite,
        "mcu": mcu,
        "warnings": warnings + mcu_warnings(mcu) + mcu_warnings(tflite, "int8 .tflite"),
        "notes": mcu_notes(mcu) + mcu_notes(tflite, "int8 .tflite"),
        "timings": {k: round(v, 3) for k, v in timings.items()},
        "environment": {"python": platform.python_version(), "machine": platform.machine(),
                        "onnxruntime": onnxruntime.__version__},
    }


def format_report(report: dict) -> str:
    """The printed summary table."""
    m = report["model"]
    lines = [
        f"MobileNetV1 {m['alpha']:g}-{m['resolution']}  {m['classes']} classes"
        f"{' (0 = background)' if m['background_class'] else ''}  padding {m['padding']}",
        f"weights     {m['weights'].get('kind')}: {m['weights'].get('file') or '-'}"
        f"{'  TRAINED' if m['trained'] else '  UNTRAINED (random)'}",
        f"labels      {m['labels'] or 'none: results say class N (--labels FILE)'}",
        f"MACs        {report['macs'] / 1e6:,.1f} M",
        f"parameters  {report['params'] / 1e6:,.3f} M",
    ]
    for name, f in report["files"].items():
        lines.append(f"{name:<12}{f['bytes'] / 1024:,.0f} KiB  {f['path']}")
    foot = report["footprint_int8"]
    if report.get("tflite"):
        lines += format_tflite(report["tflite"], report["tflite"].get("verification"))
    if report.get("mcu"):
        lines += format_mcu(report["mcu"])
    else:
        fits = foot["fits_flash"] and foot["fits_sram"]
        lines.append(
            f"MCU (int8)  for microcontrollers only (--mcu builds it): weights "
            f"{foot['weight_bytes'] / 1024:,.0f} KiB, activations "
            f"{foot['peak_activation_bytes'] / 1024:,.0f} KiB: "
            f"{'would fit' if fits else 'too big for'} a {foot['target']} part "
            f"({_size(foot['sram_budget_bytes'])} SRAM, {_size(foot['flash_budget_bytes'])} "
            "flash)")
    quant = report.get("quantization")
    if quant:
        how = ("the file's own (no calibration): " + quant["weights"] + " weights"
               if quant["mode"] == "keep" else f"{quant['method']} post-training calibration")
        lines.append(f"int8        --quantization {quant['mode']}: {how}")
    cal = report.get("calibration")
    if cal:
        skipped = f" ({len(cal['skipped'])} unreadable skipped)" if cal["skipped"] else ""
        lines.append(f"calibration {cal['method']} on {cal['frames']} frames x "
                     f"{len(cal['crops'])} crops from {cal['source']}{skipped}")
    ver = report.get("verification")
    if ver and ver.get("result"):
        r = ver["result"]
        lines.append(
            f"int8 vs fp32 {r['top1_agree']}/{r['cases']} top-1 agree "
            f"({100 * r['top1_agreement']:.1f}%), "
            + (f"top-5 overlap {100 * r['top5_overlap']:.1f}%, "
               if r["top5_overlap"] is not None else "")
            + f"logit cosine mean {r['cosine_mean']:.4f} min {r['cosine_min']:.4f} "
            f"({'held-out' if ver['held_out'] else 'calibration'} frames)")
    ref = ver.get("reference") if ver else None
    if ref:
        lines.append(
            f"int8 vs file {ref['top1_agree']}/{ref['cases']} top-1 agree with {ref['runtime']} "
            f"on {ref['file']}, probabilities within {256 * ref['max_prob_diff']:.2f}/256")
    for note in report.get("notes", []):
        lines.append(f"note: {note}")
    for w in report["warnings"]:
        lines.append(f"WARNING: {w}")
    return "\n".join(lines)


def _size(n: int) -> str:
    """512 KiB, 2 MiB, or the bytes."""
    for unit, factor in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n % factor == 0:
            return f"{n // factor} {unit}"
    return f"{n:,} B"


def mcu_warnings(mcu: dict | None, what: str = "--mcu") -> list[str]:
    """What the .tflite export (``--mcu`` or the plain int8 .tflite) had to change or could
    not check."""
    if not mcu:
        return []
    out = []
    if "arena_measured" in mcu and not mcu["arena_measured"]:
        out.append(f"{what}: tflite-micro is not installed: the arena is the ESTIMATE")
    ver = mcu.get("verification") or {}
    for missing in ver.get("unavailable", []):
        out.append(f"{what}: not verified in {missing}")
    for name, r in ver.get("runtimes", {}).items():
        for d in r["disagreements"]:
            if d["onnx_margin_steps"] <= NEAR_TIE_STEPS:
                continue  # a near tie: mcu_notes says it
            out.append(f"{what}: {name} top-1 {d['top1']} != ONNX int8 {d['onnx_top1']} on "
                       f"{d['case']} (ONNX's own margin {d['onnx_margin_steps']} steps)")
    if ver and ver.get("litert_all_ops_delegated") is False:
        out.append(f"{what}: LiteRT did not delegate every op to XNNPACK")
    if "compiled" in mcu and mcu["compiled"] is None:
        out.append(f"{what}: arm-none-eabi-g++ not found: the C bundle was not compiled")
    return out


def format_mcu(mcu: dict) -> list[str]:
    """Estimate and measurement side by side, the target, and the verification."""
    est, t = mcu["estimate"], mcu["target"]
    arena_how = "measured (TFLM)" if mcu["arena_measured"] else "ESTIMATED, not measured"
    lines = [
        f"MCU target  {t['name']}: {_size(t['sram_bytes'])} SRAM, {_size(t['flash_bytes'])} "
        "flash",
        f"  arena     {arena_how} {mcu['arena_bytes']:,} B | estimate "
        f"{est['arena_bytes']:,} B (peak activations {est['peak_activation_bytes']:,} B)",
        f"  flash     model array {mcu['flash_bytes']:,} B | estimate {est['flash_bytes']:,} B "
        f"(weights + biases {est['weight_bytes']:,} B)",
    ]
    compiled = mcu.get("compiled")
    if compiled:
        rodata = ", ".join(f"{cpu} {c['rodata_bytes']:,} B" for cpu, c in compiled["cpus"].items())
        lines.append(f"  .rodata   {rodata} ({compiled['compiler']})")
    lines += format_tflite(mcu["tflite"], None)
    lines.append(f"C bundle    {mcu['bundle']['path']}/  ({', '.join(mcu['bundle']['files'])})")
    return lines + _verification_lines(mcu.get("verification"))


def format_tflite(tfl: dict, ver: dict | None) -> list[str]:
    """The int8 .tflite's line, and its verification when it has its own."""
    return [f"tflite      {tfl['bytes'] / 1024:,.0f} KiB  {tfl['path']}  "
            f"({', '.join(tfl['ops'])}; input {tfl['input']['dtype']})",
            *_verification_lines(ver)]


def _verification_lines(ver: dict | None) -> list[str]:
    lines = []
    for name, r in (ver or {}).get("runtimes", {}).items():
        extra = ""
        if name == "litert":
            extra = " (reference kernels)"
        elif name == "tflm":
            extra = f", arena {ver['tflm_arena_bytes']:,} bytes"
        lines.append(f"  {name:<9} {r['top1_agree']}/{r['cases']} top-1 as ONNX int8, logits "
                     f"within {r['max_steps']} steps{extra}")
    if (fast := (ver or {}).get("litert_xnnpack")) is not None:
        delegated = "every op on XNNPACK" if ver.get("litert_all_ops_delegated") else \
            "NOT every op on XNNPACK"
        lines.append(f"  xnnpack   {fast['top1_agree']}/{fast['cases']} top-1, within "
                     f"{fast['max_steps']} steps on this CPU ({delegated}; its kernels differ "
                     "between CPUs: reported, not judged)")
    return lines


def mcu_notes(mcu: dict | None, what: str = "--mcu") -> list[str]:
    """What the export did that a user may want to know but need not act on: channels
    re-quantized for TFLite (verified like the rest), top-1 swaps on near ties."""
    if not mcu:
        return []
    out = []
    if layers := mcu["requantized_weights"]:
        shown = ", ".join(layers[:3]) + (f" and {len(layers) - 3} more layers (report.json)"
                                         if len(layers) > 3 else "")
        out.append(f"{what}: the file's weights are not int8 symmetric per channel; the "
                   "channels whose integers do not fit [-127, 127] were re-quantized for "
                   f"TFLite (zero point 0) and verified with the rest: {shown}")
    for name, r in (mcu.get("verification") or {}).get("runtimes", {}).items():
        ties = [d["case"] for d in r["disagreements"]
                if d["onnx_margin_steps"] <= NEAR_TIE_STEPS]
        if ties:
            out.append(f"{what}: {name} swaps top-1 on {len(ties)} near tie(s) (ONNX int8's "
                       f"own margin at most {NEAR_TIE_STEPS} steps): {', '.join(ties[:3])}")
    return out
