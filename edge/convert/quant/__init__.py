"""int8 for edge-convert: the parameter types every int8 path shares (``params``), calibration
frames (``frames``), post-training quantization (``ptq`` with ``layers``; onnxruntime's own
calibrators in ``ort`` for comparison; ``calibrate`` picks the method), and the QDQ ONNX graph
a kept or calibrated quantization becomes (``qdq``).
"""
