"""The pipeline in-process, with stub sources, a deliberately slow engine and misbehaving
sinks: drops, lossless replays, a failing sink, reconnect back-off, a full result queue,
ownership of the source, and stopping while a read is busy or stuck."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from edge.errors import SourceError
from edge.frame import Frame
from edge.model import ModelInfo
from edge.run.pipeline import Options, Pipeline
from edge.sinks.base import Result, Sink
from edge.sources.base import Source

INFO = ModelInfo(arch="mobilenet_v1", alpha=0.25, resolution=32, classes=4, background=False,
                 channel_order="RGB", precision="fp32", weights={"trained": True},
                 labels=["a", "b", "c", "d"])


class SlowEngine:
    """Takes ``ms`` per frame; answers class (pixel value % 4) so results can be checked."""

    def __init__(self, ms: float = 0.0) -> None:
        self.ms = ms
        self.threads: set[int] = set()

    def run(self, tensor: np.ndarray) -> np.ndarray:
        self.threads.add(threading.get_ident())
        if self.ms:
            time.sleep(self.ms / 1e3)
        logits = np.zeros(4, np.float32)
        logits[int(tensor[0, 0, 0, 0]) % 4] = 10.0
        return logits


class StubSource(Source):
    """``count`` frames (None: endless) whose pixels carry their number; ``every`` seconds
    apart when live. Records which thread opened, read and closed it; ``fail_at`` frames
    raise SourceError (a lost camera); ``block`` makes read wait until released."""

    kind = "stub"

    def __init__(self, count: int | None = 20, live: bool = False, every: float = 0.0,
                 fail_at: set[int] | None = None, reopen_failures: int = 0) -> None:
        super().__init__()
        self.count, self.live, self.every = count, live, every
        self.fail_at = set(fail_at or ())
        self.reopen_failures = reopen_failures
        self.opens = 0
        self.n = 0
        self.threads: dict[str, set[int]] = {"open": set(), "read": set(), "close": set()}
        self.reading = threading.Event()
        self.blocked = threading.Event()  # a read is waiting inside the "driver"
        self.block = threading.Event()  # set: the next read blocks until ``release`` is set
        self.release = threading.Event()
        self.closed_while_reading = False

    def open(self) -> None:
        self.threads["open"].add(threading.get_ident())
        self.opens += 1
        if 1 < self.opens <= 1 + self.reopen_failures:
            raise SourceError("stub: still gone")

    def read(self) -> Frame | None:
        self.threads["read"].add(threading.get_ident())
        self.reading.set()
        try:
            if self.block.is_set():
                self.blocked.set()
                self.release.wait()
            if self.count is not None and self.n >= self.count:
                return None
            if self.every:
                time.sleep(self.every)
            self.n += 1
            if self.n in self.fail_at:
                raise SourceError("stub: camera lost")
            image = np.full((32, 32, 3), self.n % 256, np.uint8)
            return Frame(image, "RGB", self.n, time.monotonic_ns(), self.n, f"f{self.n}")
        finally:
            self.reading.clear()

    def close(self) -> None:
        self.closed_while_reading |= self.reading.is_set()
        self.threads["close"].add(threading.get_ident())


class Collect(Sink):
    name = "collect"

    def __init__(self, delay: float = 0.0) -> None:
        self.results: list[Result] = []
        self.delay = delay
        self.closed = False

    def handle(self, result: Result) -> None:
        if self.delay:
            time.sleep(self.delay)
        self.results.append(result)

    def close(self) -> None:
        self.closed = True


class Broken(Sink):
    name = "broken"

    def __init__(self) -> None:
        self.calls = 0

    def handle(self, result: Result) -> None:
        self.calls += 1
        if self.calls == 3:
            raise RuntimeError("disk on fire")


def run(source, engine=None, sinks=(), **options) -> tuple[Pipeline, dict]:
    pipeline = Pipeline(source, engine or SlowEngine(), INFO, sinks,
                        options=Options(**{"reconnect_initial_s": 0.05, **options}))
    return pipeline, pipeline.run().to_dict()


def test_lossless_replay_processes_every_frame_in_order_with_one_owner():
    source, engine, sink = StubSource(count=30), SlowEngine(ms=2), Collect()
    _, summary = run(source, engine, [sink])
    assert summary["end"] == "end of input"
    assert summary["frames"]["processed"] == 30 and summary["frames"]["dropped"] == 0
    assert [r.seq for r in sink.results] == list(range(1, 31))
    assert [r.top[0][0] for r in sink.results] == [n % 4 for n in range(1, 31)]
    # the capture thread, and only it, opened, read and closed the source
    owner = source.threads["open"]
    assert len(owner) == 1 and source.threads["read"] == owner == source.threads["close"]
    assert owner.isdisjoint(engine.threads)
    assert sink.closed


def test_a_live_source_never_waits_and_drops_are_counted():
    source = StubSource(count=None, live=True, every=0.002)
    _, summary = run(source, SlowEngine(ms=20), max_frames=15)
    frames = summary["frames"]
    assert frames["processed"] == 15 and frames["dropped"] > 30
    # every captured frame was processed, dropped, or is the one left in the slot
    assert frames["captured"] - frames["processed"] - frames["dropped"] in (0, 1)
    assert summary["fps"]["dropped"] > 0


def test_a_failing_sink_is_disabled_shown_and_the_others_carry_on():
    good, bad = Collect(), Broken()
    pipeline, summary = run(StubSource(count=10), sinks=[bad, good])
    assert bad.calls == 3 and len(good.results) == 10
    assert summary["problems"] == ["broken: failed: RuntimeError: disk on fire"]
    assert "broken: failed" in pipeline.status_text()


def test_sinks_that_cannot_keep_up_never_stall_inference():
    slow = Collect(delay=0.02)
    _, summary = run(StubSource(count=400), sinks=[slow])
    assert summary["frames"]["processed"] == 400
    assert summary["frames"]["report_dropped"] > 0
    assert len(slow.results) + summary["frames"]["report_dropped"] == 400


def test_a_lost_live_source_is_reopened_with_back_off_on_its_own_thread():
    source = StubSource(count=None, live=True, every=0.001, fail_at={5}, reopen_failures=2)
    sink = Collect()
    pipeline = Pipeline(source, SlowEngine(), INFO, [sink],
                        options=Options(reconnect_initial_s=0.05, max_frames=20))
    states = []
    watcher = threading.Thread(target=lambda: [states.append(pipeline.source.state)
                                               or time.sleep(0.01) for _ in range(100)])
    watcher.start()
    summary = pipeline.run().to_dict()
    watcher.join()
    assert summary["frames"]["processed"] == 20 and summary["source_outages"] == 1
    assert summary["source_state"] == "up"
    assert any(s.startswith("lost (stub: camera lost); retry") for s in states)
    assert source.opens == 4  # the first open, two failed reopens, one that worked
    assert len(source.threads["open"] | source.threads["close"] | source.threads["read"]) == 1


def test_stop_during_back_off_returns_at_once():
    source = StubSource(count=None, live=True, fail_at={2}, reopen_failures=1000)
    pipeline = Pipeline(source, SlowEngine(), INFO,
                        options=Options(reconnect_initial_s=30.0, reconnect_max_s=30.0))
    threading.Timer(0.3, pipeline.stop).start()
    t0 = time.monotonic()
    summary = pipeline.run().to_dict()
    assert time.monotonic() - t0 < 2.0
    assert summary["end"] == "stopped" and "error" not in summary


def test_stop_while_a_read_is_busy_waits_for_it_and_closes_on_the_reading_thread():
    source = StubSource(count=None, live=True, every=0.001)
    pipeline = Pipeline(source, SlowEngine(), INFO, options=Options())
    pipeline.start()
    source.block.set()  # the next read is inside the "driver" when we stop
    assert source.blocked.wait(5)
    threading.Timer(0.3, source.release.set).start()  # the driver returns a little later
    pipeline.stop()
    summary = pipeline.run().to_dict()
    assert summary["end"] == "stopped" and "error" not in summary
    assert not source.closed_while_reading
    assert source.threads["close"] == source.threads["read"]


def test_a_driver_that_never_returns_is_reported_not_released():
    source = StubSource(count=None, live=True, every=0.001)
    sink = Collect()
    pipeline = Pipeline(source, SlowEngine(), INFO, [sink], options=Options(stop_timeout_s=0.5))
    pipeline.start()
    source.block.set()
    assert source.blocked.wait(5)
    pipeline.stop()
    t0 = time.monotonic()
    summary = pipeline.run().to_dict()
    assert time.monotonic() - t0 < 3.0
    assert "did not return from a read within 0.5 s" in summary["error"]
    assert source.threads["close"] == set()  # never closed under the reading thread
    assert sink.closed  # result sinks are not the capture thread's: they close normally
    source.release.set()


def test_a_source_that_cannot_open_fails_start_and_closes_the_sinks():
    class Missing(StubSource):
        def open(self) -> None:
            raise SourceError("stub: no such camera")

    sink = Collect()
    pipeline = Pipeline(Missing(), SlowEngine(), INFO, [sink])
    with pytest.raises(SourceError, match="no such camera"):
        pipeline.start()
    assert sink.closed


def test_fps_cap_paces_inference():
    source = StubSource(count=None, live=True, every=0.001)
    _, summary = run(source, fps_cap=50, duration=0.6)
    assert summary["end"] == "duration reached"
    assert 20 <= summary["frames"]["processed"] <= 33


def test_capture_only_still_delivers_frames_to_display_sinks():
    sink = Collect()
    pipeline = Pipeline(StubSource(count=5), None, None, [sink])
    summary = pipeline.run().to_dict()
    assert summary["frames"]["processed"] == 5 and summary["model"] is None
    assert [r.top for r in sink.results] == [[]] * 5
    assert all(r.frame is not None for r in sink.results)


def test_a_sink_stuck_at_shutdown_is_given_up_on_counted_and_not_closed_under_itself():
    class Stuck(Collect):
        def __init__(self) -> None:
            super().__init__()
            self.release, self.inside = threading.Event(), threading.Event()

        def handle(self, result: Result) -> None:
            if result.seq == 3:
                self.inside.set()
                self.release.wait()
            super().handle(result)

    sink = Stuck()
    pipeline = Pipeline(StubSource(count=50), SlowEngine(), INFO, [sink],
                        options=Options(sink_patience_s=0.5))
    t0 = time.monotonic()
    summary = pipeline.run().to_dict()
    assert time.monotonic() - t0 < 5.0 and sink.inside.is_set()
    assert not sink.closed  # still inside handle() on the reporting thread
    assert summary["frames"]["report_dropped"] == 50 - len(sink.results)
    sink.release.set()


def test_preprocessing_goes_to_the_thread_with_time_to_spare():
    from edge.run.handoff import Costs, ema

    assert Costs().capture_should_preprocess()  # no figures yet: overlap with inference
    big_model = Costs(read=1.2, preprocess=0.5, inference=8.0)
    tiny_model = Costs(read=1.2, preprocess=0.5, inference=0.3)
    assert big_model.capture_should_preprocess() and not tiny_model.capture_should_preprocess()
    assert ema(0.0, 5.0) == 5.0 and ema(5.0, 15.0) == pytest.approx(6.0)
