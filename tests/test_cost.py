"""The daemon's own cost (#26), on what can be counted rather than timed: how often each of
the pipeline's threads wakes up per frame and while idle (the kernel's count of voluntary
context switches), and what it allocates per frame in steady state (tracemalloc); plus the
primitives that keep those counts low (the frame slot, Signal, the reporter's batches, the
rate that ticks without a lock)."""

from __future__ import annotations

import io
import queue
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from edge.model import ModelInfo
from edge.run.handoff import Captured, Slot, batches
from edge.run.pipeline import Options, Pipeline
from edge.sinks.terminal import TerminalSink
from edge.sources.base import Signal, Source
from edge.sources.synthetic import SyntheticSource
from edge.telemetry.metrics import Rate

SIZE = 96
INFO = ModelInfo(arch="mobilenet_v1", alpha=0.25, resolution=SIZE, classes=1001,
                 background=True, channel_order="RGB", precision="int8",
                 weights={"trained": True}, labels=[f"class {i}" for i in range(1001)])
TASKS = Path("/proc/self/task")
needs_proc = pytest.mark.skipif(not TASKS.is_dir(), reason="counts wake-ups in /proc (Linux)")


class InstantEngine:
    """Answers at once with the same logits (the pipeline's cost alone)."""

    kind = "stub"

    def __init__(self) -> None:
        self.logits = np.linspace(-3, 3, INFO.classes, dtype=np.float32)

    def run(self, tensor: np.ndarray) -> np.ndarray:
        return self.logits


class Silent(Source):
    """A live camera that opened and then delivers nothing until interrupted."""

    kind = "silent"
    live = True

    def read(self):
        self.interrupted.wait()
        return None


def wakeups(tid: int) -> int:
    """Voluntary context switches of one of this process's threads: each is a sleep."""
    for line in (TASKS / str(tid) / "status").read_text().splitlines():
        if line.startswith("voluntary_ctxt_switches:"):
            return int(line.split()[1])
    raise AssertionError("no voluntary_ctxt_switches in /proc")


def running(pipeline: Pipeline, results: bool = True) -> tuple[threading.Thread, dict[str, int]]:
    """Runs the pipeline on a thread of its own; returns it and the native ids of the
    inference, capture and reporting threads once they run (and results flow)."""
    ids: dict[str, int] = {}

    def run() -> None:
        ids["inference"] = threading.get_native_id()
        pipeline.run()

    runner = threading.Thread(target=run, name="inference")
    runner.start()
    assert pipeline.first_result.wait(10) or not results
    while pipeline._reporter is None or pipeline._reporter.native_id is None:
        time.sleep(0.01)
    ids["capture"] = pipeline._capture_thread.native_id
    ids["report"] = pipeline._reporter.native_id
    return runner, ids


def pipeline_for(source: Source, fps_cap: float) -> Pipeline:
    return Pipeline(source, InstantEngine(), INFO, [TerminalSink(io.StringIO())],
                    options=Options(fps_cap=fps_cap))


@needs_proc
def test_each_thread_wakes_about_once_a_frame_when_paced():
    """Capture wakes for the camera, inference for the frame, reporting for the result: one
    each. (The reporting thread used to poll every 5 ms: 10 a frame at 20 FPS.)"""
    pipeline = pipeline_for(SyntheticSource(SIZE, SIZE, fps=20), fps_cap=20)
    runner, ids = running(pipeline)
    try:
        time.sleep(0.5)
        before = {name: wakeups(tid) for name, tid in ids.items()}
        frames0 = pipeline.figures.infer_rate.count
        time.sleep(2.0)
        after = {name: wakeups(tid) for name, tid in ids.items()}
        frames = pipeline.figures.infer_rate.count - frames0
    finally:
        pipeline.stop()
        runner.join(10)
    assert frames >= 20
    per_frame = {name: (after[name] - before[name]) / frames for name in ids}
    # one each, plus now and then a second for the GIL when two of them wake together
    assert all(n <= 3.0 for n in per_frame.values()), per_frame
    assert sum(per_frame.values()) <= 6.0, per_frame


@needs_proc
def test_without_frames_the_pipeline_sleeps():
    """A camera that delivers nothing, --fps-cap 1: no thread polls (the reporting thread
    used to wake 200 times a second, the inference thread 10)."""
    pipeline = pipeline_for(Silent(), fps_cap=1)
    runner, ids = running(pipeline, results=False)
    try:
        time.sleep(0.3)
        before = {name: wakeups(tid) for name, tid in ids.items()}
        time.sleep(2.5)
        after = {name: wakeups(tid) for name, tid in ids.items()}
        # the watchdog's view: waiting for frames is not being stuck (the camera's own
        # thread, blocked in its driver, is another matter)
        assert time.monotonic() - pipeline._beat["inference"] <= 1.0
    finally:
        pipeline.stop()
        runner.join(10)
    assert not runner.is_alive()  # stop() wakes the waiting inference thread
    woken = {name: after[name] - before[name] for name in ids}
    assert woken["report"] == 0 and woken["capture"] == 0, woken
    assert woken["inference"] <= 4, woken  # once a second, to notice a --duration


