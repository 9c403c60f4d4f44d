#!/usr/bin/env python3
"""Which server for the web page: memory and CPU per viewer of three minimal MJPEG servers,
measured the same way, with nothing else in the process.

  threads   the standard library's ThreadingHTTPServer (a thread per connection; what edge
            used before)
  asyncio   the standard library's asyncio streams, one thread (what edge uses now)
  aiohttp   aiohttp's web server, one thread (skipped when aiohttp is not importable)

Each serves a new 30 KB frame 30 times a second (random bytes, so no encoder in the way) to
VIEWERS readers while IDLE sockets hold half a request; resident memory before, at the peak
and after each round, process CPU per viewer, threads. Standalone (no edge import):

    python tools/bench_servers.py [--viewers 200] [--idle 300] [--rounds 3] [--hold 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import threading
import time

from bench_http import cpu_s, status_mb, threads  # tools/, beside this script

FRAME_BYTES = 30_000
HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=f\r\n"
        b"Connection: close\r\n\r\n")


def part(data: bytes) -> bytes:
    return b"--f\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s\r\n" % (
        len(data), data)


def serve(mode: str, port: int) -> None:
    """The server process: frames from a producer thread, served by ``mode``."""
    cond, latest = threading.Condition(), [0, b""]
    loop = asyncio.new_event_loop() if mode != "threads" else None
    waiters: list[asyncio.Future] = []

    def wake() -> None:
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)
        waiters.clear()

    def produce() -> None:
        while True:
            frame = part(os.urandom(FRAME_BYTES))
            with cond:
                latest[0] += 1
                latest[1] = frame
                cond.notify_all()
            if loop is not None:
                loop.call_soon_threadsafe(wake)
            time.sleep(1 / 30)

    async def newer(seq: int) -> tuple[int, bytes]:
        while latest[0] <= seq:
            fut = loop.create_future()
            waiters.append(fut)
            await fut
        return latest[0], latest[1]

    if mode == "threads":
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.wfile.write(HEAD)
                seq = -1
                try:
                    while True:
                        with cond:
                            cond.wait_for(lambda s=seq: latest[0] > s, 1)
                            seq, frame = latest[0], latest[1]
                        self.wfile.write(frame)
                        self.wfile.flush()
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        server.daemon_threads = True
        threading.Thread(target=produce, daemon=True).start()
        server.serve_forever()
        return
    asyncio.set_event_loop(loop)
    if mode == "asyncio":
        async def handle(reader, writer):
            try:
                await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
                writer.transport.set_write_buffer_limits(high=0)
                writer.write(HEAD)
                seq = -1
                while True:
                    seq, frame = await newer(seq)
                    writer.write(frame)
                    await asyncio.wait_for(writer.drain(), 10)
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError):
                pass
            finally:
                writer.close()

        async def main():
            server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=128)
            threading.Thread(target=produce, daemon=True).start()
            await server.serve_forever()
    else:
        from aiohttp import web

        async def stream(request):
            response = web.StreamResponse(
                headers={"Content-Type": "multipart/x-mixed-replace; boundary=f"})
            await response.prepare(request)
            seq = -1
            try:
                while True:
                    seq, frame = await newer(seq)
                    await response.write(frame)
            except (OSError, ConnectionResetError):
                pass
            return response

        async def main():
            app = web.Application()
            app.router.add_get("/stream.mjpg", stream)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port, backlog=128).start()
            threading.Thread(target=produce, daemon=True).start()
            await asyncio.Event().wait()
    loop.run_until_complete(main())


def rss_mb(pid: int) -> float:
    return status_mb(pid, "VmRSS")


async def load(port: int, viewers: int, idle: int, hold: float, pid: int) -> dict:
    stop = asyncio.Event()

    async def viewer():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /stream.mjpg HTTP/1.1\r\nHost: x\r\n\r\n")
        while not stop.is_set():
            try:
                if not await asyncio.wait_for(reader.read(1 << 16), 1):
                    break
            except asyncio.TimeoutError:
                continue
        writer.close()

    async def idler():
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /stream.mjpg HTTP/1.1\r\n")
        await stop.wait()
        writer.close()

    tasks = [asyncio.ensure_future(viewer()) for _ in range(viewers)]
    tasks += [asyncio.ensure_future(idler()) for _ in range(idle)]
    await asyncio.sleep(2)
    c0, t0, peak = cpu_s(pid), time.monotonic(), 0.0
    while time.monotonic() - t0 < hold:
        await asyncio.sleep(0.5)
        peak = max(peak, rss_mb(pid))
    cpu = (cpu_s(pid) - c0) / (time.monotonic() - t0)
    count = threads(pid)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"peak": peak, "cpu": cpu, "threads": count}


def measure(mode: str, args) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, __file__, "--serve", mode, str(port)])
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        time.sleep(2)
        idle = rss_mb(proc.pid)
        print(f"{mode}: idle {idle:.1f} MB")
        for n in range(args.rounds):
            got = asyncio.run(load(port, args.viewers, args.idle, args.hold, proc.pid))
            time.sleep(3)
            after = rss_mb(proc.pid)
            print(f"  round {n + 1}: peak {got['peak']:.1f} MB ({got['peak'] / idle:.2f}x), "
                  f"after {after:.1f} MB ({after / idle:.2f}x), CPU "
                  f"{1e3 * got['cpu'] / args.viewers:.2f} ms per viewer-second, "
                  f"{got['threads']} threads")
    finally:
        proc.terminate()
        proc.wait()


def main() -> int:
    if sys.argv[1:2] == ["--serve"]:
        serve(sys.argv[2], int(sys.argv[3]))
        return 0
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--viewers", type=int, default=200)
    p.add_argument("--idle", type=int, default=300)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--hold", type=float, default=8.0)
    args = p.parse_args()
    for mode in ("threads", "asyncio", "aiohttp"):
        if mode == "aiohttp":
            try:
                import aiohttp
            except ImportError:
                print("aiohttp: not installed, skipped (pip install aiohttp)")
                continue
            print(f"(aiohttp {aiohttp.__version__})")
        measure(mode, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
