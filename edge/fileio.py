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


KIB, MIB = 1024, 1024 * 1024
MAX_PIXELS = 50_000_000  # an image beyond this is skipped unread (a 48 MP photo passes)
# what a file given to edge may hold, checked before it is read (a device like /dev/zero, a
# mistaken 50 MB file as a config): secrets, text settings, labels, model and weight files
LIMITS = {"secret": 4 * KIB, "config": 1 * MIB, "labels": 16 * MIB, "pem": 1 * MIB,
          "report": 16 * MIB, "model": 2048 * MIB, "manifest": 256 * MIB}


def read_bounded(path: Path, what: str, flag: str) -> bytes:
    """The bytes of ``path``, refused (EdgeError naming ``flag`` and the file) when it holds
    more than ``LIMITS[what]``: the size is checked before reading, and at most one byte more
    is read from files that do not say their size (devices, pipes)."""
    from edge.errors import EdgeError

    limit = LIMITS[what]
    shown = f"{flag} {path}" if flag else str(path)
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > limit:
                raise EdgeError(f"{shown}: {_bytes(size)}, more than a {what} file may hold "
                                f"({_bytes(limit)})")
            data = fh.read(limit + 1)
    except OSError as exc:
        raise EdgeError(f"{shown}: cannot read it ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise EdgeError(f"{shown}: more than a {what} file may hold ({_bytes(limit)}; not a "
                        "regular file?)")
    return data


def _bytes(n: int) -> str:
    return f"{n / MIB:,.1f} MB" if n >= MIB else f"{n / KIB:,.1f} KB" if n >= KIB else f"{n} B"


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
