#!/usr/bin/env python3
"""docs/mcu.md's and docs/mcu-firmware.md's tables, regenerated: ``edge-convert --mcu`` on
each network of the table (and, with ``--firmware``, ``edge-bench --mcu --runs 12`` on the
bundled QAT models and MLPerf Tiny's visual wake words file), with the machine, the date and
the tool versions they were made with.

    python tools/mcu_figures.py [--firmware] [--tflm-sources DIR] [--vww FILE]
                                [--write docs/mcu.md docs/mcu-firmware.md]

Without ``--write`` the tables go to stdout; with it they replace the blocks between
``<!-- mcu_figures:NAME -->`` and ``<!-- /mcu_figures:NAME -->`` in those files. Which figures
depend on the CPU: only LiteRT's XNNPACK column (its int8 kernels differ between x86 CPUs, e.g.
with and without VNNI); every other check is integer arithmetic that gives the same answer on
any x86-64 machine, and the arena is TFLM's on x86-64 (64-bit pointers).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT / "data" / "photos"
MODELS = ROOT / "data" / "models"
VWW = ROOT.parent / "shared" / "data" / "vww" / "vww_96_int8.tflite"  # or --vww
BIN = Path(sys.executable).parent
QAT = "QAT file's own quantization (`keep`, the default for a quantized file)"
# (label, edge-convert arguments besides --calibration photos --mcu)
NETWORKS = [
    ("0.25-96, untrained (calibrated)", ["--alpha", "0.25", "--resolution", "96"]),
    (f"0.25-128, {QAT}", ["--weights", MODELS / "mobilenet_v1_0.25_128_quant.tflite"]),
    ("0.25-128, QAT weights recalibrated (`--quantization recalibrate`)",
     ["--weights", MODELS / "mobilenet_v1_0.25_128_quant.tflite", "--quantization",
      "recalibrate"]),
    ("0.5-96, untrained (calibrated)", ["--alpha", "0.5", "--resolution", "96"]),
    ("0.5-128, untrained (calibrated)", ["--alpha", "0.5", "--resolution", "128"]),
    (f"0.5-160, {QAT}", ["--weights", MODELS / "mobilenet_v1_0.5_160_quant.tflite"]),
]


def run(cmd: list, timeout: float = 1800) -> str:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode not in (0, 1):  # edge-bench: 1 when a pair is not bit-identical
        sys.exit(f"{' '.join(map(str, cmd))} failed:\n{proc.stderr[-2000:]}")
    return proc.stdout


def machine() -> str:
    """CPU, cores, VNNI, date, tool versions: the line every table carries."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    flags = set((re.search(r"^flags\s*:\s*(.+)$", cpuinfo, re.MULTILINE) or
                 re.match("()", "")).group(1).split())
    vnni = ("AVX-512 VNNI" if "avx512_vnni" in flags else "AVX-VNNI" if "avx_vnni" in flags
            else "no VNNI (AVX2)" if "avx2" in flags else "no AVX2")
    versions = []
    for package in ("tflite-micro", "ai-edge-litert", "onnxruntime"):
        try:
            versions.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            versions.append(f"no {package}")
    gxx = subprocess.run(["arm-none-eabi-g++", "-dumpversion"], capture_output=True,
                         text=True).stdout.strip() if _has("arm-none-eabi-g++") else "none"
    return (f"{datetime.date.today().isoformat()}, {model.group(1) if model else 'unknown CPU'}"
            f" ({os.cpu_count()} cores, {vnni}), {', '.join(versions)}, arm-none-eabi-g++ "
            f"{gxx}")


def _has(tool: str) -> bool:
    return any((Path(d) / tool).is_file() for d in os.environ.get("PATH", "").split(":"))


def _check(ver: dict | None, name: str) -> str:
    if not ver:
        return "not run"
    res = ver.get("runtimes", {}).get(name) if name != "xnnpack" else ver.get("litert_xnnpack")
    if res is None:
        return "not run"
    return f"{res['top1_agree']}/{res['cases']}, {res['max_steps']} steps"


