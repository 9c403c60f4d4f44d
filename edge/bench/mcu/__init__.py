"""edge-bench --mcu: TensorFlow Lite Micro firmware for emulated Cortex-M boards, built from an
``edge-convert --mcu`` bundle and run under ``qemu-system-arm``.

``cores`` (the CPUs, their QEMU boards and compiler flags), ``checks`` (tools, TFLM's source
trees, the bundle), ``compile`` (the object cache, compiling, linking), ``firmware`` (building
an image), ``qemu`` (running one: outputs, instructions per Invoke(), arena used),
``measure`` (every CPU x kernel set against TFLM's x86-64 interpreter) and ``report`` (the
table). ``harness/`` holds the C/C++ sources and linker scripts (package data).

May import the core and ``edge.convert`` (TFLM's interpreter, calibration frames); only
``edge.cli`` imports it, and edge-bench's settings read ``cores``.
"""
