#!/usr/bin/env python3
"""The web server under load: edge-run's memory, CPU, inference and recorder rates while
many stream viewers and idle sockets hold it, and after they leave.

edge-run replays the bundled photos at 30 FPS through a real model, records every frame and
serves --http on loopback. After a warm-up the tool measures idle figures, then, for each
round, opens VIEWERS stream readers and IDLE sockets that send half a request and nothing
more (reopened when the server times them out, as an attacker would), holds them, closes
them and lets the process settle. Reported per phase: resident memory (median and peak of
samples every 0.5 s, from /proc), process CPU, inference FPS (from /stats) and frames
recorded per second (from the recording's manifest), plus what the server refused.

    python tools/bench_http.py [--viewers 200] [--idle 300] [--rounds 3] [--hold 20]
        [--model M.onnx] [--json FILE] [-- extra edge-run flags, e.g. --http-max-viewers 5]

By default the limits are raised so that every viewer and idle socket is admitted (the hard
case); pass edge-run's own flags after -- to measure other limits. ``--python-path DIR``
runs another checkout's edge (e.g. an older commit) for a comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def status_mb(pid: int, key: str) -> float:
    """A size from /proc/PID/status (kB there), in MB; 0 when the key is missing."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024.0
    return 0.0


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def recorded(folder: Path) -> int:
    try:
        with open(folder / "manifest.jsonl", "rb") as fh:
            return sum(1 for _ in fh)
    except OSError:
        return 0


def stats(url: str, tries: int = 50) -> dict:
    """/stats over one kept-alive connection, as the page polls it; reopened (and retried)
    when the server closed it: under a flood at the connection cap a new connection may be
    refused for a moment (counted in the report)."""
    host, port = url.split("//", 1)[1].rstrip("/").rsplit(":", 1)
    for attempt in range(tries):
        try:
            if _KEPT.get(url) is None:
                _KEPT[url] = http.client.HTTPConnection(host, int(port), timeout=30)
            _KEPT[url].request("GET", "/stats")
            response = _KEPT[url].getresponse()
            body = response.read()
            if response.status == 200:
                return json.loads(body)
            raise OSError(f"HTTP {response.status}")
        except (OSError, http.client.HTTPException):
            REFUSED[0] += 1
            _KEPT.pop(url, None)
            if attempt == tries - 1:
                raise
            time.sleep(0.1)
    return {}


_KEPT: dict[str, http.client.HTTPConnection] = {}
REFUSED = [0]


class Phase:
    """Samples memory, CPU, FPS and the recording rate of a process over a phase."""

    def __init__(self, pid: int, url: str, recording: Path) -> None:
        self.pid, self.url, self.recording = pid, url, recording
        self.rss: list[float] = []
        self.fps: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> Phase:
        self.t0, self.cpu0, self.rec0 = time.monotonic(), cpu_s(self.pid), \
            recorded(self.recording)
        self.refused0 = REFUSED[0]
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.5):
            self.rss.append(status_mb(self.pid, "VmRSS"))
            if len(self.rss) % 4 == 0:
                try:
                    self.fps.append(stats(self.url)["fps"]["inference"])
                except OSError:
                    self.fps.append(float("nan"))

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        seconds = time.monotonic() - self.t0
        self.figures = {
            "seconds": round(seconds, 1),
            "rss_mb_median": round(statistics.median(self.rss), 1),
            "rss_mb_peak": round(max(self.rss), 1),
            "cpu_percent": round(100 * (cpu_s(self.pid) - self.cpu0) / seconds, 1),
            "inference_fps": round(statistics.median(self.fps), 1) if self.fps else None,
            "recorded_fps": round((recorded(self.recording) - self.rec0) / seconds, 1),
            "threads": threads(self.pid),
            "stats_requests_refused": REFUSED[0] - self.refused0,
        }


async def viewer(port: int, stop: asyncio.Event, got: list[int]) -> None:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return
    writer.write(b"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    while not stop.is_set():
        try:
            data = await asyncio.wait_for(reader.read(1 << 16), 1.0)
        except asyncio.TimeoutError:
            continue
        except OSError:
            break
        if not data:
            break
        got[0] += len(data)
    writer.close()


async def idler(port: int, stop: asyncio.Event, opened: list[int]) -> None:
    """Half a request, then nothing; reopened whenever the server closes it."""
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.5)
            continue
        opened[0] += 1
        writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        closed = asyncio.ensure_future(reader.read())
        await asyncio.wait({closed, asyncio.ensure_future(stop.wait())},
                           return_when=asyncio.FIRST_COMPLETED)
        closed.cancel()
        writer.close()
        await asyncio.sleep(0.2)  # a server that resets at once must not make this spin


