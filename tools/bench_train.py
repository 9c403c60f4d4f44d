#!/usr/bin/env python3
"""Figures for docs/train.md: photos per class against held-out accuracy on the bundled
photos, and edge-train's time and model size on a few hundred photos.

1. Accuracy. Three classes from the bundled photos that ImageNet has no single label for:
   bird (bird, owl, parrot), cat or dog (cat, imprinting_dog_test_0, pets) and no animal
   (grace_hopper, hot_dog, missvickie_potato_chips, kite_and_cold); cat_720p is left out (the
   same scene as cat.jpg), dragonfly too (none of the three). For n = 1 and 2 photos per class,
   every combination of training photos is tried; each is tested on the eight crops of
   tools/views.py of every photo it did not train on, by the int8 head (unknown answer off).
   Heads: imprinting as Coral does it (uncentred), edge-train's imprinting (centred), and the
   trained head with 1 to 8 views per photo.
2. Time and size. A DATA of --per-class photos for each of the three classes, made from the
   bundled photos by random crops, flips and brightness (640x480 JPEGs, as edge-run --collect
   saves camera frames; their accuracy means nothing), trained by the real edge-train twice:
   with an empty embedding cache, then with it full. Then edge-bench on the int8 models.

    python tools/bench_train.py [--base FILE] [--per-class 100] [--threads 1] [--json FILE]
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from edge.machine import cpu_features
from edge.train import heads
from edge.train.base import default_base, load_base
from edge.train.embed import Embedder
from edge.train.views import VIEWS

ROOT = Path(__file__).resolve().parents[1]
from views import views as test_crops  # noqa: E402  (tools/views.py, beside this file)

PHOTOS = ROOT / "data" / "photos"
BIN = Path(sys.executable).parent
CLASSES = {"bird": ["bird", "owl", "parrot"],
           "cat or dog": ["cat", "imprinting_dog_test_0", "pets"],
           "no animal": ["grace_hopper", "hot_dog", "missvickie_potato_chips", "kite_and_cold"]}


def embeddings(base: str, threads: int | None) -> tuple[dict, dict, Embedder]:
    """Codes of every bench photo: VIEWS (training) and tools/views.py's crops (testing)."""
    embedder = Embedder(load_base(base).int8(), threads)
    train, test = {}, {}
    for name in itertools.chain(*CLASSES.values()):
        image = cv2.imread(str(PHOTOS / f"{name}.jpg"))
        train[name] = embedder(np.concatenate([v.tensor(image, "BGR", embedder.size)
                                               for v in VIEWS]))
        test[name] = embedder(np.concatenate([VIEWS[0].tensor(c, "BGR", embedder.size)
                                              for c in test_crops(image)]))
    return train, test, embedder


def coral_imprint(x, y, classes, w):
    """Imprinting without centring: normalised mean of normalised embeddings, no bias."""
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    weight = np.stack([(unit[y == k] * w[y == k, None]).sum(0) for k in range(classes)])
    weight /= np.linalg.norm(weight, axis=1, keepdims=True)
    return heads.Head(weight * heads.IMPRINT_SCALE / np.linalg.norm(x, axis=1).mean(),
                      np.zeros(classes), "imprinted")


