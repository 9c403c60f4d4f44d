"""HTTP/1.1 on the wire, strictly and with limits: a request head is read line by line from an
asyncio StreamReader (GET and HEAD only, no bodies, bounded line and head sizes), and
responses are formatted with the security headers every answer carries."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus

MAX_LINE = 8192  # bytes of the request line and of each header line
MAX_HEAD = 16384  # bytes of the whole request head
MAX_HEADERS = 64
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_SINGLE = {"host", "authorization", "content-length"}  # twice is ambiguous: refused
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}


class HttpError(Exception):
    """A request that is answered with ``status`` and closed (``status`` 0: closed at once,
    no answer, e.g. a TLS handshake on the plain port)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


class Closed(Exception):
    """The client closed the connection before a whole request head arrived."""


@dataclass
class Request:
    method: str
    target: str
    version: str
    headers: dict[str, str]
    peer: str = ""

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def keep_alive(self) -> bool:
        return self.version == "HTTP/1.1" and \
            "close" not in self.headers.get("connection", "").lower()


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Stream:
    """An answer without end: ``parts()`` yields the body piece by piece (MJPEG frames)."""

    content_type: str
    parts: Callable[[], AsyncIterator[bytes]]
    headers: dict[str, str] = field(default_factory=dict)


def text(status: int, message: str, **headers: str) -> Response:
    return Response(status, (message + "\n").encode(), headers=dict(headers))


async def read_head(reader: asyncio.StreamReader, seen: Callable[[], None]) -> Request | None:
    """The next request head; None at a clean end of the connection. ``seen`` is called
    when its first byte arrives (from then on a timeout is answered with 408)."""
    first = await reader.read(1)
    if not first:
        return None
    seen()
    if first == b"\x16":  # a TLS ClientHello: nothing a TLS client could read, just close
        raise HttpError(0, "TLS handshake on a plain-HTTP port")
    line = first + await _line(reader, "request line", 414)
    total = len(line)
    parts = line.rstrip(b"\r\n").split(b" ")
    if len(parts) == 2:
        raise HttpError(400, "HTTP/0.9 is not supported: send HTTP/1.1 requests")
    if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]):
        raise HttpError(400, "malformed request line")
    try:
        method, target, version = (p.decode("ascii") for p in parts)
    except UnicodeDecodeError:
        raise HttpError(400, "the request line is not ASCII") from None
    if version not in ("HTTP/1.0", "HTTP/1.1"):
        raise HttpError(505 if version.startswith("HTTP/") else 400,
                        f"{version[:16]!r} is not supported: send HTTP/1.1 requests")
    if not target.startswith("/"):
        raise HttpError(400, "the request target must be a path")
    headers: dict[str, str] = {}
    for count in range(MAX_HEADERS + 2):
        raw = await _line(reader, "header line", 431)
        total += len(raw)
        if total > MAX_HEAD or count > MAX_HEADERS:
            raise HttpError(431, "request head too large")
        raw = raw.rstrip(b"\r\n")
        if not raw:
            break
        name, sep, value = raw.partition(b":")
        if not sep or not _TOKEN.fullmatch(name):
            raise HttpError(400, "malformed header line")
        key, val = name.decode("ascii").lower(), value.strip(b" \t").decode("latin-1")
        if key in headers and key in _SINGLE:
            raise HttpError(400, f"{key} given twice")
        headers[key] = f"{headers[key]}, {val}" if key in headers else val
    if "transfer-encoding" in headers or headers.get("content-length", "0").strip() != "0":
        raise HttpError(413, "request bodies are not accepted")
    if version == "HTTP/1.1" and "host" not in headers:
        raise HttpError(400, "HTTP/1.1 requests need a Host header")
    return Request(method, target, version, headers)


async def _line(reader: asyncio.StreamReader, what: str, status: int) -> bytes:
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.LimitOverrunError:
        raise HttpError(status, f"{what} too long") from None
    except asyncio.IncompleteReadError:
        raise Closed() from None
    if len(line) > MAX_LINE:
        raise HttpError(status, f"{what} too long")
    return line


def head_bytes(status: int, headers: dict[str, str]) -> bytes:
    """Status line and headers (the security headers first; ``headers`` override them and
    a value of "" leaves one out)."""
    merged = {"Date": formatdate(usegmt=True), **SECURITY_HEADERS, **headers}
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}"]
    lines += [f"{k}: {v}" for k, v in merged.items() if v != ""]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def response_bytes(response: Response, head_only: bool, close: bool) -> bytes:
    headers = {"Content-Type": response.content_type,
               "Content-Length": str(len(response.body)), **response.headers}
    if close:
        headers["Connection"] = "close"
    return head_bytes(response.status, headers) + (b"" if head_only else response.body)
