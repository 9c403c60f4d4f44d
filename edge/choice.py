"""Pick the build to run from a folder edge-convert wrote: the faithful one, or the fastest.

The faithful build answers as the checkpoint does: the int8 that kept a quantized
checkpoint's own quantization, or fp32 for a float checkpoint. int8 is not always faster:
on CPUs without dot-product instructions (Pi 3, Pi 4, Zero 2 W) it can lose to fp32, and the
exact uint8 arithmetic of a kept quantization can lose to fp32 too. ``--prefer fastest``
times both builds here once (remembered in the cache, keyed by both models, the CPU and the
thread count) and runs the faster; ``--prefer faithful`` runs the faithful one. The default
is faithful for a quantized checkpoint (its user picked its answers) and fastest for a float
one. Whenever the build picked is not the faithful one, the note says so and how often the
two agreed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from edge.engine import Engine, cpu_key
from edge.errors import ModelError
from edge.fileio import sha256_file, write_bytes_atomic
from edge.model import ModelInfo, read_model_info

PREFERENCES = ("faithful", "fastest")


def builds_in(folder: Path) -> dict[str, tuple[Path, ModelInfo]]:
    """{precision: (path, info)} of the edge models in ``folder``; one network only."""
    found: dict[str, tuple[Path, ModelInfo]] = {}
    networks = set()
    for path in sorted(Path(folder).glob("*.onnx")):
        try:
            info = read_model_info(path)
        except ModelError:
            continue
        networks.add((info.alpha, info.resolution, info.classes, info.weights.get("sha256")))
        found.setdefault(info.precision, (path, info))
    if not found:
        raise ModelError(f"{folder}: no edge models in this folder")
    if len(networks) > 1:
        raise ModelError(f"{folder}: holds more than one network; name the model file")
    return found


def faithful(builds: dict[str, tuple[Path, ModelInfo]]) -> str:
    """The precision of the build that answers as the checkpoint does."""
    int8 = builds.get("int8")
    if int8 is not None and (int8[1].quantization or {}).get("mode") == "keep":
        return "int8"
    return "fp32" if "fp32" in builds else next(iter(builds))


def _describe(precision: str, info: ModelInfo) -> str:
    mode = (info.quantization or {}).get("mode")
    if mode == "keep":
        return "int8 with the checkpoint's own quantization"
    if precision == "fp32" and info.weights.get("note", "").startswith("dequantised"):
        return "fp32 of the dequantised weights"
    return precision


def _time(engine: Engine, size: int, seconds: float) -> float:
    x = np.random.default_rng(0).integers(0, 256, (1, size, size, 3), dtype=np.uint8)
    times = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 5:
        t0 = time.perf_counter()
        engine.run(x)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1e3


def _measure(fp32: Path, int8: Path, size: int, threads: int | None, cache_dir: Path | None,
             seconds: float) -> tuple[dict, str]:
    """({"int8_ms", "fp32_ms"}, "measured now" or "measured earlier on this CPU")."""
    key = f"{sha256_file(fp32)[:16]}-{sha256_file(int8)[:16]}-{cpu_key()}-t{threads or 0}"
    record = Path(cache_dir) / f"precision-{key}.json" if cache_dir else None
    if record is not None and record.is_file():
        try:
            return json.loads(record.read_text()), "measured earlier on this CPU"
        except (OSError, ValueError):
            pass
    ms = {}
    for name, path in (("int8", int8), ("fp32", fp32)):
        ms[name] = _time(Engine(path, threads=threads, cache_dir=cache_dir), size, seconds)
    verdict = {"int8_ms": ms["int8"], "fp32_ms": ms["fp32"]}
    if record is not None:
        try:
            record.parent.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(record, json.dumps(verdict).encode())
        except OSError:
            pass  # an unwritable cache only costs a re-measurement next time
    return verdict, "measured now"


def _agreement(folder: Path) -> str:
    """"; int8 and fp32 agreed on top-1 for N/M held-out frames" from the folder's report."""
    try:
        report = json.loads((Path(folder) / "report.json").read_text())
        result = report["verification"]["result"]
        return (f"; int8 and fp32 agreed on top-1 for {result['top1_agree']}/{result['cases']} "
                "verification frames")
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def choose(folder: Path, threads: int | None, cache_dir: Path | None,
           seconds: float = 0.5, prefer: str | None = None) -> tuple[Path, str]:
    """(model to run, one line saying which and why). ``prefer``: ``faithful``, ``fastest``,
    or None for faithful with a quantized checkpoint and fastest with a float one."""
    if prefer is not None and prefer not in PREFERENCES:
        raise ModelError(f"--prefer must be one of {', '.join(PREFERENCES)}, got {prefer!r}")
    builds = builds_in(folder)
    best = faithful(builds)
    if set(builds) != {"fp32", "int8"}:
        precision, (path, _) = next(iter(builds.items()))
        return path, f"model {path.name} ({precision}: the only build in {folder})"
    if prefer is None:
        prefer = "faithful" if best == "int8" else "fastest"
    path, info = builds[best]
    if prefer == "faithful":
        return path, (f"model {path.name}: {_describe(best, info)}, the faithful build "
                      "(--prefer fastest picks the faster build instead)")
    (fp32, info), (int8, int8_info) = builds["fp32"], builds["int8"]
    verdict, how = _measure(fp32, int8, info.resolution, threads, cache_dir, seconds)
    ratio = verdict["fp32_ms"] / verdict["int8_ms"]
    picked = "int8" if ratio >= 1.0 else "fp32"
    if picked == "int8":
        note = (f"model {int8.name}: {_describe('int8', int8_info)} is {ratio:.2f}x faster "
                f"than fp32 on this CPU ({how})")
    else:
        note = (f"model {fp32.name}: {_describe('fp32', info)}, because int8 is "
                f"{1 / ratio:.2f}x SLOWER on this CPU ({how}); CPUs without dot-product "
                "instructions often lose with int8")
    if picked != best:
        note += (f"; NOT the faithful build ({_describe(best, builds[best][1])}: "
                 f"--prefer faithful runs it){_agreement(folder)}")
    return builds[picked][0], note
