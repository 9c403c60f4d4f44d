"""A thread that dies is never silent: a sink's thread (here the web server's own event loop,
and a sink's worker) is a problem in the status and stops the systemd watchdog; the system
monitor's is a problem that lets the run go on."""

from __future__ import annotations

import threading

from edge.run.pipeline import Options, Pipeline
from edge.sinks.base import Sink, guarded_thread
from edge.sinks.web import HttpSink
from edge.sources.synthetic import SyntheticSource
from edge.telemetry.monitor import SystemMonitor

from .servers import wait_until
from .web_client import fetch


class DyingSink(Sink):
    name = "dying"

    def __init__(self) -> None:
        self.kill = threading.Event()

    def open(self, view) -> None:
        self.worker = guarded_thread(self, self._work, "dying-worker")
        self.worker.start()

    def _work(self) -> None:
        self.kill.wait()
        raise RuntimeError("boom")


class FailingMonitor(SystemMonitor):
    """Its readings fail after the first (a sensor that went away)."""

    calls = 0

    def _refresh(self) -> None:
        self.calls += 1
        if self.calls > 1:
            raise OSError("sensor gone")
        super()._refresh()


def running(*sinks: Sink, monitor: SystemMonitor | None = None):
    """A capture-only pipeline running on its own thread; (pipeline, thread)."""
    p = Pipeline(SyntheticSource(64, 48, 30), None, None, list(sinks),
                 options=Options(duration=30), monitor=monitor)
    p.start()
    thread = threading.Thread(target=p.run, daemon=True)
    thread.start()
    return p, thread


def finish(p: Pipeline, thread: threading.Thread) -> None:
    p.stop()
    thread.join(timeout=15)
    assert not thread.is_alive()


def raise_system_exit() -> None:
    raise SystemExit("the loop is gone")


def test_a_dead_sink_thread_is_a_problem_and_stops_the_watchdog():
    dying, http = DyingSink(), HttpSink("127.0.0.1", 0)
    p, thread = running(dying, http)
    try:
        url = http.url
        wait_until(lambda: p.first_result.is_set(), 10, "a first result")
        assert p.healthy(max_silence=30) and fetch(url, "/stats")[0] == 200
        dying.kill.set()
        wait_until(lambda: dying.dead, 5, "the worker died")
        assert "dying: thread dying-worker died: RuntimeError: boom" in p.problems()
        assert not p.healthy(max_silence=30)
        assert "boom" in p.status_text()
        # the web server's own thread: whatever ends its loop ends up in the status too
        http.server.loop.call_soon_threadsafe(raise_system_exit)
        wait_until(lambda: not http.alive(), 5, "the web server thread died")
        assert any(x.startswith("http: http server stopped: SystemExit") for x in p.problems())
    finally:
        finish(p, thread)


def test_a_dead_monitor_is_a_problem_but_the_run_goes_on():
    monitor = FailingMonitor(interval=0.05)
    p, thread = running(monitor=monitor)
    try:
        wait_until(lambda: monitor.error, 5, "the monitor stopped")
        assert "monitor: stopped: OSError: sensor gone" in p.problems()
        assert p.healthy(max_silence=30)  # thermal readings are not worth a restart
    finally:
        finish(p, thread)
