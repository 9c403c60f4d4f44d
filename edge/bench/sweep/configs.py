"""The published MobileNetV1 configurations, their published accuracy, and their builds.

TF-slim's table (edge/data/published.json, with its source) gives ImageNet top-1 for the
float and the quantization-aware-trained checkpoint of every configuration. The builds here
have random weights (speed does not depend on them), fp32 and int8 calibrated on real
photos, cached under the cache folder keyed by configuration, edge and onnxruntime version
and the calibration frames.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from edge import __version__
from edge.errors import EdgeError
from edge.model import alpha_text

ALPHAS = (1.0, 0.75, 0.5, 0.25)
RESOLUTIONS = (224, 192, 160, 128)
PRECISIONS = ("fp32", "int8")
ENGINE = "onnxruntime"
# LiteRT runs the int8 build as the full-integer .tflite edge-convert writes beside it
ENGINES = (ENGINE, "litert")
# the published column each precision is compared with: float checkpoints for fp32, the
# quantization-aware-trained ones for int8 (the closest published figure to any int8 build)
CHECKPOINT = {"fp32": "float", "int8": "quant"}
WEIGHTS_NOTE = ("weights are RANDOM (untrained): the speed is real, and the top-1 column is the "
                "published ImageNet figure of the trained TF-slim checkpoint of that "
                "configuration (float checkpoints for fp32, quantization-aware-trained ones "
                "for int8; edge's own int8 is post-training quantized)")
_NAME = re.compile(r"^(\d+(?:\.\d+)?)[-_](\d+)$")


@dataclass(frozen=True, order=True)
class Configuration:
    """One MobileNetV1 network: width multiplier and input resolution."""

    alpha: float
    resolution: int

    @property
    def name(self) -> str:
        """TF's spelling: 1.0-224, 0.25-128."""
        return f"{alpha_text(self.alpha)}-{self.resolution}"


def all_configurations() -> list[Configuration]:
    """The 16 published configurations, largest first."""
    return [Configuration(a, r) for a in ALPHAS for r in RESOLUTIONS]


def parse_configuration(text: str) -> Configuration | None:
    """``1.0-224`` (or ``1.0_224``) -> Configuration; None when ``text`` is not such a name."""
    match = _NAME.match(text.strip())
    if not match:
        return None
    return Configuration(float(match.group(1)), int(match.group(2)))


def parse_configurations(text: str, flag: str = "--configs") -> list[Configuration]:
    """A comma-separated list of published configurations, in the order given."""
    known = set(all_configurations())
    out: list[Configuration] = []
    for part in text.split(","):
        config = parse_configuration(part)
        if config is None or config not in known:
            names = ", ".join(c.name for c in all_configurations())
            raise EdgeError(f"{flag} {part.strip()!r}: expected published configurations "
                            f"like 1.0-224,0.25-128 (one of {names})")
        if config not in out:
            out.append(config)
    return out


@functools.lru_cache(maxsize=1)
def published() -> dict:
    """TF-slim's table (edge/data/published.json): source, notes and one entry per model."""
    text = resources.files("edge.data").joinpath("published.json").read_text(encoding="utf-8")
    return json.loads(text)


def published_entry(config: Configuration) -> dict | None:
    """The published row of ``config``, or None for a configuration TF-slim never trained."""
    return next((m for m in published()["models"]
                 if (m["alpha"], m["resolution"]) == (config.alpha, config.resolution)), None)


def bundled_photos() -> Path | None:
    """The repository's data/photos when edge runs from a checkout; None when installed alone."""
    folder = Path(__file__).resolve().parents[3] / "data" / "photos"
    return folder if folder.is_dir() else None


def calibration_source(given: Path | None) -> Path:
    """The frames int8 is calibrated on: ``given``, else the bundled photos; an error naming
    what is missing otherwise."""
    if given is not None:
        if not Path(given).exists():
            raise EdgeError(f"{given}: --calibration path not found")
        return Path(given)
    photos = bundled_photos()
    if photos is None:
        raise EdgeError("int8 models are calibrated on real photos, and the bundled data/photos "
                        "folder is not here (edge is installed without its repository): pass "
                        "--calibration DIR_OR_VIDEO (a folder of images or a video file)")
    return photos


def _fingerprint(path: Path) -> str:
    """Content hash of a calibration folder (every file, by name) or video file."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()[:12]


def cache_folder(cache_dir: Path, config: Configuration, calibration: Path) -> Path:
    """Where a configuration's fp32 and int8 builds are kept: keyed by the configuration, the
    edge and onnxruntime versions (the quantizer's output depends on it) and the calibration
    frames."""
    import onnxruntime as ort

    return (Path(cache_dir) / "sweep" / f"edge{__version__}-ort{ort.__version__}"
            / f"{config.name}-seed0-calib{_fingerprint(calibration)}")


def parse_engines(text: str | None) -> list[str]:
    """``--engines onnxruntime,litert``; None: onnxruntime, and LiteRT when it is installed."""
    from edge.engines.litert import litert_available

    installed, why = litert_available()
    if text is None:
        return list(ENGINES) if installed else [ENGINE]
    chosen = list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    for engine in chosen:
        if engine not in ENGINES:
            raise EdgeError(f"--engines {engine!r}: expected {' or '.join(ENGINES)}")
    if "litert" in chosen and not installed:
        raise EdgeError(f"--engines litert: {why}")
    if not chosen:
        raise EdgeError("--engines: name at least one of " + ", ".join(ENGINES))
    return chosen


def build_models(configs: list[Configuration], calibration: Path, cache_dir: Path,
                 log=lambda _msg: None, engines: tuple[str, ...] | list[str] = (ENGINE,),
                 ) -> tuple[dict[tuple[Configuration, str, str], Path], dict]:
    """fp32 and int8 ONNX of each configuration (and the int8 .tflite for LiteRT), converted
    once and cached.

    Returns ``{(config, precision, engine): path}`` and a summary (cache folder, how many were
    built or reused, seconds).
    """
    from edge.convert import ConvertOptions, convert

    models: dict[tuple[Configuration, str, str], Path] = {}
    built = reused = 0
    t0 = time.perf_counter()
    for config in configs:
        folder = cache_folder(cache_dir, config, calibration)
        report = _cached_report(folder, with_tflite="litert" in engines)
        if report is None:
            t1 = time.perf_counter()
            report = convert(ConvertOptions(output=folder, alpha=config.alpha,
                                            resolution=config.resolution, calibration=calibration,
                                            calibration_samples=1000),
                             log=lambda _msg: None)
            built += 1
            log(f"built {config.name} fp32 + int8 in {time.perf_counter() - t1:.1f} s")
        else:
            reused += 1
        if ENGINE in engines:
            for precision in PRECISIONS:
                models[(config, precision, ENGINE)] = Path(report["files"][precision]["path"])
        if "litert" in engines:
            models[(config, "int8", "litert")] = Path(report["tflite"]["path"])
    return models, {"cache": str(Path(cache_dir) / "sweep"), "built": built, "reused": reused,
                    "seconds": round(time.perf_counter() - t0, 2),
                    "calibration": str(calibration), "weights": "random (seed 0), UNTRAINED"}


def _cached_report(folder: Path, with_tflite: bool = False) -> dict | None:
    """A finished build's report (written last, after the models), or None."""
    try:
        report = json.loads((folder / "report.json").read_text())
        paths = [Path(report["files"][p]["path"]) for p in PRECISIONS]
        if with_tflite:
            paths.append(Path(report["tflite"]["path"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return report if all(p.is_file() for p in paths) else None
