"""The bundle's build recipe and its README: a ``Makefile`` that builds ``example/main.cc``
against TensorFlow Lite Micro's sources given their path (for this computer, or for a
Cortex-M with ``TARGET=cortex-m4``), the example itself, and ``README.md``: what the model is,
how to feed it, what it needs, how to build it and how it was verified, from the report.

Every text depends only on the model and the report's machine-independent figures, so a
re-run writes the same bytes.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from edge.convert.mcu import tflm_build as tb
from edge.convert.mcu.bundle import RESOLVER_METHODS

FILES = Path(__file__).resolve().parent / "bundle_files"
EXAMPLE = "example/main.cc"


def makefile(ops: list[str]) -> str:
    """The Makefile for a model with these TFLite ops (``CONV_2D``, ...)."""
    methods = [RESOLVER_METHODS[op] for op in ops]
    fields = {
        "OPS": ", ".join(ops),
        "FRAMEWORK": " \\\n".join(f"  {path}" for path in tb.framework_sources()),
        "KERNEL_NAMES": " ".join(tb.kernel_names(methods)),
        "KERNEL_DIR": tb.KERNEL_DIR,
        "ARM_ONLY": " ".join(tb.ARM_ONLY),
        "CODEGEN": " ".join(tb.CODEGEN),
        "DEFINES": " ".join(tb.DEFINES),
        "CXX_FLAGS": " ".join(tb.CXX_FLAGS),
        "C_FLAGS": " ".join(tb.C_FLAGS),
        "OPT_CORE": tb.OPT_CORE,
        "OPT_KERNEL": tb.OPT_KERNEL,
        "CMSIS_NN_FLOAT": " ".join(f"%{tail}.c" for tail in tb.CMSIS_NN_FLOAT),
    }
    text = (FILES / "Makefile.in").read_text()
    for key, value in fields.items():
        text = text.replace(f"@{key}@", value)
    return text


def recipe_files(ops: list[str]) -> dict[str, str]:
    """Bundle path -> text: the Makefile and the example."""
    return {"Makefile": makefile(ops), EXAMPLE: (FILES / "main.cc").read_text()}


def wrap(markdown: str, width: int = 96) -> str:
    """Re-flow the paragraphs and list items of ``markdown`` to ``width`` columns; headings,
    tables and code blocks stay as they are."""
    blocks = []
    for block in markdown.strip("\n").split("\n\n"):
        if block.startswith(("#", "|", "```")):
            blocks.append(block)
            continue
        items = re.split(r"\n(?=\s*- )", block)
        lines = []
        for item in items:
            indent = re.match(r"\s*(- )?", item).group(0)
            body = " ".join(item[len(indent):].split())
            lines += textwrap.wrap(body, width, initial_indent=indent, break_long_words=False,
                                   subsequent_indent=" " * len(indent), break_on_hyphens=False)
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def _verified(mcu: dict) -> list[str]:
    """The README's lines on what edge-convert checked."""
    lines = []
    ver = mcu.get("verification")
    if ver is None:
        lines.append("- Not run against the ONNX model: edge-convert had no frames (give "
                     "`--calibration` or `--verify`).")
    else:
        names = {"tflm": "TFLM's own interpreter (PyPI `tflite-micro`, its reference kernels, "
                         "x86-64) with exactly the arena above",
                 "litert": "LiteRT with its reference kernels"}
        for name, res in ver.get("runtimes", {}).items():
            lines.append(f"- {names.get(name, name)}: top-1 as the int8 ONNX model on "
                         f"{res['top1_agree']}/{res['cases']} frames, logits within "
                         f"{res['max_steps']} output steps.")
            lines += [f"  - {d['case']}: top-1 {d['top1']}, ONNX {d['onnx_top1']} (ONNX's own "
                      f"margin {d['onnx_margin_steps']} steps)" for d in res["disagreements"]]
        lines.append("- The reference: the int8 ONNX evaluated exactly as the QDQ standard "
                     "defines it (onnxruntime without graph optimisations). These integer "
                     "kernels give the same answers on every CPU.")
        lines += [f"- Not run: {what}." for what in ver.get("unavailable", [])]
    compiled = mcu.get("compiled")
    if compiled:
        cpus = ", ".join(f"{cpu} ({entry['rodata_bytes']:,} B of `.rodata`)"
                         for cpu, entry in compiled["cpus"].items())
        lines.append(f"- `model_data.cc` compiles with {compiled['compiler']} for {cpus}.")
    lines.append("- Not checked by this conversion: the Makefile and example (edge's tests "
                 "build them against TFLM's sources and match TFLM's logits on x86-64 and an "
                 "emulated Cortex-M4: `tests/test_mcu_recipe.py`), speed, a real board. "
                 "`edge-bench --mcu` runs the bundle on emulated Cortex-M boards.")
    return lines


