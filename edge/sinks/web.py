"""The web page's sink (``--http``): keeps the newest result and, only while somebody watches,
draws its overlay and encodes it as JPEG once per new frame on its own thread, for
:class:`edge.web.live.LivePage` to serve with the result it shows. handle() only stores the
result."""

from __future__ import annotations

import ssl
import threading

import cv2

from edge.sinks.base import PipelineView, Result, Sink, guarded_thread
from edge.sinks.overlay import Canvas, draw
from edge.web.auth import Credentials
from edge.web.live import LivePage
from edge.web.server import Limits


class HttpSink(Sink):
    name = "http"

    def __init__(self, host: str = "127.0.0.1", port: int = 8080, limits: Limits | None = None,
                 credentials: Credentials | None = None,
                 tls: ssl.SSLContext | None = None, collect=None) -> None:
        self._cond = threading.Condition()
        self._result: Result | None = None
        self._wanted = 0  # viewers and waiting snapshots: encode only while > 0
        self._view: PipelineView | None = None
        self._metrics = None
        self.closed = False
        self._failed: str | None = None
        self.page = LivePage(host, port, limits or Limits(), credentials, tls,
                             stats=self.stats, metrics=lambda: self._metrics(),
                             want=self._want, current=self._current, collect=collect)
        self.server = self.page.server
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
        from edge.telemetry.prometheus import metrics_route

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
        self.page.publish(-1, None, None)
        self.server.stop()
        if self._encoder.is_alive():
            self._encoder.join(timeout=5)

    def stats(self, run_percentiles: bool = True) -> dict:
        """/stats: the run's figures as JSON-ready data."""
        return self._view.stats(run_percentiles).to_dict() if self._view else {}

    def figures(self) -> dict:
        return self.server.figures()

    def _current(self) -> int:
        result = self._result
        return -1 if result is None else result.seq

    def _want(self, delta: int) -> None:
        with self._cond:
            self._wanted += delta
            self._cond.notify_all()

    # -- the encoder thread ----------------------------------------------------------------
    def _encode_loop(self) -> None:
        done, canvas = -1, Canvas()
        # OpenCV sets up megabytes of font state in each thread on its first putText: pay
        # that at start, so the memory the service settles at stays put when viewers come
        draw(Result(-1, "", 0, [(0, "warm-up", 1.0)], {}))

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
                self.page.publish(result.seq, jpeg, result.to_dict())

    def _encode(self, result: Result, canvas: Canvas) -> bytes | None:
        ok, data = cv2.imencode(".jpg", draw(result, canvas=canvas),
                                [cv2.IMWRITE_JPEG_QUALITY, 80])
        return data.tobytes() if ok else None
