"""Web page for headless devices: the live MJPEG stream with its overlay, current results and
stats (``/``), ``/stream.mjpg``, ``/snapshot.jpg``, ``/stats`` (JSON) and ``/metrics`` (Prometheus).

Served by the standard library's threading HTTP server on its own threads: handle() only
stores the newest result; JPEG encoding happens once per new frame, on demand, shared by all
viewers, and only while somebody is watching.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources

import cv2

from edge.errors import EdgeError
from edge.sinks.base import PipelineView, Result, Sink
from edge.sinks.overlay import draw

log = logging.getLogger(__name__)
BOUNDARY = "edgeframe"


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


class HttpSink(Sink):
    name = "http"

    def __init__(self, host: str = "127.0.0.1", port: int = 8080) -> None:
        self._cond = threading.Condition()
        self._result: Result | None = None
        self._jpeg: tuple[int, bytes] | None = None  # (seq, bytes) of the newest encoding
        self._view: PipelineView | None = None
        self.closed = False
        self.extra_routes: dict[str, Callable[[], tuple[bytes, str]]] = {}
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                sink._route(self)

            def log_message(self, fmt, *args):
                log.debug("%s " + fmt, self.address_string(), *args)

        try:
            self.server = ThreadingHTTPServer((host, port), Handler)
        except OSError as exc:
            raise EdgeError(f"--http {host}:{port}: cannot listen ({exc.strerror})") from exc
        self.server.daemon_threads = True
        self.address = self.server.server_address[:2]
        self._thread = threading.Thread(target=self.server.serve_forever, name="http",
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{'[' + host + ']' if ':' in host else host}:{port}/"

    def open(self, view: PipelineView) -> None:
        from edge.sinks.prometheus import metrics_route

        self._view = view
        self.extra_routes["/metrics"] = metrics_route(view.stats)
        self._thread.start()

    def handle(self, result: Result) -> None:
        with self._cond:
            self._result = result
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()
        self.server.shutdown()
        self.server.server_close()

    # -- serving ---------------------------------------------------------------------------
    def _route(self, req: BaseHTTPRequestHandler) -> None:
        path = req.path.split("?", 1)[0]
        try:
            if path in ("/", "/index.html"):
                page = resources.files("edge.sinks").joinpath("page.html").read_bytes()
                self._send(req, page, "text/html; charset=utf-8")
            elif path == "/stats":
                self._send(req, json.dumps(self.stats()).encode(), "application/json")
            elif path == "/snapshot.jpg":
                jpeg = self._encoded(wait_after=-1, timeout=5.0)
                if jpeg is None:
                    req.send_error(HTTPStatus.SERVICE_UNAVAILABLE, "no frame yet")
                else:
                    self._send(req, jpeg[1], "image/jpeg")
            elif path == "/stream.mjpg":
                self._stream(req)
            elif path in self.extra_routes:
                body, ctype = self.extra_routes[path]()
                self._send(req, body, ctype)
            else:
                req.send_error(HTTPStatus.NOT_FOUND)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the viewer went away

    def stats(self) -> dict:
        return self._view.stats() if self._view else {}

    @staticmethod
    def _send(req: BaseHTTPRequestHandler, body: bytes, ctype: str) -> None:
        req.send_response(HTTPStatus.OK)
        req.send_header("Content-Type", ctype)
        req.send_header("Content-Length", str(len(body)))
        req.send_header("Cache-Control", "no-store")
        req.end_headers()
        req.wfile.write(body)

    def _encoded(self, wait_after: int, timeout: float) -> tuple[int, bytes] | None:
        """JPEG of the newest result whose seq is greater than ``wait_after``."""
        with self._cond:
            ok = self._cond.wait_for(
                lambda: self.closed or (self._result is not None
                                        and self._result.seq > wait_after), timeout)
            if not ok or self.closed or self._result is None:
                return None
            result = self._result
            if self._jpeg is None or self._jpeg[0] != result.seq:
                fps = self._view.fps() if self._view else 0.0
                good, data = cv2.imencode(".jpg", draw(result, fps),
                                          [cv2.IMWRITE_JPEG_QUALITY, 80])
                if not good:
                    return None
                self._jpeg = (result.seq, data.tobytes())
            return self._jpeg

    def _stream(self, req: BaseHTTPRequestHandler) -> None:
        req.send_response(HTTPStatus.OK)
        req.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        req.send_header("Cache-Control", "no-store")
        req.send_header("Connection", "close")
        req.end_headers()
        last = -1
        while not self.closed:
            jpeg = self._encoded(wait_after=last, timeout=1.0)
            if jpeg is None:
                continue
            last = jpeg[0]
            req.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                            f"Content-Length: {len(jpeg[1])}\r\n\r\n".encode())
            req.wfile.write(jpeg[1] + b"\r\n")
            req.wfile.flush()
        req.close_connection = True
