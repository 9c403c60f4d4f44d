"""Prometheus text exposition of the live figures, built at scrape time from Pipeline.stats()
so there is one bookkeeping, not two."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from edge.telemetry.thermal import THROTTLE_BITS


class PipelineCollector:
    def __init__(self, stats) -> None:
        self._stats = stats  # a callable returning Pipeline.stats()

    def collect(self):
        s = self._stats()
        info = InfoMetricFamily("edge", "What is running")
        info.add_metric([], {"model": str(s.get("model")), "source": str(s.get("source")),
                             "trained": str(s.get("trained")).lower()})
        yield info
        frames = CounterMetricFamily("edge_frames", "Frames by fate", labels=["kind"])
        for kind in ("captured", "processed", "dropped", "skipped"):
            frames.add_metric([kind], s["frames"][kind])
        yield frames
        fps = GaugeMetricFamily("edge_fps", "Frames per second over the last 5 s",
                                labels=["kind"])
        for kind in ("capture", "inference", "dropped"):
            fps.add_metric([kind], s["fps"][kind])
        yield fps
        lat = GaugeMetricFamily("edge_latency_ms", "Per-stage latency percentiles",
                                labels=["stage", "quantile", "window"])
        for stage, windows in s["latency_ms"].items():
            for window, name in (("window", "recent"), ("run", "run")):
                for q, value in windows[window].items():
                    if value is not None:
                        lat.add_metric([stage, str(int(q[1:]) / 100), name], value)
        yield lat
        yield GaugeMetricFamily("edge_source_up", "1 while the source delivers, 0 during an "
                                "outage", value=1 if s["source_state"] == "up" else 0)
        yield CounterMetricFamily("edge_source_outages", "Times the source was lost",
                                  value=s["source_outages"])
        yield GaugeMetricFamily("edge_problems", "Things wrong that do not stop the run",
                                value=len(s["problems"]))
        yield CounterMetricFamily("edge_cpu_seconds", "Process CPU time", value=s["cpu_s"])
        if s["cpu_ms_per_frame"] is not None:
            yield GaugeMetricFamily("edge_cpu_ms_per_frame", "Process CPU-ms per processed frame",
                                    value=s["cpu_ms_per_frame"])
        yield GaugeMetricFamily("edge_resident_memory_mb", "Resident memory", value=s["rss_mb"])
        yield from _system(s)


def _system(s: dict):
    thermal = s.get("thermal") or {}
    for key, name, doc in (("temperature_c", "edge_temperature_celsius", "SoC temperature"),
                           ("frequency_mhz", "edge_cpu_frequency_mhz", "CPU 0 clock")):
        value = (thermal.get(key) or {}).get("value")
        if value is not None:
            yield GaugeMetricFamily(name, doc, value=value)
    throttled = thermal.get("throttled") or {}
    if throttled.get("value"):
        bits = int(throttled["value"], 16)
        flags = GaugeMetricFamily("edge_throttled", "vcgencmd get_throttled flags",
                                  labels=["flag"])
        for bit, words in THROTTLE_BITS.items():
            flags.add_metric([words], 1 if bits & (1 << bit) else 0)
        yield flags
    energy = s.get("energy") or {}
    if energy.get("method"):
        labels = ["method", "estimated"]
        values = [energy["method"], str(energy["estimated"]).lower()]
        for key, name, doc, kind in (
                ("watts_now", "edge_power_watts", "Power now", GaugeMetricFamily),
                ("joules", "edge_energy_joules", "Energy since start", CounterMetricFamily),
                ("j_per_inference", "edge_joules_per_inference", "Energy per inference",
                 GaugeMetricFamily)):
            if energy.get(key) is not None:
                family = kind(name, doc, labels=labels)
                family.add_metric(values, energy[key])
                yield family


def metrics_route(stats):
    """A (body, content type) callable for HttpSink.extra_routes["/metrics"]."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PipelineCollector(stats))
    return lambda: (generate_latest(registry), CONTENT_TYPE_LATEST)
