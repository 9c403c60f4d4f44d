#!/usr/bin/env python3
"""Prove the aarch64 path without a Pi: our models under emulated Cortex-A72 (Pi 4, no
dot-product) and Cortex-A76 (Pi 5, dot-product) compute what the models define.

From nothing, into a private work folder (no change to the system's package setup):
  1. Debian's arm64 python3.11 packages, fetched with apt using a private state folder and
     unpacked with ``dpkg -x``;
  2. PyPI's aarch64 wheels of onnxruntime and numpy (``manylinux_2_28_aarch64``; a pip that
     asks only for manylinux2014 finds onnxruntime 1.16), installed with ``pip --target``;
  3. for each emulated CPU, inside ``unshare -m``, an ARM /proc/cpuinfo bind-mounted over the
     host's (qemu-user passes the x86 one through and onnxruntime's CPU detection crashes on
     it), then the models run under ``qemu-aarch64-static -cpu cortex-a72|cortex-a76``.
The oracle is each model's exact arithmetic: the same model with graph optimisation off, so a
QDQ int8 model runs as DequantizeLinear -> float Conv -> QuantizeLinear. int8 must give the same
top-1 on every input with logits within three output quantization steps of it (integer kernels
round their requantization differently); fp32 within 1e-4. This machine's own int8 kernels
are reported against the same oracle (x86 without VNNI saturates u8s8 products: it shows).
Emulated times say nothing about a Pi, so none are reported. Needs root (unshare, mount)
and qemu-user-static.

    sudo python tools/arm_check.py [--work DIR] [--models M.onnx ...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
DEBS = ["python3.11-minimal", "libpython3.11-minimal", "libpython3.11-stdlib", "libc6",
        "libgcc-s1", "libstdc++6", "zlib1g", "libexpat1", "libffi8", "libbz2-1.0", "liblzma5",
        "libssl3", "libcrypt1", "libuuid1", "libsqlite3-0"]
# (name, qemu CPU, /proc/cpuinfo Features, CPU part, variant, revision, board)
CPUS = [
    ("pi4", "cortex-a72", "fp asimd evtstrm crc32 cpuid", "0xd08", "0x0", "3",
     "Raspberry Pi 4 Model B Rev 1.4"),
    ("pi5", "cortex-a76", "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp "
     "cpuid asimdrdm lrcpc dcpop asimddp", "0xd0b", "0x4", "1",
     "Raspberry Pi 5 Model B Rev 1.0"),
]


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, **kw)


def arm64_python(work: Path) -> Path:
    """Debian's arm64 python3.11, unpacked into work/root; returns the interpreter."""
    sysroot = work / "root"
    python = sysroot / "usr/bin/python3.11"
    if python.exists():
        return python
    apt = work / "apt"
    for sub in ("etc/apt/sources.list.d", "etc/apt/preferences.d", "var/lib/apt/lists/partial",
                "var/cache/apt/archives/partial", "var/lib/dpkg"):
        (apt / sub).mkdir(parents=True, exist_ok=True)
    (apt / "var/lib/dpkg/status").touch()
    for source in Path("/etc/apt/sources.list.d").glob("*"):
        shutil.copy(source, apt / "etc/apt/sources.list.d" / source.name)
    if Path("/etc/apt/sources.list").exists():
        shutil.copy("/etc/apt/sources.list", apt / "etc/apt/sources.list")
    options = [f"-o=Dir={apt}", f"-o=Dir::State::status={apt}/var/lib/dpkg/status",
               "-o=APT::Architecture=arm64", "-o=APT::Architectures::=arm64",
               "-o=Dir::Etc::trusted=/etc/apt/trusted.gpg",
               "-o=Dir::Etc::trustedparts=/etc/apt/trusted.gpg.d", "-qq"]
    run(["apt-get", *options, "update"])
    debs = work / "debs"
    debs.mkdir(exist_ok=True)
    run(["apt-get", *options, "download", *DEBS], cwd=debs, stderr=subprocess.DEVNULL)
    for deb in sorted(debs.glob("*.deb")):
        run(["dpkg", "-x", str(deb), str(sysroot)])
    return python


def arm64_wheels(work: Path) -> Path:
    site = work / "site"
    if not (site / "onnxruntime").exists():
        import onnxruntime

        run([sys.executable, "-m", "pip", "install", "-q", "--target", str(site),
             "--platform", "manylinux_2_28_aarch64", "--platform", "manylinux2014_aarch64",
             "--only-binary=:all:", "--python-version", "311", "--implementation", "cp",
             f"onnxruntime=={onnxruntime.__version__}", f"numpy=={np.__version__}"])
    return site


def cpuinfo(features: str, part: str, variant: str, revision: str, board: str) -> str:
    cores = [f"processor\t: {i}\nBogoMIPS\t: 108.00\nFeatures\t: {features}\n"
             f"CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: {variant}\n"
             f"CPU part\t: {part}\nCPU revision\t: {revision}\n" for i in range(4)]
    return "\n".join(cores) + f"\nModel\t\t: {board}\n"