def convert_table(out: Path) -> tuple[str, dict[str, Path]]:
    """The converter's table, and the bundles written (label -> folder)."""
    rows, bundles = [], {}
    for i, (label, args) in enumerate(NETWORKS):
        report = json.loads(run([BIN / "edge-convert", *args, "--calibration", PHOTOS, "--mcu",
                                 "--output", out / str(i), "--json"]))
        mcu = report["mcu"]
        compiled = mcu.get("compiled") or {"cpus": {}}
        rodata = sorted({c["rodata_bytes"] for c in compiled["cpus"].values()})
        arena = f"{mcu['arena_bytes']:,}" if mcu["arena_measured"] else "not measured"
        ver = mcu.get("verification")
        rows.append([label, f"{mcu['tflite']['input']['scale']:g}", arena,
                     f"{mcu['estimate']['arena_bytes']:,}",
                     f"{mcu['estimate']['peak_activation_bytes']:,}", f"{mcu['flash_bytes']:,}",
                     " / ".join(f"{r:,}" for r in rodata) or "not compiled",
                     _check(ver, "tflm"), _check(ver, "litert"), _check(ver, "xnnpack")])
        bundles[label] = Path(mcu["bundle"]["path"])
    head = ["network, int8 weights", "input scale", "arena, measured (x86-64)",
            "arena, estimate", "peak activations", "model (flash)", "`.rodata`, M4 and M7",
            "TFLM vs ONNX int8: top-1, max steps", "LiteRT reference kernels vs ONNX int8",
            "LiteRT XNNPACK, this CPU (not judged)"]
    return _table(head, rows), bundles


def _table(head: list[str], rows: list[list[str]], right: int = 1) -> str:
    """A markdown table; numbers right-aligned from column ``right`` on."""
    lines = ["| " + " | ".join(head) + " |",
             "|" + " --- |" * right + " ---: |" * (len(head) - right)]
    return "\n".join([*lines, *("| " + " | ".join(row) + " |" for row in rows)])


def _vww_bundle(out: Path, vww: Path) -> Path | None:
    if not vww.is_file():
        print(f"no {vww}: the firmware table has no VWW rows", file=sys.stderr)
        return None
    labels = out / "vww_labels.txt"
    labels.write_text("no person\nperson\n")
    report = json.loads(run([BIN / "edge-convert", "--weights", vww, "--labels", labels,
                             "--calibration", PHOTOS, "--mcu", "--output", out / "vww",
                             "--json"]))
    return Path(report["mcu"]["bundle"]["path"])


def firmware_table(bundles: dict[str, Path], sources: Path, out: Path) -> str:
    """edge-bench --mcu --runs 12 on every CPU and kernel set, one row each."""
    head = ["bundle", "CPU (board)", "kernels", "instructions / inference", "instr / MAC",
            "arena used", "flash", "RAM"]
    rows, pairs, identical = [], 0, 0
    for i, (label, folder) in enumerate(bundles.items()):
        run([BIN / "edge-bench", "--mcu", folder, "--tflm-sources", sources, "--runs", "12",
             "--json", out / f"bench-{i}.json"], timeout=7200)
        report = json.loads((out / f"bench-{i}.json").read_text())
        header = (folder / "model_data.h").read_text()
        macs = _macs(folder)
        arena = int(re.search(r"kTensorArenaSize = (\d+);", header).group(1))
        shown = ""
        for j, r in enumerate(report["runs"]):
            lo, hi = r["instructions_min"], r["instructions_max"]
            count = (f"{lo:,}" if lo == hi else f"{lo:,}-{str(hi)[-3:]}" if hi - lo < 1000
                     else f"{lo / 1e6:.2f}-{hi / 1e6:.2f} M")
            used = f"{r['arena_used_bytes']:,}"
            if not r["fits_bundle_arena"]:
                used += f" (needs {r['arena_reserved_bytes']:,})"
            pairs += 1
            identical += bool(r["bit_identical"])
            kernels = r["kernels"] if r["kernels"] == "reference" else "CMSIS-NN ({})".format(
                "Helium" if "ARM_MATH_MVEI" in r["cmsis_nn_paths"] else "DSP")
            cpu = f"{r['cpu'].replace('cortex-', '').upper()} ({r['board']})"
            rows.append([f"{label} ({macs / 1e6:.1f} M MACs; arena {arena:,})" if j == 0 else "",
                         "" if cpu == shown else cpu,
                         kernels + ("" if r["bit_identical"] else " **not bit-identical**"),
                         count, f"{(lo + hi) / 2 / macs:.2f}", used, f"{r['flash_bytes']:,}",
                         f"{r['ram_bytes']:,}"])
            shown = cpu
    note = (f"Bit-identical with TFLM's x86-64 interpreter on all 12 photos: {identical} of "
            f"{pairs} pairs.")
    return note + "\n\n" + _table(head, rows, right=3)


