"""The arithmetic of the live figures."""

import threading
import time

import numpy as np
import pytest

from edge.telemetry.metrics import CpuClock, Latency, Rate, percentiles


def test_percentiles_match_numpy():
    data = np.random.default_rng(3).exponential(5.0, size=1001)
    got = percentiles(data)
    want = np.percentile(data, [50, 90, 99])
    assert [got["p50"], got["p90"], got["p99"]] == pytest.approx(list(want))
    assert percentiles([]) == {"p50": None, "p90": None, "p99": None}
    assert percentiles([7.0]) == {"p50": 7.0, "p90": 7.0, "p99": 7.0}


def test_latency_window_and_whole_run():
    lat = Latency(window=10)
    for v in range(100):
        lat.add(float(v))
    summary = lat.summary()
    assert summary.window.p50 == pytest.approx(np.percentile(range(90, 100), 50))
    assert summary.run.p50 == pytest.approx(np.percentile(range(100), 50))
    assert (summary.count, summary.sum_ms) == (100, sum(range(100)))  # Prometheus' _count


def test_latency_run_record_stays_bounded_and_fair():
    lat = Latency(window=5, max_run=4096)
    values = np.random.default_rng(0).uniform(0, 100, size=50_000)
    for v in values:
        lat.add(float(v))
    assert lat._n <= 4096 * 2
    assert lat.summary().run.p50 == pytest.approx(50, abs=3)


def test_rate_counts_events_in_the_window():
    rate = Rate(window=2.0)
    rate._start = 100.0
    for i in range(50):
        rate.tick(now=100.0 + i * 0.1)  # 10 per second for 5 s
    assert rate.count == 50
    assert rate.per_second(now=105.0) == pytest.approx(10.0, abs=0.6)
    assert rate.overall(now=105.0) == pytest.approx(10.0)


def test_cpu_seconds_per_frame_against_a_known_busy_loop():
    """Frames that each burn 20 ms of CPU on two threads: 40 CPU-ms a frame."""
    def burn(seconds):
        end = time.thread_time() + seconds
        while time.thread_time() < end:
            pass

    clock = CpuClock()
    frames = 5
    for _ in range(frames):
        workers = [threading.Thread(target=burn, args=(0.02,)) for _ in range(2)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    per_frame_ms = clock.seconds() / frames * 1e3
    assert 40 <= per_frame_ms < 60  # thread CPU time only adds; allow interpreter overhead


def test_rate_at_start_is_not_inflated_by_a_burst():
    """Three frames queued while the engine loaded, then 30 FPS: the first readings say about
    30, not 30 plus the burst over a short span."""
    rate = Rate(window=5.0)
    rate._start = 100.0
    times = [100.5, 100.5, 100.5] + [100.5 + (i + 1) / 30 for i in range(30)]
    for t in times:
        rate.tick(now=t)
    assert rate.per_second(now=times[-1]) == pytest.approx(32 / 1.0, rel=0.01)
    assert rate.per_second(now=times[-1] + 1.0) == pytest.approx(16.0, rel=0.01)  # a stall
    fresh = Rate(window=5.0)
    fresh._start = 100.0
    fresh.tick(now=100.2)
    assert fresh.per_second(now=100.3) == 0.0  # one event is no rate yet
