"""What a TensorFlow Lite Micro build of a bundle needs: TFLM's framework sources, the kernel
files of each op, and TFLM's own compile flags. One table for both builders: the bundle's
Makefile (:mod:`edge.convert.mcu.recipe`) and ``edge-bench --mcu`` (``edge.bench.mcu``).
Standard library only.
"""

from __future__ import annotations

from collections.abc import Iterable

# TFLM's interpreter, allocator, planners and the helpers every kernel uses (folder -> files).
FRAMEWORK = {
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
}
KERNEL_DIR = "tensorflow/lite/micro/kernels"
KERNEL_SHARED = ("kernel_util", "micro_tensor_utils")  # every kernel needs these
# MicroMutableOpResolver method -> TFLM kernel files (the first one has a CMSIS-NN version in
# kernels/cmsis_nn/ when TFLM ships one). The ops edge-convert --mcu writes, and a few more.
KERNEL_FILES = {
    "AddConv2D": ("conv", "conv_common"),
    "AddDepthwiseConv2D": ("depthwise_conv", "depthwise_conv_common"),
    "AddFullyConnected": ("fully_connected", "fully_connected_common"),
    "AddMean": ("reduce", "reduce_common"),
    "AddPad": ("pad", "pad_common"),
    "AddQuantize": ("quantize", "quantize_common"),
    "AddAveragePool2D": ("pooling", "pooling_common"),
    "AddMaxPool2D": ("pooling", "pooling_common"),
    "AddSoftmax": ("softmax", "softmax_common"),
    "AddReshape": ("reshape", "reshape_common"),
    "AddAdd": ("add", "add_common"),
}

# TFLM's Makefile (cortex_m_generic, BUILD_TYPE=release_with_logs): -Os for the framework,
# -O2 for kernels and CMSIS-NN.
CODEGEN = ("-ffunction-sections", "-fdata-sections", "-fno-unwind-tables",
           "-fno-asynchronous-unwind-tables", "-fomit-frame-pointer")
ARM_ONLY = ("-mthumb", "-mlittle-endian")  # and -funsigned-char, after CODEGEN
DEFINES = ("-DNDEBUG", "-DTF_LITE_STATIC_MEMORY", "-DTF_LITE_DISABLE_X86_NEON",
           "-DKERNELS_OPTIMIZED_FOR_SPEED")
ARM_COMMON = (*ARM_ONLY, *CODEGEN, "-funsigned-char", *DEFINES)
CXX_FLAGS = ("-std=c++17", "-fno-rtti", "-fno-exceptions", "-fno-threadsafe-statics")
C_FLAGS = ("-std=c17",)
OPT_CORE, OPT_KERNEL = "-Os", "-O2"
# CMSIS-NN's float sources: off in TFLM's build (ARM_NN_ENABLE_F16/F32 = 0)
CMSIS_NN_FLOAT = ("_f16", "_f32", "_flt")


def framework_sources() -> list[str]:
    """TFLM's framework files, relative to a tflite-micro checkout."""
    return [f"{folder}/{name}.cc" for folder, names in FRAMEWORK.items()
            for name in names.split()]


def kernel_names(ops: Iterable[str]) -> list[str]:
    """The kernel file stems (in ``KERNEL_DIR``) that the resolver methods ``ops`` need."""
    return sorted(set(KERNEL_SHARED) | {name for op in ops for name in KERNEL_FILES[op]})
