"""The emulated Cortex-M cores: QEMU's board for each, the compiler flags, the kernel sets.

Light on purpose (the standard library and edge.errors only): edge-bench's settings table reads
the names from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edge.errors import EdgeError

# CPU -> QEMU board: MPS2 AN386 (M4), AN500 (M7), AN505 (M33, SSE-200), MPS3 AN547 (M55,
# SSE-300)
BOARDS = {"cortex-m4": "mps2-an386", "cortex-m7": "mps2-an500", "cortex-m33": "mps2-an505",
          "cortex-m55": "mps3-an547"}
KERNELS = ("reference", "cmsis-nn")
# 2^7 ns of virtual time an instruction: every board counter ticks at most every 31.25 ns,
# so a tick is under half an instruction and ticks round back to exact instruction counts
# (at shift=0 they would be quantised to 31-50 instructions).
ICOUNT_SHIFT = 7
HARNESS = Path(__file__).resolve().parent / "harness"


class McuError(EdgeError):
    """A missing tool, source tree or bundle, a bad argument, or a build or run failure; the
    message is one line that says what to do."""


@dataclass(frozen=True)
class Core:
    """How to compile for one core and which board script and counters it uses."""

    flags: tuple[str, ...]
    board_macro: str
    linker_script: str
    cmsis_nn_paths: tuple[str, ...]  # the CMSIS-NN code paths the flags must switch on


# Hard-float builds with each core's FPU. CMSIS-NN reads no -D of ours: arm_nn_math_types.h
# sets ARM_MATH_DSP from __ARM_FEATURE_DSP and ARM_MATH_MVEI from __ARM_FEATURE_MVE, which
# -mcpu defines; the build checks that the expected ones are on. The M7 is the
# double-precision one QEMU models (fpv5-d16); the M55's -mfpu=auto gives MVE integer and
# float plus the FPU (__ARM_FEATURE_MVE=3).
CORES = {
    "cortex-m4": Core(("-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"),
                      "EDGE_BOARD_MPS2", "mps2.ld", ("ARM_MATH_DSP",)),
    "cortex-m7": Core(("-mcpu=cortex-m7", "-mfpu=fpv5-d16", "-mfloat-abi=hard"),
                      "EDGE_BOARD_MPS2", "mps2.ld", ("ARM_MATH_DSP",)),
    "cortex-m33": Core(("-mcpu=cortex-m33", "-mfpu=fpv5-sp-d16", "-mfloat-abi=hard"),
                       "EDGE_BOARD_AN505", "an505.ld", ("ARM_MATH_DSP",)),
    "cortex-m55": Core(("-mcpu=cortex-m55", "-mfpu=auto", "-mfloat-abi=hard"),
                       "EDGE_BOARD_AN547", "an547.ld", ("ARM_MATH_DSP", "ARM_MATH_MVEI")),
}
# TFLM's own flags (the same for every core): edge.convert.mcu.tflm_build


def core(cpu: str) -> Core:
    """The core's build facts; McuError naming the known CPUs otherwise."""
    if cpu not in CORES:
        raise McuError(f"no QEMU board for CPU {cpu!r}: known CPUs are {', '.join(BOARDS)}")
    return CORES[cpu]


def check_kernels(kernels: str) -> None:
    if kernels not in KERNELS:
        raise McuError(f"kernels must be one of {', '.join(KERNELS)}, not {kernels!r}")
