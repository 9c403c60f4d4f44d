"""Compiling and linking with Debian's arm-none-eabi toolchain, through an object cache.

Objects are cached under a key of CPU, flags, compiler and the sources' content, and written
atomically, so parallel builds may share the cache. TFLM's framework (interpreter, allocator,
planners) is one translation unit: each TFLM file parses the 1 MB flatbuffer schema header
(about 6 s here), once instead of 30 times. Kernels are compiled one file each, as TFLM's
Makefile does, and only those the bundle registers; of CMSIS-NN, only the files those kernels
reach. ``-DCMSIS_NN`` only changes kernel headers' declarations, so the framework and the
reference kernels are compiled once per CPU and shared by both kernel sets.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import signal
import subprocess
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from edge.bench.mcu.cores import BOARDS, HARNESS, ICOUNT_SHIFT, McuError, core
from edge.convert.mcu.tflm_build import (
    ARM_COMMON,
    C_FLAGS,
    CMSIS_NN_FLOAT,
    CXX_FLAGS,
    KERNEL_DIR,
    OPT_CORE,
    OPT_KERNEL,
    framework_sources,
    kernel_names,
)

# TFLM's flags (edge.convert.mcu.tflm_build, shared with the bundle's Makefile) and the clock's
COMMON = (*ARM_COMMON, f"-DEDGE_ICOUNT_SHIFT={ICOUNT_SHIFT}")

# One translation unit for the framework: 10 s instead of 51 s per CPU; Invoke() then executes
# 170 fewer instructions of 43 M (cross-file inlining in the interpreter loop).
_UNITY_FRAMEWORK = True
RUNTIME = ("edge_startup.c", "edge_clock.c")  # linked into every image
_RUNTIME_HEADERS = ("edge_clock.h", "edge_board.h")
_SOURCE_PARTS = ("tflite-micro/tensorflow", "flatbuffers/include", "gemmlowp", "ruy",
                 "CMSIS-NN/Include", "CMSIS-NN/Source")


@dataclass(frozen=True)
class Job:
    """One object to compile (or to take from the cache)."""

    source: Path
    obj: Path
    flags: tuple[str, ...]
    text: str | None = None  # the source's text, for a file the build writes itself


def sha(*parts: object) -> str:
    """A short content key of bytes and JSON-able values."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part if isinstance(part, bytes) else json.dumps(part).encode())
    return digest.hexdigest()[:16]


@functools.cache
def compiler_version() -> str:
    return subprocess.run(["arm-none-eabi-gcc", "--version"], capture_output=True,
                          text=True).stdout.splitlines()[0]


