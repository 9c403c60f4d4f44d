"""The models arm_check.py runs, and their inputs, all made on x86 into the work folder.

Model folders, in this order:
- the bundled 0.25-128 and 0.5-160 checkpoints, converted by edge-convert (``m0.25_128/``,
  ``m0.5_160/``);
- every bundled model under ``data/``: a folder with one .tflite and its labels.txt, converted
  as ``edge-convert --weights F.tflite --labels labels.txt`` would (``data/person/``, MLPerf
  Tiny's person model, becomes ``person/``), and a folder edge-convert wrote (report.json) as
  it is;
- a model edge-train made from ten bundled photos in three classes (``trained/``), when this
  edge has edge-train;
- any folder named with ``--extra``.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
PHOTOS = DATA / "photos"
# edge-train's worked example (docs/train.md): classes ImageNet has no single label for
TRAIN_CLASSES = {"bird": ["bird", "owl", "parrot"],
                 "cat or dog": ["cat", "imprinting_dog_test_0", "pets"],
                 "no animal": ["grace_hopper", "hot_dog", "kite_and_cold",
                               "missvickie_potato_chips"]}


def bundled(work: Path) -> list[Path]:
    """The model folders bundled under data/: converted ones as they are, weights with their
    labels.txt converted into work/models/NAME."""
    folders = []
    for folder in sorted(p for p in DATA.iterdir() if p.is_dir()):
        weights = sorted(folder.glob("*.tflite"))
        if (folder / "report.json").is_file():
            folders.append(folder)
        elif len(weights) == 1 and (folder / "labels.txt").is_file():
            folders.append(convert_into(work / "models" / folder.name, weights[0],
                                        folder / "labels.txt"))
    return folders


def has_edge_train() -> bool:
    """Whether this checkout has edge-train (edge.train)."""
    return importlib.util.find_spec("edge.train") is not None


def _quiet(_: str) -> None:
    """A log function that drops the converter's progress."""


def convert_into(out: Path, weights: Path, labels: Path | None = None) -> Path:
    """``weights`` converted by edge-convert into ``out`` (replaced); returns ``out``."""
    from edge.convert import ConvertOptions, convert

    shutil.rmtree(out, ignore_errors=True)
    convert(ConvertOptions(output=out, weights=str(weights), labels=labels), log=_quiet)
    return out


def train_into(work: Path, out: Path) -> Path:
    """edge-train on TRAIN_CLASSES (links to the bundled photos), the 0.25-128 as the base
    (the cheapest under emulation); returns ``out``."""
    from edge.train import TrainOptions, train

    data = work / "train-data"
    shutil.rmtree(data, ignore_errors=True)
    for label, stems in TRAIN_CLASSES.items():
        (data / label).mkdir(parents=True)
        for stem in stems:
            (data / label / f"{stem}.jpg").symlink_to(PHOTOS / f"{stem}.jpg")
    shutil.rmtree(out, ignore_errors=True)
    train(TrainOptions(data=data, output=out, cache=False,
                       base=str(DATA / "models" / "mobilenet_v1_0.25_128_quant.tflite")),
          log=_quiet)
    return out


def prepare(work: Path, extra: list[Path]) -> list[Path]:
    """The model folders to check (see the module docstring); converted ones are remade every
    run (a few seconds), so they are never stale."""
    folders = [convert_into(work / "models" / f"m{n}",
                            DATA / "models" / f"mobilenet_v1_{n}_quant.tflite")
               for n in ("0.25_128", "0.5_160")]
    folders += bundled(work)
    if has_edge_train():
        folders.append(train_into(work, work / "models" / "trained"))
    return folders + [p.resolve() for p in extra]


def model_files(folders: list[Path]) -> list[Path]:
    """The .onnx and .tflite files of the folders."""
    return [p for folder in folders for p in sorted(folder.iterdir())
            if p.suffix in (".onnx", ".tflite")]


def model_key(model: Path) -> str:
    """FOLDER/FILE: model files of different folders may share a name."""
    return f"{model.parent.name}/{model.name}"


def run_label(model: Path) -> str:
    """FOLDER/ for a model folder, FOLDER/FILE for a model file."""
    return model_key(model) if model.is_file() else f"{model.name}/"


def resolution(model: Path) -> int:
    """A model file's (or a folder's first model's) input size."""
    from edge.model import read_model_info

    return read_model_info(model if model.is_file() else model_files([model])[0]).resolution


def make_inputs(models: list[Path], target: Path, count: int) -> int:
    """The first ``count`` photos through edge's own preprocessing, at every model size, both
    crops, saved as ``size{S}`` arrays; returns how many photos."""
    from edge.preprocess import to_input
    from edge.sources.replay import ImageFolderSource

    sizes = sorted({resolution(m) for m in models})
    with ImageFolderSource(PHOTOS) as source:
        frames = list(source)[:count]
    np.savez(target, **{f"size{s}": np.concatenate([to_input(f.image, f.order, s, crop)
                                                    for f in frames
                                                    for crop in ("center", "full")])
                        for s in sizes})
    return len(frames)


def output_scale(model: Path) -> float | None:
    """The int8 logits' quantization step, from the folder's report.json, or None."""
    folder = model if model.is_dir() else model.parent
    try:
        return float(json.loads((folder / "report.json").read_text())["tflite"]["output"]
                     ["scale"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
