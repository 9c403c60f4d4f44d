"""The C bundle for a TensorFlow Lite Micro project, and the Cortex-M compile check.

- ``model_data.cc`` / ``model_data.h``: the .tflite as a 16-byte aligned const byte array (it
  stays in flash; TFLM reads weights in place) with its size, and the input/output contract as
  constants: shape, scale, zero point, pixel offset, classes, the measured arena.
- ``model_ops.h``: ``edge_model::RegisterOps()`` adds exactly the ops the model uses to a
  ``tflite::MicroMutableOpResolver<N>`` (every registered kernel costs flash).
- ``edge_motion.h`` / ``edge_motion.c`` (from :mod:`edge.convert.mcu.motion`): the motion
  gate, compiled here too (C99, -Wall -Wextra -Werror) when ``arm-none-eabi-gcc`` is present.
- ``model_labels.h`` / ``model_labels.cc``: the class names, ``edge_model::kLabels[]``.

The README, Makefile and example beside them: :mod:`edge.convert.mcu.recipe`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import textwrap
from pathlib import Path

from edge.errors import EdgeError

RESOLVER_METHODS = {
    "CONV_2D": "AddConv2D", "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D",
    "FULLY_CONNECTED": "AddFullyConnected", "MEAN": "AddMean", "PAD": "AddPad",
    "QUANTIZE": "AddQuantize",
}
CPUS = ("cortex-m4", "cortex-m7")
DATA_NAME = "g_edge_model_data"


def _literal(data: bytes, per_line: int = 32) -> str:
    """The bytes as adjacent string literals of hex escapes: GCC reads a 1.5 MB model written
    this way in 0.4 s, and the same bytes as a brace list of numbers in 5.6 s."""
    return "\n".join('    "\\x' + data[i:i + per_line].hex("x").replace("x", "\\x") + '"'
                     for i in range(0, len(data), per_line))


def _comment(text: str, width: int = 96) -> str:
    return "\n".join(f"// {line}" for line in textwrap.wrap(text, width - 3))


def c_string(text: str) -> str:
    """A C/C++ string literal: printable ASCII as it is, other bytes (UTF-8) and ``?`` (no
    trigraphs) as three-digit octal escapes."""
    out = []
    for byte in text.encode():
        char = chr(byte)
        if char in '"\\':
            out.append("\\" + char)
        elif 32 <= byte < 127 and char != "?":
            out.append(char)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def label_files(labels: list[str] | None, classes: int, banner: str) -> dict[str, str]:
    """``model_labels.h`` / ``.cc``: the class names (``class N`` for a model without)."""
    names = labels or [f"class {i}" for i in range(classes)]
    size = sum(len(name.encode()) + 1 for name in names)
    whence = ("" if labels else " The model carries no labels (give edge-convert --labels "
              "FILE): these are placeholders.")
    header = f"""{banner}
#ifndef EDGE_MODEL_LABELS_H_
#define EDGE_MODEL_LABELS_H_

namespace edge_model {{

{_comment("The class names, by output index (with kClass0IsBackground, kLabels[0] is the "
          f"background). {size:,} bytes of strings plus a pointer each in model_labels.cc; "
          "a build with -Wl,--gc-sections drops them when nothing reads them." + whence)}
constexpr int kNumLabels = {len(names)};
extern const char* const kLabels[kNumLabels];

}}  // namespace edge_model

#endif  // EDGE_MODEL_LABELS_H_
"""
    rows = "\n".join(f"    {c_string(name)}," for name in names)
    source = f"""{banner}
#include "model_labels.h"

#include "model_data.h"

