"""The live page for headless devices, served by :class:`edge.web.server.WebServer`: the page
(``/``), its MJPEG stream (``/stream.mjpg``), ``/snapshot.jpg``, ``/stats`` (JSON) and
``/metrics`` (Prometheus).

Frames arrive already encoded (:meth:`LivePage.publish`); every viewer is sent the same bytes,
and a viewer that reads slowly skips frames instead of queueing them. The page asks for
frames only while somebody watches: ``want(+1/-1)`` tells the producer.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import re
import ssl
import urllib.parse
from collections.abc import Callable
from importlib import resources

from edge.errors import EdgeError
from edge.web.auth import Credentials
from edge.web.server import Limits, WebServer
from edge.web.wire import Request, Response, Stream, text

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
            "img-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'")


class FrameHub:
    """The newest encoded frame, (seq, jpeg, multipart part, result JSON), and its waiters;
    used on the server's event loop only."""

    def __init__(self) -> None:
        self.latest: tuple[int, bytes, bytes, str] | None = None
        self.closed = False
        self._changed: asyncio.Future | None = None

    def publish(self, frame: tuple[int, bytes, bytes, str] | None) -> None:
        if frame is None:
            self.closed = True
        else:
            self.latest = frame
        if self._changed is not None and not self._changed.done():
            self._changed.set_result(None)
        self._changed = None

    async def newer(self, seq: int) -> tuple[int, bytes, bytes, str] | None:
        """The newest frame once its seq is greater than ``seq``; None when closed."""
        while not self.closed and (self.latest is None or self.latest[0] <= seq):
            if self._changed is None:
                self._changed = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._changed)  # one waiter cancelled must not wake all
        return None if self.closed else self.latest


def _after(request: Request) -> int | None:
    """The ``after`` query parameter of a snapshot request, when it is a number."""
    for item in request.target.partition("?")[2].split("&"):
        key, _, value = item.partition("=")
        if key == "after" and value.lstrip("-").isdigit() and len(value) < 20:
            return int(value)
    return None


class LivePage:
    """The page's routes on one bounded server. ``stats(run_percentiles)`` gives /stats,
    ``metrics()`` the /metrics body and content type, ``want(delta)`` counts who waits for
    frames, ``current()`` is the sequence number of the newest result (a snapshot older than
    it is re-encoded first)."""

    def __init__(self, host: str, port: int, limits: Limits, credentials: Credentials | None,
                 tls: ssl.SSLContext | None, *, stats: Callable[[bool], dict],
                 metrics: Callable[[], tuple[bytes, str]], want: Callable[[int], None],
                 current: Callable[[], int], collect=None) -> None:
        self._stats, self._metrics, self._want, self._current = stats, metrics, want, current
        self._collect = collect  # --collect: a CollectSink (save(label), classes())
        self._hub = FrameHub()
        self._page = resources.files("edge.web").joinpath("page.html").read_bytes()
        self._page_headers = {"Content-Security-Policy": page_policy(self._page)}
        routes = {"/": self._serve_page, "/index.html": self._serve_page,
                  "/stats": self._serve_stats, "/snapshot.jpg": self._serve_snapshot,
                  "/stream.mjpg": self._serve_stream, "/metrics": self._serve_metrics}
        if collect is not None:
            routes["/collect"] = self._serve_collect
        self.server = WebServer(host, port, routes, flag="--http", limits=limits,
                                credentials=credentials, bearer_paths=frozenset({"/metrics"}),
                                tls=tls, name="http",
                                post_paths=frozenset({"/collect"} if collect else ()))

    def publish(self, seq: int, jpeg: bytes | None, result: dict | None) -> None:
        """Hand a new frame, and the result drawn on it, to every viewer (thread-safe); None:
        no more frames."""
        frame = None
        if jpeg is not None:
            part = b"".join((f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                             f"Content-Length: {len(jpeg)}\r\n\r\n".encode(), jpeg, b"\r\n"))
            # ASCII JSON on one line: a header value (labels' accents as \\u escapes)
            frame = (seq, jpeg, part, json.dumps(result, separators=(",", ":")))
        loop = self.server.loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._hub.publish, frame)

    # -- routes (on the server's event loop) -----------------------------------------------
    async def _serve_page(self, _request: Request) -> Response:
        return Response(200, self._page, "text/html; charset=utf-8", dict(self._page_headers))

    async def _serve_stats(self, request: Request) -> Response:
        # the page polls twice a second and shows the recent window: it asks ?recent, which
        # spares sorting the whole run's latencies on the server's event loop each time
        recent = request.target.partition("?")[2] == "recent"
        return Response(200, json.dumps(self._stats(not recent)).encode(), "application/json")

    async def _serve_collect(self, request: Request) -> Response:
        """GET: the classes and their photo counts; POST ?label=NAME: save the newest frame
        into NAME's folder (made if new)."""
        if request.method == "POST":
            query = urllib.parse.parse_qs(request.target.partition("?")[2])
            label = (query.get("label") or [""])[0]
            try:  # a JPEG written to disk: off the event loop
                path = await asyncio.to_thread(self._collect.save, label)
            except EdgeError as exc:
                return text(400, str(exc))
            body = {"saved": path.name, "label": label}
        else:
            body = {}
        body["classes"] = await asyncio.to_thread(self._collect.classes)
        return Response(200, json.dumps(body).encode(), "application/json",
                        {"Cache-Control": "no-store"})

    async def _serve_metrics(self, _request: Request) -> Response:
        body, ctype = self._metrics()
        return Response(200, body, ctype)

    async def _serve_snapshot(self, request: Request) -> Response:
        """The newest frame with the result drawn on it (``X-Edge-Result``: its JSON, so a
        page shows the image, its overlay and its table for one frame). ``?after=N``: wait
        (a long poll, up to 5 s) for a frame newer than N; 204 when none came."""
        after = _after(request)
        latest = self._hub.latest
        wait_for = after if after is not None else \
            (latest[0] if latest else -1) if latest is None or latest[0] < self._current() \
            else None
        if wait_for is not None:
            self._want(+1)
            try:
                latest = await asyncio.wait_for(self._hub.newer(wait_for), SNAPSHOT_WAIT_S)
            except asyncio.TimeoutError:
                latest = None
            finally:
                self._want(-1)
        if latest is None:
            if after is not None:
                return Response(204, b"", "text/plain", {"Cache-Control": "no-store"})
            return text(503, "no frame yet", **{"Retry-After": "1"})
        return Response(200, latest[1], "image/jpeg",
                        {**IMAGE_HEADERS, "Cache-Control": "no-store",
                         "X-Edge-Seq": str(latest[0]), "X-Edge-Result": latest[3]})

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
