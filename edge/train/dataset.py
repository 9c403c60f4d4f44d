"""DATA, the folder of examples: one folder per class, the folder name is the label.

What ``edge-run --collect`` needs (:func:`list_classes`, :func:`validate_class_name`,
:func:`save_example`) and what edge-train reads (:func:`scan`): every class folder listed the
way the replay source lists it (a recorder manifest's order, else sorted image names), each
file hashed once so that duplicates count once and embeddings are cached by content.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge.errors import EdgeError, SourceError
from edge.fileio import fsync_file, sha256_file
from edge.frame import Frame
from edge.sources.replay import IMAGE_SUFFIXES, ImageFolderSource

MAX_NAME = 64
# besides letters and digits (any script): what is safe in a folder name on Linux, FAT and
# exFAT, in a shell without quoting surprises, and in the JSON the sinks send
NAME_PUNCTUATION = " _-.,+()&'"
JPEG_QUALITY = 92


def validate_class_name(name: str) -> str:
    """``name`` if it can be a class (a folder of DATA and a label); EdgeError in one line
    saying why not."""
    why = None
    if not isinstance(name, str) or not name:
        why = "empty"
    elif name != name.strip():
        why = "starts or ends with a space"
    elif len(name) > MAX_NAME:
        why = f"longer than {MAX_NAME} characters"
    elif name.startswith("."):
        why = "starts with a dot (hidden folders are not classes)"
    elif name.startswith("-"):
        why = "starts with '-' (it would read as an option)"
    elif bad := sorted({c for c in name if not (c.isalnum() or c in NAME_PUNCTUATION)}):
        shown = " ".join(repr(c) for c in bad[:5])
        why = f"has {shown}; use letters, digits, spaces and {NAME_PUNCTUATION.strip()}"
    if why is not None:
        raise EdgeError(f"class name {name!r} is not valid: {why}")
    return name


@dataclass(frozen=True)
class ClassFolder:
    """One folder of DATA: its name, path, how many image files it holds, and why it cannot
    be a class (None when it can)."""

    name: str
    path: Path
    count: int
    problem: str | None = None


def list_classes(data_dir: Path) -> list[ClassFolder]:
    """The class folders of ``data_dir`` with their image counts, by name (no image is
    decoded: cheap enough for a web page that polls it). Hidden folders are left out; a
    missing ``data_dir`` has no classes."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        return []
    found = []
    for path in sorted(p for p in data_dir.iterdir() if p.is_dir() and
                       not p.name.startswith(".")):
        try:
            count = sum(1 for f in path.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES
                        and not f.name.startswith("."))
            problem = None
            validate_class_name(path.name)
        except OSError as exc:
            count, problem = 0, f"cannot list folder ({exc.strerror})"
        except EdgeError as exc:
            problem = str(exc)
        found.append(ClassFolder(path.name, path, count, problem))
    return found


def save_example(data_dir: Path, label: str, image: np.ndarray, order: str) -> Path:
    """Write ``image`` (HxWx3 uint8, channel ``order`` "BGR" or "RGB") as a JPEG into the
    folder of class ``label`` and return its path. The file appears whole or not at all
    (temporary name, then a link that never replaces an existing file); names sort in the
    order they were taken."""
    import cv2

    validate_class_name(label)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise EdgeError(f"expected an HxWx3 uint8 image, got {image.shape} {image.dtype}")
    if order not in ("BGR", "RGB"):
        raise EdgeError(f"channel order must be BGR or RGB, got {order!r}")
    bgr = image if order == "BGR" else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise EdgeError(f"{label}: the frame could not be encoded as JPEG")
    folder = Path(data_dir) / label
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EdgeError(f"{folder}: cannot create the class folder ({exc.strerror})") from exc
    tmp = folder / f".{os.getpid()}-{time.monotonic_ns()}.tmp"  # hidden, not an image name
    try:
        tmp.write_bytes(data.tobytes())
        fsync_file(tmp)
        for n in range(1000):
            now = time.time_ns()  # one reading: the name's second and its fraction agree
            stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now // 10**9))
            target = folder / f"{stamp}-{now % 10**9:09d}{f'-{n}' if n else ''}.jpg"
            if _link_new(tmp, target):
                fsync_file(folder)
                return target
    except OSError as exc:
        raise EdgeError(f"{folder}: cannot save the example ({exc.strerror})") from exc
    finally:
        tmp.unlink(missing_ok=True)
    raise EdgeError(f"{folder}: no free file name for the example")