@functools.cache
def sources_key(sources_dir: Path) -> str:
    """A content key of every C/C++ source and header of the trees (about 0.3 s)."""
    digest = hashlib.sha256()
    for part in _SOURCE_PARTS:
        root = sources_dir / part
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            if path.suffix in (".h", ".hpp", ".c", ".cc", ".inc") and path.is_file():
                digest.update(str(path.relative_to(sources_dir)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def compile_jobs(jobs: list[Job]) -> int:
    """Compile the jobs whose object is missing, on every core; how many were compiled."""
    todo = list({job.obj: job for job in jobs if not job.obj.exists()}.values())
    running: set[subprocess.Popen] = set()
    lock = threading.Lock()

    def one(job: Job) -> None:
        job.obj.parent.mkdir(parents=True, exist_ok=True)
        tmp = job.obj.with_name(f"{job.obj.name}.{os.getpid()}.tmp")
        if job.text is not None:
            source_tmp = job.source.with_name(f"{job.source.name}.{os.getpid()}.tmp")
            source_tmp.write_text(job.text)
            os.replace(source_tmp, job.source)
        tool = "arm-none-eabi-gcc" if job.source.suffix == ".c" else "arm-none-eabi-g++"
        with subprocess.Popen([tool, *job.flags, "-c", str(job.source), "-o", str(tmp)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              start_new_session=True) as proc:  # a group: the driver and cc1
            with lock:
                running.add(proc)
            try:
                _, stderr = proc.communicate()
            finally:
                with lock:
                    running.discard(proc)
        if proc.returncode != 0:
            tmp.unlink(missing_ok=True)
            first = next((line for line in stderr.splitlines() if "error" in line),
                         stderr.strip()[:300])
            raise McuError(f"compiling {job.source.name} failed: {first}")
        os.replace(tmp, job.obj)  # atomic: parallel builds may share the cache

    # the slowest first (the framework unit, then C++ that parses the schema), so both cores
    # stay busy to the end
    todo.sort(key=lambda job: (job.source.suffix == ".c", job.text is None, job.source.name))
    pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 2)
    try:
        list(pool.map(one, todo))
    except BaseException:  # an error, Ctrl-C or SIGTERM: stop the compilers now
        with lock:
            for proc in running:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
        raise
    finally:  # and start none of the queued ones
        pool.shutdown(wait=True, cancel_futures=True)
    return len(todo)


def _obj_name(source: Path, root: Path) -> str:
    return str(source.relative_to(root)).replace("/", "_") + ".o"


def runtime_jobs(cpu: str, cache_dir: Path) -> list[Job]:
    """The harness runtime every image links: startup and the instruction clock."""
    c = core(cpu)
    flags = (*c.flags, *COMMON, *C_FLAGS, "-O2", f"-D{c.board_macro}", f"-I{HARNESS}")
    key = sha(flags[:-1], compiler_version(),
              *((HARNESS / name).read_bytes() for name in (*RUNTIME, *_RUNTIME_HEADERS)))
    folder = cache_dir / f"runtime-{cpu}-{key}"
    return [Job(HARNESS / name, folder / f"{name}.o", flags) for name in RUNTIME]


def tflm_flags(cpu: str, sources_dir: Path, cmsis_nn: bool) -> tuple[str, ...]:
    flags = (*core(cpu).flags, *COMMON, f"-I{sources_dir / 'tflite-micro'}",
             f"-I{sources_dir / 'flatbuffers' / 'include'}", f"-I{sources_dir / 'gemmlowp'}",
             f"-I{sources_dir / 'ruy'}")
    if cmsis_nn:
        flags += ("-DCMSIS_NN", f"-I{sources_dir / 'CMSIS-NN'}",
                  f"-I{sources_dir / 'CMSIS-NN' / 'Include'}")
    return flags


def lib_jobs(cpu: str, kernels: str, sources_dir: Path, ops: Iterable[str],
             cache_dir: Path) -> list[Job]:
    """TFLM's framework, the kernels of ``ops`` and the CMSIS-NN files they reach."""
    tflm = sources_dir / "tflite-micro"
    version = (compiler_version(), sources_key(sources_dir), CXX_FLAGS, C_FLAGS, OPT_CORE,
               OPT_KERNEL)
    plain = tflm_flags(cpu, sources_dir, cmsis_nn=False)
    shared = cache_dir / f"tflm-{cpu}-{sha(plain, version)}"
    framework = framework_sources()
    if _UNITY_FRAMEWORK:
        unity = shared / "tflm_framework.cc"
        jobs = [Job(unity, shared / "tflm_framework.o", (*plain, *CXX_FLAGS, OPT_CORE),
                    text="".join(f'#include "{path}"\n' for path in framework))]
    else:
        jobs = [Job(tflm / p, shared / "separate" / _obj_name(tflm / p, sources_dir),
                    (*plain, *CXX_FLAGS, OPT_CORE)) for p in framework]
    names = kernel_names(ops)
    cmsis_flags = tflm_flags(cpu, sources_dir, cmsis_nn=True)
    cmsis_dir = cache_dir / f"cmsis-nn-{cpu}-{sha(cmsis_flags, version)}"
    cmsis_kernels = []
    for name in names:
        cmsis = tflm / KERNEL_DIR / "cmsis_nn" / f"{name}.cc"
        if kernels == "cmsis-nn" and cmsis.is_file():
            cmsis_kernels.append(cmsis)
            jobs.append(Job(cmsis, cmsis_dir / _obj_name(cmsis, sources_dir),
                            (*cmsis_flags, *CXX_FLAGS, OPT_KERNEL)))
        else:
            src = tflm / KERNEL_DIR / f"{name}.cc"
            jobs.append(Job(src, shared / _obj_name(src, sources_dir),
                            (*plain, *CXX_FLAGS, OPT_KERNEL)))
    jobs += [Job(src, cmsis_dir / _obj_name(src, sources_dir), (*cmsis_flags, *C_FLAGS, OPT_KERNEL))
             for src in _cmsis_nn_sources(sources_dir, tuple(cmsis_kernels))]
    return jobs


@functools.cache
def _cmsis_nn_index(sources_dir: Path) -> dict[str, Path]:
    """CMSIS-NN function name -> the integer source file that defines it."""
    index: dict[str, Path] = {}
    definition = re.compile(r"^\w[\w \t*]*?\b(arm_\w+)\s*\([^;{}]*\)\s*\{", re.MULTILINE)
    for path in sorted((sources_dir / "CMSIS-NN" / "Source").rglob("*.c")):
        if path.stem.endswith(CMSIS_NN_FLOAT):
            continue  # float builds only (ARM_NN_ENABLE_F16/F32 are off, as in TFLM)
        for name in definition.findall(path.read_text(errors="replace")):
            index.setdefault(name, path)
    return index


def _cmsis_nn_sources(sources_dir: Path, kernel_files: tuple[Path, ...]) -> list[Path]:
    """The CMSIS-NN files the kernels reach: the closure of the arm_* functions they call."""
    index = _cmsis_nn_index(sources_dir)
    seen: set[Path] = set()
    todo = list(kernel_files)
    while todo:
        text = todo.pop().read_text(errors="replace")
        for name in set(re.findall(r"\barm_\w+", text)):
            path = index.get(name)
            if path is not None and path not in seen:
                seen.add(path)
                todo.append(path)
    return sorted(seen)


@functools.cache
def cmsis_nn_paths(cpu: str, sources_dir: Path) -> tuple[str, ...]:
    """The ARM_MATH_* code paths CMSIS-NN's headers switch on for ``cpu``'s flags."""
    proc = subprocess.run(
        ["arm-none-eabi-gcc", *core(cpu).flags, "-mthumb", "-dM", "-E",
         f"-I{sources_dir / 'CMSIS-NN' / 'Include'}", "-include", "arm_nn_math_types.h", "-x",
         "c", os.devnull], capture_output=True, text=True)
    if proc.returncode != 0:
        raise McuError(f"CMSIS-NN's arm_nn_math_types.h does not preprocess for {cpu}: "
                       f"{proc.stderr.strip()[:200]}")
    return tuple(sorted(set(re.findall(r"#define (ARM_MATH_(?:DSP|MVEI|MVEF))\b",
                                       proc.stdout))))


def link(cpu: str, objects: list[Path], elf: Path) -> None:
    """Link ``objects`` for ``cpu``'s board (newlib-nano, semihosting); atomic."""
    c = core(cpu)
    tmp = elf.with_name(f"{elf.name}.{os.getpid()}.tmp")
    proc = subprocess.run(
        ["arm-none-eabi-g++", *c.flags, "-mthumb", f"-L{HARNESS / 'ld'}", "-T",
         str(HARNESS / "ld" / c.linker_script), "-nostartfiles", "--specs=nano.specs",
         "--specs=rdimon.specs", "-Wl,--gc-sections", *map(str, objects), "-o", str(tmp)],
        capture_output=True, text=True)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        lines = [line for line in proc.stderr.splitlines() if "overflowed" in line
                 or "undefined reference" in line or "error" in line]
        detail = lines[0] if lines else proc.stderr.strip()[:300]
        raise McuError(f"linking for {cpu} ({BOARDS[cpu]}) failed: {detail.strip()}")
    os.replace(tmp, elf)


def sections(elf: Path) -> dict[str, int]:
    """Section name -> bytes (``arm-none-eabi-size -A``)."""
    out = subprocess.run(["arm-none-eabi-size", "-A", str(elf)], capture_output=True,
                         text=True, check=True).stdout
    return {name: int(size) for name, size in re.findall(r"^(\.\S+)\s+(\d+)", out, re.MULTILINE)}


def image_sizes(parts: dict[str, int]) -> tuple[int, int]:
    """(flash, RAM): .text + .rodata + .ARM.exidx + the .data load image; .data + .bss."""
    flash = sum(parts.get(s, 0) for s in (".text", ".rodata", ".ARM.exidx", ".data"))
    return flash, parts.get(".data", 0) + parts.get(".bss", 0)
