"""Building images: :func:`build` links an ``edge-convert --mcu`` bundle with TFLM (its
reference kernels, or Arm's CMSIS-NN ones where TFLM has them) and the harness for one
Cortex-M board; :func:`build_program` links any small C program on the same runtime (clock,
semihosting). A second build of a bundle with the same ops compiles only its model_data.cc
and the arena, then links."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from edge.bench.mcu.checks import Bundle, check_bundle, check_sources, check_tools
from edge.bench.mcu.compile import (
    COMMON,
    Job,
    cmsis_nn_paths,
    compile_jobs,
    compiler_version,
    image_sizes,
    lib_jobs,
    link,
    runtime_jobs,
    sections,
    sha,
    sources_key,
    tflm_flags,
)
from edge.bench.mcu.cores import BOARDS, HARNESS, McuError, check_kernels, core
from edge.convert.mcu.tflm_build import C_FLAGS, CXX_FLAGS, OPT_CORE, OPT_KERNEL


@dataclass(frozen=True)
class Image:
    """A linked image for one board."""

    elf: Path
    cpu: str
    board: str
    flash_bytes: int  # .text + .rodata + .ARM.exidx + .data load image
    ram_bytes: int  # .data + .bss (the arena included; heap and stack not)
    sections: dict[str, int]
    compiled: int  # objects this build compiled (0: everything came from the cache)
    build_seconds: float


@dataclass(frozen=True)
class Firmware(Image):
    """An image that runs a bundle's model with TFLM."""

    kernels: str = "reference"
    bundle: Bundle | None = None
    arena_bytes: int = 0  # the tensor arena reserved in .bss
    cmsis_nn_paths: tuple[str, ...] = ()  # e.g. ("ARM_MATH_DSP", "ARM_MATH_MVEI")
    profile: bool = False  # per-op counts (RunResult.ops); Invoke() then counts the profiler


def _arena_source(arena: int) -> str:
    return ("#include <stddef.h>\n#include <stdint.h>\n"
            f"_Alignas(16) uint8_t g_edge_arena[{arena}];\n"
            f"const size_t g_edge_arena_size = {arena};\n")


def build(bundle_dir: Path, sources_dir: Path, cpu: str, kernels: str, cache_dir: Path,
          arena_bytes: int | None = None, profile: bool = False) -> Firmware:
    """Compile and link the bundle with TFLM for ``cpu``'s board. ``arena_bytes`` overrides
    the bundle's kTensorArenaSize (measured on x86-64); ``profile`` adds per-op counts."""
    started = time.perf_counter()
    c = core(cpu)
    check_kernels(kernels)
    bundle = check_bundle(bundle_dir)
    sources_dir = Path(sources_dir).resolve()
    check_sources(sources_dir, (kernels,))
    check_tools()
    cache_dir = Path(cache_dir).resolve()
    arena = bundle.arena_bytes if arena_bytes is None else arena_bytes
    if arena <= 0:
        raise McuError(f"arena_bytes must be positive, not {arena}")
    paths = cmsis_nn_paths(cpu, sources_dir) if kernels == "cmsis-nn" else ()
    missing = set(c.cmsis_nn_paths) - set(paths) if kernels == "cmsis-nn" else set()
    if missing:
        raise McuError(f"CMSIS-NN would not use {', '.join(sorted(missing))} on {cpu}: "
                       f"check the flags {' '.join(c.flags)}")
    jobs = [*lib_jobs(cpu, kernels, sources_dir, bundle.ops, cache_dir),
            *runtime_jobs(cpu, cache_dir)]
    # main depends on the ops it registers (model_ops.h), not on the model
    main_flags = (*tflm_flags(cpu, sources_dir, kernels == "cmsis-nn"), *CXX_FLAGS, OPT_KERNEL,
                  *(("-DEDGE_PROFILE",) if profile else ()), f"-I{HARNESS}",
                  f"-I{bundle.folder}")
    main_key = sha(main_flags[:-2], bundle.ops, compiler_version(), sources_key(sources_dir),
                   *((HARNESS / f).read_bytes() for f in ("tflm_main.cc", "edge_clock.h")))
    jobs.append(Job(HARNESS / "tflm_main.cc", cache_dir / f"main-{cpu}-{kernels}-{main_key}.o",
                    main_flags))
    model_flags = (*c.flags, *COMMON, *CXX_FLAGS, OPT_CORE, f"-I{bundle.folder}")
    model_key = sha(model_flags[:-1], compiler_version(), arena,
                    (bundle.folder / "model_data.cc").read_bytes(),
                    (bundle.folder / "model_data.h").read_bytes())
    folder = cache_dir / "models" / f"{bundle.folder.name}-{cpu}-{model_key}"
    jobs += [
        Job(bundle.folder / "model_data.cc", folder / "model_data.o", model_flags),
        Job(folder / "arena.c", folder / "arena.o", (*c.flags, *COMMON, *C_FLAGS),
            text=_arena_source(arena)),
    ]
    elf = folder / f"{kernels}{'-profile' if profile else ''}.elf"
    compiled, parts, flash, ram = _compile_and_link(cpu, jobs, elf)
    return Firmware(elf=elf, cpu=cpu, board=BOARDS[cpu], flash_bytes=flash, ram_bytes=ram,
                    sections=parts, compiled=compiled,
                    build_seconds=time.perf_counter() - started, kernels=kernels,
                    bundle=bundle, arena_bytes=arena, cmsis_nn_paths=paths, profile=profile)


def build_program(cpu: str, sources: Sequence[Path], cache_dir: Path, name: str = "program",
                  include_dirs: Sequence[Path] = (), flags: Sequence[str] = ()) -> Image:
    """Compile C/C++ ``sources`` (they define main()) with the harness runtime (startup,
    semihosting, edge_clock.h) for ``cpu``'s board and link them: a small program costs its
    own sources and a link."""
    started = time.perf_counter()
    c = core(cpu)
    check_tools()
    if not sources:
        raise McuError("build_program needs at least one source file")
    cache_dir = Path(cache_dir).resolve()
    base = (*c.flags, *COMMON, "-O2", f"-D{c.board_macro}", f"-I{HARNESS}",
            *(f"-I{Path(d).resolve()}" for d in include_dirs), *flags)
    folder = cache_dir / "programs" / f"{name}-{cpu}"
    jobs = []
    for src in map(Path, sources):
        if not src.is_file():
            raise McuError(f"{src}: no such source file")
        lang = C_FLAGS if src.suffix == ".c" else CXX_FLAGS
        obj = folder / f"{src.stem}-{sha(src.read_bytes(), base, lang)}.o"
        jobs.append(Job(src.resolve(), obj, (*base, *lang)))
    jobs += runtime_jobs(cpu, cache_dir)
    elf = folder / f"{name}.elf"
    compiled, parts, flash, ram = _compile_and_link(cpu, jobs, elf)
    return Image(elf=elf, cpu=cpu, board=BOARDS[cpu], flash_bytes=flash, ram_bytes=ram,
                 sections=parts, compiled=compiled,
                 build_seconds=time.perf_counter() - started)


def _compile_and_link(cpu: str, jobs: list[Job], elf: Path) -> tuple[int, dict, int, int]:
    """Compile what is not cached, link ``elf``: (objects compiled, sections, flash, RAM)."""
    compiled = compile_jobs(jobs)
    link(cpu, [job.obj for job in jobs], elf)
    parts = sections(elf)
    return (compiled, parts, *image_sizes(parts))
