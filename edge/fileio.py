"""Atomic file writes (a temporary name beside the target, then rename), checks before
writing, and capturing what C++ libraries print."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path in ``target``'s folder; rename it onto ``target`` on success.

    On any exception the temporary file is removed and ``target`` is left untouched.
    """
    target = Path(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o644)  # mkstemp makes 0600; a model or report is meant to be read
    try:
        yield tmp_path
        fsync_file(tmp_path)  # whole on disk before it takes the real name (power cuts)
        os.replace(tmp_path, target)
        fsync_file(target.parent)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def fsync_file(path: Path) -> None:
    """Flush a file's (or a folder's entries') data to the disk; best effort for folders."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:
        if not Path(path).is_dir():  # some filesystems cannot fsync a directory
            raise
    finally:
        os.close(fd)


def check_writable(path: Path, flag: str) -> None:
    """EdgeError now, before any work, if ``path`` could not be written later."""
    from edge.errors import EdgeError

    path = Path(path)
    parent = path.parent
    if path.is_dir():
        raise EdgeError(f"{flag} {path}: is a folder, expected a file name")
    if not parent.is_dir():
        raise EdgeError(f"{flag} {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise EdgeError(f"{flag} {path}: folder {parent} is not writable")


def write_bytes_atomic(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def capture_fd2() -> Iterator[list[str]]:
    """Collect what C++ code writes to file descriptor 2 (Python's sys.stderr never sees it)."""
    text: list[str] = []
    saved = os.dup(2)
    try:
        with tempfile.TemporaryFile() as tmp:
            os.dup2(tmp.fileno(), 2)
            try:
                yield text
            finally:
                os.dup2(saved, 2)
                tmp.seek(0)
                text.append(tmp.read().decode(errors="replace"))
    finally:
        os.close(saved)
