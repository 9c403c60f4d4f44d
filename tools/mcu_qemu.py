#!/usr/bin/env python3
"""Run an edge-convert --mcu bundle with TFLM on emulated Cortex-M4 and Cortex-M7 boards.

Builds TFLM with the kernels for the ops the model uses (its reference kernels, or with
``--kernels cmsis-nn`` Arm's CMSIS-NN ones where TFLM has them), the bundle (model_data.cc,
model_ops.h) and tools/mcu_qemu/main.cc with Debian's arm-none-eabi-g++ (soft float, -Os),
links a bare-metal image for QEMU's MPS2 boards (mps2-an386: Cortex-M4, mps2-an500:
Cortex-M7), and runs it under qemu-system-arm with semihosting: the photos go in (both crop
modes, the runtime's own preprocessing), the int8 logits come out and are compared with TFLM's
x86-64 interpreter; the arena TFLM used on the 32-bit build is printed beside the one the
bundle reserves (kTensorArenaSize, measured on x86-64). Emulation says nothing about speed.

TFLM's sources are not on PyPI or in Debian: SOURCES is a folder with checkouts of
tflite-micro, flatbuffers (the version TFLM's schema asserts), gemmlowp and ruy (headers only),
and for CMSIS-NN, CMSIS-NN (the commit TFLM pins).

    python tools/mcu_qemu.py out/mobilenet_v1_0.25_128_int8_mcu --sources SOURCES
        [--cpus cortex-m4,cortex-m7] [--kernels reference|cmsis-nn] [--frames N] [--work DIR]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
HARNESS = ROOT / "tools" / "mcu_qemu"
BOARDS = {"cortex-m4": "mps2-an386", "cortex-m7": "mps2-an500"}
# TFLM's interpreter, allocator, planners and the reference kernels of the ops we export
_SOURCES = {
    "tensorflow/lite/micro": "micro_interpreter micro_interpreter_context "
    "micro_interpreter_graph micro_allocator micro_allocation_info micro_context micro_log "
    "debug_log micro_op_resolver micro_profiler micro_resource_variable micro_utils micro_time "
    "memory_helpers flatbuffer_utils",
    "tensorflow/lite/micro/arena_allocator": "non_persistent_arena_buffer_allocator "
    "persistent_arena_buffer_allocator single_arena_buffer_allocator",
    "tensorflow/lite/micro/memory_planner": "greedy_memory_planner linear_memory_planner "
    "non_persistent_buffer_planner_shim",
    "tensorflow/lite/micro/tflite_bridge": "flatbuffer_conversions_bridge micro_error_reporter",
    "tensorflow/lite/core/api": "flatbuffer_conversions tensor_utils",
    "tensorflow/lite/core/c": "common",
    "tensorflow/compiler/mlir/lite/core/api": "error_reporter",
    "tensorflow/compiler/mlir/lite/schema": "schema_utils",
    "tensorflow/lite/kernels": "kernel_util",
    "tensorflow/lite/kernels/internal": "common quantization_util runtime_shape tensor_ctypes "
    "portable_tensor_utils",
    "tensorflow/lite/micro/kernels": "kernel_util micro_tensor_utils conv conv_common "
    "depthwise_conv depthwise_conv_common fully_connected fully_connected_common reduce "
    "reduce_common pad quantize quantize_common",
}
TFLM_SOURCES = [f"{folder}/{name}.cc" for folder, names in _SOURCES.items()
                for name in names.split()]
# TFLM's kernels with a CMSIS-NN version (MEAN and QUANTIZE stay the reference ones)
CMSIS_KERNELS = ("conv", "depthwise_conv", "fully_connected", "pad")


def header_value(header: str, name: str) -> str:
    return re.search(rf"\b{name} = ([^;]+);", header).group(1)


def build(cpu: str, kernels: str, bundle: Path, sources: Path, work: Path) -> Path:
    """Compile and link the image for ``cpu``; objects are cached in ``work``."""
    gxx = shutil.which("arm-none-eabi-g++")
    arch = [f"-mcpu={cpu}", "-mthumb", "-mfloat-abi=soft", "-Os", "-ffunction-sections",
            "-fdata-sections", "-DNDEBUG"]
    cxx = [*arch, "-std=c++17", "-fno-exceptions", "-fno-rtti", "-fno-threadsafe-statics",
           "-DTF_LITE_STATIC_MEMORY", f"-I{sources / 'tflite-micro'}",
           f"-I{sources / 'flatbuffers' / 'include'}", f"-I{sources / 'gemmlowp'}",
           f"-I{sources / 'ruy'}", f"-I{bundle}"]
    objdir = work / f"{cpu}-{kernels}"
    objdir.mkdir(parents=True, exist_ok=True)
    tflm = sources / "tflite-micro"
    srcs = [tflm / src for src in TFLM_SOURCES]
    if kernels == "cmsis-nn":
        nn = sources / "CMSIS-NN"
        cxx += ["-DCMSIS_NN", f"-I{nn}"]
        kernel_dir = tflm / "tensorflow/lite/micro/kernels"
        srcs = [kernel_dir / "cmsis_nn" / src.name if src.parent == kernel_dir and
                src.stem in CMSIS_KERNELS else src for src in srcs]
        # the integer functions; the float ones need a float build configuration
        srcs += [c for c in sorted((nn / "Source").rglob("*.c"))
                 if not re.search(r"_f(16|32)\b", c.stem)]
    jobs = [(src, objdir / (str(src.relative_to(sources)).replace("/", "_") + ".o"))
            for src in srcs]
    jobs += [(bundle / "model_data.cc", objdir / "model_data.o"),
             (HARNESS / "main.cc", objdir / "main.o")]

    def compile_one(job: tuple[Path, Path]) -> None:
        src, obj = job
        if obj.exists() and obj.name not in ("model_data.o", "main.o"):
            return
        if src.suffix == ".c":
            cmd = ["arm-none-eabi-gcc", *arch, "-std=c11", f"-I{sources / 'CMSIS-NN'}",
                   f"-I{sources / 'CMSIS-NN' / 'Include'}"]
        else:
            cmd = [gxx, *cxx]
        subprocess.run([*cmd, "-c", str(src), "-o", str(obj)], check=True)

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(compile_one, jobs))
    startup = objdir / "startup.o"
    subprocess.run(["arm-none-eabi-gcc", *arch, "-c", str(HARNESS / "startup.c"), "-o",
                    str(startup)], check=True)
    elf = work / f"{cpu}-{kernels}.elf"
    subprocess.run([gxx, *arch, "-T", str(HARNESS / "link.ld"), "-nostartfiles",
                    "--specs=nano.specs", "--specs=rdimon.specs", "-Wl,--gc-sections",
                    *(str(obj) for _, obj in jobs), str(startup), "-o", str(elf)], check=True,
                   capture_output=True)
    return elf


def run(cpu: str, elf: Path, work: Path) -> tuple[np.ndarray, str]:
    """Run ``elf`` on the board for ``cpu``; semihosting reads frames.bin in ``work``."""
    proc = subprocess.run(["qemu-system-arm", "-M", BOARDS[cpu], "-nographic",
                           "-semihosting-config", "enable=on,target=native", "-kernel",
                           str(elf)], cwd=work, capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise SystemExit(f"{cpu}: the image exited with {proc.returncode}: {proc.stdout}"
                         f"{proc.stderr}")
    return np.fromfile(work / "logits.bin", np.int8), proc.stdout.strip()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle", type=Path, help="the *_mcu folder edge-convert --mcu wrote")
    ap.add_argument("--sources", type=Path, required=True,
                    help="folder with tflite-micro, flatbuffers, gemmlowp and ruy checkouts")
    ap.add_argument("--cpus", default="cortex-m4,cortex-m7")
    ap.add_argument("--kernels", choices=["reference", "cmsis-nn"], default="reference")
    ap.add_argument("--frames", type=int, default=12, help="photos (each in both crops)")
    ap.add_argument("--work", type=Path)
    args = ap.parse_args()
    for tool in ("arm-none-eabi-g++", "qemu-system-arm"):
        if shutil.which(tool) is None:
            print(f"needs {tool} (Debian: gcc-arm-none-eabi, qemu-system-arm)", file=sys.stderr)
            return 2
    from edge.convert.mcu.tflm import tflm_interpreter
    from edge.convert.quant.frames import load_frames

    bundle = args.bundle.resolve()
    header = (bundle / "model_data.h").read_text()
    size = int(header_value(header, "kInputHeight"))
    int8 = header_value(header, "kInputIsInt8") == "true"
    arena = int(header_value(header, "kTensorArenaSize"))
    model = Path(str(bundle).removesuffix("_mcu") + ".tflite").read_bytes()
    cases = load_frames(ROOT / "data" / "photos", size, limit=args.frames).cases()
    frames = [(t.astype(np.int16) - 128).astype(np.int8) if int8 else t for _, t in cases]
    reference = tflm_interpreter(model, arena)
    want = []
    for x in frames:
        reference.set_input(x, 0)
        reference.invoke()
        want.append(np.asarray(reference.get_output(0)).reshape(-1))
    with tempfile.TemporaryDirectory(prefix="edge-mcu-qemu-") as tmp:
        work = (args.work or Path(tmp)).resolve()
        work.mkdir(parents=True, exist_ok=True)
        (work / "frames.bin").write_bytes(b"".join(x.tobytes() for x in frames))
        for cpu in args.cpus.split(","):
            elf = build(cpu, args.kernels, bundle, args.sources.resolve(), work)
            got, said = run(cpu, elf, work)
            got = got.reshape(len(frames), -1)
            same = all(np.array_equal(g, w) for g, w in zip(got, want, strict=True))
            used = int(re.search(r"arena_used_bytes (\d+)", said).group(1))
            sizes = subprocess.run(["arm-none-eabi-size", "-A", str(elf)], capture_output=True,
                                   text=True, check=True).stdout
            text = int(re.search(r"^\.text\s+(\d+)", sizes, re.MULTILINE).group(1))
            print(f"{cpu} ({BOARDS[cpu]}), {args.kernels} kernels: {len(frames)} frames, logits "
                  f"{'bit-identical to' if same else 'DIFFER from'} TFLM on x86-64; arena used "
                  f"{used:,} of the {arena:,} bytes reserved; image .text {text:,} bytes "
                  f"(model {len(model):,}, TFLM and harness {text - len(model):,})")
            if not same:
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
