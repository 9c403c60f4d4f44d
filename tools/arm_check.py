#!/usr/bin/env python3
"""Prove the Raspberry Pi's software path without a Pi: edge's models and edge-run itself under
emulated Cortex-A53 (Pi 3 / Zero 2 W), Cortex-A72 (Pi 4) and Cortex-A76 (Pi 5, dot product),
plus what 32-bit Raspberry Pi OS (armhf) can run.

Everything comes from registries into a work folder (tools/arm_setup.py): Debian's arm64/armhf
python3.11 (apt, ``dpkg -x``) and PyPI's wheels at this machine's versions. Each emulated run
is ``qemu-*-static -cpu X`` in ``unshare -m`` with the board's /proc/cpuinfo bind-mounted.

1. Models (tools/arm_runner.py on the photos x 2 crops, one thread): every fp32/int8 ONNX on
   onnxruntime and every int8 .tflite on LiteRT (XNNPACK), against each model's exact
   arithmetic: the ONNX with graph optimisation off (QDQ as DequantizeLinear -> float op ->
   QuantizeLinear) and the .tflite on LiteRT's reference kernels (portable integer C++; run on
   each emulated CPU too, and required bit-identical to x86's). int8 passes with logits within
   3 (onnxruntime) or 4 (XNNPACK: fp32 requantization against the reference's fixed point)
   output steps and the same top-1, except near-ties: where the exact runner-up is within 2
   steps, the engine's top-1 must be one of the classes within 2 steps of the exact maximum.
   fp32 passes within 1e-4 with the same top-1.
2. ``edge-run --model DIR --replay data/photos --json`` as a whole process (choice.py picks the
   build), and the same with the .tflite (the LiteRT engine): exit 0, the JSON summary, and
   per-photo top-1 (--results) equal to the same command's on x86, except near-ties (x86's
   own runner-up within 2 output steps): OpenCV's bilinear resize rounds differently on ARM
   (pixels +-1), which can flip a photo whose two best classes are a step apart.
3. armv7l: which wheels PyPI has for 32-bit Pi OS, and the .tflite models on the one runtime
   that has them (tflite-runtime, with Debian's armhf numpy) under qemu-arm -cpu cortex-a7.
No times are reported: emulation says nothing about a Pi's speed. Needs root and
qemu-user-static.

    sudo python tools/arm_check.py [--work DIR] [--cpus pi3,pi4,pi5] [--photos N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import arm_setup as setup  # noqa: E402
from arm_verdict import Row, compare_runs, edge_run_row, print_rows  # noqa: E402

DATA = ROOT / "data"
PHOTOS = DATA / "photos"
RUNNER = Path(__file__).resolve().parent / "arm_runner.py"
VWW = ROOT.parent / "shared" / "data" / "vww" / "vww_96_int8.tflite"
PACKAGES = ["numpy", "onnx", "onnxruntime", "opencv-python-headless", "tflite", "flatbuffers",
            "safetensors", "prometheus-client", "ai-edge-litert"]
ARMV7L_SURVEY = ["onnxruntime", "ai-edge-litert", "opencv-python-headless", "numpy",
                 "tflite-runtime"]
TFLITE_RUNTIME = "tflite-runtime==2.14.0"  # the last release with armv7l wheels (cp311 only)


START = time.monotonic()


def log(message: str) -> None:
    """Progress on stderr, with the wall-clock seconds since the start (the cost of the check,
    not a speed: nothing emulated is timed)."""
    print(f"arm_check [{time.monotonic() - START:4.0f} s]: {message}", file=sys.stderr,
          flush=True)


def pinned() -> list[str]:
    """edge's run-time packages at this machine's versions, so x86 and ARM run the same."""
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in PACKAGES]


def convert_models(work: Path, vww: Path | None) -> list[Path]:
    """The bundled 0.25-128 and 0.5-160 checkpoints (and the VWW int8 file when given),
    converted by edge-convert into work/models (fast; done every run so never stale)."""
    from edge.convert import ConvertOptions, convert

    jobs = [(DATA / "models" / f"mobilenet_v1_{n}_quant.tflite", f"m{n}", None)
            for n in ("0.25_128", "0.5_160")]
    if vww is not None:
        labels = work / "vww_labels.txt"
        labels.write_text("notperson\nperson\n")
        jobs.append((vww, "vww", labels))
    folders = []
    for weights, name, labels in jobs:
        out = work / "models" / name
        shutil.rmtree(out, ignore_errors=True)
        convert(ConvertOptions(output=out, weights=str(weights), labels=labels),
                log=lambda _: None)
        folders.append(out)
    return folders


def model_files(folders: list[Path]) -> list[Path]:
    return [p for folder in folders for p in sorted(folder.iterdir())
            if p.suffix in (".onnx", ".tflite")]


def make_inputs(models: list[Path], target: Path, count: int) -> int:
    """The first ``count`` photos through edge's own preprocessing, at every model size, both
    crops; returns how many photos."""
    from edge.model import read_model_info
    from edge.preprocess import to_input
    from edge.sources.replay import ImageFolderSource

    sizes = sorted({read_model_info(m).resolution for m in models})
    with ImageFolderSource(PHOTOS) as source:
        frames = list(source)[:count]
    np.savez(target, **{f"size{s}": np.concatenate([to_input(f.image, f.order, s, crop)
                                                    for f in frames
                                                    for crop in ("center", "full")])
                        for s in sizes})
    return len(frames)


def load(path: Path, proc: subprocess.CompletedProcess) -> dict | str:
    """The runner's outputs, or why there are none (exit code, last line of stderr)."""
    if proc.returncode != 0 or not path.exists():
        tail = [line for line in (proc.stderr or "").splitlines() if line.strip()][-1:]
        signal = f"signal {-proc.returncode}" if proc.returncode < 0 else \
            f"exit {proc.returncode}"
        return f"CRASHED ({signal}{': ' + tail[0][:120] if tail else ''})"
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def run_x86(work: Path, models: list[Path], exact: bool) -> dict | str:
    out = work / ("x86-exact.npz" if exact else "x86.npz")
    out.unlink(missing_ok=True)
    proc = subprocess.run([sys.executable, str(RUNNER), *(["--exact"] if exact else []),
                           str(work / "inputs.npz"), str(out), *map(str, models)],
                          capture_output=True, text=True)
    return load(out, proc)


