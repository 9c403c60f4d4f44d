"""One training, step by step: read DATA -> base network -> embeddings (cached) -> held-out
evaluation and the unknown threshold -> the head on every photo -> fp32, int8 and .tflite
models with the head inside -> report.json, staged in a hidden folder beside OUT and moved
into place only when everything succeeded.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from edge.convert.quant.params import QParams
from edge.errors import EdgeError
from edge.train import dataset, evaluate, fuse, heads
from edge.train.base import Base, calibrate, default_base, load_base
from edge.train.embed import Embedder, EmbeddingCache
from edge.train.report import build_report, write_report
from edge.train.settings import BY_NAME, HEADS
from edge.train.views import DEFAULT_VIEWS, VIEWS


@dataclass(frozen=True)
class TrainOptions:
    """What edge-train was asked to do. The names, defaults and bounds are edge-train's
    settings table (edge/train/settings.py); values out of its bounds are refused here."""

    data: Path
    output: Path
    base: str | None = None  # None: the bundled QAT 0.5-160
    sha256: str | None = None
    head: str = "auto"
    views: int = DEFAULT_VIEWS
    folds: int = 5
    unknown: bool = True
    unknown_label: str = "other"
    seed: int = 0
    threads: int | None = None
    cache_dir: Path | None = None
    cache: bool = True
    verify_samples: int = 24
    calibration_samples: int = 100
    mcu: bool = False
    mcu_target: str | None = None
    mcu_sram: str | None = None
    mcu_flash: str | None = None
    mcu_input: str = "int8"

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            if name in BY_NAME:
                BY_NAME[name].validated(getattr(self, name))
        if self.head not in HEADS:
            raise EdgeError(f"--head must be one of {', '.join(HEADS)}, got {self.head!r}")


def _validate(opts: TrainOptions) -> dict | None:
    """Cheap checks before any work: where OUT goes, what it would replace, the MCU target."""
    data, out = Path(opts.data).resolve(), Path(opts.output).resolve()
    if out == data or data in out.parents:
        raise EdgeError(f"--output {opts.output}: inside DATA, it would become a class")
    if out in data.parents:
        raise EdgeError(f"--output {opts.output}: holds DATA, which replacing it would delete")
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and
                                              not (out / "report.json").is_file())):
        raise EdgeError(f"--output {opts.output}: exists and is not a model folder (no "
                        "report.json); name a new folder or an earlier output")
    if opts.unknown:
        dataset.validate_class_name(opts.unknown_label)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out.parent):
            pass
    except OSError as exc:
        raise EdgeError(f"{out.parent}: not writable ({exc.strerror})") from exc
    if not opts.mcu:
        return None
    from edge.convert.mcu.targets import Target

    return {"target": Target.create(opts.mcu_target, opts.mcu_sram, opts.mcu_flash),
            "input": opts.mcu_input}


def _embed(scan: dataset.Scan, embedder: Embedder, cache: EmbeddingCache, views: int,
           log) -> tuple[dict[str, np.ndarray], list[str]]:
    """Codes [views, C] per photo digest, from the cache or computed; unreadable photos
    are left out with a reason."""
    chosen = VIEWS[:views]
    found, missing = {}, []
    for photo in scan.photos:
        codes = [cache.get(f"{photo.digest}:{v.key}") for v in chosen]
        if all(c is not None for c in codes):
            found[photo.digest] = np.stack(codes)
        else:
            missing.append(photo)
    skipped = []
    if missing:
        log(f"embedding {len(missing)} photo{'s' if len(missing) != 1 else ''} x {views} "
            f"views ({len(found)} cached)")
        by_path = {p.path: p for p in missing}
        for path, frame in dataset.read_images([p.path for p in missing]):
            if isinstance(frame, str):
                skipped.append(f"{path}: {frame}")
                continue
            pixels = np.concatenate([v.tensor(frame.image, frame.order, embedder.size)
                                     for v in chosen])
            codes = embedder(pixels)
            digest = by_path[path].digest
            for v, c in zip(chosen, codes, strict=True):
                cache.put(f"{digest}:{v.key}", c)
            found[digest] = codes
    return found, skipped


def _examples(scan: dataset.Scan, codes: dict[str, np.ndarray],
              embedder: Embedder) -> evaluate.Examples:
    photos = [p for p in scan.photos if p.digest in codes]
    for k, name in enumerate(scan.classes):
        if not any(p.label == k for p in photos):
            folder = scan.folder / name
            unreadable = sum(s.startswith(f"{folder}/") for s in scan.skipped)
            shared = sum(f"{folder}/" in d and "both left out" in d for d in scan.duplicates)
            raise EdgeError(f"{folder}: no usable photos ({unreadable} unreadable, {shared} "
                            "the same image as one in another class)")
    per_photo = [codes[p.digest] for p in photos]
    views = len(per_photo[0])
    labels = np.array([p.label for p in photos])
    centre = np.stack([c[0] for c in per_photo]).astype(np.float64)
    return evaluate.Examples(
        codes=np.concatenate(per_photo), photo=np.repeat(np.arange(len(photos)), views),
        view=np.tile(np.arange(views), len(photos)), labels=labels,
        groups=evaluate.near_duplicate_groups(centre, labels),
        feature_scale=embedder.scale, feature_zero=embedder.zero_point)


def _fit(kind: str) -> evaluate.Fit:
    if kind == "imprint":
        return lambda x, y, w, k: heads.imprint(x, y, k, w)
    return lambda x, y, w, k: heads.softmax_regression(x, y, k, w)


def _cases(scan: dataset.Scan, codes: dict, limit: int, size: int) -> list:
    """(class/name:crop, tensor) of up to ``limit`` photos, the classes in turn, in both crop
    modes: the frames every export is verified on."""
    by_class = [[p for p in scan.photos if p.label == k and p.digest in codes]
                for k in range(len(scan.classes))]
    chosen = []
    for i in range(max(map(len, by_class))):
        chosen += [c[i] for c in by_class if i < len(c)]
    chosen = chosen[:limit]
    cases = []
    for path, frame in dataset.read_images([p.path for p in chosen]):
        if not isinstance(frame, str):
            for view in VIEWS[:2]:
                cases.append((f"{path.parent.name}/{path.name}:{view.crop}",
                              view.tensor(frame.image, frame.order, size)))
    return cases


def _calibrate(base: Base, scan: dataset.Scan, limit: int, log) -> None:
    """Post-training int8 of a float base on DATA's photos (a stable choice: by content)."""
    photos = sorted(scan.photos, key=lambda p: p.digest)[:limit]
    log(f"calibrating int8 for the float base on {len(photos)} photos")
    tensors = [view.tensor(frame.image, frame.order, base.spec.resolution)
               for _, frame in dataset.read_images([p.path for p in photos])
               if not isinstance(frame, str) for view in VIEWS[:2]]
    calibrate(base, tensors, len(tensors) // 2)


def train(opts: TrainOptions, log=print) -> dict:
    """Run the whole training; returns the report (also written as OUT/report.json)."""
    mcu = _validate(opts)
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    scan = dataset.scan(opts.data)
    timings["scan_s"] = time.perf_counter() - t0
    t = time.perf_counter()
    base = load_base(opts.base or default_base(), opts.sha256)
    if base.quant is None:
        _calibrate(base, scan, opts.calibration_samples, log)
    embedder = Embedder(base.int8(), opts.threads)
    timings["base_s"] = time.perf_counter() - t
    t = time.perf_counter()
    cache_dir = (opts.cache_dir or _default_cache()) if opts.cache else None
    cache = EmbeddingCache(cache_dir, embedder.key)
    codes, skipped = _embed(scan, embedder, cache, opts.views, log)
    scan.skipped += skipped
    cache_note = cache.save()
    timings["embed_s"] = time.perf_counter() - t
    ex = _examples(scan, codes, embedder)

    t = time.perf_counter()
    trained = _learn(ex, scan.classes, opts)
    timings["train_s"] = time.perf_counter() - t

    t = time.perf_counter()
    out = Path(opts.output)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.edge-train-", dir=out.resolve().parent))
    os.chmod(staging, 0o755)  # mkdtemp's 0700 would keep edge-run's service user out
    try:
        section = {"kind": "imprinted" if trained.kind == "imprint" else "trained",
                   "classes": len(trained.labels), "views": opts.views,
                   "unknown": trained.threshold is not None, "temperature": trained.factor}
        built = fuse.build(base, trained.head, trained.q, trained.output, trained.labels,
                           section, staging)
        timings["build_s"] = time.perf_counter() - t
        t = time.perf_counter()
        cases = _cases(scan, codes, opts.verify_samples, base.spec.resolution)
        fuse.export(built, base, staging, cases, mcu)
        from edge.convert.verify import compare

        verification = {"source": f"{len(cases) // 2} DATA photos x 2 crops (training "
                                  "photos: this checks the builds agree, not accuracy)",
                        "held_out": False, "result": compare(built.fp32, built.int8, cases)}
        timings["export_s"] = time.perf_counter() - t
        timings["total_s"] = time.perf_counter() - t0
        report = build_report(
            opts=opts, scan=scan, base=base, ex=ex, trained=trained, built=built,
            verification=verification, timings=timings,
            cache={"path": str(cache.path) if cache.path else None, "added": cache.added,
                   "note": cache_note}, out=out)
        write_report(staging / "report.json", report)
        _replace_folder(staging, out)
        return report
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@dataclass
class Trained:
    """The head and how it was found: ``kind`` imprint or train, ``folds`` (None: nothing
    held out), the held-out logits, the unknown threshold, the probability factor, and the
    head in int8 with its output quantization."""

    kind: str
    folds: int | None
    held: np.ndarray | None
    threshold: evaluate.Threshold | None
    factor: float
    labels: list[str]
    head: heads.Head
    q: heads.QHead
    output: QParams


def _learn(ex: evaluate.Examples, classes: list[str], opts: TrainOptions) -> Trained:
    """Cross-validate, choose the unknown threshold and the temperature, fit the head on
    every photo and put it in int8."""
    n = len(classes)
    groups_per_class = [len(np.unique(ex.groups[ex.labels == k])) for k in range(n)]
    kind = opts.head if opts.head != "auto" else (
        "imprint" if min(groups_per_class) < 2 else "train")
    fit = _fit(kind)
    k = min(opts.folds, min(groups_per_class))
    held = None
    if k >= 2:
        held = evaluate.cross_validate(ex, fit, n, evaluate.photo_folds(ex.labels, ex.groups,
                                                                         k, opts.seed))
    head = fit(ex.x, ex.labels[ex.photo], ex.weights(np.ones(len(ex.labels), bool)), n)
    labels = list(classes)
    threshold = None
    if opts.unknown and opts.unknown_label not in labels and held is not None:
        novel = evaluate.leave_class_out(ex, fit, n) if n >= 3 else None
        threshold = evaluate.choose_threshold(held.max(axis=1), novel)
        labels.append(opts.unknown_label)
    factor = 1.0
    if held is not None:
        columns = held if threshold is None else np.hstack(
            [held, np.full((len(held), 1), threshold.value)])
        factor = evaluate.temperature(columns, ex.labels)
        held = held * factor
    head = head.scaled(factor)
    if threshold is not None:
        threshold = replace(threshold, value=threshold.value * factor)
        head = heads.with_unknown(head, threshold.value)
    q = heads.quantize_head(head, ex.feature_scale, ex.feature_zero)
    output = QParams(*heads.output_range(q.logits(ex.codes)))
    return Trained(kind, k if held is not None else None, held, threshold, factor, labels,
                   head, q, output)


def _default_cache() -> Path:
    from edge.engines import default_cache_dir

    return default_cache_dir()


def _replace_folder(staging: Path, out: Path) -> None:
    """Put the finished ``staging`` folder where ``out`` is; an earlier ``out`` is moved
    aside first and removed after (a rename cannot replace a non-empty folder)."""
    old = None
    if out.exists():
        old = staging.with_name(staging.name + ".old")
        os.replace(out, old)
    try:
        os.replace(staging, out)
    except OSError:
        if old is not None:
            os.replace(old, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
