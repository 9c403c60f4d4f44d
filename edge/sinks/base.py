"""What sinks are: a result of one frame, the two kinds of consumer the pipeline feeds, and the
narrow view of the running pipeline they get (sinks never import the pipeline)."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from edge.frame import Frame
from edge.run.trigger import TriggerState
from edge.telemetry.figures import RunStats

log = logging.getLogger(__name__)


@dataclass
class Result:
    """What one processed frame produced."""

    seq: int
    name: str
    t_source_ns: int
    top: list[tuple[int, str, float]]  # (class index, label, probability)
    latency_ms: dict[str, float]
    trained: bool = True
    frame: Frame | None = field(default=None, repr=False)  # the newest frame, for display
    triggers: dict[str, TriggerState] | None = None  # --trigger: each one's state now
    gated: bool = False  # the motion gate carried the last answer over: no inference ran

    def to_dict(self) -> dict:
        return {
            "seq": self.seq, "name": self.name, "t_source_ns": self.t_source_ns,
            "top": [{"index": i, "label": label, "score": round(p, 6)} for i, label, p in self.top],
            "latency_ms": {k: round(v, 3) for k, v in self.latency_ms.items()},
            **({} if self.trained else {"untrained": True}),
            **({"triggers": {k: s.to_dict() for k, s in self.triggers.items()}}
               if self.triggers else {}),
            **({"gated": True} if self.gated else {}),
        }

    def switched(self) -> list[TriggerState]:
        """The triggers this result switched on or off."""
        return [s for s in (self.triggers or {}).values() if s.changed]


class PipelineView(Protocol):
    """What a sink may ask of the running pipeline."""

    def stats(self, run_percentiles: bool = True) -> RunStats:
        """The live figures (what /stats serves); ``run_percentiles=False`` for frequent
        callers that show only the recent window."""
        ...

    def fps(self) -> float:
        """Inference frames per second over the last few seconds."""
        ...

    def stop(self) -> None:
        """Ask the run to finish (thread-safe)."""
        ...


class Sink:
    """A consumer of results. handle() runs on the reporting thread and must be quick;
    anything slow (encoding, network) belongs to the sink's own threads.

    ``error`` is a problem that does not stop the run (a full disk, a broker that went away):
    it shows in /stats, the status line and systemd's STATUS. A sink whose handle() raises is
    disabled for the rest of the run with the exception as its error. A sink whose own thread
    died (see :func:`guarded_thread`) is not alive(): the systemd watchdog stops, so the
    service is restarted.
    """

    name = "sink"
    main_thread = False  # True: pump() is called from the pipeline's main thread
    error: str | None = None
    dead: str | None = None  # why a thread the sink needs has died

    def alive(self) -> bool:
        """False when a thread this sink needs has died (the watchdog stops)."""
        return self.dead is None

    def open(self, view: PipelineView) -> None:
        """Called once before the first result."""

    def handle(self, result: Result) -> None:
        """Called for every result, in order."""

    def pump(self) -> None:
        """For main_thread sinks: called often from the main thread (GUI event loops)."""

    def close(self) -> None:
        """Called once after the last result."""

    def figures(self) -> dict | None:
        """The sink's own counters and state for /stats and /metrics (None: nothing)."""
        return None


class FrameSink:
    """A consumer of every captured frame (the recorder), fed on the capture thread."""

    name = "frames"
    error: str | None = None
    dead: str | None = None

    def alive(self) -> bool:
        """False when a thread this sink needs has died (the watchdog stops)."""
        return self.dead is None

    def open(self, view: PipelineView) -> None:
        """Called once before the first frame."""

    def offer(self, frame: Frame) -> None:
        """Called for every captured frame, on the capture thread: must never block."""

    def close(self) -> None:
        """Called once, after the capture thread has finished."""

    def figures(self) -> dict | None:
        """The sink's own counters for /stats, /metrics and the summary (None: nothing)."""
        return None


def guarded_thread(sink: Sink | FrameSink, target: Callable[[], None],
                   name: str) -> threading.Thread:
    """A daemon thread running ``target`` for ``sink``; if it raises, the sink's ``error``
    says so (a problem in /stats and systemd's STATUS) and the sink is no longer alive()."""

    def run() -> None:
        try:
            target()
        except BaseException as exc:
            log.exception("%s: thread %s died", sink.name, name)
            sink.dead = f"thread {name} died: {type(exc).__name__}: {exc}"
            with contextlib.suppress(AttributeError):  # sinks whose error is a property
                sink.error = sink.dead

    return threading.Thread(target=run, name=name, daemon=True)
