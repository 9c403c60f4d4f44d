"""What the web server needs from its surroundings: a share of the open-file limit, a TLS
context, the names this machine goes by, a way to give freed memory back, and two socket
waits."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import ipaddress
import os
import resource
import socket
import ssl
from pathlib import Path

from edge.errors import EdgeError
from edge.fileio import read_bounded

_MALLOC_TRIM = None


def release_free_memory() -> None:
    """Return the C allocator's free memory to the system (glibc's malloc_trim; nothing
    elsewhere). Freed buffers otherwise stay resident in the arenas of the threads that
    used them."""
    global _MALLOC_TRIM
    if _MALLOC_TRIM is None:
        try:
            _MALLOC_TRIM = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _MALLOC_TRIM = False
    if _MALLOC_TRIM:
        _MALLOC_TRIM(0)


def connection_cap(wanted: int, listeners: int = 2) -> tuple[int, int]:
    """(cap, soft open-file limit): ``wanted`` lowered so that all listeners together keep at
    most half of the file descriptors still free, the rest staying with the camera, the
    recorder, the results log and the libraries."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        in_use = len(os.listdir("/proc/self/fd"))
    except OSError:
        in_use = 64
    if soft == resource.RLIM_INFINITY:
        return wanted, soft
    return max(0, min(wanted, (soft - in_use) // (2 * listeners))), soft


def tls_context(cert, key, flag: str = "--http-cert") -> ssl.SSLContext:
    """A server context (TLS 1.2 or later) from PEM files; EdgeError when they do not load."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    for what, path in ((flag, cert), ("--http-key", key)):
        if Path(path).exists():
            read_bounded(path, "pem", what)  # not a device or a runaway file
    try:
        ctx.load_cert_chain(str(cert), str(key), password=lambda: b"")
    except FileNotFoundError as exc:
        raise EdgeError(f"{flag} {cert} / --http-key {key}: {exc.filename}: no such "
                        "file") from None
    except (OSError, ssl.SSLError) as exc:
        why = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
        raise EdgeError(f"{flag} {cert} / --http-key {key}: not a usable PEM certificate and "
                        f"unencrypted key ({why})") from None
    return ctx


def local_names() -> set[str]:
    """Host names under which this machine may be addressed (DNS-rebinding check)."""
    names = {"localhost", socket.gethostname().lower()}
    names |= {n + ".local" for n in set(names)}
    with contextlib.suppress(OSError):
        names.add(socket.getfqdn().lower())
    return names


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The host of a Host header, lower case, without port or IPv6 brackets."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


async def first_byte(conn: socket.socket, timeout: float) -> bytes:
    """The first byte a non-blocking socket receives, left in place (b"": closed);
    asyncio.TimeoutError when none comes within ``timeout``."""
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    loop.add_reader(conn.fileno(), lambda: ready.done() or ready.set_result(None))
    try:
        await asyncio.wait_for(ready, timeout)
    finally:
        loop.remove_reader(conn.fileno())
    return conn.recv(1, socket.MSG_PEEK)


async def until_eof(reader: asyncio.StreamReader) -> None:
    """Returns when the client hangs up (what it sends meanwhile is ignored)."""
    with contextlib.suppress(OSError, asyncio.LimitOverrunError, ValueError):
        while await reader.read(4096):
            pass
