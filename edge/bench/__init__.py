"""edge-bench: models and engines compared the way a buyer compares boards.

``models`` (load time, latency percentiles, throughput, CPU and energy per inference, side
by side), ``layers`` (onnxruntime's profiler, layer by layer, beside MACs), ``sweep/`` (the
published MobileNetV1 configurations against their accuracy), ``settings`` (the flags).

May import the core, engines, telemetry and ``edge.convert`` (the sweep builds its models);
only ``edge.cli`` imports it.
"""
