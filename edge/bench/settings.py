"""edge-bench's settings table: every flag once, with its help and bounds (the mechanism is
:mod:`edge.settings`)."""

from __future__ import annotations

from pathlib import Path

from edge.bench.mcu.cores import BOARDS, KERNELS
from edge.settings import Setting, json_setting, threads_setting

S = Setting
SWEEP = "which MobileNetV1 for this device"
MCU = "microcontroller firmware under emulation"

SETTINGS: tuple[Setting, ...] = (
    S("models", Path, [], positional=True, nargs="*", metavar="MODEL",
      help="edge models (.onnx, or .tflite for LiteRT; with --layers also names like "
           "1.0-224)"),
    threads_setting(many=True, help="thread counts to try (default: 1 and the physical "
                                    "cores; --sweep and --layers: one count, default the "
                                    "physical cores)"),
    S("runs", int, metavar="N", minimum=1, maximum=1_000_000,
      help="timed inferences per model and thread count (default 200; --sweep 100, --quick "
           "30; --mcu: frames per CPU and kernel set, default 3)"),
    S("duration", float, metavar="S", minimum=0, above=True, maximum=86_400,
      help="instead of --runs: spend about S seconds in timed runs"),
    S("warmup", int, metavar="N", minimum=0, maximum=10_000, help="(default 10)"),
    S("idle_seconds", float, metavar="S", minimum=0, above=True, maximum=3600,
      help="measure idle power first and subtract it"),
    S("sustained", float, metavar="S", minimum=0, above=True, maximum=86_400,
      help="also run the first model back to back for S seconds and report FPS and "
           "temperature over time"),
    json_setting("the report"),
    S("plot", Path, metavar="FILE.png",
      help="latency distribution plot (--sweep: latency against published accuracy; "
           "--layers: time against MACs)"),
    S("quiet", bool, False, short="-q", negatable=False, help="no progress messages"),
    S("sweep", bool, False, group=SWEEP, negatable=False,
      help="build (once, cached) and measure the 16 published configurations, alpha "
           "1.0/0.75/0.5/0.25 x 224/192/160/128, fp32 and int8, beside their published "
           "ImageNet top-1; random weights, for timing"),
    S("configs", str, group=SWEEP, metavar="A-R[,A-R...]",
      help="only these configurations, e.g. 1.0-224,0.25-128"),
    S("target_fps", float, group=SWEEP, metavar="N", minimum=0, above=True, maximum=10_000,
      help="name the most accurate configuration that reaches N FPS here"),
    S("layers", bool, False, group=SWEEP, negatable=False,
      help="each layer's time (onnxruntime's profiler) beside its MACs, for MODEL files or "
           "names (default: the largest and smallest configuration)"),
    S("quick", bool, False, group=SWEEP, negatable=False,
      help="fewer runs (30 per model in 5 rounds; 20 profiled)"),
    S("engines", str, group=SWEEP, metavar="NAME[,NAME]",
      help="--sweep: onnxruntime, litert (int8 as .tflite); default both when LiteRT is "
           "installed"),
    S("calibration", Path, group=SWEEP, metavar="DIR_OR_VIDEO",
      help="frames for the int8 builds, and the frames --mcu feeds the firmware (default: "
           "the repository's data/photos)"),
    S("mcu", Path, group=MCU, metavar="BUNDLE_DIR",
      help="build TensorFlow Lite Micro firmware from this edge-convert --mcu bundle for each "
           "CPU and kernel set, run it under qemu-system-arm (MPS2/MPS3 boards) and report: "
           "logits bit-identical to TFLM on x86-64, instructions per inference (QEMU's "
           "-icount: instructions, not cycles), arena used, flash, RAM. Objects are cached in "
           "$EDGE_MCU_CACHE (default: the edge cache folder's mcu/)"),
    S("tflm_sources", Path, group=MCU, metavar="DIR",
      help="--mcu: the folder with tflite-micro, flatbuffers, gemmlowp, ruy and CMSIS-NN at "
           "the commits TFLM pins (default: $EDGE_TFLM_SOURCES)"),
    S("cpus", str, group=MCU, metavar="CPU[,CPU...]", many=True, choices=tuple(BOARDS),
      help=f"--mcu: the cores to build for (default all: {','.join(BOARDS)}; cortex-m55 "
           "with CMSIS-NN runs its Helium kernels)"),
    S("kernels", str, group=MCU, metavar="SET[,SET]", many=True, choices=KERNELS,
      help="--mcu: TFLM's reference kernels, Arm's CMSIS-NN ones, or both (the default)"),
)
