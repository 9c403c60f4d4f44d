"""What a firmware build needs, checked before anything is compiled: the cross compiler and
QEMU, TFLM's source trees, and an ``edge-convert --mcu`` bundle (read into a :class:`Bundle`).
Each failure is one :class:`McuError` line naming the file, folder or tool and what to do."""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from edge.bench.mcu.cores import BOARDS, KERNELS, McuError
from edge.convert.mcu.tflm_build import KERNEL_FILES as OPS

_TOOLS = {"arm-none-eabi-gcc": "gcc-arm-none-eabi", "arm-none-eabi-g++": "gcc-arm-none-eabi",
          "arm-none-eabi-size": "binutils-arm-none-eabi",
          "qemu-system-arm": "qemu-system-arm"}
_SOURCE_MARKERS = {
    "tflite-micro": "tensorflow/lite/micro/micro_interpreter.cc",
    "flatbuffers": "include/flatbuffers/flatbuffers.h",
    "gemmlowp": "fixedpoint/fixedpoint.h",
    "ruy": "ruy/profiler/instrumentation.h",
    "CMSIS-NN": "Include/arm_nnfunctions.h",
}
_BUNDLE_FILES = ("model_data.h", "model_data.cc", "model_ops.h")


@dataclass(frozen=True)
class Bundle:
    """What an edge-convert --mcu bundle says about its model."""

    folder: Path
    input_shape: tuple[int, int, int, int]
    input_dtype: str  # "int8" or "uint8"
    num_classes: int
    arena_bytes: int  # kTensorArenaSize: measured by edge-convert with TFLM on x86-64
    model_bytes: int
    ops: tuple[str, ...]  # resolver methods, e.g. "AddConv2D"

    def model(self) -> bytes:
        """The .tflite exactly as the firmware holds it: the array in model_data.cc."""
        text = (self.folder / "model_data.cc").read_text()
        data = bytes.fromhex("".join(re.findall(r"\\x([0-9a-fA-F]{2})", text)))
        if len(data) != self.model_bytes:
            raise McuError(f"{self.folder}/model_data.cc holds {len(data)} bytes, model_data.h "
                           f"says {self.model_bytes}: re-run edge-convert --mcu")
        return data


def check_tools() -> None:
    """The cross compiler, its C libraries, and a QEMU that has every board in BOARDS."""
    for tool, package in _TOOLS.items():
        if shutil.which(tool) is None:
            raise McuError(f"no {tool} on PATH: apt-get install {package}")
    _check_toolchain()


@functools.cache
def _check_toolchain() -> None:
    gcc = subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m55", "-mthumb",
                          "-mfloat-abi=hard", "-print-file-name=librdimon.a"],
                         capture_output=True, text=True)
    if gcc.returncode != 0:
        raise McuError("arm-none-eabi-gcc does not know cortex-m55 (needs GCC 10 or later): "
                       "apt-get install gcc-arm-none-eabi from Debian 12 or later")
    if not Path(gcc.stdout.strip()).is_absolute():
        raise McuError("no newlib for arm-none-eabi (librdimon.a): apt-get install "
                       "libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib")
    boards = subprocess.run(["qemu-system-arm", "-M", "help"], capture_output=True,
                            text=True).stdout
    missing = [board for board in BOARDS.values()
               if not re.search(rf"^{board}\b", boards, re.MULTILINE)]
    if missing:
        raise McuError(f"qemu-system-arm has no {', '.join(missing)} board: install QEMU 6.0 "
                       "or later (apt-get install qemu-system-arm)")


def check_sources(sources_dir: Path, kernels: Iterable[str] = KERNELS) -> None:
    """The source trees TFLM compiles against (tflite-micro, flatbuffers, gemmlowp, ruy, and
    CMSIS-NN for its kernels), at the commits TFLM pins."""
    sources_dir = Path(sources_dir)
    if not sources_dir.is_dir():
        raise McuError(f"{sources_dir}: TFLM sources folder not found (it holds tflite-micro, "
                       "flatbuffers, gemmlowp, ruy and CMSIS-NN checkouts)")
    needed = [name for name in _SOURCE_MARKERS if name != "CMSIS-NN" or "cmsis-nn" in kernels]
    for name in needed:
        if not (sources_dir / name / _SOURCE_MARKERS[name]).is_file():
            raise McuError(f"{sources_dir / name}: missing (no {_SOURCE_MARKERS[name]}): copy "
                           f"{name} at the commit TFLM pins there (tflite-micro's "
                           "tensorflow/lite/micro/tools/make/ext_libs downloads them)")


def _header_value(folder: Path, header: str, name: str) -> str:
    match = re.search(rf"\b{name} = ([^;]+);", header)
    if match is None:
        raise McuError(f"{folder}/model_data.h has no {name}: re-run edge-convert --mcu")
    return match.group(1).strip()


def check_bundle(bundle_dir: Path) -> Bundle:
    """Read an edge-convert --mcu bundle folder; McuError if it is not one."""
    folder = Path(bundle_dir)
    if not folder.is_dir():
        raise McuError(f"{folder}: MCU bundle folder not found (edge-convert --mcu writes "
                       "one, named <model>_mcu)")
    for name in _BUNDLE_FILES:
        if not (folder / name).is_file():
            raise McuError(f"{folder}: not an MCU bundle (no {name}): write one with "
                           "edge-convert --mcu")
    header = (folder / "model_data.h").read_text(errors="replace")
    ops = tuple(re.findall(r"resolver\.(Add\w+)\(\)",
                           (folder / "model_ops.h").read_text(errors="replace")))
    unknown = [op for op in ops if op not in OPS]
    if unknown or not ops:
        raise McuError(f"{folder}/model_ops.h registers {', '.join(unknown) or 'no op'}; the "
                       f"firmware builds {', '.join(OPS)}")
    try:
        h, w, c = (int(_header_value(folder, header, f"kInput{n}"))
                   for n in ("Height", "Width", "Channels"))
        return Bundle(
            folder=folder.resolve(), input_shape=(1, h, w, c),
            input_dtype=("int8" if _header_value(folder, header, "kInputIsInt8") == "true"
                         else "uint8"),
            num_classes=int(_header_value(folder, header, "kNumClasses")),
            arena_bytes=int(_header_value(folder, header, "kTensorArenaSize")),
            model_bytes=int(_header_value(folder, header, "kModelSize")), ops=ops)
    except ValueError as exc:
        raise McuError(f"{folder}/model_data.h: {exc}: re-run edge-convert --mcu") from None
