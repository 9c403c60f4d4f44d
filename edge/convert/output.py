"""edge-convert's output folder: checked before any work (nothing is created for a
conversion that fails early), everything written into a hidden staging folder first and moved
into place only when the whole conversion succeeded, so a full disk, an error or a signal
leaves the folder as it was. Staging folders left by a killed run are removed by the next one;
the files of the network converted there before are removed when a new one takes its place
(one network per folder: edge-run's ``--model FOLDER`` picks among its builds)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from edge.errors import EdgeError
from edge.fileio import fsync_file, read_bounded

STAGING = ".edge-convert-"
STALE_AFTER_S = 3600  # a staging folder whose process cannot be told is left this long


def check_output(out: Path) -> None:
    """The folder exists and is writable, or can be created: checked, nothing created."""
    out = Path(out)
    existing = next(p for p in [out, *out.parents] if p.exists())
    if not existing.is_dir():
        raise EdgeError(f"{out}: output folder is not writable ({existing} is a file, not a "
                        "folder)")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise EdgeError(f"{out}: output folder is not writable ({existing} is not)")


@contextlib.contextmanager
def staged(out: Path) -> Iterator[Path]:
    """A fresh staging folder inside ``out`` (created with it), removed on the way out."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        remove_stale_staging(out)
        staging = Path(tempfile.mkdtemp(prefix=f"{STAGING}{os.getpid()}-", dir=out))
    except OSError as exc:
        raise EdgeError(f"{out}: cannot write to the output folder "
                        f"({exc.strerror or exc})") from None
    try:
        yield staging
    except OSError as exc:  # a full disk, a read-only mount: one line, the folder unchanged
        raise EdgeError(f"{out}: cannot write the outputs ({exc.strerror or exc}); nothing in "
                        "it was changed") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_staging(out: Path) -> list[str]:
    """Remove staging folders whose converter is gone (killed: SIGKILL, power cut)."""
    removed = []
    for folder in Path(out).glob(f"{STAGING}*"):
        pid_text = folder.name[len(STAGING):].split("-", 1)[0]
        stale = False
        if pid_text.isdigit():
            stale = not _alive(int(pid_text))
        else:  # made before staging folders were named by their process
            with contextlib.suppress(OSError):
                stale = time.time() - folder.stat().st_mtime > STALE_AFTER_S
        if folder.is_dir() and stale:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder.name)
    return removed


def previous_outputs(out: Path) -> set[str]:
    """Names of the model files and bundles the last conversion into ``out`` wrote (from its
    report.json; none when there is no readable report)."""
    try:
        report = json.loads(read_bounded(Path(out) / "report.json", "report", ""))
    except (EdgeError, ValueError):
        return set()
    names = set()
    entries = [*(report.get("files") or {}).values(), report.get("tflite") or {}]
    mcu = report.get("mcu") or {}
    entries += [mcu.get("tflite") or {}, mcu.get("bundle") or {}]
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("path"), str):
            names.add(Path(entry["path"]).name)
    return {n for n in names if n.startswith("mobilenet_v1_") or n.endswith(("_mcu", ".onnx",
                                                                            ".tflite"))}


def publish(staging: Path, out: Path, names: list[str]) -> list[str]:
    """Move ``names`` (report.json last) from ``staging`` into ``out``; then remove what the
    previous conversion wrote and this one did not replace. Returns the names removed. Only
    renames happen here: a full disk cannot stop it half-way."""
    before = previous_outputs(out)
    for name in names:
        dst = out / name
        if dst.is_dir() and not dst.is_symlink():
            os.replace(dst, staging / f".old-{name}")  # a rename cannot replace a folder
        os.replace(staging / name, dst)
    fsync_file(out)
    removed = []
    for name in sorted(before - set(names)):
        path = out / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(name)
    return removed
