"""edge-convert's command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge.errors import EdgeError


def convert_parser() -> argparse.ArgumentParser:
    from edge.settings import Parser

    p = Parser(
        prog="edge-convert",
        description="Build MobileNetV1 as ONNX (fp32, and int8 when calibration frames are "
                    "given), import pretrained weights, verify int8 against fp32.")
    p.add_argument("--weights", metavar="FILE_OR_NAME",
                   help="a .tflite, Keras .h5 or timm .safetensors file, a published name "
                        "(tflite:0.25_128_quant, timm:mobilenetv1_100, keras:1.0_224 with "
                        "--sha256; downloads once, checksum verified) or an https URL with "
                        "--sha256. Without it: random weights, flagged UNTRAINED everywhere")
    p.add_argument("--sha256", metavar="HEX",
                   help="the weights' checksum: required for a URL or a published name edge "
                        "pins none for; checked for a file too")
    p.add_argument("--alpha", type=float, help="width multiplier (default 1.0, or the file's)")
    p.add_argument("--resolution", type=int, help="input size in pixels (default 224, or the "
                                                  "file's)")
    p.add_argument("--classes", type=int, help="classifier outputs (default 1001, or the file's)")
    p.add_argument("--labels", type=Path, help="text file, one class name per line")
    p.add_argument("--calibration", type=Path, metavar="DIR_OR_VIDEO",
                   help="real frames for int8 calibration: a folder of images or a video file")
    p.add_argument("--calibration-samples", type=int, default=100, metavar="N",
                   help="frames used for calibration (default 100); later frames are held "
                        "out for verification")
    p.add_argument("--quantization", choices=["keep", "recalibrate"],
                   help="int8 from a quantised TFLite file: keep its own trained quantization "
                        "(default for such files; no calibration needed, --calibration frames "
                        "only verify) or recalibrate on --calibration frames (float weights)")
    p.add_argument("--calibration-method", choices=["gptq", "minmax", "entropy", "percentile"],
                   help="for recalibrate: gptq (default: GPTQ weights, bias correction, "
                        "float logits) or onnxruntime's calibrators, for comparison")
    p.add_argument("--verify", type=Path, metavar="DIR_OR_VIDEO",
                   help="held-out frames for the int8-vs-fp32 check (default: calibration "
                        "frames beyond --calibration-samples)")
    p.add_argument("--verify-samples", type=int, default=200, metavar="N")
    p.add_argument("--seed", type=int, default=0, help="seed of the random initialisation")
    p.add_argument("--tflite", action=argparse.BooleanOptionalAction, default=True,
                   help="write the int8 model as a full-integer .tflite too, for the LiteRT "
                        "engine (edge-run picks it when it is faster; default on)")
    mcu = p.add_argument_group("microcontroller (TensorFlow Lite Micro)")
    mcu.add_argument("--mcu", action="store_true",
                     help="also write a C bundle for TFLM (model_data.cc/.h, op resolver) with "
                          "the measured arena; refuses a model that does not fit the target "
                          "(needs an int8 model: --calibration, or a quantized checkpoint)")
    mcu.add_argument("--mcu-target", metavar="PART",
                     help="SRAM/flash preset: cortex-m7 (default: 512K/2M), stm32f746, "
                          "nrf52840, stm32l4r5")
    mcu.add_argument("--mcu-sram", metavar="SIZE", help="SRAM for the arena, e.g. 320K")
    mcu.add_argument("--mcu-flash", metavar="SIZE", help="flash for the model, e.g. 1M")
    mcu.add_argument("--mcu-input", choices=["int8", "uint8"], default="int8",
                     help="int8 pixels (camera byte - 128; default, smallest arena) or the "
                          "camera's uint8 bytes (adds a QUANTIZE op and its input tensor)")
    p.add_argument("--output", "-o", type=Path, help="folder for the models and report.json")
    p.add_argument("--explain", action="store_true",
                   help="print the per-layer cost table (separable vs standard convolution) "
                        "and exit")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    return p


def _convert(argv: list[str] | None) -> int:
    import json

    from edge.convert import ConvertOptions, check_bounds, convert, resolve_spec
    from edge.convert.download import load_weights
    from edge.convert.report import format_report
    from edge.convert.spec import explain

    args = convert_parser().parse_args(argv)
    opts = ConvertOptions(
        output=args.output or Path("."), weights=args.weights, sha256=args.sha256,
        alpha=args.alpha,
        resolution=args.resolution, classes=args.classes, labels=args.labels,
        calibration=args.calibration, calibration_samples=args.calibration_samples,
        calibration_method=args.calibration_method, quantization=args.quantization,
        verify=args.verify,
        verify_samples=args.verify_samples, seed=args.seed, tflite=args.tflite, mcu=args.mcu,
        mcu_input=args.mcu_input, mcu_target=args.mcu_target, mcu_sram=args.mcu_sram,
        mcu_flash=args.mcu_flash)
    if args.explain:
        check_bounds(args.alpha, args.resolution, args.classes)
        weights = load_weights(args.weights, args.sha256) if args.weights else None
        try:
            print(explain(resolve_spec(weights, opts)))
        except ValueError as exc:
            raise EdgeError(str(exc)) from exc
        return 0
    if args.output is None:
        raise EdgeError("--output DIR is required (where the models and report.json go)")
    log = (lambda msg: print(msg, file=sys.stderr)) if args.json else print
    report = convert(opts, log=log)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0