def run_emulated(cpu: setup.Cpu, work: Path, site: list[Path], models: list[Path]) -> dict:
    """The models as edge runs them ("fast") and the .tflite ones on the reference kernels
    ("exact"), in one emulated process (one thread)."""
    log(f"{cpu.name} ({cpu.qemu}): models")
    out = work / f"{cpu.name}.npz"
    out.unlink(missing_ok=True)
    proc = setup.emulate(cpu, work, [str(setup.python(work, cpu.arch)), str(RUNNER),
                                     "--reference", str(work / "inputs.npz"), str(out),
                                     *map(str, models)], site, capture_output=True, text=True)
    got = load(out, proc)
    if isinstance(got, str):
        return {"fast": got, "exact": got}
    exact = {k.replace(":reference", ""): v for k, v in got.items() if ":reference" in k}
    return {"fast": {k: v for k, v in got.items() if ":reference" not in k}, "exact": exact}


def edge_run(cpu: setup.Cpu | None, work: Path, site: list[Path], model: Path,
             frames: int) -> dict:
    """edge-run on x86 (cpu None) or emulated: exit code, summary, per-photo top-1, the note
    saying which build it picked."""
    tag = f"{cpu.name if cpu else 'x86'}-{run_label(model).replace('/', '-').strip('-')}"
    results, cache = work / "edge-run" / f"{tag}.jsonl", work / "edge-run" / f"cache-{tag}"
    shutil.rmtree(cache, ignore_errors=True)
    results.parent.mkdir(parents=True, exist_ok=True)
    results.unlink(missing_ok=True)
    args = ["-m", "edge.cli", "--model", str(model), "--replay", str(PHOTOS), "--max-frames",
            str(frames), "--json", "--no-config", "-q", "--results", str(results),
            "--cache-dir", str(cache)]
    if cpu is None:
        proc = subprocess.run([sys.executable, *args], capture_output=True, text=True,
                              cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    else:
        proc = setup.emulate(cpu, work, [str(setup.python(work, cpu.arch)), *args],
                             [*site, ROOT], capture_output=True, text=True, cwd=ROOT)
    try:
        summary = json.loads(proc.stdout)
    except ValueError:
        summary = None
    top = {}
    if results.exists():
        for line in results.read_text().splitlines():
            record = json.loads(line)
            if "top" in record:
                top[record["name"]] = record["top"]
    note = next((line for line in proc.stderr.splitlines() if line.startswith("model ")), "")
    return {"code": proc.returncode, "summary": summary, "top": top, "note": note,
            "stderr": proc.stderr[-300:]}


def output_scale(model: Path) -> float | None:
    """The int8 logits' quantization step, from the folder's report.json, or None."""
    folder = model if model.is_dir() else model.parent
    try:
        return float(json.loads((folder / "report.json").read_text())["tflite"]["output"]
                     ["scale"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def run_label(model: Path) -> str:
    """FOLDER/ for a model folder, FOLDER/FILE for a model file."""
    return f"{model.parent.name}/{model.name}" if model.is_file() else f"{model.name}/"


def armv7l_survey(work: Path) -> dict[str, dict[str, str | None]]:
    """{package: {"cp311": wheel file or None, "cp313": ...}} from PyPI (kept in the work
    folder: delete armv7l-wheels.json to ask again)."""
    cache = work / "armv7l-wheels.json"
    if cache.exists():
        return json.loads(cache.read_text())
    survey = {name: {f"cp{py}": setup.wheel_exists("armv7l", name, py) for py in ("311", "313")}
              for name in ARMV7L_SURVEY}
    cache.write_text(json.dumps(survey, indent=1))
    return survey


def armhf_site(work: Path) -> list[Path]:
    """Debian's armhf python3.11 and numpy, and tflite-runtime's armv7l wheel."""
    root = setup.sysroot(work, "armhf", setup.NUMPY_DEBS)
    return [setup.wheels(work, "armhf", [TFLITE_RUNTIME], no_deps=True),
            root / "usr/lib/python3/dist-packages"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, help="keeps downloads between runs (default: temp)")
    p.add_argument("--models", type=Path, nargs="*", metavar="DIR",
                   help="folders edge-convert wrote (default: convert the bundled ones)")
    p.add_argument("--vww", type=Path, default=VWW if VWW.is_file() else None,
                   help=f"the MLPerf Tiny VWW int8 .tflite to convert too (default {VWW})")
    p.add_argument("--cpus", default="pi3,pi4,pi5", help="emulated boards (default all)")
    p.add_argument("--photos", type=int, default=12,
                   help="the first N of data/photos, for the models and edge-run (default 12)")
    p.add_argument("--no-edge-run", action="store_true", help="skip the whole-process runs")
    p.add_argument("--no-armhf", action="store_true", help="skip the 32-bit part")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                   help="emulated model runs side by side (default: 2 where there are 2 CPUs; "
                        "edge-run uses every core and runs alone)")
    args = p.parse_args()
    cpus = [c for c in setup.CPUS if c.name in args.cpus.split(",")]
    for tool in ("qemu-aarch64-static", *([] if args.no_armhf else ["qemu-arm-static"])):
        if shutil.which(tool) is None:
            print(f"arm_check: needs {tool}: apt-get install qemu-user-static", file=sys.stderr)
            return 2
    if os.geteuid() != 0:
        print("arm_check: needs root (unshare -m and mount --bind)", file=sys.stderr)
        return 2
    tmp = tempfile.TemporaryDirectory(prefix="edge-arm-") if args.work is None else None
    work = (args.work or Path(tmp.name)).resolve()
    work.mkdir(parents=True, exist_ok=True)
    try:
        return check(args, cpus, work)
    finally:
        if tmp is not None:
            tmp.cleanup()


def check(args: argparse.Namespace, cpus: list[setup.Cpu], work: Path) -> int:
    log("converting the models, preparing the inputs, running them on x86")
    folders = args.models or convert_models(work, args.vww)
    models = model_files(folders)
    tflites = [m for m in models if m.suffix == ".tflite"]
    photos = make_inputs(models, work / "inputs.npz", args.photos)
    x86 = run_x86(work, models, exact=False)
    exact = run_x86(work, models, exact=True)
    if isinstance(exact, str):
        raise RuntimeError(f"the exact arithmetic did not run on x86: {exact}")
    runs = [] if args.no_edge_run else [*folders, *(f for f in tflites if f.parent in folders)]
    x86_runs = {m: edge_run(None, work, [], m, photos) for m in runs}
    log("Debian's python3.11 and PyPI's wheels for ARM (kept in the work folder)")
    setup.sysroot(work, "arm64")
    site = [setup.wheels(work, "arm64", pinned())]
    hf_site = [] if args.no_armhf else armhf_site(work)
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:  # single-threaded runs
        jobs = {cpu: pool.submit(run_emulated, cpu, work, site, models) for cpu in cpus}
        if hf_site:
            jobs[setup.ARMHF_CPU] = pool.submit(run_emulated, setup.ARMHF_CPU, work, hf_site,
                                                tflites)
        survey = {} if args.no_armhf else armv7l_survey(work)
        outputs = {cpu: job.result() for cpu, job in jobs.items()}
    rows: list[Row] = []
    for cpu, out in outputs.items():
        where = f"{cpu.name} ({cpu.qemu})"
        armhf = cpu.arch == "armhf"
        rows += compare_runs(tflites if armhf else models, where, out["fast"], exact,
                             None if armhf else x86)
        rows += compare_runs(tflites, where, out["exact"], exact, None, reference=True,
                             exact_match=not armhf)
    rows += compare_runs(models, "x86_64", x86, exact, None, counted=False)
    run_rows = []
    for cpu in cpus:  # edge-run uses every core: one at a time
        for model in runs:
            log(f"{cpu.name} ({cpu.qemu}): edge-run --model {run_label(model)}")
            run_rows.append(edge_run_row(f"{cpu.name} ({cpu.qemu})", run_label(model),
                                         edge_run(cpu, work, site, model, photos),
                                         x86_runs[model], photos, output_scale(model)))
    failures = print_rows(rows, run_rows, exact, photos)
    if survey:
        print_armv7l(survey)
    return 1 if failures else 0


def print_armv7l(survey: dict[str, dict[str, str | None]]) -> None:
    """The armv7l wheel table and what a 32-bit Pi OS user must do."""
    print("\narmv7l (32-bit Raspberry Pi OS) wheels on PyPI, by `pip download --platform "
          "linux_armv7l --platform manylinux_2_{17..36}_armv7l --only-binary=:all:`:")
    for name, found in survey.items():
        cells = ", ".join(f"{py}: {wheel or 'none'}" for py, wheel in found.items())
        print(f"  {name:<24} {cells}")
    print("32-bit verdict: edge-run cannot run on 32-bit Pi OS from PyPI (no onnxruntime, "
          "ai-edge-litert, numpy or opencv wheels for armv7l); install the 64-bit Raspberry Pi "
          "OS (Pi 3, 4, 5, Zero 2 W). Pi 1, Zero and Zero W (ARMv6) cannot run edge at all.")


if __name__ == "__main__":
    sys.exit(main())
