"""edge-train's settings table: every flag once, with its help, default and bounds (the
mechanism is :mod:`edge.settings`). :class:`edge.train.pipeline.TrainOptions` takes the same
names and is checked against this table. The base's checksum and the microcontroller flags
are edge-convert's own rows, so they mean the same in both commands."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from edge.convert.settings import BY_NAME as CONVERT
from edge.settings import Setting, json_setting, threads_setting
from edge.train.views import DEFAULT_VIEWS, VIEWS

S = Setting
HEADS = ("auto", "imprint", "train")
UNKNOWN = "the unknown answer"

SETTINGS: tuple[Setting, ...] = (
    S("data", Path, positional=True, metavar="DATA",
      help="a folder with one folder of photos per class; the folder name is the label "
           "(edge-run --collect DATA fills it from the camera)"),
    S("output", Path, short="-o", metavar="OUT",
      help="the model folder to write (fp32 and int8 ONNX, the int8 .tflite, report.json); "
           "replaced whole, and only when everything succeeded"),
    S("base", str, metavar="MODEL_OR_WEIGHTS",
      help="the frozen backbone: anything edge-convert --weights takes (a quantized .tflite "
           "keeps its own quantization; float weights are calibrated on DATA's photos). "
           "Default: the bundled quantization-aware-trained MobileNetV1 0.5-160"),
    replace(CONVERT["sha256"], help="the base's checksum: required for a URL or a published "
                                    "name edge pins none for; checked for a file too"),
    S("head", str, "auto", choices=HEADS,
      help="imprint (normalised class means, the way Coral imprints), train (softmax "
           "regression) or auto (default): imprint when a class has a single photo, else "
           "train"),
    S("views", int, DEFAULT_VIEWS, metavar="N", minimum=1, maximum=len(VIEWS),
      help=f"views per photo, of {len(VIEWS)}: the centre crop and the full frame (as the "
           "runtime sees them), then mirrored, zoomed, darker and brighter ones "
           f"(default {DEFAULT_VIEWS}); each is embedded once and cached"),
    S("folds", int, 5, metavar="K", minimum=2, maximum=50,
      help="cross-validation folds for the held-out accuracy (default 5; at most the "
           "photos of the smallest class)"),
    S("seed", int, 0, minimum=0, help="seed of the assignment of photos to folds"),
    S("unknown", bool, True, group=UNKNOWN,
      help="add an answer for photos far from every class, at a threshold learned from the "
           "held-out photos (default on; a class folder with that name replaces it)"),
    S("unknown_label", str, "other", group=UNKNOWN, metavar="LABEL",
      help="its label (default other)"),
    threads_setting(help="embedding threads (default: onnxruntime's, the physical cores)"),
    S("cache_dir", Path, help="embedding cache (default ~/.cache/edge or $CACHE_DIRECTORY)"),
    S("cache", bool, True, help="--no-cache: embed every photo again, keep nothing"),
    S("verify_samples", int, 24, metavar="N", minimum=1, maximum=10_000,
      help="photos (x 2 crops) the exported models are checked on against the int8 ONNX "
           "(default 24)"),
    S("calibration_samples", int, 100, metavar="N", minimum=8, maximum=100_000,
      help="float bases only: photos (x 2 crops) int8 is calibrated on (default 100)"),
    replace(CONVERT["mcu"], help="also write the TFLM C bundle with its measured arena, as "
                                 "edge-convert --mcu does; refuses a model that does not fit"),
    *(CONVERT[name] for name in ("mcu_target", "mcu_sram", "mcu_flash", "mcu_input")),
    S("quiet", bool, False, short="-q", negatable=False, help="no progress messages"),
    json_setting("the report"),
)
BY_NAME = {s.name: s for s in SETTINGS}
