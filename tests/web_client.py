"""Raw HTTP over real sockets for the web-server tests: exact bytes in, status, headers and
body out, with the time each answer took."""

from __future__ import annotations

import base64
import socket
import ssl
import time
from urllib.parse import urlsplit


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname, parts.port


def connect(url: str, timeout: float = 10.0, context: ssl.SSLContext | None = None,
            rcvbuf: int | None = None) -> socket.socket:
    host, port = address(url)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(timeout)
    sock.connect((host, port))
    return context.wrap_socket(sock, server_hostname=host) if context else sock


def request_bytes(method: str, path: str, headers: dict[str, str] | None = None,
                  host: str = "127.0.0.1") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", *(
        f"{k}: {v}" for k, v in (headers or {}).items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_head(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, bytes already read past the head)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {data[:200]!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, rest


def read_response(sock: socket.socket, head_only: bool = False) -> tuple[int, dict, bytes]:
    status, headers, body = read_head(sock)
    length = 0 if head_only else int(headers.get("content-length", 0))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body


def fetch(url: str, path: str, method: str = "GET", headers: dict[str, str] | None = None,
          context: ssl.SSLContext | None = None, host: str = "127.0.0.1",
          timeout: float = 10.0) -> tuple[int, dict, bytes]:
    with connect(url, timeout, context) as sock:
        sock.sendall(request_bytes(method, path, headers, host))
        return read_response(sock, head_only=method == "HEAD")


def raw(url: str, data: bytes, timeout: float = 10.0) -> tuple[bytes, float]:
    """Send ``data``, read until the server closes; (everything read, seconds it took)."""
    with connect(url, timeout) as sock:
        t0 = time.monotonic()
        if data:
            sock.sendall(data)
        got = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            got += chunk
        return got, time.monotonic() - t0


def status_of(answer: bytes) -> int | None:
    return int(answer.split()[1]) if answer.startswith(b"HTTP/1.1 ") else None
