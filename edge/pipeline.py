"""The frame loop: source -> preprocess -> infer -> postprocess -> sinks, every arrow timed.

Three threads: capture (source.read into a one-frame slot), inference (the caller's thread),
reporting (results to sinks). A live source never waits for inference: the newest frame
replaces an unprocessed one and the drop is counted. A finite replay is lossless: capture waits
for the slot, so every frame is processed and results are deterministic.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from edge.engine import Engine
from edge.errors import SourceError
from edge.frame import Frame
from edge.model import ModelInfo
from edge.postprocess import top_k_softmax
from edge.preprocess import DEFAULT_CROP, frame_to_input
from edge.sinks.base import FrameSink, Result, Sink
from edge.sources.base import Source
from edge.telemetry.metrics import CpuClock, Latency, Rate
from edge.telemetry.monitor import SystemMonitor, rss_mb, rss_peak_mb

log = logging.getLogger(__name__)
STAGES = ("capture_wait", "preprocess", "inference", "postprocess", "capture_to_result")


class _Slot:
    """Frames between capture and inference.

    Live (``wait=False``): one frame; a new one replaces an unprocessed one (counted as
    dropped). Lossless (``wait=True``): up to ``depth`` frames, so capture runs ahead and is
    woken only when the buffer runs low, not once per frame.
    """

    def __init__(self, depth: int = 4) -> None:
        self._cond = threading.Condition()
        self._items: collections.deque = collections.deque()
        self.depth = depth
        self.closed = False
        self.dropped = 0
        self._producer_waiting = False

    def put(self, frame, wait: bool, stop: threading.Event) -> None:
        with self._cond:
            if wait:
                while len(self._items) >= self.depth and not stop.is_set():
                    self._producer_waiting = True
                    self._cond.wait(0.1)
                self._producer_waiting = False
            elif self._items:
                self._items.clear()
                self.dropped += 1
            self._items.append(frame)
            self._cond.notify_all()

    def get(self, timeout: float):
        with self._cond:
            if not self._items and not self.closed:
                self._cond.wait(timeout)
            item = self._items.popleft() if self._items else None
            if self._producer_waiting and len(self._items) <= 1:
                self._cond.notify_all()
            return item

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()


@dataclass
class Options:
    crop: str = DEFAULT_CROP
    top_k: int = 5
    fps_cap: float | None = None
    max_frames: int | None = None
    duration: float | None = None
    reconnect: bool = True  # a live source that fails is reopened with back-off
    reconnect_initial_s: float = 1.0
    reconnect_max_s: float = 30.0


class Pipeline:
    """Runs one source through one engine (or none, to only capture) into sinks."""

    def __init__(self, source: Source, engine: Engine | None, info: ModelInfo | None,
                 sinks: Sequence[Sink] = (), frame_sinks: Sequence[FrameSink] = (),
                 options: Options | None = None, monitor: SystemMonitor | None = None) -> None:
        self.source, self.engine, self.info = source, engine, info
        self.monitor = monitor
        self.sinks, self.frame_sinks = list(sinks), list(frame_sinks)
        self.options = options or Options()
        self.stop_event = threading.Event()
        self.capture_rate, self.infer_rate, self.drop_rate = Rate(), Rate(), Rate()
        self.latency = {stage: Latency() for stage in STAGES}
        self.cpu = CpuClock()
        self.error: BaseException | None = None
        self.latest: Result | None = None
        self._display_frame: Frame | None = None
        self.first_result = threading.Event()
        self.source_state = "up"
        self.outages = 0
        self._down_since: float | None = None
        self._beat = {"capture": time.monotonic(), "inference": time.monotonic()}
        self.started = time.monotonic()
        self.end_reason = ""
        self._slot = _Slot()
        self._results: queue.Queue[tuple | None] = queue.Queue(maxsize=256)
        self.report_dropped = 0

    # -- threads ---------------------------------------------------------------------------
    def _capture(self) -> None:
        live = getattr(self.source, "live", False)
        lossless = not live
        try:
            while not self.stop_event.is_set():
                self._beat["capture"] = time.monotonic()
                try:
                    frame = self.source.read()
                except SourceError as exc:
                    if self.stop_event.is_set():  # closed under our feet while stopping
                        break
                    if not (live and self.options.reconnect):
                        raise
                    if not self._reconnect(exc):
                        break
                    continue
                if frame is None:
                    self.end_reason = self.end_reason or "end of input"
                    break
                self.capture_rate.tick()
                for sink in self.frame_sinks:
                    sink.offer(frame)
                # A lossless replay preprocesses here, overlapping with inference; a live
                # source leaves it to the inference thread, so dropped frames cost nothing.
                tensor, pre_ms = None, 0.0
                if lossless and self.engine is not None and self.info is not None:
                    t0 = time.perf_counter()
                    tensor = frame_to_input(frame, self.info.resolution, self.options.crop)
                    pre_ms = (time.perf_counter() - t0) * 1e3
                before = self._slot.dropped
                self._slot.put((frame, tensor, pre_ms), wait=lossless, stop=self.stop_event)
                if self._slot.dropped != before:
                    self.drop_rate.tick()
        except SourceError as exc:
            self.error = exc
        except Exception as exc:  # a bug or an unexpected driver error: stop, do not hang
            log.exception("capture failed")
            self.error = exc
        finally:
            self._slot.close()

    def _reconnect(self, exc: SourceError) -> bool:
        """Reopen a lost live source with exponential back-off until it works or we stop.
        Returns False when asked to stop."""
        self.outages += 1
        self._down_since = time.monotonic()
        delay = self.options.reconnect_initial_s
        log.warning("%s; retrying in %.0f s", exc, delay)
        self.source.close()
        attempt = 0
        while True:
            attempt += 1
            self.source_state = f"lost ({exc}); retry {attempt} in {delay:.0f} s"
            deadline = time.monotonic() + delay
            while time.monotonic() < deadline:  # keep the capture heartbeat alive
                self._beat["capture"] = time.monotonic()
                if self.stop_event.wait(min(0.5, max(deadline - time.monotonic(), 0))):
                    return False
            try:
                self.source.open()
            except SourceError as again:
                exc = again
                delay = min(delay * 2, self.options.reconnect_max_s)
                log.warning("%s; retrying in %.0f s", again, delay)
                continue
            down = time.monotonic() - self._down_since
            log.warning("%s is back after %.1f s", self.source.describe(), down)
            self.source_state = "up"
            self._down_since = None
            return True

    def healthy(self, max_silence: float) -> bool:
        """Both loops showed signs of life recently (what the systemd watchdog is fed on)."""
        now = time.monotonic()
        return all(now - t <= max_silence for t in self._beat.values())

    def problems(self) -> list[str]:
        """Things that are wrong but do not stop the run (an outage, a full disk)."""
        found = [] if self.source_state == "up" else [f"source {self.source_state}"]
        for sink in [*self.sinks, *self.frame_sinks]:
            if getattr(sink, "error", None):
                found.append(f"{sink.name}: {sink.error}")
        return found

    def status_text(self) -> str:
        """One line for systemd's STATUS=: rate and top-1, or what is wrong."""
        fps = self.infer_rate.per_second()
        text = f"{fps:.1f} FPS"
        if self.latest is not None and self.latest.top:
            _, label, p = self.latest.top[0]
            text += f", top-1 {label.split(',')[0]} {p * 100:.0f}%"
        problems = self.problems()
        return "; ".join([text, *problems]) if problems else text

    def _report(self) -> None:
        """Postprocessing and sinks, off the inference thread: right after a large model
        runs, the CPU's caches hold its weights and even a small softmax costs several times
        what it does cold-free; here it overlaps with the next inference instead."""
        while True:
            item = self._results.get()
            if item is None:
                return
            result = self._postprocess(*item)
            for sink in self.sinks:
                try:
                    sink.handle(result)
                except Exception:
                    log.exception("sink %s failed; it is disabled for the rest of the run",
                                  sink.name)
                    self.sinks = [s for s in self.sinks if s is not sink]

    # -- the loop --------------------------------------------------------------------------
    def run(self) -> dict:
        """Process frames until the input ends, a limit is reached or stop() is called;
        returns the summary."""
        opts = self.options
        for sink in [*self.sinks, *self.frame_sinks]:
            sink.open(self)
        if self.monitor is not None:
            self.monitor.start()
        self.started = time.monotonic()
        self.cpu = CpuClock()
        capture = threading.Thread(target=self._capture, name="capture", daemon=True)
        reporter = threading.Thread(target=self._report, name="report", daemon=True)
        capture.start()
        reporter.start()
        interval = 1.0 / opts.fps_cap if opts.fps_cap else 0.0
        next_due = time.monotonic()
        processed = 0
        pumped = [s for s in self.sinks if s.main_thread]
        try:
            while not self.stop_event.is_set():
                self._beat["inference"] = time.monotonic()
                for sink in pumped:
                    sink.pump()
                if opts.duration is not None and time.monotonic() - self.started >= opts.duration:
                    self.end_reason = "duration reached"
                    break
                if interval:
                    delay = next_due - time.monotonic()
                    if delay > 0 and self.stop_event.wait(delay):
                        break
                    next_due = max(next_due + interval, time.monotonic() - interval)
                t_wait = time.perf_counter()
                item = self._slot.get(timeout=0.1)
                if item is None:
                    if self._slot.closed:
                        break
                    continue
                wait_ms = (time.perf_counter() - t_wait) * 1e3
                self._process(*item, wait_ms)
                processed += 1
                if opts.max_frames is not None and processed >= opts.max_frames:
                    self.end_reason = "max frames reached"
                    break
        finally:
            self.stop_event.set()
            self.end_reason = self.end_reason or ("stopped" if self.error is None else "error")
            self.source.close()
            if self.monitor is not None:
                self.monitor.stop()
            capture.join(timeout=1.0)
            self._results.put(None)
            reporter.join(timeout=5.0)
            for sink in [*self.sinks, *self.frame_sinks]:
                try:
                    sink.close()
                except Exception:
                    log.exception("closing %s failed", sink.name)
        return self.summary()

    def _process(self, frame: Frame, tensor, pre_ms: float, wait_ms: float) -> None:
        self.infer_rate.tick()
        if self.engine is None or self.info is None:  # --no-infer: capture only
            return
        if tensor is None:
            t0 = time.perf_counter()
            tensor = frame_to_input(frame, self.info.resolution, self.options.crop)
            pre_ms = (time.perf_counter() - t0) * 1e3
        t1 = time.perf_counter()
        logits = self.engine.run(tensor)
        t2 = time.perf_counter()
        # Queued results carry no pixels (a backlog of full frames could take hundreds of
        # MB); display sinks get the newest frame instead.
        self._display_frame = frame
        try:
            self._results.put_nowait((frame.seq, frame.name, frame.t_source_ns,
                                      frame.t_capture_ns, logits, wait_ms, pre_ms,
                                      (t2 - t1) * 1e3))
        except queue.Full:  # sinks cannot keep up; never stall inference for them
            self.report_dropped += 1

    def _postprocess(self, seq: int, name: str, t_source_ns: int, t_capture_ns: int, logits,
                     wait_ms: float, pre_ms: float, infer_ms: float) -> Result:
        t0 = time.perf_counter()
        top = [(i, self.info.label(i), p) for i, p in top_k_softmax(logits, self.options.top_k)]
        latency = {"capture_wait": wait_ms, "preprocess": pre_ms, "inference": infer_ms,
                   "postprocess": (time.perf_counter() - t0) * 1e3,
                   "capture_to_result": (time.monotonic_ns() - t_capture_ns) / 1e6}
        for stage, ms in latency.items():
            self.latency[stage].add(ms)
        result = Result(seq, name, t_source_ns, top, latency, self.info.trained,
                        self._display_frame)
        self.latest = result
        self.first_result.set()
        return result

    def stop(self) -> None:
        """Ask the loop to finish (thread- and signal-safe)."""
        self.end_reason = self.end_reason or "stopped"
        self.stop_event.set()

    # -- figures ---------------------------------------------------------------------------
    def stats(self, run_percentiles: bool = True) -> dict:
        """A snapshot of the live figures, for the status line, /stats and the summary.
        Frequent callers that only show the recent window pass ``run_percentiles=False``."""
        now = time.monotonic()
        processed = self.infer_rate.count
        cpu_s = self.cpu.seconds()
        system = self.monitor.snapshot(processed) if self.monitor else \
            {"rss_mb": round(rss_mb() or 0.0, 1)}
        system["rss_peak_mb"] = round(rss_peak_mb(), 1)
        return {
            "source": self.source.describe(),
            "source_state": self.source_state,
            "source_outages": self.outages,
            "problems": self.problems(),
            "state": self.status_text(),
            "model": self.info.name if self.info else None,
            "trained": self.info.trained if self.info else None,
            "elapsed_s": round(now - self.started, 3),
            "frames": {"captured": self.capture_rate.count, "processed": processed,
                       "dropped": self._slot.dropped, "skipped": self.source.skipped,
                       "report_dropped": self.report_dropped},
            "fps": {"capture": round(self.capture_rate.per_second(now), 2),
                    "inference": round(self.infer_rate.per_second(now), 2),
                    "dropped": round(self.drop_rate.per_second(now), 2),
                    "inference_overall": round(self.infer_rate.overall(now), 2)},
            "latency_ms": {stage: lat.summary(run_percentiles)
                           for stage, lat in self.latency.items()},
            "cpu_s": round(cpu_s, 3),
            "cpu_ms_per_frame": round(1e3 * cpu_s / processed, 3) if processed else None,
            "latest": self.latest.to_dict() if self.latest else None,
            "sinks": {s.name: f for s in self.sinks if (f := s.figures()) is not None},
            **system,
        }

    def summary(self) -> dict:
        stats = self.stats()
        stats["end"] = self.end_reason
        stats["skipped_names"] = list(self.source.skipped_names)
        if self.error is not None:
            stats["error"] = str(self.error)
        return stats
