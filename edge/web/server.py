"""A small, bounded HTTP/1.1 server for the web page and /metrics, on asyncio.

One thread runs one event loop that serves every connection, so a viewer costs a few kB of
Python objects, never a thread (threads per connection left glibc arenas of several MB each
behind, and let idle sockets hold the process). Bounded everywhere:
- connections: at most ``max_connections`` (lowered to fit the open-file limit); at the cap
  a connection that has waited a while for a request head is closed to make room (from the
  address that holds the most), else the new one gets a 503;
- streams: at most ``max_streams`` (the next viewer gets a 503 saying why);
- time: a request head must arrive within ``timeout_s`` (else 408 and close), every write
  must drain within it (a viewer that stops reading is dropped); streams skip frames for
  slow viewers instead of queueing them;
- size: request lines and heads are limited, bodies refused; only GET and HEAD.
An accept that fails (no file descriptors left) is retried after a pause, never in a spin.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from edge.errors import EdgeError
from edge.web.auth import Backoff, Credentials, authorize, foreign_host
from edge.web.host import (
    first_byte,
    local_names,
    release_free_memory,
    until_eof,
)
from edge.web.wire import (
    MAX_LINE,
    Closed,
    HttpError,
    Request,
    Response,
    Stream,
    head_bytes,
    read_head,
    response_bytes,
    text,
)

log = logging.getLogger(__name__)
Handler = Callable[[Request], Awaitable[Response | Stream]]
TRIM_AFTER_S = 5.0
EVICT_AFTER_S = 0.25
STREAM_SNDBUF = 128 * 1024  # kernel send buffer of a stream (Linux doubles it)
COUNTERS = ("connections", "requests", "refused", "evicted", "timeouts", "bad_requests",
            "unauthorized", "viewers_refused", "dropped_viewers", "accept_errors")


@dataclass(frozen=True)
class Limits:
    max_connections: int = 64
    max_streams: int = 5
    timeout_s: float = 10.0


class _Conn:
    __slots__ = ("evicting", "peer", "phase", "since", "task")

    def __init__(self, task: asyncio.Task, peer: str) -> None:
        self.task, self.peer, self.phase = task, peer, "head"
        self.since, self.evicting = time.monotonic(), False


class WebServer:
    """Serves ``routes`` (path -> async handler) on ``host:port``; listens at once (a busy
    port fails here), serves after start()."""

    def __init__(self, host: str, port: int, routes: dict[str, Handler], *, flag: str,
                 limits: Limits = Limits(), credentials: Credentials | None = None,
                 bearer_paths: frozenset[str] = frozenset(), tls: ssl.SSLContext | None = None,
                 name: str = "http", post_paths: frozenset[str] = frozenset()) -> None:
        self.routes, self.limits, self.tls, self.name = routes, limits, tls, name
        # actions (no body): POST only here, and only with X-Edge-Action, which a page from
        # another site cannot send without a preflight this server never grants
        self.post_paths = post_paths
        self.credentials = credentials if credentials is not None and credentials.any else None
        self.bearer_paths = bearer_paths
        self._backoff = Backoff()
        self._names = local_names()
        try:
            family, _, _, _, address = socket.getaddrinfo(
                host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
            self._sock = socket.create_server(address[:2], family=family, backlog=128)
        except OSError as exc:
            why = os.strerror(exc.errno) if exc.errno else str(exc)
            raise EdgeError(f"{flag} {host}:{port}: cannot listen ({why})") from None
        self._sock.setblocking(False)
        self.address = self._sock.getsockname()[:2]
        self.counts = dict.fromkeys(COUNTERS, 0)
        self.error: str | None = None
        self.streams = 0
        self._conns: dict[asyncio.Task, _Conn] = {}
        self.loop: asyncio.AbstractEventLoop | None = None  # while serving
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._warned: dict[str, float] = {}
        self._trim: asyncio.TimerHandle | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"{'https' if self.tls else 'http'}://" \
               f"{'[' + host + ']' if ':' in host else host}:{port}/"

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(10)

    def alive(self) -> bool:
        """False once the serving thread has died (not after a requested stop)."""
        return self.error is None

    def stop(self) -> None:
        loop, stopping = self.loop, self._stopping
        if loop is not None and stopping is not None and self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(stopping.set)
            self._thread.join(timeout=5)
        self._sock.close()

    def figures(self) -> dict:
        return {"url": self.url, "connections_open": len(self._conns),
                "max_connections": self.limits.max_connections, "viewers": self.streams,
                "max_viewers": self.limits.max_streams, **self.counts}

    # -- the loop --------------------------------------------------------------------------
    def _run(self) -> None:
        loop = self.loop = asyncio.new_event_loop()
        loop.set_exception_handler(self._loop_error)
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:
            self.error = f"{self.name} server stopped: {type(exc).__name__}: {exc}"
            log.exception("%s server stopped", self.name)
        finally:
            self._ready.set()
            with contextlib.suppress(BaseException):  # after a crash: let tasks unwind
                pending = asyncio.all_tasks(loop)
                for task in pending:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    async def _main(self) -> None:
        self._stopping = asyncio.Event()
        accept = asyncio.create_task(self._accept())
        self._ready.set()
        await self._stopping.wait()
        accept.cancel()
        for task in list(self._conns):
            task.cancel()
        await asyncio.gather(accept, *self._conns, return_exceptions=True)

    def _loop_error(self, loop, context: dict) -> None:
        exc = context.get("exception")
        if isinstance(exc, (OSError, ssl.SSLError, asyncio.TimeoutError, EOFError)):
            log.debug("%s: %s", context.get("message"), exc)  # a client's network trouble
        else:
            log.error("%s: %s", context.get("message"), exc or "")

    def _warn(self, key: str, message: str, *args) -> None:
        """A warning at most once a minute per kind (an attack must not flood the journal)."""
        now = time.monotonic()
        if now - self._warned.get(key, -1e9) >= 60:
            self._warned[key] = now
            log.warning(message, *args)

    async def _accept(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, addr = await loop.sock_accept(self._sock)
            except OSError as exc:  # EMFILE and friends: pause instead of spinning
                self.counts["accept_errors"] += 1
                self._warn("accept", "%s: cannot accept connections (%s); retrying",
                           self.name, exc.strerror or exc)
                await asyncio.sleep(0.5)
                continue
            self.counts["connections"] += 1
            if len(self._conns) >= self.limits.max_connections:
                victim = self._evict()
                if victim is None:
                    self.counts["refused"] += 1
                    self._warn("cap", "%s: %d connections open (the cap); refusing more",
                               self.name, len(self._conns))
                    with contextlib.suppress(OSError):
                        conn.setblocking(False)
                        conn.send(response_bytes(text(503, "too many connections"), False,
                                                 True))
                    conn.close()
                    continue
                # its socket is closed before this one is served: never over the cap
                await asyncio.wait({victim}, timeout=1.0)
            task = loop.create_task(self._connection(conn, addr[0]))
            self._conns[task] = _Conn(task, addr[0])
            task.add_done_callback(self._ended)
            await asyncio.sleep(0)  # let closing connections close between accepts

    def _ended(self, task: asyncio.Task) -> None:
        self._conns.pop(task, None)
        if not self._conns and self.loop is not None and self._trim is None:
            # the last connection is gone: in a while, hand the memory that served the
            # load back to the system (glibc keeps freed memory in its arenas otherwise)
            self._trim = self.loop.call_later(TRIM_AFTER_S, self._release)

    def _release(self) -> None:
        self._trim = None
        if not self._conns:
            release_free_memory()

    def _evict(self) -> asyncio.Task | None:
        """Cancel a connection that is waiting for a request head, and has waited longer
        than a client needs to send one (a request on its way is never evicted): of the
        address holding the most connections, the one that has waited longest."""
        since = time.monotonic() - EVICT_AFTER_S
        idle = [c for c in self._conns.values()
                if c.phase == "head" and not c.evicting and c.since <= since]
        if not idle:
            return None
        held = Counter(c.peer for c in self._conns.values())
        victim = min(idle, key=lambda c: (-held[c.peer], c.since))
        victim.evicting = True
        victim.task.cancel()
        self.counts["evicted"] += 1
        return victim.task

    # -- one connection --------------------------------------------------------------------
    async def _connection(self, conn: socket.socket, peer: str) -> None:
        loop = asyncio.get_running_loop()
        state = self._conns.get(asyncio.current_task())
        timeout = self.limits.timeout_s
        writer: asyncio.StreamWriter | None = None
        partial = False

        def seen() -> None:
            nonlocal partial
            partial = True

        try:
            if self.tls is not None and not await self._starts_tls(conn):
                return
            reader = asyncio.StreamReader(limit=MAX_LINE, loop=loop)
            protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
            transport, _ = await loop.connect_accepted_socket(
                lambda: protocol, conn, ssl=self.tls,
                ssl_handshake_timeout=timeout if self.tls else None)
            writer = asyncio.StreamWriter(transport, protocol, reader, loop)
            while True:
                if state is not None:
                    state.phase, state.since, partial = "head", time.monotonic(), False
                try:
                    request = await asyncio.wait_for(read_head(reader, seen), timeout)
                except asyncio.TimeoutError:
                    self.counts["timeouts"] += 1
                    if partial:
                        raise HttpError(408, "the request head did not arrive in time") \
                            from None
                    return
                if request is None:
                    return
                request.peer = peer
                if state is not None:
                    state.phase = "busy"
                if not await self._respond(request, reader, writer):
                    return
        except HttpError as err:
            self.counts["bad_requests"] += err.status != 408  # timeouts are counted apart
            log.debug("%s: %s from %s", self.name, err.reason, peer)
            if err.status and writer is not None:
                with contextlib.suppress(OSError, asyncio.TimeoutError, RuntimeError):
                    writer.write(response_bytes(text(err.status, err.reason), False, True))
                    await asyncio.wait_for(writer.drain(), timeout)
        except (Closed, OSError, ssl.SSLError, asyncio.TimeoutError, EOFError,
                asyncio.IncompleteReadError):
            pass
        finally:
            if writer is None:
                conn.close()
            elif writer.transport.get_write_buffer_size():
                writer.transport.abort()  # a client that does not read: drop what is left
            else:
                writer.close()

    async def _starts_tls(self, conn: socket.socket) -> bool:
        """Wait for the first byte on a TLS port: a plain-HTTP request gets a plain answer."""
        try:
            first = await first_byte(conn, self.limits.timeout_s)
        except asyncio.TimeoutError:
            self.counts["timeouts"] += 1
            return False
        if first and first != b"\x16":
            self.counts["bad_requests"] += 1
            with contextlib.suppress(OSError):
                conn.send(response_bytes(text(400, "this port speaks HTTPS: use https://"),
                                         False, True))
            return False
        return bool(first)

    async def _respond(self, request: Request, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter) -> bool:
        """Answer one request; True when the connection stays open for the next."""
        self.counts["requests"] += 1
        head_only = request.method == "HEAD"
        action = request.method == "POST" and request.path in self.post_paths
        if request.method not in ("GET", "HEAD") and not action:
            answer: Response | Stream = text(405, "only GET and HEAD", Allow="GET, HEAD")
        elif action and "x-edge-action" not in request.headers:
            answer = text(403, "an action needs the X-Edge-Action header (the page sends it)")
        elif (denied := self._authorize(request)) is not None:
            answer = denied
        elif (handler := self.routes.get(request.path)) is None:
            answer = text(404, "not found")
        else:
            try:
                answer = await handler(request)
            except Exception:
                log.exception("%s: %s failed", self.name, request.path)
                answer = text(500, "internal error (see the service log)")
        if isinstance(answer, Stream):
            return await self._stream(answer, head_only, reader, writer)
        close = not request.keep_alive or request.method not in ("GET", "HEAD")
        writer.write(response_bytes(answer, head_only, close))
        await asyncio.wait_for(writer.drain(), self.limits.timeout_s)
        return not close

    def _authorize(self, request: Request) -> Response | None:
        if self.credentials is None:
            return foreign_host(request, self._names)
        refused = authorize(self.credentials, self._backoff, request,
                            request.path in self.bearer_paths)
        self.counts["unauthorized"] += refused is not None
        return refused

    async def _stream(self, stream: Stream, head_only: bool, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> bool:
        timeout = self.limits.timeout_s
        if self.streams >= self.limits.max_streams:
            self.counts["viewers_refused"] += 1
            n = self.limits.max_streams
            busy = text(503, f"too many viewers: {n} of {n} are watching; try again later",
                        **{"Retry-After": "10"})
            writer.write(response_bytes(busy, head_only, True))
            await asyncio.wait_for(writer.drain(), timeout)
            return False
        head = head_bytes(200, {"Content-Type": stream.content_type, "Connection": "close",
                                **stream.headers})
        if head_only:
            writer.write(head)
            await asyncio.wait_for(writer.drain(), timeout)
            return False
        self.streams += 1  # taken before the first wait: requests in between see it
        task = asyncio.current_task()
        watcher = None

        def hung_up(_) -> None:
            task.cancel()

        try:
            writer.write(head)
            await asyncio.wait_for(writer.drain(), timeout)
            if (state := self._conns.get(task)) is not None:
                state.phase = "stream"
            # the client hanging up must end the stream even while no new frame comes
            watcher = asyncio.ensure_future(until_eof(reader))
            watcher.add_done_callback(hung_up)
            writer.transport.set_write_buffer_limits(high=0)  # drain(): all handed over
            sock = writer.get_extra_info("socket")
            if sock is not None:  # and the kernel holds about a frame, not megabytes
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, STREAM_SNDBUF)
            async for part in stream.parts():
                writer.write(part)
                try:
                    await asyncio.wait_for(writer.drain(), timeout)
                except asyncio.TimeoutError:
                    self.counts["dropped_viewers"] += 1
                    raise
        finally:
            self.streams -= 1
            if watcher is not None:
                watcher.remove_done_callback(hung_up)
                watcher.cancel()
        return False

