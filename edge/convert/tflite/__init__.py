"""The ``.tflite`` flatbuffer: read (``read``), written (``write``, with the constants TFLM
accepts in ``constants``), and made from an int8 QDQ ONNX model (``export``, whose input stage
is measured in ``input_stage``); the file the Pi's LiteRT engine runs (``litert``) and its
check against the int8 ONNX in LiteRT and other interpreters (``verify``).
"""
