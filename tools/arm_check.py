#!/usr/bin/env python3
"""Prove the Raspberry Pi's software path without a Pi: edge's models and edge-run itself under
emulated Cortex-A53 (Pi 3 / Zero 2 W), Cortex-A72 (Pi 4) and Cortex-A76 (Pi 5, dot product),
plus what 32-bit Raspberry Pi OS (armhf) can run.

Everything comes from registries into a work folder (tools/arm_setup.py): Debian's arm64/armhf
python3.11 (apt, ``dpkg -x``) and PyPI's wheels at this machine's versions. Each emulated run
is ``qemu-*-static -cpu X`` in ``unshare -m`` with the board's /proc/cpuinfo bind-mounted.
The model folders (tools/arm_models.py): the bundled checkpoints and the bundled person model
(data/person) converted by edge-convert, a model edge-train made (when this edge has
edge-train), and any ``--extra`` folder.

1. Models (tools/arm_runner.py on the photos x 2 crops, one thread): every fp32/int8 ONNX on
   onnxruntime and every int8 .tflite on LiteRT (XNNPACK), against each model's exact
   arithmetic: the ONNX with graph optimisation off (QDQ as DequantizeLinear -> float op ->
   QuantizeLinear) and the .tflite on LiteRT's reference kernels (portable integer C++; run on
   each emulated CPU too, and required bit-identical to x86's). int8 passes with logits within
   3 (onnxruntime) or 4 (XNNPACK: fp32 requantization against the reference's fixed point)
   output steps and the same top-1, except near-ties: where the exact runner-up is within 2
   steps, the engine's top-1 must be one of the classes within 2 steps of the exact maximum.
   fp32 passes within 1e-4 with the same top-1.
2. ``edge-run --model DIR --replay data/photos --max-frames N --json`` as a whole process
   (choice.py picks the build), and the same with the .tflite (the LiteRT engine): exit 0, the
   JSON summary, N frames, and per-photo top-1 (--results) equal on every photo to x86's
   edge-run fed the pixels ARM's preprocessing made (tools/arm_pixels.py, replayed as PNGs at
   the model's size). Against x86's run on the photos themselves, equal except near-ties (x86's
   runner-up within 2 output steps), which are named: OpenCV's bilinear resize rounds
   differently on ARM (pixels +-1; the preprocessing line says how many).
3. armv7l: which wheels PyPI has for 32-bit Pi OS, and the .tflite models on the one runtime
   that has them (tflite-runtime, with Debian's armhf numpy) under qemu-arm -cpu cortex-a7.
No times are reported: emulation says nothing about a Pi's speed. Needs root and
qemu-user-static.

    sudo python tools/arm_check.py [--work DIR] [--cpus pi3,pi4,pi5] [--photos N] [--extra DIR]
        [--edge-run all|folders|none] [--edge-run-cpus CPUS] [--no-armhf] [--models DIR ...]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import arm_models as am  # noqa: E402
import arm_setup as setup  # noqa: E402
from arm_verdict import Row, compare_runs, edge_run_row, pixel_note, print_rows  # noqa: E402

TOOLS = Path(__file__).resolve().parent
RUNNER, PIXELS = TOOLS / "arm_runner.py", TOOLS / "arm_pixels.py"
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


def load(path: Path, proc: subprocess.CompletedProcess) -> dict | str:
    """A saved .npz, or why there is none (exit code, last line of stderr)."""
    import numpy as np

    if proc.returncode != 0 or not path.exists():
        tail = [line for line in (proc.stderr or "").splitlines() if line.strip()][-1:]
        signal = f"signal {-proc.returncode}" if proc.returncode < 0 else \
            f"exit {proc.returncode}"
        return f"CRASHED ({signal}{': ' + tail[0][:120] if tail else ''})"
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def run_x86(work: Path, models: list[Path], exact: bool) -> dict | str:
    """The models on this machine: as edge runs them, or (``exact``) their exact arithmetic."""
    out = work / ("x86-exact.npz" if exact else "x86.npz")
    out.unlink(missing_ok=True)
    proc = subprocess.run([sys.executable, str(RUNNER), *(["--exact"] if exact else []),
                           str(work / "inputs.npz"), str(out), *map(str, models)],
                          capture_output=True, text=True)
    return load(out, proc)


def run_emulated(cpu: setup.Cpu, work: Path, site: list[Path], models: list[Path],
                 photos: int) -> dict:
    """One emulated CPU: the models as edge runs them ("fast") and the .tflite ones on the
    reference kernels ("exact"), one process, one thread; on arm64 also edge's preprocessing
    of the photos ("pixels", tools/arm_pixels.py into work/pixels-CPU)."""
    log(f"{cpu.name} ({cpu.qemu}): models")
    out = work / f"{cpu.name}.npz"
    out.unlink(missing_ok=True)
    python = str(setup.python(work, cpu.arch))
    proc = setup.emulate(cpu, work, [python, str(RUNNER), "--reference",
                                     str(work / "inputs.npz"), str(out), *map(str, models)],
                         site, capture_output=True, text=True)
    got = load(out, proc)
    if isinstance(got, str):
        result = {"fast": got, "exact": got}
    else:
        result = {"fast": {k: v for k, v in got.items() if ":reference" not in k},
                  "exact": {k.replace(":reference", ""): v for k, v in got.items()
                            if ":reference" in k}}
    if cpu.arch == "arm64":
        pixels = work / f"pixels-{cpu.name}"
        shutil.rmtree(pixels, ignore_errors=True)
        sizes = sorted({str(am.resolution(m)) for m in models})
        proc = setup.emulate(cpu, work, [python, str(PIXELS), str(am.PHOTOS), str(photos),
                                         str(pixels), *sizes], [*site, ROOT],
                             capture_output=True, text=True)
        result["pixels"] = load(pixels / "pixels.npz", proc)
    return result


def edge_run(cpu: setup.Cpu | None, work: Path, site: list[Path], model: Path, frames: int,
             photos: Path = am.PHOTOS, tag: str = "") -> dict:
    """edge-run on x86 (cpu None) or emulated: exit code, summary, per-photo top-5, the note
    saying which build it picked."""
    label = am.run_label(model).replace("/", "-").strip("-")
    name = f"{tag or (cpu.name if cpu else 'x86')}-{label}"
    results, cache = work / "edge-run" / f"{name}.jsonl", work / "edge-run" / f"cache-{name}"
    shutil.rmtree(cache, ignore_errors=True)
    results.parent.mkdir(parents=True, exist_ok=True)
    results.unlink(missing_ok=True)
    args = ["-m", "edge.cli", "--model", str(model), "--replay", str(photos), "--max-frames",
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


def digest(folder: Path) -> str:
    """A hash of a folder's files (names and bytes)."""
    h = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


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
    """Parse the flags, check the tools, run the check in a work folder."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, help="keeps downloads between runs (default: temp)")
    p.add_argument("--models", type=Path, nargs="*", metavar="DIR",
                   help="only these model folders, and --extra's (default: see "
                        "tools/arm_models.py)")
    p.add_argument("--extra", type=Path, nargs="*", default=[], metavar="DIR",
                   help="model folders edge-convert or edge-train wrote, checked besides the "
                        "default ones")
    p.add_argument("--cpus", default="pi3,pi4,pi5", help="emulated boards (default all)")
    p.add_argument("--photos", type=int, default=12,
                   help="the first N of data/photos, for the models and edge-run (default 12)")
    p.add_argument("--edge-run", default="all", choices=("all", "folders", "none"),
                   help="whole-process runs: each folder and each .tflite (all), each folder "
                        "only (folders: the build edge-run picks), or none")
    p.add_argument("--edge-run-cpus", metavar="CPUS",
                   help="the boards edge-run runs on (default: every one of --cpus)")
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
    """Everything, in order; returns the exit code (1 when a counted row failed)."""
    import numpy as np

    log("converting and training the models, preparing the inputs, running them on x86")
    folders = [*(p.resolve() for p in args.models), *(p.resolve() for p in args.extra)] \
        if args.models else am.prepare(work, args.extra)
    names = [f.name for f in folders]
    if len(set(names)) < len(names):
        print(f"arm_check: model folders must have different names: {names}", file=sys.stderr)
        return 2
    print("model folders: " + ", ".join(f"{f.name}/" for f in folders))
    models = am.model_files(folders)
    tflites = [m for m in models if m.suffix == ".tflite"]
    photos = am.make_inputs(models, work / "inputs.npz", args.photos)
    x86 = run_x86(work, models, exact=False)
    exact = run_x86(work, models, exact=True)
    if isinstance(exact, str):
        raise RuntimeError(f"the exact arithmetic did not run on x86: {exact}")
    runs = {"none": [], "folders": folders, "all": [*folders, *tflites]}[args.edge_run]
    x86_runs = {m: edge_run(None, work, [], m, photos) for m in runs}
    log("Debian's python3.11 and PyPI's wheels for ARM (kept in the work folder)")
    setup.sysroot(work, "arm64")
    site = [setup.wheels(work, "arm64", pinned())]
    hf_site = [] if args.no_armhf else armhf_site(work)
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:  # single-threaded runs
        jobs = {cpu: pool.submit(run_emulated, cpu, work, site, models, photos) for cpu in cpus}
        if hf_site:
            jobs[setup.ARMHF_CPU] = pool.submit(run_emulated, setup.ARMHF_CPU, work, hf_site,
                                                tflites, photos)
        survey = {} if args.no_armhf else armv7l_survey(work)
        outputs = {cpu: job.result() for cpu, job in jobs.items()}
    rows: list[Row] = []
    with np.load(work / "inputs.npz") as data:
        inputs = {k: data[k] for k in data.files}
    notes = [pixel_note(f"{cpu.name} ({cpu.qemu})", out["pixels"], inputs)
             for cpu, out in outputs.items() if "pixels" in out]
    for cpu, out in outputs.items():
        where = f"{cpu.name} ({cpu.qemu})"
        armhf = cpu.arch == "armhf"
        rows += compare_runs(tflites if armhf else models, where, out["fast"], exact,
                             None if armhf else x86)
        rows += compare_runs(tflites, where, out["exact"], exact, None, reference=True,
                             exact_match=not armhf)
    rows += compare_runs(models, "x86_64", x86, exact, None, counted=False)
    run_cpus = [c for c in cpus if c.name in (args.edge_run_cpus or args.cpus).split(",")]
    run_rows = edge_run_rows(run_cpus, work, site, runs, x86_runs, photos)
    failures = print_rows(rows, run_rows, exact, photos, notes)
    if survey:
        print_armv7l(survey)
    return 1 if failures else 0


def edge_run_rows(cpus: list[setup.Cpu], work: Path, site: list[Path], runs: list[Path],
                  x86_runs: dict[Path, dict], photos: int) -> list[Row]:
    """edge-run on each emulated CPU, one at a time (it uses every core), against x86's run
    on the photos and x86's run on that CPU's pixels (one x86 run per distinct pixels)."""
    rows, same_pixels = [], {}
    for cpu in cpus:
        for model in runs:
            where, label = f"{cpu.name} ({cpu.qemu})", am.run_label(model)
            log(f"{where}: edge-run --model {label}")
            arm = edge_run(cpu, work, site, model, photos)
            pngs = work / f"pixels-{cpu.name}" / f"size{am.resolution(model)}"
            key = (label, digest(pngs) if pngs.is_dir() else cpu.name)
            if key not in same_pixels:
                same_pixels[key] = edge_run(None, work, [], model, photos, pngs,
                                            tag=f"x86-on-{cpu.name}-pixels")
            rows.append(edge_run_row(where, label, arm, x86_runs[model], same_pixels[key],
                                     photos, am.output_scale(model)))
    return rows


def print_armv7l(survey: dict[str, dict[str, str | None]]) -> None:
    """The armv7l wheel table and what a 32-bit Pi OS user must do."""
    print("\narmv7l (32-bit Raspberry Pi OS) wheels on PyPI, by `pip download --platform "
          "linux_armv7l --platform manylinux_2_{17..36}_armv7l --only-binary=:all:`:")
    for name, found in survey.items():
        cells = ", ".join(f"{py}: {wheel or 'none'}" for py, wheel in found.items())
        print(f"  {name:<24} {cells}")
    missing = [name for name, found in survey.items()
               if name != "tflite-runtime" and not any(found.values())]
    if missing:
        print(f"32-bit verdict: edge-run cannot run on 32-bit Pi OS from PyPI (no armv7l wheel "
              f"of {', '.join(missing)}); install the 64-bit Raspberry Pi OS (Pi 3, 4, 5, "
              "Zero 2 W). Pi 1, Zero and Zero W (ARMv6) cannot run edge at all.")
    else:
        print("32-bit verdict: PyPI now has armv7l wheels of edge's run-time packages: "
              "edge-run on armhf is worth adding to this check")


if __name__ == "__main__":
    sys.exit(main())
