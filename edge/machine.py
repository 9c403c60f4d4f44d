"""Facts about this machine, read once from where Linux keeps them: /proc/cpuinfo, sysfs and,
on a Raspberry Pi, ``vcgencmd``. Every reader returns a value or None; none raises on a
missing file, a missing tool or garbage. Paths are parameters so tests can use a fake tree.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

SYS = Path("/sys")
PROC = Path("/proc")
# instructions that matter to int8 kernels (x86 VNNI/AMX, ARM dot product and i8mm)
DOT_PRODUCT = {"asimddp", "avx512_vnni", "avx_vnni", "avxvnni"}
INT8_MATMUL = {"i8mm", "amx_int8"}
NOTABLE = {"neon", "asimd", "asimddp", "i8mm", "sve", "avx2", "avx512f", "avx512_vnni",
           "avx_vnni", "fma", "amx_int8"}

Runner = Callable[[list[str]], "tuple[int, str] | None"]


def read_text(path: Path) -> str | None:
    """A sysfs/procfs file's stripped text, or None when it cannot be read."""
    try:
        return Path(path).read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


@functools.lru_cache(maxsize=4)
def cpuinfo(path: Path = PROC / "cpuinfo") -> dict:
    """{"model": ..., "flags": set, "text": raw} from /proc/cpuinfo (x86 and ARM spellings)."""
    model, flags = "", set()
    text = read_text(path) or ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key in ("model name", "Model", "Hardware") and not model:
            model = value.strip()
        elif key in ("flags", "Features"):
            flags |= set(value.split())
        elif key == "CPU part" and not model:
            model = f"ARM CPU part {value.strip()}"
    return {"model": model or platform.processor() or "unknown", "flags": frozenset(flags),
            "text": text}


def cpu_features() -> dict:
    """CPU model and the instructions onnxruntime's and XNNPACK's int8 kernels care about."""
    info = cpuinfo()
    flags = info["flags"]
    return {"model": info["model"], "dot_product": bool(flags & DOT_PRODUCT),
            "int8_matmul": bool(flags & INT8_MATMUL), "features": sorted(flags & NOTABLE)}


def cpu_fingerprint() -> str:
    """A short hash of what compiled kernels depend on: architecture, CPU model and flags."""
    info = cpuinfo()
    text = platform.machine() + info["model"] + " ".join(sorted(info["flags"]))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def available_memory(proc_root: Path = PROC) -> int | None:
    """Bytes of memory available to a new process (``MemAvailable``), or None."""
    for line in (read_text(proc_root / "meminfo") or "").splitlines():
        if line.startswith("MemAvailable:"):
            try:
                return int(line.split()[1]) * 1024
            except (IndexError, ValueError):
                return None
    return None


def physical_cores(sys_root: Path = SYS) -> int:
    """Physical cores (onnxruntime's own default thread count), from sysfs where it exists."""
    cores = set()
    for topo in (sys_root / "devices/system/cpu").glob("cpu[0-9]*/topology"):
        package, core = read_text(topo / "physical_package_id"), read_text(topo / "core_id")
        if package is not None and core is not None:
            cores.add((package, core))
    return len(cores) or os.cpu_count() or 1


def run_vcgencmd(args: list[str], timeout: float = 2.0) -> tuple[int, str] | None:
    """(exit code, stdout) of ``vcgencmd ARGS``, or None when vcgencmd is not installed."""
    exe = shutil.which("vcgencmd")
    if exe is None:
        return None
    try:
        proc = subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 1, str(exc)
    return proc.returncode, proc.stdout + proc.stderr


def vcgencmd(args: list[str], runner: Runner = run_vcgencmd) -> tuple[str | None, str]:
    """(stdout, "") or (None, reason) of a vcgencmd call."""
    out = runner(args)
    if out is None:
        return None, "vcgencmd not installed (not a Raspberry Pi?)"
    code, text = out
    if code != 0:
        hint = " (needs /dev/vcio: add the user to the 'video' group)" \
            if "vcio" in text or "ermission" in text else ""
        return None, f"vcgencmd {' '.join(args)} failed: {text.strip()[:120]}{hint}"
    return text, ""
