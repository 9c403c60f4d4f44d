"""Rates, latency percentiles and CPU time per frame, on monotonic clocks."""

from __future__ import annotations

import bisect
import collections
import threading
import time
from collections.abc import Sequence

import numpy as np

from edge.telemetry.figures import Counters, Frames, Percentiles, Rates, StageLatency

PERCENTILES = (50, 90, 99)


def percentiles(values, qs=PERCENTILES) -> dict[str, float | None]:
    """{"p50": ..., ...} of ``values`` (linear interpolation, as numpy's default). A window
    of a few hundred samples is sorted in Python: np.percentile's own overhead is several
    times the sort."""
    if isinstance(values, np.ndarray) and values.size > 4096:
        return {f"p{q}": float(v) for q, v in zip(qs, np.percentile(values.astype(np.float64),
                                                                    qs), strict=True)}
    data = sorted(values.tolist() if isinstance(values, np.ndarray) else values)
    if not data:
        return {f"p{q}": None for q in qs}
    out: dict[str, float | None] = {}
    for q in qs:
        pos = (len(data) - 1) * q / 100
        lo = int(pos)
        a, b = float(data[lo]), float(data[min(lo + 1, len(data) - 1)])
        t = pos - lo  # numpy's lerp, exact at both ends
        out[f"p{q}"] = a + (b - a) * t if t < 0.5 else b - (b - a) * (1 - t)
    return out


def stage_percentiles(values) -> Percentiles:
    """p50, p90 and p99 of ``values`` as a typed record."""
    return Percentiles(**percentiles(values))


class Rate:
    """Events per second over a sliding window of ``window`` seconds, plus a run total.

    One thread ticks (two appends, no lock: once a frame, that is the whole cost); readers
    copy the times and count the window's. Past ``keep`` events in the window the rate is
    estimated from the newest ``keep`` (at over ``keep / window`` events a second)."""

    def __init__(self, window: float = 5.0, keep: int = 4096) -> None:
        self.window = window
        self.count = 0
        self._times: collections.deque[float] = collections.deque(maxlen=keep)
        self._start = time.monotonic()

    def restart(self) -> None:
        self.count = 0
        self._times.clear()
        self._start = time.monotonic()

    def tick(self, now: float | None = None) -> None:
        self.count += 1
        self._times.append(time.monotonic() if now is None else now)

    def per_second(self, now: float | None = None) -> float:
        """Rate over the window. A run younger than the window counts the gaps between its
        events up to now ((n - 1) / (now - first)): a burst at start (frames queued while
        the engine loaded) reads as what it is, not as a rate, and a stall decays it."""
        now = time.monotonic() if now is None else now
        times = self._times.copy()  # one C call: atomic against the ticking thread
        first = bisect.bisect_left(times, now - self.window)
        inside = len(times) - first
        if inside == len(times) == times.maxlen and now > times[0]:
            return len(times) / (now - times[0])  # more events than kept: the newest's rate
        if now - self._start >= self.window:
            return inside / self.window
        span = now - times[first] if inside else 0.0
        return (inside - 1) / span if inside >= 2 and span > 0 else 0.0

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
        self.extend((ms,))

    def extend(self, values: Sequence[float]) -> None:
        """Add samples, in order, under one lock."""
        with self._lock:
            for ms in values:
                self._add(ms)

    def _add(self, ms: float) -> None:
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


FOLD_EVERY = 64  # frames whose latencies are added to the stages at once
STAGES = ("capture_wait", "preprocess", "inference", "postprocess", "capture_to_result")


class RunFigures:
    """One run's figures: named rates (capture, inference, dropped), per-stage latencies, CPU
    time and the counters of frames lost on the way. Written by the pipeline's threads, read
    by anyone (status line, /stats, /metrics, the summary)."""

    def __init__(self) -> None:
        self.capture_rate, self.infer_rate, self.drop_rate = Rate(), Rate(), Rate()
        self.latency = {stage: Latency() for stage in STAGES}
        self._waiting: collections.deque[dict[str, float]] = collections.deque()
        self._fold_lock = threading.Lock()
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
        """One frame's latencies by stage. Queued (one append, no lock) and added to the
        stages in batches, by this thread every ``FOLD_EVERY`` frames or by a reader."""
        self._waiting.append(ms)
        if len(self._waiting) >= FOLD_EVERY:
            self._fold()

    def _fold(self) -> None:
        with self._fold_lock:
            rows = [self._waiting.popleft() for _ in range(len(self._waiting))]
            if rows:
                for stage, latency in self.latency.items():
                    # a frame the motion gate answered has no inference time
                    latency.extend([row[stage] for row in rows if stage in row])

    def snapshot(self, run_percentiles: bool = True, skipped: int = 0) -> Counters:
        """Frames, rates, latency percentiles and CPU, as /stats shows them."""
        self._fold()
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
