"""Pick the build to run from a folder edge-convert wrote: the faithful one, or the fastest.

A folder holds up to three builds of one network: fp32 and int8 ONNX (onnxruntime) and the
int8 ``.tflite`` (LiteRT with XNNPACK). The faithful build answers as the checkpoint does:
the int8 that kept a quantized checkpoint's own quantization, or fp32 for a float checkpoint.
Which is fastest depends on the CPU (int8 can lose to fp32 without dot-product instructions;
LiteRT's int8 kernels beat onnxruntime's on some CPUs and lose on others), so ``--prefer
fastest`` times every build here once, at the thread count the run will use, remembers the
verdict in the cache, runs the winner and says by how much. The default is faithful for a
quantized checkpoint (its user picked its answers) and fastest for a float one. Whenever the
build picked is not the faithful one, the note says so and how often the two agreed.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np

from edge.engines import cpu_key, open_engine
from edge.engines.litert import litert_available
from edge.errors import EdgeError, ModelError, install_hint
from edge.fileio import read_bounded, sha256_file, write_bytes_atomic
from edge.model import ModelInfo, read_model_info

PREFERENCES = ("faithful", "fastest")
LITERT = "int8-litert"


def builds_in(folder: Path) -> dict[str, tuple[Path, ModelInfo]]:
    """{"fp32" | "int8" | "int8-litert": (path, info)} of the edge models in ``folder``; one
    network only."""
    found: dict[str, tuple[Path, ModelInfo]] = {}
    networks: dict[tuple, list[str]] = {}
    for path in sorted([*Path(folder).glob("*.onnx"), *Path(folder).glob("*.tflite")]):
        try:
            info = read_model_info(path)
        except ModelError:
            continue
        key = (info.alpha, info.resolution, info.classes, info.weights.get("sha256"))
        networks.setdefault(key, []).append(path.name)
        name = LITERT if path.suffix == ".tflite" else info.precision
        found.setdefault(name, (path, info))
    if not found:
        raise ModelError(f"{folder}: no edge models in this folder")
    if len(networks) > 1:
        listed = "; ".join(f"{alpha:g}-{res} ({', '.join(names)})"
                           for (alpha, res, _, _), names in networks.items())
        raise ModelError(f"{folder}: holds {len(networks)} networks: {listed}; name the model "
                         "file (--model FOLDER/FILE), or keep one network per folder")
    return found


def faithful(builds: dict[str, tuple[Path, ModelInfo]]) -> str:
    """The build that answers as the checkpoint does."""
    int8 = builds.get("int8")
    if int8 is not None and (int8[1].quantization or {}).get("mode") == "keep":
        return "int8"
    return "fp32" if "fp32" in builds else next(iter(builds))


def describe(name: str, info: ModelInfo) -> str:
    """What a build is, in words."""
    if info.weights.get("kind") == "edge-train":
        return ("int8 on LiteRT" if name == LITERT else name) + \
            " with edge-train's head (your classes)"
    if name == LITERT:
        return "int8 on LiteRT"
    if (info.quantization or {}).get("mode") == "keep":
        return "int8 with the checkpoint's own quantization"
    if name == "fp32" and info.weights.get("note", "").startswith("dequantised"):
        return "fp32 of the dequantised weights"
    return name


def record_path(builds: dict[str, tuple[Path, ModelInfo]], threads: int | None,
                cache_dir: Path) -> Path:
    """Where the verdict for these builds on this CPU at this thread count is remembered."""
    digest = hashlib.sha256("".join(sorted(f"{name}:{sha256_file(path)}" for name, (path, _)
                                           in builds.items())).encode()).hexdigest()[:24]
    return Path(cache_dir) / f"builds-{digest}-{cpu_key()}-t{threads or 0}.json"


def _engine_step(path: Path, info: ModelInfo, threads: int | None, cache_dir: Path | None):
    engine = open_engine(path, threads=threads, cache_dir=cache_dir, info=info)
    x = np.random.default_rng(0).integers(0, 256, engine.input_shape, dtype=np.uint8)
    return lambda: engine.run(x)


def _time_all(builds: dict[str, tuple[Path, ModelInfo]], threads: int | None,
              cache_dir: Path | None, seconds: float, rounds: int = 5) -> dict[str, float]:
    """Median ms per build, the builds interleaved in ``rounds`` short chunks so that drift
    and background noise hit all of them alike."""
    steps = {name: _engine_step(path, info, threads, cache_dir)
             for name, (path, info) in builds.items()}
    times: dict[str, list[float]] = {name: [] for name in steps}
    chunk = seconds / rounds
    for _ in range(rounds):
        for name, step in steps.items():
            end = time.perf_counter() + chunk
            while time.perf_counter() < end or len(times[name]) < 2:
                t0 = time.perf_counter()
                step()
                times[name].append(time.perf_counter() - t0)
    return {name: float(np.median(values)) * 1e3 for name, values in times.items()}


def _measure(builds: dict[str, tuple[Path, ModelInfo]], threads: int | None,
             cache_dir: Path | None, seconds: float) -> tuple[dict[str, float], str]:
    """({build: median ms}, "measured now" or "measured earlier on this CPU")."""
    record = record_path(builds, threads, cache_dir) if cache_dir else None
    if record is not None and record.is_file():
        try:
            return json.loads(record.read_text())["ms"], "measured earlier on this CPU"
        except (OSError, ValueError, KeyError):
            pass
    ms = _time_all(builds, threads, cache_dir, seconds)
    if record is not None:
        try:
            record.parent.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(record, json.dumps({"ms": ms}).encode())
        except OSError:
            pass  # an unwritable cache only costs a re-measurement next time
    return ms, "measured now"


def _agreement(folder: Path) -> str:
    """"; int8 and fp32 agreed on top-1 for N/M held-out frames" from the folder's report."""
    try:
        report = json.loads(read_bounded(Path(folder) / "report.json", "report", ""))
        result = report["verification"]["result"]
        return (f"; int8 and fp32 agreed on top-1 for {result['top1_agree']}/{result['cases']} "
                "verification frames")
    except (EdgeError, ValueError, KeyError, TypeError):
        return ""


