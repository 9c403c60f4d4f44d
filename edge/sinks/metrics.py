"""``/metrics`` alone on its own address (``--metrics``), apart from the web page, so metrics
can be reachable where the camera page is not. The exposition itself is
:mod:`edge.telemetry.prometheus`."""

from __future__ import annotations

import ssl

from edge.sinks.base import Sink
from edge.telemetry.prometheus import metrics_route
from edge.web.auth import Credentials
from edge.web.server import Limits, WebServer
from edge.web.wire import Request, Response


class MetricsSink(Sink):
    """``/metrics`` alone on its own address (``--metrics``), apart from the web page; the
    same bounded server, with a bearer token and/or the web password when configured."""

    name = "metrics"

    def __init__(self, host: str = "127.0.0.1", port: int = 9464,
                 limits: Limits | None = None, credentials: Credentials | None = None,
                 tls: ssl.SSLContext | None = None) -> None:
        self._route = None
        self.server = WebServer(host, port, {"/metrics": self._serve}, flag="--metrics",
                                limits=limits or Limits(16, 0), credentials=credentials,
                                bearer_paths=frozenset({"/metrics"}), tls=tls, name="metrics")
        self.url = self.server.url + "metrics"

    @property
    def error(self) -> str | None:
        return self.server.error

    def alive(self) -> bool:
        return self.server.alive()

    def figures(self) -> dict:
        return self.server.figures()

    async def _serve(self, _request: Request) -> Response:
        body, ctype = self._route()
        return Response(200, body, ctype)

    def open(self, view) -> None:
        self._route = metrics_route(view.stats)
        self.server.start()

    def close(self) -> None:
        self.server.stop()