def readme(mcu: dict, title: str, source: str, spec, info, files: list[str]) -> str:
    """README.md from the MCU report section (``export_mcu``'s) and the model."""
    tfl, inp, out = mcu["tflite"], mcu["tflite"]["input"], mcu["tflite"]["output"]
    _, h, w, c = inp["shape"]
    int8 = inp["dtype"] == "int8"
    classes = spec.classes
    first = 1 if info.background else 0
    example = (f"`kLabels[{first}]` = \"{info.label(first)}\"" if info.labels else
               "no labels in the model: `class N` placeholders (edge-convert `--labels FILE`)")
    arena_how = ("measured with TFLM's interpreter (reference kernels, x86-64)"
                 if mcu["arena_measured"] else
                 "ESTIMATED from the layer table (tflite-micro was not installed to measure it)")
    compiled = mcu.get("compiled")
    rodata = (f"; `.rodata` of the compiled `model_data.cc`: "
              f"{next(iter(compiled['cpus'].values()))['rodata_bytes']:,} B" if compiled else "")
    feed = ("Feed each byte as int8 = camera byte - 128, i.e. `(int8_t)(byte ^ 0x80)`." if int8
            else "Feed the camera bytes as they are (uint8: the model's first op, QUANTIZE, "
            "shifts them to int8).")
    motion = ("\n- `edge_motion.h`, `edge_motion.c`: the motion gate for a still camera "
              "(run the model only when the scene changed; the example calls it)"
              if "edge_motion.c" in files else "")
    requant = mcu.get("requantized_weights") or []
    note_requant = (f"\n\nWeights re-quantized for TFLite (zero point 0): {len(requant)} "
                    "layers (the report lists them)." if requant else "")
    target = mcu["target"]
    trained = ("trained" if info.trained else
               "**UNTRAINED** (random weights: its answers mean nothing)")
    rows = [
        ("network", f"MobileNetV1 {spec.alpha:g}-{spec.resolution} ({spec.macs / 1e6:.1f} M "
                    f"MACs, {spec.params / 1e6:.3f} M parameters), {trained}"),
        ("classes", f"{classes}{' (class 0 is background)' if info.background else ''}: "
                    f"`kLabels[]` in `model_labels.h`, {example}"),
        ("ops", f"{', '.join(tfl['ops'])}: `model_ops.h` registers exactly these"),
        ("input", f"{inp['dtype']} [1][{h}][{w}][{c}], NHWC, RGB"),
        ("output", f"int8 [1][{classes}] logits"),
        ("tensor arena (SRAM)", f"{mcu['arena_bytes']:,} B, {arena_how}"),
        ("model (flash)", f"{mcu['flash_bytes']:,} B{rodata}; TFLM and its kernels add about "
                          "50 KB (reference) to 90 KB (CMSIS-NN) of code"),
        ("checked against", f"{target['name']}: {target['sram_bytes']:,} B SRAM, "
                            f"{target['flash_bytes']:,} B flash: fits"),
    ]
    table = "\n".join(["| | |", "| --- | --- |", *(f"| {k} | {v} |" for k, v in rows)])
    zero = out["zero_point"]
    q_minus_zero = f"(q + {-zero})" if zero < 0 else f"(q - {zero})" if zero else "q"
    weights = info.weights.get("file") or info.weights.get("kind") or "random initialisation"
    text = f"""# {title}

A MobileNetV1 image classifier for TensorFlow Lite Micro (TFLM), written by `edge-convert
--mcu` from `{source}` (weights: {weights}). Generated: re-run edge-convert instead of editing.

{table}

## Files

- `model_data.h`, `model_data.cc`: the model as a 16-byte aligned const array (keep it in
  flash) and its facts as constants: input shape, `kInputScale`, `kInputZeroPoint`,
  `kPixelOffset`, output scale and zero point, `kNumClasses`, `kTensorArenaSize`
- `model_ops.h`: `edge_model::RegisterOps()` for a `tflite::MicroMutableOpResolver`
- `model_labels.h`, `model_labels.cc`: the class names (`kLabels`, `kNumLabels`){motion}
- `Makefile`, `example/main.cc`: build and run the example (below)

## Input

Give the model the camera's picture as edge's runtime does: the centre square of the frame,
area-averaged down to {w} x {h}, RGB byte order (an RGB565 camera needs expanding to 8 bits
per channel), row by row. {feed} That is all a camera needs: the scale
{inp['scale']!r} and zero point {inp['zero_point']} in the header (`kInputScale`,
`kInputZeroPoint`) only say which real numbers those integers stand for inside the network
(they depend on where the weights came from); they do not change what you feed.

## Output

{classes} int8 logits. The top class is the largest; no softmax is needed to pick it. As a
real number a logit is `kOutputScale * (q - kOutputZeroPoint)` = {out['scale']!r} x
{q_minus_zero}. Its name is `kLabels[index]`.

## Memory

- Tensor arena: `kTensorArenaSize` = {mcu['arena_bytes']:,} B, {arena_how}. A 32-bit build
  uses about 3 KB less (smaller pointers in TFLM's bookkeeping). CMSIS-NN's Helium kernels
  (Cortex-M55/M85) keep 4 bytes more per class: reserve {mcu['arena_bytes'] + 4 * classes:,}
  B there. Other optimised kernels (esp-nn) may add scratch buffers: check
  `interpreter.arena_used_bytes()` on the device (the example prints it).
- Flash: the model array {mcu['flash_bytes']:,} B, plus TFLM's code; the labels add about
  {sum(len(info.label(i).encode()) + 5 for i in range(classes)):,} B if your code reads
  them.{note_requant}

## Build

The Makefile compiles TFLM's framework, only the kernels of the ops above and the bundle's
files, with TFLM's own flags:

```
make TFLM=/path/to/tflite-micro                  # this computer: g++, reference kernels
./build/host-reference/edge_example photo.ppm    # {w}x{h} P6 PPM, or raw RGB bytes; --logits
make TFLM=/path/to/tflite-micro TARGET=cortex-m4 KERNELS=cmsis-nn   # arm-none-eabi-g++
```

TFLM's checkout needs flatbuffers, gemmlowp and ruy (and CMSIS-NN for `KERNELS=cmsis-nn`):
in its `tensorflow/lite/micro/tools/make/downloads` (`make -f
tensorflow/lite/micro/tools/make/Makefile third_party_downloads` in the checkout) or beside
it; the Makefile's first lines say how to point elsewhere and how to add a board's startup
code and linker script. Without an image the example classifies a grey test image, so it also
runs on a board without files.

In your own project: add `model_data.cc` and `model_labels.cc` (and `edge_motion.c`, if you
use it) to the build, include `model_data.h` and `model_ops.h`, and follow
`example/main.cc`: `RegisterOps`, a `MicroInterpreter` over an arena of `kTensorArenaSize`
bytes, `AllocateTensors`, fill the input, `Invoke`, read the output.

## Verified

{chr(10).join(_verified(mcu))}
"""
    return wrap(text)
