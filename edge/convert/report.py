"""The conversion report: one dict for report.json, one table for people."""

from __future__ import annotations

import platform
from pathlib import Path

import onnxruntime

from edge import __version__
from edge.convert.spec import MobileNetSpec
from edge.model import ModelInfo

SRAM_BYTES = 256 * 1024
FLASH_BYTES = 1024 * 1024


def build_report(spec: MobileNetSpec, info: ModelInfo, fp32: Path, int8: Path | None,
                 calibration: dict | None, verification: dict | None, opts,
                 timings: dict, quantization: dict | None = None) -> dict:
    """Everything a user needs to trust (or distrust) the converted models."""
    foot = spec.footprint_int8()
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
        warnings.append("LiteRT is not installed (pip install 'edge[litert]'): the kept int8 "
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
            "sram_budget_bytes": SRAM_BYTES, "flash_budget_bytes": FLASH_BYTES,
            "fits_sram": foot["peak_activation_bytes"] <= SRAM_BYTES,
            "fits_flash": foot["weight_bytes"] <= FLASH_BYTES,
        },
        "quantization": quantization,
        "calibration": calibration,
        "verification": verification,
        "warnings": warnings,
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
    lines.append(
        f"MCU (int8)  weights {foot['weight_bytes'] / 1024:,.0f} KiB "
        f"({'fits' if foot['fits_flash'] else 'does NOT fit'} 1 MB flash), "
        f"peak activations {foot['peak_activation_bytes'] / 1024:,.0f} KiB "
        f"({'fits' if foot['fits_sram'] else 'does NOT fit'} 256 KB SRAM)")
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
            f"({100 * r['top1_agreement']:.1f}%), top-5 overlap {100 * r['top5_overlap']:.1f}%, "
            f"logit cosine mean {r['cosine_mean']:.4f} min {r['cosine_min']:.4f} "
            f"({'held-out' if ver['held_out'] else 'calibration'} frames)")
    ref = ver.get("reference") if ver else None
    if ref:
        lines.append(
            f"int8 vs file {ref['top1_agree']}/{ref['cases']} top-1 agree with {ref['runtime']} "
            f"on {ref['file']}, probabilities within {256 * ref['max_prob_diff']:.2f}/256")
    for w in report["warnings"]:
        lines.append(f"WARNING: {w}")
    return "\n".join(lines)
