"""The frame loop: source -> preprocess -> infer -> postprocess -> sinks, every arrow timed.

Three threads, one owner each:
- capture: opens, reads and closes the source (nobody else touches it: releasing a camera
  another thread reads segfaults or deadlocks) and feeds frame sinks;
- inference (the caller's thread): owns the engine;
- reporting: postprocessing and result sinks.
A live source never waits for inference: the newest frame replaces an unprocessed one and the
drop is counted. A finite replay is lossless: capture waits for room, so every frame is
processed and results are deterministic. To stop, the capture thread is interrupted and
joined with a bounded wait; a driver that never returns is reported, never released.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from queue import SimpleQueue

import numpy as np

from edge.errors import SourceError
from edge.frame import Frame
from edge.model import ModelInfo
from edge.motion import GateParams, MotionGate
from edge.postprocess import top_k_softmax, top_k_softmax_batch
from edge.preprocess import DEFAULT_CROP, frame_to_input
from edge.run.handoff import Captured, Costs, Inferred, Slot, batches, ema
from edge.run.trigger import Triggers
from edge.sinks.base import FrameSink, Result, Sink
from edge.sources.base import Signal, Source
from edge.sources.reconnect import Reconnecting
from edge.telemetry.figures import RunStats
from edge.telemetry.metrics import RunFigures, status_text
from edge.telemetry.monitor import SystemMonitor, rss_mb, rss_peak_mb

log = logging.getLogger(__name__)
MAX_WAITING_RESULTS = 256  # beyond this, sinks are not keeping up: results are dropped
IDLE = float("inf")  # a heartbeat that never goes stale: the thread is waiting, not stuck


@dataclass(frozen=True)
class Options:
    crop: str = DEFAULT_CROP
    top_k: int = 5
    fps_cap: float | None = None
    max_frames: int | None = None
    duration: float | None = None
    reconnect: bool = True  # a live source that fails is reopened with back-off
    reconnect_initial_s: float = 1.0
    reconnect_max_s: float = 30.0
    open_timeout_s: float = 30.0  # a source that neither opens nor fails in this time is stuck
    stop_timeout_s: float = 6.0  # longer than any read timeout (OpenCV streams: 5 s)
    sink_patience_s: float = 5.0  # at shutdown, how long sinks may go without progress
    motion: GateParams | None = None  # --motion-gate: infer only when the scene changed


class Pipeline:
    """Runs one source through one engine (or none, to only capture) into sinks.

    ``engine`` is anything with ``run(uint8 NHWC tensor) -> 1-D logits``.
    """

    def __init__(self, source: Source, engine, info: ModelInfo | None,
                 sinks: Sequence[Sink] = (), frame_sinks: Sequence[FrameSink] = (),
                 options: Options | None = None, monitor: SystemMonitor | None = None,
                 triggers: Triggers | None = None) -> None:
        self.options = options or Options()
        self.triggers = triggers
        self.engine, self.info, self.monitor = engine, info, monitor
        self._beat = {"capture": time.monotonic(), "inference": time.monotonic()}
        if source.live and self.options.reconnect:
            source = Reconnecting(source, self.options.reconnect_initial_s,
                                  self.options.reconnect_max_s, beat=self._beat_capture)
        self.source = source
        self.sinks, self.frame_sinks = list(sinks), list(frame_sinks)
        self.figures = RunFigures()
        self.stop_event = Signal()
        self.first_result = threading.Event()
        self.error: BaseException | None = None
        self.latest: Result | None = None
        self.end_reason = ""
        self._display_frame: Frame | None = None
        self._slot = Slot()
        self._results: SimpleQueue[Inferred | None] = SimpleQueue()
        self._enqueued = self._delivered = 0  # results handed to the reporter, and delivered
        self._opened = threading.Event()
        self._open_error: BaseException | None = None
        self._capture_thread: threading.Thread | None = None
        self._reporter: threading.Thread | None = None
        self._active_sinks: list[Sink] = []
        self._cost = Costs()
        self._gate = MotionGate(self.options.motion) if self.options.motion else None
        self._gate_answer: np.ndarray | None = None  # the logits a gated frame carries over

    # -- capture thread: the only one that touches the source ----------------------------
    def _beat_capture(self) -> None:
        self._beat["capture"] = time.monotonic()

    def _capture(self) -> None:
        source = self.source
        try:
            source.open()
        except BaseException as exc:
            self._open_error = exc
            self._opened.set()
            self._slot.close()
            return
        self._opened.set()
        lossless = not source.live
        may_preprocess = lossless and self.engine is not None and self.info is not None
        try:
            while not self.stop_event.is_set():
                self._beat["capture"] = t_read = time.monotonic()
                frame = source.read()
                if may_preprocess:
                    self._cost.read = ema(self._cost.read, (time.monotonic() - t_read) * 1e3)
                if frame is None:
                    if not self.stop_event.is_set():
                        self.end_reason = self.end_reason or "end of input"
                    break
                self.figures.capture_rate.tick()
                for sink in self.frame_sinks:
                    sink.offer(frame)
                # A live source leaves preprocessing to the inference thread, so dropped
                # frames cost nothing; a lossless replay preprocesses on whichever thread
                # has time to spare (decoding dominates a tiny model, inference a big one).
                tensor, pre_ms = None, 0.0
                if may_preprocess and self._cost.capture_should_preprocess():
                    t0 = time.perf_counter()
                    tensor = frame_to_input(frame, self.info.resolution, self.options.crop)
                    pre_ms = (time.perf_counter() - t0) * 1e3
                    self._cost.preprocess = ema(self._cost.preprocess, pre_ms)
                if self._slot.put(Captured(frame, tensor, pre_ms), lossless, self.stop_event):
                    self.figures.dropped += 1
                    self.figures.drop_rate.tick()
        except SourceError as exc:
            self.error = exc
        except Exception as exc:  # a bug or an unexpected driver error: stop, do not hang
            log.exception("capture failed")
            self.error = exc
        finally:
            self._slot.close()
            try:
                source.close()
            except Exception:
                log.exception("closing %s failed", source.describe())

    # -- reporting thread -----------------------------------------------------------------
    def _report(self) -> None:
        """Postprocessing and sinks, off the inference thread: asleep until a result comes,
        in batches when they come faster than it wakes (:func:`edge.run.handoff.batches`)."""
        for batch in batches(self._results):
            self._deliver(batch)

    def _deliver(self, batch: list[Inferred]) -> None:
        t0 = time.perf_counter()
        scored = [item.logits for item in batch if item.logits is not None]
        k = self.options.top_k
        tops = iter([top_k_softmax(scored[0], k)] if len(scored) == 1 else
                    top_k_softmax_batch(np.stack(scored), k) if scored else [])
        post_ms = (time.perf_counter() - t0) * 1e3 / len(batch)
        now_ns = time.monotonic_ns()
        for item in batch:
            top = [] if item.logits is None else [(i, self.info.label(i), p) for i, p in next(tops)]
            latency = {"capture_wait": item.wait_ms, "preprocess": item.preprocess_ms,
                       "inference": item.inference_ms, "postprocess": post_ms,
                       "capture_to_result": (now_ns - item.t_capture_ns) / 1e6}
            if item.gated:  # carried over: no inference ran
                del latency["inference"]
            self.figures.add_latencies(latency)
            states = self.triggers.update(item.logits) if self.triggers else None
            result = Result(item.seq, item.name, item.t_source_ns, top, latency,
                            self.info.trained if self.info else True, self._display_frame,
                            states, item.gated)
            self.latest = result
            for sink in self._active_sinks:
                try:
                    sink.handle(result)
                except Exception as exc:
                    log.exception("sink %s failed; it is disabled for the rest of the run",
                                  sink.name)
                    sink.error = f"failed: {exc.__class__.__name__}: {exc}"
                    self._active_sinks = [s for s in self._active_sinks if s is not sink]
            self._delivered += 1
            if len(batch) > 1:
                time.sleep(0)  # let the inference thread have the GIL back between results
        if not self.first_result.is_set():
            self.first_result.set()

    # -- the run --------------------------------------------------------------------------
    def start(self) -> None:
        """Open sinks, then the source on its own thread; returns once frames flow, or raises
        the source's error (after closing what was opened)."""
        for sink in [*self.sinks, *self.frame_sinks]:
            sink.open(self)
        self._active_sinks = list(self.sinks)
        if self.monitor is not None:
            self.monitor.start()
        self.figures.restart()
        self._capture_thread = threading.Thread(target=self._capture, name="capture",
                                                daemon=True)
        self._reporter = threading.Thread(target=self._report, name="report", daemon=True)
        self._capture_thread.start()
        self._reporter.start()
        if not self._opened.wait(self.options.open_timeout_s):
            self._open_error = SourceError(f"{self.source.describe()}: did not open within "
                                           f"{self.options.open_timeout_s:g} s")
        if self._open_error is not None:
            self._shutdown()
            raise self._open_error

    def run(self) -> RunStats:
        """Process frames until the input ends, a limit is reached or stop() is called;
        returns the summary."""
        if self._capture_thread is None:
            self.start()
        opts = self.options
        interval = 1.0 / opts.fps_cap if opts.fps_cap else 0.0
        next_due = time.monotonic()
        processed = 0
        pumped = [s for s in self.sinks if s.main_thread]
        # nothing else needs this thread while no frames come: stop() and the end of the
        # input wake it, so it wakes on its own only for the GUI, or to end a --duration
        wait_s = 0.1 if pumped else 1.0
        try:
            while not self.stop_event.is_set():
                now = self._beat["inference"] = time.monotonic()
                for sink in pumped:
                    sink.pump()
                left = math.inf if opts.duration is None else \
                    opts.duration - (now - self.figures.started)
                if left <= 0:
                    self.end_reason = "duration reached"
                    break
                if interval:
                    delay = next_due - now
                    if delay > 0:
                        if self.stop_event.wait(min(delay, left)):
                            break
                        if left < delay:  # the run ends before the next frame is due
                            continue
                    next_due = max(next_due + interval, time.monotonic() - interval)
                t_wait = time.perf_counter()
                self._beat["inference"] = IDLE  # waiting for a frame is not being stuck
                item = self._slot.get(timeout=min(wait_s, left))
                self._beat["inference"] = time.monotonic()
                if item is None:
                    if self._slot.closed:
                        break
                    continue
                self._process(item, (time.perf_counter() - t_wait) * 1e3)
                processed += 1
                if opts.max_frames is not None and processed >= opts.max_frames:
                    self.end_reason = "max frames reached"
                    break
        finally:
            self.end_reason = self.end_reason or ("stopped" if self.error is None else "error")
            self._shutdown()
        return self.summary()

    def _process(self, item: Captured, wait_ms: float) -> None:
        self.figures.infer_rate.tick()
        frame, tensor, pre_ms = item.frame, item.tensor, item.preprocess_ms
        logits, infer_ms, gated = None, 0.0, False
        if self.engine is not None and self.info is not None:  # else --no-infer: capture only
            if tensor is None:
                t0 = time.perf_counter()
                tensor = frame_to_input(frame, self.info.resolution, self.options.crop)
                pre_ms = (time.perf_counter() - t0) * 1e3
                self._cost.preprocess = ema(self._cost.preprocess, pre_ms)
            if self._gate is not None and not self._gate.check(tensor, frame.t_source_ns).infer:
                logits, gated = self._gate_answer, True  # the last answer stands
                self.figures.count_gated()
            else:
                t1 = time.perf_counter()
                logits = self._gate_answer = self.engine.run(tensor)
                infer_ms = (time.perf_counter() - t1) * 1e3
                if not self.source.live:  # where a replay preprocesses depends on it
                    self._cost.inference = ema(self._cost.inference, infer_ms)
        self._display_frame = frame
        if self._results.qsize() >= MAX_WAITING_RESULTS:  # never stall inference for sinks
            self.figures.report_dropped += 1
        else:
            self._enqueued += 1
            self._results.put(Inferred(frame.seq, frame.name, frame.t_source_ns,
                                       frame.t_capture_ns, logits, wait_ms, pre_ms, infer_ms,
                                       gated))

    def _shutdown(self) -> None:
        """Stop the threads in order; each closes only what it owns."""
        self.stop_event.set()
        self.source.interrupt()
        capture = self._capture_thread
        if capture is not None:
            capture.join(timeout=self.options.stop_timeout_s)
            if capture.is_alive():
                log.error("%s: capture did not stop within %g s; the device is left open",
                          self.source.describe(), self.options.stop_timeout_s)
                self.error = self.error or SourceError(
                    f"{self.source.describe()}: the driver did not return from a read within "
                    f"{self.options.stop_timeout_s:g} s of the stop; exited without releasing "
                    "the device")
        if self.monitor is not None:
            self.monitor.stop()
        if self._reporter is not None:
            self._drain_reporter()
        # each kind of sink is closed only once the thread that feeds it has finished
        reported = self._reporter is None or not self._reporter.is_alive()
        captured = capture is None or not capture.is_alive()
        for sink in [*(self.sinks if reported else []), *(self.frame_sinks if captured else [])]:
            try:
                sink.close()
            except Exception:
                log.exception("closing %s failed", sink.name)

    def _drain_reporter(self) -> None:
        """Let the sinks finish the queued results (a complete results log) for as long as
        they make progress; give up after ``sink_patience_s`` without any, counting the rest."""
        patience_s = self.options.sink_patience_s
        self._results.put(None)
        delivered, since = self._delivered, time.monotonic()
        while self._reporter.is_alive() and time.monotonic() - since < patience_s:
            self._reporter.join(timeout=0.2)
            if self._delivered != delivered:
                delivered, since = self._delivered, time.monotonic()
        if self._reporter.is_alive():
            lost = self._enqueued - self._delivered
            self.figures.report_dropped += lost
            log.error("a sink is stuck at shutdown; %d results not delivered", lost)

    def stop(self) -> None:
        """Ask the loop to finish (thread- and signal-safe)."""
        self.end_reason = self.end_reason or "stopped"
        self.stop_event.set()
        self._slot.wake()

    # -- what it reports ------------------------------------------------------------------
    def fps(self) -> float:
        return self.figures.infer_rate.per_second()

    def healthy(self, max_silence: float) -> bool:
        """Both loops showed signs of life recently and no sink lost a thread it needs (what
        the systemd watchdog is fed on)."""
        now = time.monotonic()
        return all(now - t <= max_silence for t in self._beat.values()) and \
            all(s.alive() for s in [*self.sinks, *self.frame_sinks])

    def problems(self) -> list[str]:
        """Things that are wrong but do not stop the run (an outage, a full disk, a sink)."""
        found = [] if self.source.state == "up" else [f"source {self.source.state}"]
        found += [f"{s.name}: {s.error}" for s in [*self.sinks, *self.frame_sinks] if s.error]
        found += [f"monitor: {self.monitor.error}"] if self.monitor and self.monitor.error else []
        return found

    def status_text(self) -> str:
        """One line for systemd's STATUS=: rate and top-1, or what is wrong."""
        latest = self.latest
        top1 = (latest.top[0][1], latest.top[0][2]) if latest is not None and latest.top else None
        return status_text(self.fps(), top1, self.problems())

    def stats(self, run_percentiles: bool = True) -> RunStats:
        """A snapshot of the live figures, for the status line, /stats and the summary."""
        counters = self.figures.snapshot(run_percentiles, self.source.skipped)
        thermal, energy = self.monitor.snapshot(counters.frames.processed) \
            if self.monitor else (None, None)
        return RunStats(
            source=self.source.describe(), source_state=self.source.state,
            source_outages=self.source.outages, problems=self.problems(),
            state=self.status_text(), model=self.info.name if self.info else None,
            engine=getattr(self.engine, "kind", None),
            trained=self.info.trained if self.info else None, counters=counters,
            latest=self.latest.to_dict() if self.latest else None,
            sinks={s.name: f for s in [*self.sinks, *self.frame_sinks]
                   if (f := s.figures()) is not None},
            rss_mb=round(rss_mb() or 0.0, 1), rss_peak_mb=round(rss_peak_mb(), 1),
            thermal=thermal, energy=energy,
            triggers=self.triggers.snapshot() if self.triggers is not None else None)

    def summary(self) -> RunStats:
        """The run's figures at its end, with why it ended and what was skipped."""
        return replace(self.stats(), end=self.end_reason,
                       skipped_names=list(self.source.skipped_names),
                       error=None if self.error is None else str(self.error))
