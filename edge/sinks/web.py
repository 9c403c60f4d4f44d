"""Web page for headless devices: the live MJPEG stream with its overlay, current results and
stats (``/``), ``/stream.mjpg``, ``/snapshot.jpg``, ``/stats`` (JSON) and ``/metrics``
(Prometheus), served by :class:`edge.sinks.webserver.WebServer` (one event-loop thread,
bounded connections, viewers, sizes and time; authentication and TLS when configured).

handle() only stores the newest result. One encoder thread turns it into a JPEG once per new
frame, and only while somebody watches; every viewer is sent the same bytes, and a viewer
that reads slowly skips frames instead of queueing them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import re
import ssl
import threading
from importlib import resources

import cv2

from edge.errors import EdgeError
from edge.sinks.auth import Credentials
from edge.sinks.base import PipelineView, Result, Sink, guarded_thread
from edge.sinks.httpwire import Request, Response, Stream, text
from edge.sinks.overlay import Canvas, draw
from edge.sinks.webserver import Limits, WebServer

BOUNDARY = "edgeframe"
SNAPSHOT_WAIT_S = 5.0
IMAGE_HEADERS = {"Content-Security-Policy": "frame-ancestors 'none'"}


def parse_bind(text: str, flag: str = "--http") -> tuple[str, int]:
    """``PORT`` or ``HOST:PORT`` (``[::1]:PORT`` for IPv6); host defaults to 127.0.0.1."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]") if sep else "127.0.0.1"
    try:
        number = int(port)
    except ValueError:
        raise EdgeError(f"{flag} {text}: expected [HOST:]PORT") from None
    if not 0 <= number <= 65535:
        raise EdgeError(f"{flag} {text}: port must be 0-65535")
    return host or "127.0.0.1", number


def page_policy(page: bytes) -> str:
    """The page's Content-Security-Policy: its own inline script and style (by hash), images
    and fetches from this server only, no framing."""
    def hashes(tag: str) -> str:
        bodies = re.findall(rb"<%s>(.*?)</%s>" % (tag.encode(), tag.encode()), page, re.S)
        return " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(b).digest()).decode()}'"
                        for b in bodies) or "'none'"

    return (f"default-src 'none'; script-src {hashes('script')}; style-src {hashes('style')}; "
            "img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'")


class FrameHub:
    """The newest encoded frame, (seq, jpeg, multipart part), and its waiters; used on the
    server's event loop only."""

    def __init__(self) -> None:
        self.latest: tuple[int, bytes, bytes] | None = None
        self.closed = False
        self._changed: asyncio.Future | None = None

    def publish(self, frame: tuple[int, bytes, bytes] | None) -> None:
        if frame is None:
            self.closed = True
        else:
            self.latest = frame
        if self._changed is not None and not self._changed.done():
            self._changed.set_result(None)
        self._changed = None

    async def newer(self, seq: int) -> tuple[int, bytes, bytes] | None:
        """The newest frame once its seq is greater than ``seq``; None when closed."""
        while not self.closed and (self.latest is None or self.latest[0] <= seq):
            if self._changed is None:
                self._changed = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._changed)  # one waiter cancelled must not wake all
        return None if self.closed else self.latest


