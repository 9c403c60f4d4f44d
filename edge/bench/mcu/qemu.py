"""Running images under ``qemu-system-arm``: files in and out through semihosting, and for a
TFLM firmware each Invoke()'s output, the instructions it executed and the arena TFLM used.

QEMU runs with ``-icount shift=7``: each instruction advances the virtual clock by 128 ns,
and the firmware reads a board counter around ``Invoke()`` (harness/edge_clock.h). A count
is exact, but it counts instructions, not cycles: QEMU models no pipeline, cache or wait
state.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.bench.mcu.checks import Bundle, check_tools
from edge.bench.mcu.cores import ICOUNT_SHIFT, McuError
from edge.bench.mcu.firmware import Firmware, Image


@dataclass(frozen=True)
class ProgramRun:
    """What an image printed (semihosting stdout; TFLM logs to stderr), its exit status and
    the files it wrote."""

    stdout: str
    stderr: str
    exit_code: int
    files: dict[str, bytes]
    seconds: float


@dataclass(frozen=True)
class RunResult:
    """One Invoke(): its output, the instructions it executed (not cycles) and the arena
    TFLM had in use."""

    output: np.ndarray
    instructions: int
    arena_used_bytes: int
    ops: tuple[tuple[str, int], ...] = ()  # (op name, instructions) with build(profile=True)


class ArenaTooSmall(McuError):
    """AllocateTensors failed: the arena the firmware reserves is short by ``missing``
    bytes at the point TFLM gave up (more may be needed after it)."""

    def __init__(self, message: str, missing: int) -> None:
        super().__init__(message)
        self.missing = missing


def qemu_command(image: Image) -> list[str]:
    """The qemu-system-arm command line that runs ``image`` (instruction counting on)."""
    return ["qemu-system-arm", "-M", image.board, "-display", "none", "-monitor", "none",
            "-serial", "null", "-icount", f"shift={ICOUNT_SHIFT},align=off,sleep=off",
            "-semihosting-config", "enable=on,target=native", "-kernel", str(image.elf)]


def run_program(image: Image, files: dict[str, bytes], timeout: float,
                outputs: Sequence[str] = ()) -> ProgramRun:
    """Run ``image`` on its board in a fresh folder holding ``files`` (the image opens them by
    name through semihosting); returns stdout, exit status and the ``outputs`` it wrote."""
    check_tools()
    with tempfile.TemporaryDirectory(prefix="edge-mcu-") as tmp:
        work = Path(tmp)
        for file_name, data in files.items():
            (work / file_name).write_bytes(data)
        started = time.perf_counter()
        try:
            proc = subprocess.run(qemu_command(image), cwd=work, capture_output=True,
                                  text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            raise McuError(f"{image.board} ({image.cpu}) did not finish in {timeout:g} s "
                           f"({image.elf.name})") from exc
        seconds = time.perf_counter() - started
        written = {name: (work / name).read_bytes() for name in outputs
                   if (work / name).is_file()}
    fault = re.search(r"^edge: fault.*$", proc.stdout, re.MULTILINE)
    if fault:
        raise McuError(f"{image.board} ({image.cpu}): {fault.group(0)} (a bad access, or an "
                       "instruction this core lacks)")
    qemu = [line for line in proc.stderr.splitlines() if line.startswith("qemu-system-arm:")]
    if qemu and not proc.stdout:
        raise McuError(f"QEMU could not run {image.elf.name}: {qemu[0]}")
    return ProgramRun(stdout=proc.stdout, stderr=proc.stderr, exit_code=proc.returncode,
                      files=written, seconds=seconds)


def as_inputs(bundle: Bundle, inputs: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    """One flat array per input, checked against the bundle's input tensor."""
    size = int(np.prod(bundle.input_shape))
    if isinstance(inputs, np.ndarray):
        arrays = [inputs] if inputs.size == size else list(inputs)
    else:
        arrays = list(inputs)
    if not arrays:
        raise McuError("no inputs given")
    out = []
    for i, x in enumerate(map(np.asarray, arrays)):
        if x.dtype != np.dtype(bundle.input_dtype):
            hint = " (camera byte - 128)" if bundle.input_dtype == "int8" else ""
            raise McuError(f"input {i} is {x.dtype}; the model takes {bundle.input_dtype}{hint}")
        if x.size != size:
            raise McuError(f"input {i} has shape {x.shape}; the model takes "
                           f"{bundle.input_shape}")
        out.append(np.ascontiguousarray(x).reshape(-1))
    return out


def run(firmware: Firmware, inputs: np.ndarray | Sequence[np.ndarray],
        timeout: float = 600.0) -> list[RunResult]:
    """Invoke the model once per input (int8, or uint8 when the bundle says kInputIsInt8 is
    false; shape [1,H,W,C] or [H,W,C], or a stack of them). ArenaTooSmall when TFLM cannot
    allocate its tensors in the firmware's arena."""
    bundle = firmware.bundle
    if bundle is None:
        raise McuError("run() takes a Firmware from build(); use run_program() for an Image")
    arrays = as_inputs(bundle, inputs)
    done = run_program(firmware, {"inputs.bin": b"".join(x.tobytes() for x in arrays)},
                       timeout, outputs=("outputs.bin",))
    text = done.stdout
    errors = re.findall(r"^error (.+)$", text, re.MULTILINE)
    if errors or done.exit_code != 0:
        detail = errors[0] if errors else (text.strip().splitlines() or ["no output"])[-1]
        where = f"{firmware.board} ({firmware.cpu}, {firmware.kernels})"
        missing = re.search(r"missing: (\d+)", done.stderr)
        if missing and "AllocateTensors" in detail:
            raise ArenaTooSmall(f"{where}: {detail} (TFLM: {missing.group(0)} bytes at that "
                                "point; build with a larger arena_bytes, then read "
                                "arena_used_bytes)", int(missing.group(1)))
        raise McuError(f"{where}: {detail} (exit status {done.exit_code})")
    counts, ops, per_invoke = [], [], []
    for line in text.splitlines():
        if match := re.fullmatch(r"op \d+ (\S+) instructions (\d+)", line):
            ops.append((match.group(1), int(match.group(2))))
        elif match := re.fullmatch(r"invoke \d+ instructions (\d+)", line):
            counts.append(int(match.group(1)))
            per_invoke.append(tuple(ops))
            ops = []
    used = re.search(r"^done invokes (\d+) arena_used_bytes (\d+)$", text, re.MULTILINE)
    out_size = re.search(r"output_bytes (\d+)", text)
    raw = np.frombuffer(done.files.get("outputs.bin", b""), np.int8)
    if (used is None or out_size is None or len(counts) != len(arrays)
            or raw.size != int(out_size.group(1)) * len(arrays)):
        raise McuError(f"{firmware.board} ({firmware.cpu}): incomplete run: "
                       f"{len(counts)} of {len(arrays)} inputs reported")
    outputs = raw.reshape(len(arrays), -1)
    return [RunResult(output=outputs[i].copy(), instructions=counts[i],
                      arena_used_bytes=int(used.group(2)), ops=per_invoke[i])
            for i in range(len(arrays))]