def default_models(work: Path) -> list[Path]:
    """fp32 and int8 of the real 0.25-128 weights, converted here."""
    from edge.convert import ConvertOptions, convert

    report = convert(ConvertOptions(output=work / "models",
                                    weights=str(DATA / "models"
                                                / "mobilenet_v1_0.25_128_quant.tflite"),
                                    calibration=DATA / "photos"), log=lambda _: None)
    return [Path(f["path"]) for f in report["files"].values()]


def inputs(models: list[Path], target: Path) -> None:
    """The photos through edge's own preprocessing, at every model size, both crops."""
    from edge.model import read_model_info
    from edge.preprocess import to_input
    from edge.sources.replay import ImageFolderSource

    sizes = sorted({read_model_info(m).resolution for m in models})
    with ImageFolderSource(DATA / "photos") as source:
        frames = list(source)
    arrays = {f"size{s}": np.concatenate([to_input(f.image, f.order, s, crop)
                                          for f in frames for crop in ("center", "full")])
              for s in sizes}
    np.savez(target, **arrays)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, help="keeps downloads between runs (default: temp)")
    p.add_argument("--models", type=Path, nargs="*")
    args = p.parse_args()
    qemu = shutil.which("qemu-aarch64-static")
    if qemu is None:
        print("arm_check: needs qemu-aarch64-static: apt-get install qemu-user-static",
              file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("arm_check: needs root (unshare -m and mount --bind)", file=sys.stderr)
        return 2
    tmp = None
    if args.work is None:
        tmp = tempfile.TemporaryDirectory(prefix="edge-arm-")
    work = args.work or Path(tmp.name)
    work.mkdir(parents=True, exist_ok=True)
    try:
        python = arm64_python(work)
        site = arm64_wheels(work)
        models = args.models or default_models(work)
        inputs(models, work / "inputs.npz")
        runner = ROOT / "tools" / "arm_runner.py"
        outputs = {}
        run([sys.executable, str(runner), str(work / "inputs.npz"), str(work / "x86.npz"),
             *map(str, models)])
        outputs["x86_64"] = np.load(work / "x86.npz")
        run([sys.executable, str(runner), "--exact", str(work / "inputs.npz"),
             str(work / "exact.npz"), *map(str, models)])
        outputs["exact"] = np.load(work / "exact.npz")
        for name, cpu, features, part, variant, revision, board in CPUS:
            fake = work / f"cpuinfo_{name}"
            fake.write_text(cpuinfo(features, part, variant, revision, board))
            out = work / f"{name}.npz"
            script = (f"mount --bind {fake} /proc/cpuinfo && exec {qemu} -cpu {cpu} {python} "
                      f"{runner} {work / 'inputs.npz'} {out} " + " ".join(map(str, models)))
            env = {**os.environ, "QEMU_LD_PREFIX": str(work / "root"), "PYTHONPATH": str(site)}
            run(["unshare", "-m", "sh", "-c", script], env=env)
            outputs[f"{name} ({cpu})"] = np.load(out)
        failures = report(models, outputs)
    finally:
        if tmp is not None:
            tmp.cleanup()
    return 1 if failures else 0


def report(models: list[Path], outputs: dict) -> int:
    """ARM against the exact int8 arithmetic (and x86, for the record). int8 passes with the
    same top-1 on every input and logits within three output quantization steps of the exact
    reference (integer kernels requantize with their own rounding); fp32 within 1e-4."""
    exact, x86 = outputs.pop("exact"), outputs["x86_64"]
    failures = 0
    print(f"onnxruntime {x86['onnxruntime']} on x86_64 and emulated aarch64 "
          f"({', '.join(k for k in outputs if k != 'x86_64')}) against the exact arithmetic "
          "of each model; no timings: emulation says nothing about a Pi's speed")
    for model in models:
        key = model.stem
        want = exact[key]
        step = output_step(model)
        for cpu, out in outputs.items():
            got = out[key]
            diff = float(np.abs(got - want).max())
            top1 = float(np.mean(got.argmax(1) == want.argmax(1)))
            if step is not None:
                ok = top1 == 1.0 and diff <= 3 * step + 1e-6
                verdict = (f"max |diff| {diff / step:.1f} output steps"
                           + ("" if ok else " (allowed 3, same top-1): DIFFERS"))
                if cpu != "x86_64":
                    verdict += ", bit-identical to x86" if np.array_equal(got, x86[key]) else ""
            else:
                ok = diff <= 1e-4
                verdict = f"max |diff| {diff:.2e}" + ("" if ok else " > 1e-4: DIFFERS")
            if cpu == "x86_64":  # the host's kernels are reported; the ARM path is the check
                verdict += "" if ok else " (this x86 CPU's int8 kernels, not the ARM path)"
            else:
                failures += not ok
            print(f"{key:<36} {cpu:<22} {len(want)} inputs: {verdict}, top-1 agreement "
                  f"{100 * top1:.0f}%")
    return failures


def output_step(model: Path) -> float | None:
    """The scale of the last DequantizeLinear before the logits, or None for a float model."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(model)).graph
    inits = {i.name: i for i in graph.initializer}
    steps = [float(numpy_helper.to_array(inits[n.input[1]]).max()) for n in graph.node
             if n.op_type == "DequantizeLinear" and n.input[1] in inits
             and n.input[0] not in inits]
    return steps[-1] if steps else None


if __name__ == "__main__":
    sys.exit(main())