class HttpSink(Sink):
    name = "http"

    def __init__(self, host: str = "127.0.0.1", port: int = 8080, limits: Limits | None = None,
                 credentials: Credentials | None = None,
                 tls: ssl.SSLContext | None = None) -> None:
        self._cond = threading.Condition()
        self._result: Result | None = None
        self._wanted = 0  # viewers and waiting snapshots: encode only while > 0
        self._view: PipelineView | None = None
        self._metrics = None
        self.closed = False
        self._failed: str | None = None
        self._hub = FrameHub()
        self._page = resources.files("edge.sinks").joinpath("page.html").read_bytes()
        self._page_headers = {"Content-Security-Policy": page_policy(self._page)}
        routes = {"/": self._serve_page, "/index.html": self._serve_page,
                  "/stats": self._serve_stats, "/snapshot.jpg": self._serve_snapshot,
                  "/stream.mjpg": self._serve_stream, "/metrics": self._serve_metrics}
        self.server = WebServer(host, port, routes, flag="--http", limits=limits or Limits(),
                                credentials=credentials, bearer_paths=frozenset({"/metrics"}),
                                tls=tls, name="http")
        self.address = self.server.address
        self._encoder = guarded_thread(self, self._encode_loop, "http-encoder")

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def error(self) -> str | None:
        return self.dead or self.server.error or self._failed

    @error.setter
    def error(self, value: str | None) -> None:
        self._failed = value

    def alive(self) -> bool:
        return self.dead is None and self.server.alive()

    def open(self, view: PipelineView) -> None:
        from edge.sinks.prometheus import metrics_route

        self._view = view
        self._metrics = metrics_route(view.stats)
        self.server.start()
        self._encoder.start()

    def handle(self, result: Result) -> None:
        with self._cond:
            self._result = result
            if self._wanted:  # _want() wakes the encoder when a viewer arrives
                self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()
        self._publish(None)
        self.server.stop()
        if self._encoder.is_alive():
            self._encoder.join(timeout=5)

    def stats(self, run_percentiles: bool = True) -> dict:
        return self._view.stats(run_percentiles) if self._view else {}

    def figures(self) -> dict:
        return self.server.figures()

    # -- the encoder thread ----------------------------------------------------------------
    def _want(self, delta: int) -> None:
        with self._cond:
            self._wanted += delta
            self._cond.notify_all()

    def _publish(self, frame) -> None:
        loop = self.server.loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._hub.publish, frame)

    def _encode_loop(self) -> None:
        done, canvas = -1, Canvas()
        # OpenCV sets up megabytes of font state in each thread on its first putText: pay
        # that at start, so the memory the service settles at stays put when viewers come
        draw(Result(-1, "", 0, [], {}), 0.0)

        def due() -> bool:
            return self.closed or (self._wanted > 0 and self._result is not None
                                   and self._result.seq > done)

        while True:
            with self._cond:
                if not due():
                    canvas.release()  # nobody watches: give the frame-sized buffer back
                self._cond.wait_for(due)
                if self.closed:
                    return
                result = self._result
            done = result.seq
            if (jpeg := self._encode(result, canvas)) is not None:
                part = b"".join((f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                                 f"Content-Length: {len(jpeg)}\r\n\r\n".encode(), jpeg,
                                 b"\r\n"))
                self._publish((result.seq, jpeg, part))

    def _encode(self, result: Result, canvas: Canvas) -> bytes | None:
        fps = self._view.fps() if self._view else 0.0
        ok, data = cv2.imencode(".jpg", draw(result, fps, canvas=canvas),
                                [cv2.IMWRITE_JPEG_QUALITY, 80])
        return data.tobytes() if ok else None

    # -- routes (on the server's event loop) -----------------------------------------------
    async def _serve_page(self, _request: Request) -> Response:
        return Response(200, self._page, "text/html; charset=utf-8", dict(self._page_headers))

    async def _serve_stats(self, request: Request) -> Response:
        # the page polls twice a second and shows the recent window: it asks ?recent, which
        # spares sorting the whole run's latencies on the server's event loop each time
        recent = request.target.partition("?")[2] == "recent"
        return Response(200, json.dumps(self.stats(run_percentiles=not recent)).encode(),
                        "application/json")

    async def _serve_metrics(self, _request: Request) -> Response:
        body, ctype = self._metrics()
        return Response(200, body, ctype)

    async def _serve_snapshot(self, _request: Request) -> Response:
        latest, current = self._hub.latest, self._result
        if latest is None or current is None or latest[0] < current.seq:
            self._want(+1)
            try:
                latest = await asyncio.wait_for(
                    self._hub.newer(latest[0] if latest else -1), SNAPSHOT_WAIT_S)
            except asyncio.TimeoutError:
                latest = None
            finally:
                self._want(-1)
        if latest is None:
            return text(503, "no frame yet", **{"Retry-After": "1"})
        return Response(200, latest[1], "image/jpeg", dict(IMAGE_HEADERS))

    async def _serve_stream(self, _request: Request) -> Stream:
        return Stream(f"multipart/x-mixed-replace; boundary={BOUNDARY}", self._parts,
                      dict(IMAGE_HEADERS))

    async def _parts(self):
        self._want(+1)
        try:
            last = -1
            while (frame := await self._hub.newer(last)) is not None:
                last = frame[0]
                yield frame[2]
        finally:
            self._want(-1)
