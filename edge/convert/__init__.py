"""edge-convert: weights -> fp32 ONNX -> int8 ONNX (kept or calibrated) -> exports -> report.

The wings, each a package with a short face:
- ``checkpoints/``: where weights come from (download and pins) and one reader per format
  (TFLite, Keras ``.h5``, timm);
- ``quant/``: the int8 parameter types, calibration frames, post-training quantization and
  the QDQ graph that both a kept and a calibrated quantization become;
- ``tflite/``: the flatbuffer read and written, the ONNX -> full-integer ``.tflite`` export
  and its verification in LiteRT (the Pi's second engine);
- ``mcu/``: microcontroller targets, estimates, the C bundle, TFLM's interpreter.
Beside them the steps of one conversion: ``spec`` (layer table), ``weights`` (the float
weights every reader returns), ``graph`` (the fp32 ONNX), ``int8_step``, ``verify``,
``report``, and ``pipeline`` which runs them in order. ``settings`` holds the flags.

May import the shared core (``edge.model``, ``edge.preprocess``, ``edge.engines``, ...), and
``edge.sources`` for calibration frames; never ``edge.run``, ``edge.bench`` or ``edge.cli``.
"""

from edge.convert.pipeline import (
    ConvertOptions,
    check_bounds,
    convert,
    read_labels,
    resolve_spec,
)

__all__ = ["ConvertOptions", "check_bounds", "convert", "read_labels", "resolve_spec"]