def load(port: int, viewers: int, idle: int, stop: threading.Event, out: dict) -> None:
    async def main() -> None:
        done = asyncio.Event()
        got, opened = [0], [0]
        tasks = [asyncio.ensure_future(viewer(port, done, got)) for _ in range(viewers)]
        tasks += [asyncio.ensure_future(idler(port, done, opened)) for _ in range(idle)]
        t0 = time.monotonic()
        while not stop.is_set():
            await asyncio.sleep(0.2)
        out["viewer_mb_per_s"] = round(got[0] / 1e6 / (time.monotonic() - t0), 1)
        out["idle_sockets_opened"] = opened[0]
        done.set()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())


def start(args, model: Path, recording: Path, extra: list[str]) -> tuple[subprocess.Popen, str]:
    env = dict(os.environ)
    if args.python_path:
        env["PYTHONPATH"] = str(args.python_path)
    command = [sys.executable, "-m", "edge.cli", "--no-config", "--replay",
               str(ROOT / "data" / "photos"), "--realtime", "--loop", "--model", str(model),
               "--record", str(recording), "--http", "127.0.0.1:0", "-q", *extra]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=recording.parent)  # not this checkout
    proc.log = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        if match := re.search(r"web page on (http://\S+)", line):
            threading.Thread(target=lambda: proc.log.extend(proc.stderr), daemon=True).start()
            return proc, match.group(1)
    proc.kill()
    raise SystemExit("edge-run did not report its web address")


def main() -> int:
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--viewers", type=int, default=200)
    p.add_argument("--idle", type=int, default=300)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--hold", type=float, default=20.0, help="seconds under load per round")
    p.add_argument("--settle", type=float, default=10.0, help="seconds after each round")
    p.add_argument("--warmup", type=float, default=10.0)
    p.add_argument("--model", type=Path, help="edge model (default: the bundled 0.25-128 "
                                              "weights converted to fp32)")
    p.add_argument("--python-path", type=Path, help="run edge from this folder instead")
    p.add_argument("--json", type=Path)
    p.add_argument("--no-limits", action="store_true",
                   help="pass no --http-max-* flags (an edge from before they existed)")
    args = p.parse_args(argv)
    if not args.no_limits and not any(a.startswith("--http-max") for a in extra):
        extra += ["--http-max-viewers", str(max(args.viewers, 1)),
                  "--http-max-connections", str(args.viewers + args.idle + 16)]
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None:
            from edge.convert import ConvertOptions, convert

            weights = ROOT / "data" / "models" / "mobilenet_v1_0.25_128_quant.tflite"
            model = Path(convert(ConvertOptions(output=Path(tmp) / "model",
                                                weights=str(weights)),
                                 log=lambda _: None)["files"]["fp32"]["path"])
        recording = Path(tmp) / "recording"
        proc, url = start(args, model, recording, extra)
        port = int(url.rstrip("/").rsplit(":", 1)[1])
        report: dict = {"edge_run_flags": extra, "viewers": args.viewers, "idle": args.idle,
                        "rounds": []}
        try:
            time.sleep(args.warmup)
            with Phase(proc.pid, url, recording) as idle:
                time.sleep(args.settle)
            report["idle"] = idle.figures
            print(f"idle: {json.dumps(idle.figures)}", file=sys.stderr)
            for n in range(args.rounds):
                stop, out = threading.Event(), {}
                client = threading.Thread(target=load, args=(port, args.viewers, args.idle,
                                                             stop, out))
                client.start()
                time.sleep(3)  # let them connect
                with Phase(proc.pid, url, recording) as during:
                    time.sleep(args.hold)
                server = stats(url)["sinks"].get("http", {})
                stop.set()
                client.join()
                with Phase(proc.pid, url, recording) as after:
                    time.sleep(args.settle)
                during.figures.update(out, server=server)
                report["rounds"].append({"during": during.figures, "after": after.figures})
                print(f"round {n + 1} during: {json.dumps(during.figures)}\n"
                      f"round {n + 1} after: {json.dumps(after.figures)}", file=sys.stderr)
        finally:
            if proc.poll() is not None:
                print(f"edge-run exited ({proc.returncode}): {''.join(proc.log)[-2000:]}",
                      file=sys.stderr)
            proc.terminate()
            proc.wait(timeout=30)
    base = report["idle"]["rss_mb_median"]
    print(f"{'phase':<16}{'RSS MB (x idle)':>18}{'peak MB':>9}{'CPU %':>7}{'infer FPS':>10}"
          f"{'rec FPS':>8}{'threads':>8}")
    rows = [("idle", report["idle"])]
    for n, r in enumerate(report["rounds"], 1):
        rows += [(f"round {n} during", r["during"]), (f"round {n} after", r["after"])]
    for name, f in rows:
        print(f"{name:<16}{f['rss_mb_median']:>10.1f} ({f['rss_mb_median'] / base:.2f}x)"
              f"{f['rss_mb_peak']:>9.1f}{f['cpu_percent']:>7.0f}{f['inference_fps']:>10.1f}"
              f"{f['recorded_fps']:>8.1f}{f['threads']:>8}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