def learning_curve(train: dict, test: dict, embedder: Embedder) -> list[dict]:
    names = list(CLASSES)
    fits = {"imprint, uncentred (Coral)": (coral_imprint, 8),
            "imprint, centred (edge-train)": (lambda x, y, k, w: heads.imprint(x, y, k, w), 8),
            **{f"trained, {v} view{'s' if v > 1 else ''}":
               (lambda x, y, k, w: heads.softmax_regression(x, y, k, w), v)
               for v in (1, 2, 4, 6, 8)}}
    rows = []
    for n in (1, 2):
        combos = list(itertools.product(*(itertools.combinations(CLASSES[c], n)
                                          for c in names)))
        for label, (fit, views) in fits.items():
            right = total = 0
            for choice in combos:
                x, y, w = [], [], []
                for k, chosen in enumerate(choice):
                    for name in chosen:
                        x.append(train[name][:views])
                        y += [k] * views
                        w += [1.0 / (views * n)] * views
                codes = np.concatenate(x)
                head = fit(embedder.dequantize(codes), np.array(y), len(names), np.array(w))
                q = heads.quantize_head(head, embedder.scale, embedder.zero_point)
                for k, c in enumerate(names):
                    for name in set(CLASSES[c]) - set(choice[k]):
                        answers = q.logits(test[name]).argmax(axis=1)
                        right += int((answers == k).sum())
                        total += len(answers)
            rows.append({"photos_per_class": n, "head": label, "combinations": len(combos),
                         "test_crops": total // len(combos), "accuracy": right / total})
    return rows


def make_data(target: Path, per_class: int, seed: int = 0) -> None:
    """``per_class`` 640x480 JPEGs per class from random crops of the class's photos."""
    rng = np.random.default_rng(seed)
    for label, names in CLASSES.items():
        (target / label).mkdir(parents=True)
        images = [cv2.imread(str(PHOTOS / f"{n}.jpg")) for n in names]
        for i in range(per_class):
            image = images[i % len(images)]
            h, w = image.shape[:2]
            side = rng.uniform(0.6, 1.0)
            ch, cw = int(h * side), int(w * side)
            y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
            frame = cv2.resize(image[y:y + ch, x:x + cw], (640, 480))
            if rng.random() < 0.5:
                frame = frame[:, ::-1]
            frame = np.clip(frame * rng.uniform(0.8, 1.2), 0, 255).astype(np.uint8)
            cv2.imwrite(str(target / label / f"{i:04d}.jpg"), frame,
                        [cv2.IMWRITE_JPEG_QUALITY, 90])


def run(*args: object) -> dict:
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"bench_train: {args[0]} failed: {proc.stderr.strip()}")
    return json.loads(proc.stdout)


def timing(base: str, per_class: int, threads: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="edge-bench-train-") as tmp:
        tmp = Path(tmp)
        make_data(tmp / "data", per_class)
        runs = {}
        for when in ("empty cache", "cache full"):
            t0 = time.perf_counter()
            report = run(BIN / "edge-train", tmp / "data", "--output", tmp / "out", "--base",
                         base, "--threads", threads, "--cache-dir", tmp / "cache", "--json")
            runs[when] = {"wall_s": round(time.perf_counter() - t0, 2), **report["timings"],
                          "computed_views": report["embeddings"]["computed_views"]}
        files = {name: f["bytes"] for name, f in report["files"].items()}
        models = [report["files"][k]["path"] for k in ("int8", "tflite")]
        bench = run(BIN / "edge-bench", *models, "--threads", "1", "--runs", "100", "--json")
        latency = {Path(r["model"]).suffix.lstrip("."): r["latency_ms"]["p50"]
                   for r in bench["results"]}
    return {"photos": per_class * len(CLASSES), "views": len(report["head"]["views"]),
            "threads": threads, "runs": runs, "bytes": files,
            "params": report["model"]["params"], "macs": report["model"]["macs"],
            "latency_p50_ms_1_thread": latency}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", default=default_base())
    p.add_argument("--per-class", type=int, default=100)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    cpu = cpu_features()
    result = {"date": time.strftime("%Y-%m-%d"), "base": Path(args.base).name,
              "machine": {"cpu": cpu["model"], "flags": cpu["features"]}}
    train, test, embedder = embeddings(args.base, args.threads)
    result["accuracy"] = learning_curve(train, test, embedder)
    print(f"{result['date']}, {result['machine']['cpu']} ({', '.join(cpu['features'])}), "
          f"base {result['base']}")
    print("| photos per class | head | accuracy on unseen photos' crops |")
    print("| ---: | --- | ---: |")
    for row in result["accuracy"]:
        print(f"| {row['photos_per_class']} | {row['head']} | {100 * row['accuracy']:.1f}% "
              f"({row['combinations']} combinations x {row['test_crops']} crops) |")
    result["timing"] = t = timing(args.base, args.per_class, args.threads)
    print(f"\nedge-train on {t['photos']} photos, {t['views']} views each, {t['threads']} "
          "thread(s):")
    for when, r in t["runs"].items():
        print(f"  {when}: {r['wall_s']:.1f} s wall ({r['computed_views']} views embedded in "
              f"{r['embed_s']:.1f} s; training {r['train_s']:.2f} s; models and their checks "
              f"{r['build_s'] + r['export_s']:.1f} s)")
    print("  files: " + ", ".join(f"{k} {v / 1024:,.0f} KiB" for k, v in t["bytes"].items()) +
          f"; {t['params'] / 1e6:.2f} M parameters, {t['macs'] / 1e6:.0f} M MACs")
    print("  edge-bench p50 at 1 thread: " + ", ".join(
        f"{k} {v:.2f} ms" for k, v in t["latency_p50_ms_1_thread"].items()))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
