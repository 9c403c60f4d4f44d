"""``edge-run --collect DATA``: examples for edge-train, taken from the running camera. The
newest frame is saved into ``DATA/<class>/`` when asked: from the web page (a button per class,
a box for a new one: ``POST /collect?label=NAME``) or from the terminal (a key per class, when
stdin is a terminal). Then ``edge-train DATA`` on the same device."""

from __future__ import annotations

import contextlib
import logging
import os
import select
import sys
import threading
from pathlib import Path

from edge.errors import EdgeError
from edge.frame import Frame
from edge.sinks.base import PipelineView, Result, Sink, guarded_thread
from edge.train.dataset import list_classes, save_example, validate_class_name

log = logging.getLogger(__name__)
KEYS = "123456789"


class CollectSink(Sink):
    """Keeps the newest frame; :meth:`save` writes it into a class folder (thread-safe)."""

    name = "collect"

    def __init__(self, folder: Path, classes: list[str] | None = None,
                 keys_from=None, out=sys.stderr) -> None:
        super().__init__()
        self.folder = Path(folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            for label in classes or []:
                (self.folder / validate_class_name(label)).mkdir(exist_ok=True)
        except OSError as exc:
            raise EdgeError(f"--collect {folder}: {exc.strerror or exc}") from None
        self.saved = 0
        self._frame: Frame | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._keys_from, self._out = keys_from, out
        self._keys = guarded_thread(self, self._read_keys, "collect-keys") if keys_from else None

    def open(self, view: PipelineView) -> None:
        if self._keys is not None:
            self._out.write(f"collect into {self.folder}: {self.key_help()}\n")
            self._out.flush()
            self._keys.start()

    def handle(self, result: Result) -> None:
        if result.frame is not None:
            with self._lock:
                self._frame = result.frame

    def close(self) -> None:
        self._stop.set()
        if self._keys is not None and self._keys.is_alive():
            self._keys.join(timeout=2)

    def classes(self) -> dict[str, int]:
        """Class name -> photos in its folder."""
        return {c.name: c.count for c in list_classes(self.folder)}

    def figures(self) -> dict:
        return {"folder": str(self.folder), "saved": self.saved, "classes": self.classes()}

    def save(self, label: str) -> Path:
        """The newest frame as a JPEG in ``label``'s folder (made if new)."""
        validate_class_name(label)
        with self._lock:
            frame = self._frame
        if frame is None:
            raise EdgeError("no frame yet")
        path = save_example(self.folder, label, frame.image, frame.order)
        with self._lock:
            self.saved += 1
        return path

    def key_help(self) -> str:
        names = sorted(self.classes())[:len(KEYS)]
        if not names:
            return "no classes yet (add one on the web page, or --collect-class NAME)"
        return ", ".join(f"{KEYS[i]} = {n}" for i, n in enumerate(names)) + \
            " saves the current frame"

    def _read_keys(self) -> None:
        """A key per class from a terminal in cbreak mode (restored when the run ends)."""
        fd = self._keys_from.fileno()
        restore = _cbreak(fd)
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([fd], [], [], 0.2)
                if not ready:
                    continue
                key = os.read(fd, 1).decode("ascii", "replace")
                if not key:
                    return  # end of input
                names = sorted(self.classes())
                if key in KEYS and KEYS.index(key) < len(names):
                    label = names[KEYS.index(key)]
                    try:
                        path = self.save(label)
                        message = f"saved {path.name} into {label} ({self.classes()[label]})"
                    except EdgeError as exc:
                        message = f"not saved: {exc}"
                    self._out.write(f"\ncollect: {message}\n")
                    self._out.flush()
        finally:
            restore()


def _cbreak(fd: int):
    """Keys arrive one at a time, unechoed; returns how to put the terminal back."""
    try:
        import termios
        import tty

        old = termios.tcgetattr(fd)
        tty.setcbreak(fd)
    except (ImportError, OSError, ValueError):
        return lambda: None

    def restore() -> None:
        with contextlib.suppress(OSError, termios.error):
            termios.tcsetattr(fd, termios.TCSADRAIN, old)

    return restore
