"""The microcontroller wing of edge-convert: parts and what fits them (``targets``), the C
bundle and its Cortex-M compile check (``bundle``), the motion gate in C (``motion``), TFLM's
own interpreter (``tflm``) and the export that ties them together (``export``). Stands on
``edge.convert.tflite`` for the file.
"""
