#!/usr/bin/env python3
"""Re-derive the repository's reference predictions with an independent runtime (LiteRT).

For every bundled TFLite model (``data/models/*.tflite``) and every bundled photo
(``data/photos``), in both preprocessing modes, the top-5 of LiteRT's own interpreter,
preprocessed exactly as ``../shared/data/reference_predictions.json`` records (Pillow RGB,
optional centre square, BILINEAR resize, uint8 NHWC). Writes
``data/reference_predictions.json``. Tests compare edge's answers against that file.

``--photos-from DIR`` first (re)makes ``data/photos`` from the team's full-size photographs:
JPEGs of at most 250 KB are copied byte for byte; everything else is re-encoded as JPEG
quality 90 with its longer side at most 640 pixels (EXIF dropped). That is how the bundled
photos were made from ``../shared/data/photos``.

Needs ``pip install -e '.[dev]'`` (ai-edge-litert and Pillow); never needed at run time.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
MAX_SIDE = 640
COPY_BELOW = 250_000
PREPROCESSING = {
    "full_image": "PIL Image.open().convert('RGB'); resize the WHOLE image (no crop, aspect "
                  "ratio not kept) to model HxW with Image.BILINEAR; uint8 NHWC RGB.",
    "center_crop": "PIL RGB; crop the central square (side = min(w,h), offsets "
                   "floor((w-s)/2),floor((h-s)/2)); resize to HxW BILINEAR; uint8 NHWC RGB.",
    "uint8 models": "uint8 pixels fed directly (input quantization scale=0.0078125, "
                    "zero_point=128, i.e. real=(q-128)/128).",
    "float model": "x = (uint8 - 127.5) / 127.5 as float32 NHWC (range [-1,1]).",
}


def remake_photos(source: Path, target: Path) -> None:
    from PIL import Image

    target.mkdir(parents=True, exist_ok=True)
    for old in target.glob("*.jpg"):
        old.unlink()
    for path in sorted(source.iterdir()):
        if path.suffix.lower() not in (".jpg", ".jpeg", ".bmp", ".png"):
            continue
        name = path.stem.removeprefix("coral_") + ".jpg"
        if path.suffix.lower() in (".jpg", ".jpeg") and path.stat().st_size <= COPY_BELOW:
            shutil.copyfile(path, target / name)
            continue
        image = Image.open(path).convert("RGB")
        scale = MAX_SIDE / max(image.size)
        if scale < 1:
            image = image.resize((round(image.width * scale), round(image.height * scale)),
                                 Image.LANCZOS)
        image.save(target / name, "JPEG", quality=90, optimize=True)


def reference_input(path: Path, mode: str, size: int) -> np.ndarray:
    from PIL import Image

    image = Image.open(path).convert("RGB")
    if mode == "center_crop":
        w, h = image.size
        s = min(w, h)
        left, top = (w - s) // 2, (h - s) // 2
        image = image.crop((left, top, left + s, top + s))
    return np.asarray(image.resize((size, size), Image.BILINEAR), dtype=np.uint8)[np.newaxis]


def predictions(model: Path, photos: list[Path], labels: list[str]) -> dict:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(model))
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    size = int(inp["shape"][1])
    entry = {"input_shape": [int(d) for d in inp["shape"]], "input_dtype": inp["dtype"].__name__,
             "input_quant": [float(inp["quantization"][0]), int(inp["quantization"][1])],
             "output_shape": [int(d) for d in out["shape"]],
             "output_dtype": out["dtype"].__name__,
             "output_quant": [float(out["quantization"][0]), int(out["quantization"][1])],
             "predictions": {}}
    for photo in photos:
        modes = {}
        for mode in ("full_image", "center_crop"):
            x = reference_input(photo, mode, size)
            if inp["dtype"] == np.float32:
                x = (x.astype(np.float32) - 127.5) / 127.5
            interp.set_tensor(inp["index"], x)
            interp.invoke()
            raw = interp.get_tensor(out["index"])[0]
            scale, zero = out["quantization"]
            probs = (raw.astype(np.float64) - zero) * scale if scale else raw.astype(np.float64)
            top = np.argsort(-probs, kind="stable")[:5]
            modes[mode] = [{"index_1001": int(i), "imagenet_index_1000": int(i) - 1,
                            "label": labels[i], "prob": round(float(probs[i]), 5)} for i in top]
        entry["predictions"][photo.name] = modes
    return entry


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--photos-from", type=Path, metavar="DIR",
                   help="remake data/photos from these full-size photographs first")
    p.add_argument("--data", type=Path, default=DATA)
    args = p.parse_args()
    try:
        import ai_edge_litert
        import PIL
    except ImportError:
        print("needs ai-edge-litert and Pillow: pip install -e '.[dev]'", file=sys.stderr)
        return 2
    if args.photos_from is not None:
        remake_photos(args.photos_from, args.data / "photos")
    labels = (ROOT / "edge/data/imagenet_labels.txt").read_text().splitlines()
    photos = sorted((args.data / "photos").glob("*.jpg"))
    models = sorted((args.data / "models").glob("*.tflite"))
    result = {
        "runtime": f"ai-edge-litert {ai_edge_litert.__version__} Interpreter (CPU, default "
                   f"XNNPACK delegate), Python {platform.python_version()}, "
                   f"{platform.machine()}, numpy {np.__version__}, Pillow {PIL.__version__}",
        "made_by": "tools/make_reference.py",
        "preprocessing": PREPROCESSING,
        "output": "uint8 models: softmax prob = q * 0.00390625 (zero_point 0). float model: "
                  "softmax probabilities float32.",
        "labels_file": "edge/data/imagenet_labels.txt: 1001 lines, index 0 = background; "
                       "1000-class index = index_1001 - 1",
        "models": {m.name: predictions(m, photos, labels) for m in models},
    }
    target = args.data / "reference_predictions.json"
    target.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{target}: {len(models)} models x {len(photos)} photos x 2 modes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
