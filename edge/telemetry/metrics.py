"""Rates, latency percentiles and CPU time per frame, on monotonic clocks."""

from __future__ import annotations

import collections
import threading
import time

import numpy as np

from edge.telemetry.figures import Counters, Frames, Percentiles, Rates, StageLatency

PERCENTILES = (50, 90, 99)


def percentiles(values, qs=PERCENTILES) -> dict[str, float | None]:
    """{"p50": ..., ...} of ``values`` (linear interpolation, as numpy's default)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return {f"p{q}": None for q in qs}
    return {f"p{q}": float(v) for q, v in zip(qs, np.percentile(arr, qs), strict=True)}


def stage_percentiles(values) -> Percentiles:
    """p50, p90 and p99 of ``values`` as a typed record."""
    return Percentiles(**percentiles(values))


class Rate:
    """Events per second over a sliding window of ``window`` seconds, plus a run total."""

    def __init__(self, window: float = 5.0) -> None:
        self.window = window
        self.count = 0
        self._times: collections.deque[float] = collections.deque()
        self._start = time.monotonic()
        self._lock = threading.Lock()

    def restart(self) -> None:
        with self._lock:
            self.count = 0
            self._times.clear()
            self._start = time.monotonic()

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            self.count += 1
            self._times.append(now)
            while self._times and self._times[0] < now - self.window:
                self._times.popleft()

    def per_second(self, now: float | None = None) -> float:
        """Rate over the window. A run younger than the window counts the gaps between its
        events up to now ((n - 1) / (now - first)): a burst at start (frames queued while
        the engine loaded) reads as what it is, not as a rate, and a stall decays it."""
        now = time.monotonic() if now is None else now
        with self._lock:
            while self._times and self._times[0] < now - self.window:
                self._times.popleft()
            n = len(self._times)
            if now - self._start >= self.window:
                return n / self.window
            span = now - self._times[0] if n else 0.0
            return (n - 1) / span if n >= 2 and span > 0 else 0.0

    def overall(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        span = now - self._start
        return self.count / span if span > 0 else 0.0


class Latency:
    """Per-stage latencies in milliseconds: a sliding window and the whole run.

    The whole-run record is kept in a growing float32 array (4 bytes a frame), so a month of
    30 FPS is about 300 MB; past ``max_run`` samples it keeps every other one (a fair sample).
    """

    def __init__(self, window: int = 300, max_run: int = 1_000_000) -> None:
        self._recent: collections.deque[float] = collections.deque(maxlen=window)
        self._run = np.empty(1024, np.float32)
        self._n = 0
        self._stride = 1
        self._seen = 0
        self._sum = 0.0
        self._max_run = max_run
        self._lock = threading.Lock()

    def add(self, ms: float) -> None:
        with self._lock:
            self._recent.append(ms)
            self._seen += 1
            self._sum += ms
            if self._seen % self._stride:
                return
            if self._n == self._run.size:
                if self._n >= self._max_run:
                    self._run = self._run[::2].copy()
                    self._n = self._run.size
                    self._stride *= 2
                self._run = np.resize(self._run, self._run.size * 2)
            self._run[self._n] = ms
            self._n += 1

    def summary(self, run: bool = True) -> StageLatency:
        """Percentiles of the sliding window and, unless ``run`` is False, of the whole run
        (up to a million samples: not something to sort several times a second); plus the
        run's sample count and sum (what a Prometheus summary carries)."""
        with self._lock:
            recent = list(self._recent)
            whole = self._run[: self._n].copy() if run else None
            count, total = self._seen, self._sum
        return StageLatency(stage_percentiles(recent), count, round(total, 3),
                            None if whole is None else stage_percentiles(whole))


class CpuClock:
    """Process CPU seconds (user + system, all threads) since creation."""

    def __init__(self) -> None:
        self._start = time.process_time()

    def seconds(self) -> float:
        return time.process_time() - self._start


STAGES = ("capture_wait", "preprocess", "inference", "postprocess", "capture_to_result")


class RunFigures:
    """One run's figures: named rates (capture, inference, dropped), per-stage latencies, CPU
    time and the counters of frames lost on the way. Written by the pipeline's threads, read
    by anyone (status line, /stats, /metrics, the summary)."""

    def __init__(self) -> None:
        self.capture_rate, self.infer_rate, self.drop_rate = Rate(), Rate(), Rate()
        self.latency = {stage: Latency() for stage in STAGES}
        self.cpu = CpuClock()
        self.started = time.monotonic()
        self.dropped = 0  # live frames replaced before inference took them
        self.report_dropped = 0  # results the sinks could not keep up with
        self.gated, self.gate_rate = 0, Rate()  # answers the motion gate carried over

    def restart(self) -> None:
        """Start the clocks now (after model loading and warm-up)."""
        self.cpu = CpuClock()
        self.started = time.monotonic()
        for rate in (self.capture_rate, self.infer_rate, self.drop_rate, self.gate_rate):
            rate.restart()

    def count_gated(self) -> None:
        """A frame answered by the motion gate (the inference thread's)."""
        self.gated += 1
        self.gate_rate.tick()

    def add_latencies(self, ms: dict[str, float]) -> None:
        for stage, value in ms.items():
            self.latency[stage].add(value)

    def snapshot(self, run_percentiles: bool = True, skipped: int = 0) -> Counters:
        """Frames, rates, latency percentiles and CPU, as /stats shows them."""
        now = time.monotonic()
        processed = self.infer_rate.count
        cpu_s = self.cpu.seconds()
        return Counters(
            elapsed_s=round(now - self.started, 3),
            frames=Frames(self.capture_rate.count, processed, self.dropped,
                          self.report_dropped, skipped, self.gated),
            fps=Rates(round(self.capture_rate.per_second(now), 2),
                      round(self.infer_rate.per_second(now), 2),
                      round(self.drop_rate.per_second(now), 2),
                      round(self.infer_rate.overall(now), 2),
                      round(self.gate_rate.per_second(now), 2)),
            latency_ms={stage: lat.summary(run_percentiles)
                        for stage, lat in self.latency.items()},
            cpu_s=round(cpu_s, 3),
            cpu_ms_per_frame=round(1e3 * cpu_s / processed, 3) if processed else None)


def status_text(fps: float, top1: tuple[str, float] | None, problems: list[str]) -> str:
    """One line for systemd's STATUS= and the page: rate and top-1, then what is wrong."""
    text = f"{fps:.1f} FPS"
    if top1 is not None:
        label, p = top1
        text += f", top-1 {label.split(',')[0]} {p * 100:.0f}%"
    return "; ".join([text, *problems]) if problems else text