def _link_new(tmp: Path, target: Path) -> bool:
    """Give ``tmp``'s file the name ``target`` unless that name exists. A hard link never
    replaces; filesystems without links (FAT) get a check, then a rename."""
    try:
        os.link(tmp, target)
        return True
    except FileExistsError:
        return False
    except OSError:
        if target.exists():
            return False
        os.replace(tmp, target)
        return True


@dataclass
class Photo:
    """One image file of a class, by content."""

    label: int
    path: Path
    digest: str  # sha256 of the file's bytes


@dataclass
class Scan:
    """DATA read: the classes, their photos (each content once), and what was left out."""

    folder: Path
    classes: list[str]
    photos: list[Photo]
    duplicates: list[str] = field(default_factory=list)  # what happened to each copy
    skipped: list[str] = field(default_factory=list)  # "path: reason"
    ignored: list[str] = field(default_factory=list)  # files outside class folders

    def counts(self) -> list[int]:
        return [sum(p.label == k for p in self.photos) for k in range(len(self.classes))]


def scan(data_dir: Path) -> Scan:
    """List and hash DATA's class folders; EdgeError (one line) for a missing DATA, an
    invalid class name, an empty class folder, or fewer than two classes."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise EdgeError(f"{data_dir}: {'not a folder' if data_dir.exists() else 'not found'} "
                        "(DATA holds one folder of photos per class)")
    try:
        entries = sorted(data_dir.iterdir())
    except OSError as exc:
        raise EdgeError(f"{data_dir}: cannot list folder ({exc.strerror})") from exc
    folders = [p for p in entries if p.is_dir() and not p.name.startswith(".")]
    result = Scan(data_dir, [], [])
    result.ignored = [f"{p}: not in a class folder" for p in entries
                      if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    lowered: dict[str, str] = {}
    for folder in folders:
        try:
            validate_class_name(folder.name)
        except EdgeError as exc:
            raise EdgeError(f"{folder}: {exc}") from None
        if (other := lowered.setdefault(folder.name.casefold(), folder.name)) != folder.name:
            raise EdgeError(f"{folder}: classes {other!r} and {folder.name!r} differ only in "
                            "case; merge or rename one")
    if len(folders) < 2:
        what = f"one class ({folders[0].name})" if folders else "no class folders"
        raise EdgeError(f"{data_dir}: {what}; a classifier needs at least two: add a folder "
                        "of photos per class (for instance one of what is none of them)")
    seen: dict[str, Photo] = {}
    conflicts: set[str] = set()
    for label, folder in enumerate(folders):
        result.classes.append(folder.name)
        for path in _listed(folder):
            try:
                digest = sha256_file(path)
            except OSError as exc:
                result.skipped.append(f"{path}: cannot read ({exc.strerror})")
                continue
            first = seen.get(digest)
            if first is None:
                seen[digest] = Photo(label, path, digest)
            elif first.label == label:
                result.duplicates.append(f"{path} is a copy of {first.path.name}: counted once")
            else:
                conflicts.add(digest)
                result.duplicates.append(f"{path} is the same image as {first.path} in another "
                                         "class: both left out")
    result.photos = [p for p in seen.values() if p.digest not in conflicts]
    return result


def _listed(folder: Path) -> list[Path]:
    """The files the replay source would read from ``folder``, in its order; EdgeError for
    an empty class folder."""
    source = ImageFolderSource(folder)
    try:
        source.open()
    except SourceError as exc:
        why = str(exc).split(": ", 1)[-1]
        raise EdgeError(f"{folder}: empty class folder ({why}); add photos or remove it") \
            from None
    return [folder / name for name, _ in source.entries]



def read_images(paths: list[Path]) -> Iterator[tuple[Path, Frame | str]]:
    """Decode ``paths`` with the replay source's own reading (header check, then OpenCV),
    folder by folder in its order: yields (path, frame) for each readable image and
    (path, reason) for each one it skipped."""
    by_folder: dict[Path, set[str]] = {}
    for path in paths:
        by_folder.setdefault(path.parent, set()).add(path.name)
    for folder, names in by_folder.items():
        source = ImageFolderSource(folder)
        try:
            source.open()
        except SourceError as exc:
            for name in sorted(names):
                yield folder / name, f"cannot read the folder ({exc})"
            continue
        source.entries = [e for e in source.entries if e[0] in names]
        read = set()
        try:  # not ``with``: entering opens again, which would list the whole folder
            for frame in source:
                read.add(frame.name)
                yield folder / frame.name, frame
        finally:
            source.close()
        for name in sorted(names - read):
            why = next((s[len(name):].strip(" ()") for s in source.skipped_names
                        if s.startswith(f"{name} (")), "")
            yield folder / name, why or "not a readable image"