namespace edge_model {{

static_assert(kNumLabels == kNumClasses, "one label per class");

const char* const kLabels[kNumLabels] = {{
{rows}
}};

}}  // namespace edge_model
"""
    return {"model_labels.h": header, "model_labels.cc": source}


def c_files(tflite: bytes, title: str, source: str, input_info: dict, output: dict,
            ops: list[str], classes: int, background: bool, trained: bool, arena: int,
            arena_note: str, labels: list[str] | None = None) -> dict[str, str]:
    """File name -> text of the bundle's C/C++ files."""
    missing = [op for op in ops if op not in RESOLVER_METHODS]
    if missing:
        raise EdgeError(f"no TFLM resolver method known for {missing}")
    _, h, w, c = input_info["shape"]
    int8 = input_info["dtype"] == "int8"
    banner = _comment(f"{title} for TensorFlow Lite Micro, written by edge-convert from "
                      f"{source}. Generated: re-run edge-convert --mcu instead of editing.") + "\n"
    feed = ("feed each camera byte p as (int8_t)(p ^ 0x80), i.e. p - 128: the numbers the "
            "ONNX model reads as uint8, shifted into int8." if int8 else
            "feed the camera's RGB bytes as they are (a QUANTIZE op shifts them to int8).")
    input_doc = _comment(f"Input tensor 0: {input_info['dtype']} [1][{h}][{w}][{c}], NHWC, "
                         f"RGB, the centre square resized to {h}x{w} (edge/preprocess.py); "
                         f"{feed}")
    header = f"""{banner}
#ifndef EDGE_MODEL_DATA_H_
#define EDGE_MODEL_DATA_H_

#include <stddef.h>
#include <stdint.h>

// The .tflite flatbuffer, 16-byte aligned; keep it const so it stays in flash.
extern const unsigned char {DATA_NAME}[];
extern const unsigned int {DATA_NAME}_size;

namespace edge_model {{

{input_doc}
constexpr int kInputHeight = {h};
constexpr int kInputWidth = {w};
constexpr int kInputChannels = {c};
constexpr bool kInputIsInt8 = {'true' if int8 else 'false'};
constexpr int kPixelOffset = {-128 if int8 else 0};  // input value = camera byte + kPixelOffset
constexpr float kInputScale = {input_info['scale']!r}f;
constexpr int kInputZeroPoint = {input_info['zero_point']};

// Output tensor 0: int8 [1][{classes}] logits; logit = kOutputScale * (q - kOutputZeroPoint).
// The top class is the largest q; no softmax is needed to pick it.
constexpr int kNumClasses = {classes};
constexpr bool kClass0IsBackground = {'true' if background else 'false'};
constexpr bool kTrained = {'true' if trained else 'false'};  // false: random weights
constexpr float kOutputScale = {output['scale']!r}f;
constexpr int kOutputZeroPoint = {output['zero_point']};

{_comment("Tensor arena: " + arena_note)}
constexpr size_t kTensorArenaSize = {arena};
constexpr size_t kModelSize = {len(tflite)};

}}  // namespace edge_model

#endif  // EDGE_MODEL_DATA_H_
"""
    adds = "\n".join(f"  if (resolver.{RESOLVER_METHODS[op]}() != kTfLiteOk) return kTfLiteError;"
                     for op in ops)
    resolver = f"""{banner}
#ifndef EDGE_MODEL_OPS_H_
#define EDGE_MODEL_OPS_H_

#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"

namespace edge_model {{

// The ops the model uses, and only those: {', '.join(ops)}.
constexpr int kNumOps = {len(ops)};
using OpResolver = tflite::MicroMutableOpResolver<kNumOps>;

inline TfLiteStatus RegisterOps(OpResolver& resolver) {{
{adds}
  return kTfLiteOk;
}}

}}  // namespace edge_model

#endif  // EDGE_MODEL_OPS_H_
"""
    source_cc = f"""{banner}
#include "model_data.h"

// {len(tflite)} bytes, plus the terminating zero a string literal brings.
alignas(16) const unsigned char {DATA_NAME}[{len(tflite) + 1}] =
{_literal(tflite)};
const unsigned int {DATA_NAME}_size = {len(tflite)};
"""
    return {"model_data.h": header, "model_ops.h": resolver, "model_data.cc": source_cc,
            **label_files(labels, classes, banner)}


def arm_compiler() -> str | None:
    return shutil.which("arm-none-eabi-g++")


def compile_check(folder: Path, includes: tuple[Path, ...] = ()) -> dict | None:
    """Compile ``model_data.cc`` (and, given TFLM's include folders, a file that includes
    ``model_ops.h``) for each Cortex-M CPU; the object's real ``.rodata`` size per CPU.
    None when Debian's ``gcc-arm-none-eabi`` is not installed."""
    gxx = arm_compiler()
    if gxx is None:
        return None
    version = subprocess.run([gxx, "-dumpversion"], capture_output=True, text=True).stdout
    result: dict = {"compiler": f"arm-none-eabi-g++ {version.strip()}", "cpus": {}}
    with tempfile.TemporaryDirectory(prefix="edge-mcu-") as tmp:
        for cpu in CPUS:
            flags = [f"-mcpu={cpu}", "-mthumb", "-Os", "-std=c++17", "-Wall", "-Werror",
                     "-fno-exceptions", "-fno-rtti", f"-I{folder}"]
            obj = Path(tmp) / f"model_data_{cpu}.o"
            _run([gxx, *flags, "-c", str(folder / "model_data.cc"), "-o", str(obj)], cpu)
            entry = {"rodata_bytes": _section(obj, ".rodata")}
            if includes:
                unit = Path(tmp) / "uses_ops.cc"
                unit.write_text('#include "model_data.h"\n#include "model_ops.h"\n'
                                "edge_model::OpResolver resolver;\n"
                                "int edge_register() { return edge_model::RegisterOps(resolver)"
                                "; }\n")
                _run([gxx, *flags, *(f"-I{p}" for p in includes), "-c", str(unit), "-o",
                      str(Path(tmp) / f"uses_ops_{cpu}.o")], cpu)
                entry["resolver_compiled"] = True
            if (folder / "edge_motion.c").is_file() and (gcc := shutil.which(
                    "arm-none-eabi-gcc")) is not None:  # the motion gate, in C99
                obj = Path(tmp) / f"edge_motion_{cpu}.o"
                _run([gcc, f"-mcpu={cpu}", "-mthumb", "-Os", "-std=c99", "-Wall", "-Wextra",
                      "-Werror", "-c", str(folder / "edge_motion.c"), "-o", str(obj)], cpu)
                entry["motion_text_bytes"] = _section(obj, ".text")
            result["cpus"][cpu] = entry
    return result


def _run(cmd: list[str], cpu: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise EdgeError(f"the MCU bundle does not compile for {cpu}: "
                        f"{proc.stderr.strip()[:500]}")


def _section(obj: Path, name: str) -> int:
    """Bytes in ``name`` and its ``name.*`` subsections of an object (``arm-none-eabi-size
    -A``)."""
    size_tool = shutil.which("arm-none-eabi-size") or "size"
    out = subprocess.run([size_tool, "-A", str(obj)], capture_output=True, text=True,
                         check=True).stdout
    pattern = rf"^{re.escape(name)}(?:\.\S+)?\s+(\d+)"
    return sum(int(n) for n in re.findall(pattern, out, re.MULTILINE))
