"""edge-convert's settings table: every flag once, with its help, default and bounds (the
mechanism is :mod:`edge.settings`). :class:`edge.convert.pipeline.ConvertOptions` takes the
same names, and its defaults and bounds are checked against this table."""

from __future__ import annotations

from pathlib import Path

from edge.convert.mcu.targets import PRESETS
from edge.settings import Setting, json_setting

S = Setting
MCU = "microcontroller (TensorFlow Lite Micro)"
QUANTIZATION_MODES = ("keep", "recalibrate")
CALIBRATION_METHODS = ("gptq", "minmax", "entropy", "percentile")
MCU_INPUTS = ("int8", "uint8")

SETTINGS: tuple[Setting, ...] = (
    S("weights", str, metavar="FILE_OR_NAME",
      help="a .tflite, Keras .h5 or timm .safetensors file, a published name "
           "(tflite:0.25_128_quant, timm:mobilenetv1_100, keras:1.0_224 with --sha256; "
           "downloads once, checksum verified) or an https URL with --sha256. Without it: "
           "random weights, flagged UNTRAINED everywhere"),
    S("sha256", str, metavar="HEX",
      help="the weights' checksum: required for a URL or a published name edge pins none for; "
           "checked for a file too"),
    S("alpha", float, help="width multiplier (default 1.0, or the file's)"),
    S("resolution", int, help="input size in pixels (default 224, or the file's)"),
    S("classes", int, help="classifier outputs (default 1001, or the file's)"),
    S("labels", Path, help="text file, one class name per line"),
    S("input_range", str, metavar="RANGE", choices=("-1..1", "0..1"),
      help="the pixel range the network was trained on: -1..1 (TF-slim, timm, Keras "
           "MobileNet) or 0..1 (pixels / 255, e.g. MLPerf Tiny's float person model); "
           "default: the file's own when its input is quantised, else -1..1"),
    S("calibration", Path, metavar="DIR_OR_VIDEO",
      help="real frames for int8 calibration: a folder of images or a video file"),
    S("calibration_samples", int, 100, metavar="N", minimum=1, maximum=100_000,
      help="frames used for calibration (default 100); later frames are held out for "
           "verification"),
    S("quantization", str, choices=QUANTIZATION_MODES,
      help="int8 from a quantised TFLite file: keep its own trained quantization (default for "
           "such files; no calibration needed, --calibration frames only verify) or "
           "recalibrate on --calibration frames (float weights)"),
    S("calibration_method", str, choices=CALIBRATION_METHODS,
      help="for recalibrate: gptq (default: GPTQ weights, bias correction, float logits) or "
           "onnxruntime's calibrators, for comparison"),
    S("verify", Path, metavar="DIR_OR_VIDEO",
      help="held-out frames for the int8-vs-fp32 check (default: calibration frames beyond "
           "--calibration-samples)"),
    S("verify_samples", int, 200, metavar="N", minimum=1, maximum=100_000,
      help="frames used for verification (default 200)"),
    S("seed", int, 0, minimum=0, help="seed of the random initialisation"),
    S("tflite", bool, True,
      help="write the int8 model as a full-integer .tflite too, for the LiteRT engine "
           "(edge-run picks it when it is faster; default on)"),
    S("mcu", bool, False, group=MCU, negatable=False,
      help="also write a C bundle for TFLM (model_data.cc/.h, op resolver) with the measured "
           "arena; refuses a model that does not fit the target (needs an int8 model: "
           "--calibration, or a quantized checkpoint)"),
    S("mcu_target", str, group=MCU, metavar="PART", choices=tuple(PRESETS),
      help="SRAM/flash preset: cortex-m7 (default: 512K/2M), stm32f746, nrf52840, stm32l4r5"),
    S("mcu_sram", str, group=MCU, metavar="SIZE", help="SRAM for the arena, e.g. 320K"),
    S("mcu_flash", str, group=MCU, metavar="SIZE", help="flash for the model, e.g. 1M"),
    S("mcu_input", str, "int8", group=MCU, choices=MCU_INPUTS,
      help="int8 pixels (camera byte - 128; default, smallest arena) or the camera's uint8 "
           "bytes (adds a QUANTIZE op and its input tensor)"),
    S("output", Path, short="-o", help="folder for the models and report.json"),
    S("explain", bool, False, negatable=False,
      help="print the per-layer cost table (separable vs standard convolution) and exit"),
    json_setting("the report"),
)
BY_NAME = {s.name: s for s in SETTINGS}
