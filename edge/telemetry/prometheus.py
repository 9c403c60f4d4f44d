"""Prometheus text exposition of the live figures, built at scrape time from the pipeline's
stats so there is one bookkeeping, not two. Names follow Prometheus conventions: base units in
the name (seconds, bytes, hertz), ``_total`` on counters, labels only from small fixed sets.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from edge.telemetry.figures import RunStats
from edge.telemetry.thermal import THROTTLE_BITS


class PipelineCollector:
    def __init__(self, stats: Callable[..., RunStats]) -> None:
        self._stats = stats  # Pipeline.stats

    def collect(self):
        s = self._stats(run_percentiles=False)
        info = InfoMetricFamily("edge", "What is running")
        info.add_metric([], {"model": str(s.model), "source": str(s.source),
                             "trained": str(s.trained).lower()})
        yield info
        frames = CounterMetricFamily("edge_frames", "Frames by fate", labels=["kind"])
        for kind in ("captured", "processed", "dropped", "skipped", "gated"):
            frames.add_metric([kind], getattr(s.frames, kind))
        yield frames
        fps = GaugeMetricFamily("edge_frames_per_second", "Frames per second over the last 5 s",
                                labels=["kind"])
        for kind in ("capture", "inference", "dropped", "gated"):
            fps.add_metric([kind], getattr(s.fps, kind))
        yield fps
        # A summary as client libraries make them: quantiles over a sliding window (the last
        # 300 frames), count and sum over the whole run.
        lat = Metric("edge_latency_seconds", "Per-stage latency", "summary")
        for stage, figures in s.latency_ms.items():
            for q in (50, 90, 99):
                value = getattr(figures.window, f"p{q}")
                if value is not None:
                    lat.add_sample("edge_latency_seconds",
                                   {"stage": stage, "quantile": str(q / 100)}, value / 1e3)
            lat.add_sample("edge_latency_seconds_count", {"stage": stage}, figures.count)
            lat.add_sample("edge_latency_seconds_sum", {"stage": stage}, figures.sum_ms / 1e3)
        yield lat
        yield GaugeMetricFamily("edge_source_up", "1 while the source delivers, 0 during an "
                                "outage", value=1 if s.source_state == "up" else 0)
        yield CounterMetricFamily("edge_source_outages", "Times the source was lost",
                                  value=s.source_outages)
        yield GaugeMetricFamily("edge_problems", "Things wrong that do not stop the run",
                                value=len(s.problems))
        yield CounterMetricFamily("edge_cpu_seconds", "Process CPU time", value=s.cpu_s)
        if s.cpu_ms_per_frame is not None:
            yield GaugeMetricFamily("edge_cpu_seconds_per_frame",
                                    "Process CPU time per processed frame, whole run",
                                    value=s.cpu_ms_per_frame / 1e3)
        yield GaugeMetricFamily("edge_resident_memory_bytes", "Resident memory",
                                value=s.rss_mb * 2**20)
        yield from _system(s)
        yield from _mqtt(s.sinks.get("mqtt"))
        if (recorder := s.sinks.get("recorder")) is not None:
            frames = CounterMetricFamily("edge_recorder_frames", "Captured frames the recorder "
                                         "wrote, and those it could not keep", labels=["kind"])
            for kind in ("written", "dropped"):
                frames.add_metric([kind], recorder[kind])
            yield frames
        yield from _web(s.sinks)
        if s.triggers:
            on = GaugeMetricFamily("edge_trigger_on", "1 while the trigger (--trigger) is on",
                                   labels=["label"])
            changes = CounterMetricFamily("edge_trigger_changes", "Times the trigger switched "
                                          "on or off", labels=["label"])
            score = GaugeMetricFamily("edge_trigger_score", "The trigger class's probability "
                                      "on the newest frame", labels=["label"])
            for label, t in s.triggers.items():
                on.add_metric([label], 1.0 if t["on"] else 0.0)
                changes.add_metric([label], t["changes"])
                score.add_metric([label], t["score"])
            yield from (on, changes, score)


def _system(s: RunStats):
    thermal = s.thermal
    if thermal is not None:
        for reading, name, doc, scale in (
                (thermal.temperature_c, "edge_temperature_celsius", "SoC temperature", 1),
                (thermal.frequency_mhz, "edge_cpu_frequency_hertz", "CPU 0 clock", 1e6)):
            if reading.value is not None:
                yield GaugeMetricFamily(name, doc, value=reading.value * scale)
        if thermal.throttled.value:
            bits = int(thermal.throttled.value, 16)
            flags = GaugeMetricFamily("edge_throttled", "vcgencmd get_throttled flags",
                                      labels=["flag"])
            for bit, words in THROTTLE_BITS.items():
                flags.add_metric([words], 1 if bits & (1 << bit) else 0)
            yield flags
    energy = s.energy
    if energy is not None and energy.method:
        labels = ["method", "estimated"]
        values = [energy.method, str(energy.estimated).lower()]
        for value, name, doc, kind in (
                (energy.watts_now, "edge_power_watts", "Power now", GaugeMetricFamily),
                (energy.joules, "edge_energy_joules", "Energy since start", CounterMetricFamily),
                (energy.j_per_inference, "edge_joules_per_inference", "Energy per inference",
                 GaugeMetricFamily)):
            if value is not None:
                family = kind(name, doc, labels=labels)
                family.add_metric(values, value)
                yield family


def _mqtt(figures: dict | None):
    if figures is None:
        return
    yield GaugeMetricFamily("edge_mqtt_connected", "1 while connected to the MQTT broker",
                            value=1 if figures["connected"] else 0)
    for key, name, doc in (
            ("published", "edge_mqtt_messages_published", "MQTT messages handed to the broker "
                                                          "connection"),
            ("dropped", "edge_mqtt_messages_dropped", "MQTT state messages dropped while the "
                                                      "broker was away"),
            ("disconnects", "edge_mqtt_disconnects", "Times the MQTT connection was lost")):
        yield CounterMetricFamily(name, doc, value=figures[key])


WEB_FIGURES = (
    ("connections_open", "edge_http_connections", "Open connections", GaugeMetricFamily),
    ("viewers", "edge_http_viewers", "Live stream viewers", GaugeMetricFamily),
    ("refused", "edge_http_refused_connections", "Connections refused at the cap",
     CounterMetricFamily),
    ("evicted", "edge_http_evicted_connections", "Connections that sent no request, closed "
                                                 "to make room", CounterMetricFamily),
    ("timeouts", "edge_http_timeouts", "Connections closed for a request or a write that "
                                       "took too long", CounterMetricFamily),
    ("viewers_refused", "edge_http_viewers_refused", "Stream requests refused at the viewer "
                                                     "cap", CounterMetricFamily),
    ("unauthorized", "edge_http_unauthorized_requests", "Requests without valid credentials",
     CounterMetricFamily),
    ("bad_requests", "edge_http_bad_requests", "Malformed requests", CounterMetricFamily),
)


def _web(sinks: dict):
    """The web listeners' connections and refusals (an attack shows here)."""
    listeners = {name: sinks[name] for name in ("http", "metrics") if sinks.get(name)}
    if not listeners:
        return
    for key, name, doc, kind in WEB_FIGURES:
        family = kind(name, doc, labels=["listener"])
        for listener, figures in listeners.items():
            family.add_metric([listener], figures[key])
        yield family


def metrics_route(stats):
    """A (body, content type) callable for HttpSink.extra_routes["/metrics"]."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PipelineCollector(stats))
    return lambda: (generate_latest(registry), CONTENT_TYPE_LATEST)