def choose(folder: Path, threads: int | None, cache_dir: Path | None,
           seconds: float = 1.0, prefer: str | None = None) -> tuple[Path, str]:
    """(model to run, one line saying which and why). ``prefer``: ``faithful``, ``fastest``,
    or None for faithful with a quantized checkpoint and fastest with a float one."""
    if prefer is not None and prefer not in PREFERENCES:
        raise ModelError(f"--prefer must be one of {', '.join(PREFERENCES)}, got {prefer!r}")
    builds = builds_in(folder)
    best = faithful(builds)
    skipped = ""
    if LITERT in builds and not litert_available()[0]:
        del builds[LITERT]
        skipped = f"; LiteRT not considered: not installed ({install_hint('litert')})"
    if len(builds) == 1:
        name, (path, _) = next(iter(builds.items()))
        return path, f"model {path.name} ({describe(name, builds[name][1])}: the only build " \
                     f"in {folder}){skipped}"
    if prefer is None:
        prefer = "faithful" if best == "int8" else "fastest"
    if prefer == "faithful":
        path, info = builds[best]
        return path, (f"model {path.name}: {describe(best, info)}, the faithful build "
                      f"(--prefer fastest picks the fastest build instead){skipped}")
    ms, how = _measure(builds, threads, cache_dir, seconds)
    picked = min(ms, key=ms.get)
    path, info = builds[picked]
    others = ", ".join(f"{describe(n, builds[n][1])} {ms[n] / ms[picked]:.2f}x slower"
                       for n in sorted(ms, key=ms.get) if n != picked)
    note = (f"model {path.name}: {describe(picked, info)} is the fastest build on this CPU, "
            f"{ms[picked]:.2f} ms a frame; {others} ({how})")
    if picked == "fp32" and "int8" in ms:
        note += (f"; int8 is {ms['int8'] / ms['fp32']:.2f}x SLOWER here: CPUs without "
                 "dot-product instructions often lose with int8")
    if picked != best and not (picked == LITERT and best == "int8"):
        note += (f"; NOT the faithful build ({describe(best, builds[best][1])}: "
                 f"--prefer faithful runs it){_agreement(folder)}")
    elif picked == LITERT and best == "int8":
        note += ("; the kept int8 as a .tflite: uint8 weights re-expressed as int8, close "
                 "but not bit-exact (report.json lists re-quantized channels)")
    return path, note + skipped
