"""The run's figures as typed records: what the status line, /stats, /metrics, MQTT, the
results log and the summary all read, by attribute. :meth:`RunStats.to_dict` is the JSON of
/stats and ``--json`` (its names are the public interface; they do not change)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from edge.telemetry.thermal import ThermalState


@dataclass(frozen=True, slots=True)
class Percentiles:
    """Latency percentiles in milliseconds (None: no samples yet)."""

    p50: float | None = None
    p90: float | None = None
    p99: float | None = None


@dataclass(frozen=True, slots=True)
class StageLatency:
    """One stage's latency: the sliding window (the last few hundred frames) and, when asked
    for, the whole run; plus the run's sample count and sum (a Prometheus summary's)."""

    window: Percentiles
    count: int = 0
    sum_ms: float = 0.0
    run: Percentiles | None = None

    def to_dict(self) -> dict:
        out = {"window": asdict(self.window), "count": self.count, "sum_ms": self.sum_ms}
        if self.run is not None:
            out["run"] = asdict(self.run)
        return out


@dataclass(frozen=True, slots=True)
class Frames:
    """Frames by fate. ``dropped``: live frames replaced before inference took them;
    ``report_dropped``: results the sinks could not keep up with; ``skipped``: unreadable
    files of a replay; ``gated``: processed frames whose answer the motion gate carried over
    (no inference ran; inferences = processed - gated)."""

    captured: int = 0
    processed: int = 0
    dropped: int = 0
    report_dropped: int = 0
    skipped: int = 0
    gated: int = 0


@dataclass(frozen=True, slots=True)
class Rates:
    """Named rates, frames per second over the last few seconds, and inference over the run.
    ``inference`` counts every processed frame, ``gated`` those the motion gate answered."""

    capture: float = 0.0
    inference: float = 0.0
    dropped: float = 0.0
    inference_overall: float = 0.0
    gated: float = 0.0


@dataclass(frozen=True, slots=True)
class Energy:
    """Power and energy per inference with the method that measured (or estimated) it;
    ``method`` None: no reader on this machine (``reasons`` says why, per reader)."""

    method: str | None = None
    estimated: bool = False
    watts_now: float | None = None
    watts_mean: float | None = None
    joules: float | None = None
    seconds: float = 0.0
    idle_watts: float | None = None
    idle_subtracted: bool = False
    j_per_inference: float | None = None
    inferences_per_j: float | None = None
    reasons: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        if self.method is None:
            return {"method": None, "reasons": dict(self.reasons)}
        out = asdict(self)
        del out["reasons"]
        return out


@dataclass(frozen=True, slots=True)
class Counters:
    """Frames, rates, latency per stage and CPU, as the pipeline's threads counted them."""

    elapsed_s: float
    frames: Frames
    fps: Rates
    latency_ms: dict[str, StageLatency]
    cpu_s: float
    cpu_ms_per_frame: float | None


@dataclass(frozen=True, slots=True)
class RunStats:
    """A snapshot of a run: what runs, from where, how it goes, and what is wrong."""

    source: str
    source_state: str
    source_outages: int
    problems: list[str]
    state: str  # the one-line status (systemd's STATUS=)
    model: str | None
    engine: str | None
    trained: bool | None
    counters: Counters
    latest: dict | None  # the newest result, as the results log writes it
    sinks: dict[str, dict]  # each sink's own figures (web listeners, MQTT)
    rss_mb: float
    rss_peak_mb: float
    thermal: ThermalState | None = None  # None without the system monitor
    energy: Energy | None = None
    # the summary's, at the end of a run
    end: str | None = None
    skipped_names: list[str] | None = None
    error: str | None = None
    triggers: dict[str, dict] | None = None  # --trigger: label -> on, score, changes

    @property
    def frames(self) -> Frames:
        return self.counters.frames

    @property
    def fps(self) -> Rates:
        return self.counters.fps

    @property
    def latency_ms(self) -> dict[str, StageLatency]:
        return self.counters.latency_ms

    @property
    def cpu_ms_per_frame(self) -> float | None:
        return self.counters.cpu_ms_per_frame

    @property
    def cpu_s(self) -> float:
        return self.counters.cpu_s

    @property
    def elapsed_s(self) -> float:
        return self.counters.elapsed_s

    def to_dict(self) -> dict:
        """The JSON of /stats and of the summary, with the names they have always had."""
        c = self.counters
        out = {
            "source": self.source, "source_state": self.source_state,
            "source_outages": self.source_outages, "problems": list(self.problems),
            "state": self.state, "model": self.model, "engine": self.engine,
            "trained": self.trained, "elapsed_s": c.elapsed_s, "frames": asdict(c.frames),
            "fps": asdict(c.fps),
            "latency_ms": {stage: lat.to_dict() for stage, lat in c.latency_ms.items()},
            "cpu_s": c.cpu_s, "cpu_ms_per_frame": c.cpu_ms_per_frame, "latest": self.latest,
            "sinks": self.sinks, "rss_mb": self.rss_mb,
        }
        if self.thermal is not None:
            out["thermal"] = self.thermal.to_dict()
        if self.energy is not None:
            out["energy"] = self.energy.to_dict()
        out["rss_peak_mb"] = self.rss_peak_mb
        if self.triggers is not None:
            out["triggers"] = self.triggers
        if self.end is not None:
            out["end"] = self.end
            out["skipped_names"] = list(self.skipped_names or [])
            if self.error is not None:
                out["error"] = self.error
        return out