def test_no_frame_sized_allocation_per_frame():
    """Steady state: the frame goes to the engine without a copy (no frame-sized peak above
    what stays allocated), and what a frame leaves behind is small (its latencies in the
    whole-run record, the rates' recent times)."""
    size = 224
    frame_bytes = size * size * 3
    info = ModelInfo(**{**INFO.__dict__, "resolution": size})
    pipeline = Pipeline(SyntheticSource(size, size, fps=100), InstantEngine(), info,
                        [TerminalSink(io.StringIO())], options=Options(fps_cap=100))
    tracemalloc.start()
    try:
        runner, _ = running(pipeline)
        try:
            time.sleep(0.5)
            start = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            frames0 = pipeline.figures.infer_rate.count
            time.sleep(1.0)
            now, peak = tracemalloc.get_traced_memory()
            frames = pipeline.figures.infer_rate.count - frames0
        finally:
            pipeline.stop()
            runner.join(10)
    finally:
        tracemalloc.stop()
    assert frames >= 50
    assert peak - max(start, now) < frame_bytes / 4, (start, now, peak)
    assert (now - start) / frames < 1024, (now - start) / frames


def test_the_slot_hands_over_the_newest_frame_and_wakes_a_waiting_reader():
    slot, stop = Slot(), Signal()
    items = [Captured(None, None, float(i)) for i in range(3)]
    assert slot.get(timeout=0.0) is None
    assert not slot.put(items[0], wait=False, stop=stop)
    assert slot.put(items[1], wait=False, stop=stop)  # replaced unprocessed: a drop
    assert slot.get(timeout=0.0) is items[1] and slot.get(timeout=0.0) is None
    got = []
    reader = threading.Thread(target=lambda: got.append(slot.get(timeout=5)))
    reader.start()
    time.sleep(0.05)
    slot.put(items[2], wait=False, stop=stop)
    reader.join(5)
    assert got == [items[2]]
    reader = threading.Thread(target=lambda: got.append(slot.get(timeout=5)))
    reader.start()
    time.sleep(0.05)
    slot.wake()  # stop(): the reader returns without a frame
    reader.join(1)
    assert not reader.is_alive() and got[-1] is None
    slot.close()
    assert slot.get(timeout=5) is None and slot.get(timeout=5) is None and slot.closed


def test_a_lossless_slot_holds_its_depth_and_wakes_the_writer_when_it_drains():
    slot, stop = Slot(depth=2), Signal()
    items = [Captured(None, None, float(i)) for i in range(4)]
    slot.put(items[0], wait=True, stop=stop)
    slot.put(items[1], wait=True, stop=stop)
    writer = threading.Thread(target=lambda: [slot.put(i, wait=True, stop=stop)
                                              for i in items[2:]])
    writer.start()
    time.sleep(0.05)
    assert writer.is_alive()  # full: the writer waits for room
    assert [slot.get(timeout=1) for _ in range(4)] == items  # none lost, in order
    writer.join(1)
    assert not writer.is_alive()


def test_signal_is_a_latch_any_thread_may_set():
    signal = Signal()
    assert not signal.is_set() and not signal.wait(0.01) and not signal.wait(-1.0)
    waiters = [threading.Thread(target=signal.wait) for _ in range(3)]
    for w in waiters:
        w.start()
    signal.set()
    signal.set()
    for w in waiters:
        w.join(1)
    assert not any(w.is_alive() for w in waiters) and signal.wait(0) and signal.is_set()


def test_results_are_batched_only_when_they_come_faster_than_the_reporter_wakes():
    results: queue.SimpleQueue = queue.SimpleQueue()
    for i in range(5):
        results.put(i)
    results.put(None)
    assert list(batches(results)) == [[0, 1, 2, 3, 4]]  # waiting together: one batch
    got: list[list[int]] = []
    reporter = threading.Thread(target=lambda: got.extend(batches(results)))
    reporter.start()
    for i in range(3):
        results.put(i)
        time.sleep(0.03)  # a camera's pace: each result on its own
    results.put(None)
    reporter.join(5)
    assert got == [[0], [1], [2]]


def test_a_rate_beyond_what_it_keeps_is_estimated_from_the_newest():
    rate = Rate(window=5.0, keep=100)
    rate._start = 0.0
    for i in range(1000):
        rate.tick(now=10.0 + i * 0.001)  # 1000 a second for 1 s
    assert rate.count == 1000
    assert rate.per_second(now=11.0) == pytest.approx(1000, rel=0.02)
    assert rate.per_second(now=16.5) == 0.0  # all of them older than the window