def _macs(folder: Path) -> int:
    report = json.loads((folder.parent / "report.json").read_text())
    return int(report["macs"])


def replace_blocks(docs: list[Path], blocks: dict[str, str]) -> None:
    """Put each block between its markers, in whichever of ``docs`` has them."""
    texts = {doc: doc.read_text() for doc in docs}
    for name, body in blocks.items():
        pattern = re.compile(rf"(<!-- mcu_figures:{name} -->\n).*?(<!-- /mcu_figures:{name} -->)",
                             re.DOTALL)
        found = [doc for doc, text in texts.items() if pattern.search(text)]
        if not found:
            sys.exit(f"no <!-- mcu_figures:{name} --> block in {', '.join(map(str, docs))}")
        for doc in found:
            texts[doc] = pattern.sub(lambda m, b=body: m.group(1) + b + "\n" + m.group(2),
                                     texts[doc])
    for doc, text in texts.items():
        tmp = doc.with_name(doc.name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, doc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--firmware", action="store_true",
                        help="also build and run the firmware (edge-bench --mcu, minutes)")
    parser.add_argument("--tflm-sources", type=Path,
                        default=os.environ.get("EDGE_TFLM_SOURCES") or ROOT.parent / "shared"
                        / "tflm")
    parser.add_argument("--vww", type=Path, default=VWW,
                        help="MLPerf Tiny's visual wake words int8 .tflite (firmware rows)")
    parser.add_argument("--write", type=Path, nargs="+", metavar="DOC",
                        help="replace the tables in these files (docs/mcu.md, "
                        "docs/mcu-firmware.md)")
    args = parser.parse_args()
    when = machine()
    print(f"machine: {when}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="mcu-figures-") as tmp:
        table, bundles = convert_table(Path(tmp))
        blocks = {"convert": f"_{when}._\n\n{table}"}
        if args.firmware:
            chosen = {"VWW 0.25-96, 2 classes": _vww_bundle(Path(tmp), args.vww),
                      "0.25-128, 1001 classes": bundles[NETWORKS[1][0]],
                      "0.5-160, 1001 classes": bundles[NETWORKS[5][0]]}
            chosen = {k: v for k, v in chosen.items() if v is not None}
            blocks["firmware"] = (f"_{when}; QEMU {_qemu()}._\n\n"
                                  f"{firmware_table(chosen, args.tflm_sources, Path(tmp))}")
    for name, body in blocks.items():
        print(f"<!-- {name} -->\n{body}\n")
    if args.write:
        replace_blocks(args.write, blocks)
    return 0


def _qemu() -> str:
    out = run(["qemu-system-arm", "--version"]) if _has("qemu-system-arm") else ""
    match = re.search(r"version (\S+)", out)
    return match.group(1) if match else "unknown"


if __name__ == "__main__":
    sys.exit(main())
