"""Pick int8 or fp32 for this device by measuring both, once.

int8 is not always faster: on CPUs without dot-product instructions (Pi 3, Pi 4, Zero 2 W)
it can lose to fp32. Given a folder with both builds of one network (what edge-convert
writes), ``edge-run --model DIR`` times them here, keeps the faster, says why, and remembers
the verdict in the cache (keyed by both models, the CPU and the thread count).
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


def _time(engine: Engine, size: int, seconds: float) -> float:
    x = np.random.default_rng(0).integers(0, 256, (1, size, size, 3), dtype=np.uint8)
    times = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 5:
        t0 = time.perf_counter()
        engine.run(x)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1e3


def choose(folder: Path, threads: int | None, cache_dir: Path | None,
           seconds: float = 0.5) -> tuple[Path, str]:
    """(model to run, one line saying which and why)."""
    builds = builds_in(folder)
    if set(builds) != {"fp32", "int8"}:
        precision, (path, _) = next(iter(builds.items()))
        return path, f"model {path.name} ({precision}: the only build in {folder})"
    (fp32, info), (int8, _) = builds["fp32"], builds["int8"]
    key = f"{sha256_file(fp32)[:16]}-{sha256_file(int8)[:16]}-{cpu_key()}-t{threads or 0}"
    record = Path(cache_dir) / f"precision-{key}.json" if cache_dir else None
    verdict = None
    if record is not None and record.is_file():
        try:
            verdict = json.loads(record.read_text())
            how = "measured earlier on this CPU"
        except (OSError, ValueError):
            verdict = None
    if verdict is None:
        ms = {}
        for name, path in (("int8", int8), ("fp32", fp32)):
            ms[name] = _time(Engine(path, threads=threads, cache_dir=cache_dir), info.resolution,
                             seconds)
        verdict = {"int8_ms": ms["int8"], "fp32_ms": ms["fp32"]}
        how = "measured now"
        if record is not None:
            try:
                record.parent.mkdir(parents=True, exist_ok=True)
                write_bytes_atomic(record, json.dumps(verdict).encode())
            except OSError:
                pass  # an unwritable cache only costs a re-measurement next time
    ratio = verdict["fp32_ms"] / verdict["int8_ms"]
    if ratio >= 1.0:
        return int8, (f"model {int8.name}: int8 is {ratio:.2f}x faster than fp32 on this CPU "
                      f"({how})")
    return fp32, (f"model {fp32.name}: fp32, because int8 is {1 / ratio:.2f}x SLOWER on this "
                  f"CPU ({how}; CPUs without dot-product instructions often lose with int8)")
