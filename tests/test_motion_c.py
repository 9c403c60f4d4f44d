"""The MCU bundle's motion gate (edge_motion.c) against the Python gate: compiled with the
host's gcc, run on the same frames, the same verdict and changed-cell count on every frame and
the same reference at the end; and compiled for Cortex-M4 when arm-none-eabi-gcc is here.
And the same C, built with edge-bench --mcu's firmware runtime for a Cortex-M4 (and M55), run
bare-metal under qemu-system-arm on the same frames: the same answers there too."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edge.convert.mcu.motion import motion_files
from edge.motion import VERDICTS, GateParams, MotionGate
from edge.preprocess import to_input
from tools.bench_gate import camera_frame, sensor

GCC = shutil.which("gcc")
ARM_GCC = shutil.which("arm-none-eabi-gcc")
FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]

HARNESS = r"""
#include <stdio.h>
#include <stdlib.h>
#include "edge_motion.h"

#ifdef EDGE_FIRMWARE  /* bare metal: the frames file through semihosting, no arguments */
int main(void) {
  FILE* f = fopen("frames.bin", "rb");
  int32_t h[9];
  if (f == NULL || fread(h, sizeof h, 1, f) != 1) return 2;
#else
int main(int argc, char** argv) {
  FILE* f = fopen(argv[1], "rb");
  int32_t h[9];
  if (argc != 2 || f == NULL || fread(h, sizeof h, 1, f) != 1) return 2;
#endif
  edge_motion_params_t p = {h[4], h[5], h[6], (uint32_t)h[7], h[8]};
  edge_motion_t gate;
  edge_motion_init(&gate, &p);
  size_t bytes = (size_t)h[1] * (size_t)h[2] * (size_t)h[3];
  uint8_t* pixels = malloc(bytes);
  for (int i = 0; i < h[0]; ++i) {
    uint32_t t;
    if (fread(&t, 4, 1, f) != 1 || fread(pixels, 1, bytes, f) != bytes) return 3;
    edge_motion_verdict_t v = edge_motion_check(&gate, pixels, h[1], h[2], h[3], t);
    printf("%d %d\n", (int)v, gate.changed);
  }
  for (int i = 0; i < gate.rows * gate.cols; ++i) printf("%ld ", (long)gate.reference[i]);
  printf("\n");
  free(pixels);
  return 0;
}
"""


@pytest.fixture(scope="module")
def harness(tmp_path_factory) -> Path:
    if GCC is None:
        pytest.skip("needs gcc (Debian's build-essential)")
    folder = tmp_path_factory.mktemp("motion_c")
    for name, text in motion_files().items():
        (folder / name).write_text(text)
    (folder / "main.c").write_text(HARNESS)
    exe = folder / "motion"
    subprocess.run([GCC, *FLAGS, "-O2", str(folder / "main.c"), str(folder / "edge_motion.c"),
                    "-o", str(exe)], check=True, capture_output=True, text=True)
    return exe


def run_both(exe, frames: list[np.ndarray], times_ms: list[int], params: GateParams,
             tmp_path: Path) -> list[tuple[str, int]]:
    """Both gates on the frames; asserts they agree and returns the verdicts. ``exe``: the
    host program, or a function from the frames file's bytes to the C program's output."""
    h, w = frames[0].shape[:2]
    channels = frames[0].shape[2] if frames[0].ndim == 3 else 1
    data = struct.pack("9i", len(frames), h, w, channels, params.grid, params.area_q16,
                       params.level_grey, params.refresh_ms, params.adapt_shift)
    data += b"".join(struct.pack("I", t) + np.ascontiguousarray(f).tobytes()
                     for f, t in zip(frames, times_ms, strict=True))
    if callable(exe):
        out = exe(data).splitlines()
    else:
        (tmp_path / "frames.bin").write_bytes(data)
        out = subprocess.run([str(exe), str(tmp_path / "frames.bin")], capture_output=True,
                             text=True, check=True).stdout.splitlines()
    from_c = [(VERDICTS[int(v)], int(n)) for v, n in (line.split() for line in out[:-1])]
    gate = MotionGate(params)
    from_python = [(v.why, v.changed) for v in (gate.check(f, t * 1_000_000)
                                                for f, t in zip(frames, times_ms, strict=True))]
    assert from_c == from_python
    assert [int(x) for x in out[-1].split()] == gate.reference.ravel().tolist()
    return from_python


def clip_frames() -> tuple[list[np.ndarray], list[int]]:
    rng = np.random.default_rng(0)
    scenes = [camera_frame(p) for p in ("parrot.jpg", "bird.jpg")]
    plan = [(0, 1.0)] * 12 + [(0, 1.3)] * 6 + [(1, 1.0)] * 8 + [(0, 0.7)] * 8 + [(0, 0.3)] * 3
    frames = [to_input(sensor(scenes[s], rng, 8.0, g, 75), "BGR", 128)[0] for s, g in plan]
    return frames, [i * 33 for i in range(len(frames))]


def test_c_gate_matches_python_on_the_clip(harness, tmp_path):
    """Noise, exposure steps, JPEG, two scene changes and a refresh."""
    frames, times = clip_frames()
    verdicts = run_both(harness, frames, times, GateParams(refresh_s=0.3), tmp_path)
    whys = [v for v, _ in verdicts]
    assert whys[0] == "first" and whys[26] == "change" and whys[34] == "change"
    assert {"still", "refresh"} <= set(whys)


@pytest.mark.parametrize(("shape", "grid", "adapt"), [
    ((97, 130, 3), 32, 0),  # cells of unequal size
    ((50, 64), 16, 10),  # grey, a smaller grid, an adapting reference (rounding)
    ((20, 20, 3), 32, 9),  # fewer pixels than cells
    ((480, 640, 3), 32, 0),  # a full camera frame
])
def test_c_gate_matches_python_on_odd_frames(harness, tmp_path, shape, grid, adapt):
    rng = np.random.default_rng(sum(shape))
    base = rng.integers(0, 256, shape, dtype=np.uint8)
    frames = []
    for i in range(24):
        frame = np.clip(base.astype(np.int16) + rng.integers(-6, 7, shape), 0, 255)
        if i % 7 == 6:  # now and then a block of new content
            y, x = rng.integers(0, shape[0] // 2), rng.integers(0, shape[1] // 2)
            frame[y:y + shape[0] // 3, x:x + shape[1] // 3] = rng.integers(0, 256)
        if i % 5 == 4:
            frame = frame * rng.uniform(0.4, 1.8)
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
    params = GateParams(area=0.02, level=0.03, refresh_s=0.25, grid=grid, adapt_shift=adapt)
    verdicts = run_both(harness, frames, [i * 40 for i in range(24)], params, tmp_path)
    assert len({v for v, _ in verdicts}) >= 3  # the branches were exercised


def test_defaults_in_the_header_are_edge_runs():
    header = motion_files()["edge_motion.h"]
    p = GateParams()
    for name, value in (("GRID", p.grid), ("AREA_Q16", p.area_q16), ("LEVEL", p.level_grey),
                        ("REFRESH_MS", f"{p.refresh_ms}u"), ("ADAPT_SHIFT", p.adapt_shift)):
        assert f"#define EDGE_MOTION_DEFAULT_{name} {value} " in header


@pytest.mark.skipif(ARM_GCC is None, reason="needs arm-none-eabi-gcc (gcc-arm-none-eabi)")
def test_c_gate_compiles_for_cortex_m4_without_warnings(tmp_path):
    for name, text in motion_files().items():
        (tmp_path / name).write_text(text)
    obj = tmp_path / "edge_motion.o"
    subprocess.run([ARM_GCC, "-mcpu=cortex-m4", "-mthumb", "-Os", *FLAGS, "-c",
                    str(tmp_path / "edge_motion.c"), "-o", str(obj)], check=True)
    assert obj.stat().st_size > 0


@pytest.mark.parametrize("cpu", ["cortex-m4", "cortex-m55"])
def test_c_gate_matches_python_on_an_emulated_board(tmp_path, cpu):
    """The helper inside firmware: built with the harness runtime edge-bench --mcu uses
    (startup, semihosting, the core's flags and hard float), run bare-metal under
    qemu-system-arm, the frames read through semihosting."""
    from edge.bench.mcu.checks import check_tools
    from edge.bench.mcu.cores import McuError
    from edge.bench.mcu.firmware import build_program
    from edge.bench.mcu.qemu import run_program

    try:
        check_tools()
    except McuError as exc:
        pytest.skip(str(exc))
    for name, text in motion_files().items():
        (tmp_path / name).write_text(text)
    (tmp_path / "main.c").write_text(HARNESS)
    cache = Path(os.environ.get("EDGE_MCU_CACHE") or tmp_path / "cache")
    image = build_program(cpu, [tmp_path / "main.c", tmp_path / "edge_motion.c"], cache,
                          name="motion_gate", include_dirs=[tmp_path],
                          flags=["-DEDGE_FIRMWARE"])

    def on_board(data: bytes) -> str:
        run = run_program(image, {"frames.bin": data}, timeout=300)
        assert run.exit_code == 0, run.stdout[-500:] + run.stderr[-500:]
        return run.stdout

    frames, times = clip_frames()
    verdicts = run_both(on_board, frames, times, GateParams(refresh_s=0.3), tmp_path)
    assert verdicts[26][0] == "change" and verdicts[34][0] == "change"
