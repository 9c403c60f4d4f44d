"""systemd integration: the sd_notify protocol and a watchdog fed only by a healthy pipeline.

The protocol is a datagram on the unix socket named by ``$NOTIFY_SOCKET`` (a leading "@" is
the abstract namespace). READY=1 goes out once the model is loaded and the first frame was
inferred; WATCHDOG=1 every half ``$WATCHDOG_USEC`` while the pipeline's threads show signs of
life; STATUS= carries FPS and top-1 (or the outage); STOPPING=1 on the way out.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

log = logging.getLogger(__name__)


class Notifier:
    """Sends sd_notify messages; does nothing when not started by systemd."""

    def __init__(self, address: str | None = None) -> None:
        address = address if address is not None else os.environ.get("NOTIFY_SOCKET")
        self.address = None
        if address:
            self.address = "\0" + address[1:] if address.startswith("@") else address
        self._sock: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, **fields: str | int) -> bool:
        """``send(READY=1, STATUS="...")``; True when the datagram went out."""
        if self.address is None:
            return False
        message = "\n".join(f"{k}={v}" for k, v in fields.items()).encode()
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
            self._sock.sendto(message, self.address)
            return True
        except OSError as exc:
            log.warning("sd_notify failed: %s", exc)
            return False

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def watchdog_interval() -> float | None:
    """Half of ``$WATCHDOG_USEC`` in seconds, when systemd asked for a watchdog for us."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid.isdigit() and int(pid) != os.getpid()):
        return None
    try:
        return int(usec) / 2e6
    except ValueError:
        return None


class ServiceLoop:
    """A thread that reports the pipeline to systemd: READY, WATCHDOG, STATUS, STOPPING."""

    def __init__(self, pipeline, notifier: Notifier | None = None,
                 status_every: float = 2.0) -> None:
        self.pipeline = pipeline
        self.notifier = notifier or Notifier()
        self.interval = watchdog_interval()
        self.status_every = status_every
        self.ready = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if not self.notifier.enabled:
            return
        self._thread = threading.Thread(target=self._loop, name="sd_notify", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        last_status = last_dog = 0.0
        tick = min(self.interval or 1.0, 0.5)
        while not self._stop.wait(tick):
            p = self.pipeline
            fields: dict[str, str | int] = {}
            if not self.ready and p.first_result.is_set():
                self.ready = True
                fields["READY"] = 1
            now = time.monotonic()
            # a hung capture or inference thread stops this, and systemd restarts us
            if (self.ready and self.interval and now - last_dog >= self.interval
                    and p.healthy(max_silence=2 * self.interval)):
                fields["WATCHDOG"] = 1
                last_dog = now
            if now - last_status >= self.status_every or "READY" in fields:
                fields["STATUS"] = p.status_text()
                last_status = now
            if fields:
                self.notifier.send(**fields)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self.notifier.send(STOPPING=1, STATUS="stopping")
        self.notifier.close()
