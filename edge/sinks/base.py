"""What sinks are: a result of one frame, and the two kinds of consumer the pipeline feeds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from edge.frame import Frame

if TYPE_CHECKING:
    from edge.pipeline import Pipeline


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

    def to_dict(self) -> dict:
        return {
            "seq": self.seq, "name": self.name, "t_source_ns": self.t_source_ns,
            "top": [{"index": i, "label": label, "score": round(p, 6)} for i, label, p in self.top],
            "latency_ms": {k: round(v, 3) for k, v in self.latency_ms.items()},
            **({} if self.trained else {"untrained": True}),
        }


class Sink:
    """A consumer of results. handle() runs on the reporting thread and must be quick;
    anything slow (encoding, network) belongs to the sink's own threads."""

    name = "sink"
    main_thread = False  # True: pump() is called from the pipeline's main thread

    def open(self, pipeline: Pipeline) -> None:
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

    def open(self, pipeline: Pipeline) -> None: ...

    def offer(self, frame: Frame) -> None: ...

    def close(self) -> None: ...
