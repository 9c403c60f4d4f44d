"""The microcontroller wing of edge-convert: parts and what fits them (``targets``), the C
bundle and its Cortex-M compile check (``bundle``), the motion gate in C (``motion``), its
README, Makefile and example (``recipe``, from ``bundle_files/``; TFLM's sources and flags in
``tflm_build``), TFLM's own
interpreter (``tflm``) and the export that ties them together (``export``). Stands on
``edge.convert.tflite`` for the file.
"""
