"""Home Assistant MQTT discovery for one edge node: one retained device message.

Device-based discovery (Home Assistant 2024.11 and later): ``<prefix>/device/<id>/config``
declares the device and all its entities at once; an empty retained message on the same
topic removes the device with its entities. Every entity reads the topics the node
publishes anyway (state, event, stats, snapshot) through a value template, so nothing is
published twice for Home Assistant's sake.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import edge


@dataclass(frozen=True)
class Topics:
    """The topics of one node, ``<prefix>/<node>/...``."""

    prefix: str
    node: str
    triggers: tuple[str, ...] = ()  # --trigger labels: one ON/OFF topic each

    def _topic(self, leaf: str) -> str:
        return f"{self.prefix}/{self.node}/{leaf}"

    @property
    def availability(self) -> str:
        return self._topic("availability")

    @property
    def state(self) -> str:
        return self._topic("state")

    @property
    def event(self) -> str:
        return self._topic("event")

    @property
    def stats(self) -> str:
        return self._topic("stats")

    @property
    def snapshot(self) -> str:
        return self._topic("snapshot")

    def trigger(self, label: str) -> str:
        """A trigger's state, ``ON`` or ``OFF`` (retained)."""
        return self._topic(f"trigger/{slug(label)}")

    def retained(self) -> list[str]:
        """Every topic the node may leave a retained message on."""
        return [self.availability, self.event, self.stats, self.snapshot,
                *map(self.trigger, self.triggers)]


def slug(label: str) -> str:
    """A label in the characters topics and unique ids allow: ``person``, ``tabby_cat``."""
    return re.sub(r"[^a-z0-9_-]", "_", label.strip().lower())[:64] or "_"


def object_id(node: str) -> str:
    """The node name in the characters discovery topics and unique ids allow."""
    return "edge_" + re.sub(r"[^a-zA-Z0-9_-]", "_", node)


def discovery_topic(discovery_prefix: str, node: str) -> str:
    return f"{discovery_prefix}/device/{object_id(node)}/config"


# Templates use plain Jinja2 only (no Home Assistant extensions), so a test can render them.
# A template that renders "None" leaves the entity's state unknown in Home Assistant.
_SCORE = "{{ (value_json.top[0].score * 100) | round(1) if value_json.top else None }}"
_TEMPERATURE = "{{ value_json.thermal.temperature_c.value if value_json.thermal else None }}"
_THROTTLED = ("{{ (('ON' if value_json.thermal.throttled.now else 'OFF') "
              "if value_json.thermal.throttled.value else None) "
              "if value_json.thermal else None }}")


def discovery(topics: Topics, snapshot: bool, model: str | None = None) -> dict:
    """The device discovery payload: the top-1 label, its score, inference FPS, latency,
    temperature, throttling and (when published) the snapshot image."""
    oid = object_id(topics.node)

    def entity(key: str, platform: str, name: str, **config) -> tuple[str, dict]:
        return key, {"platform": platform, "name": name, "unique_id": f"{oid}_{key}",
                     "availability_topic": topics.availability, **config}

    measurement = {"state_class": "measurement"}
    diagnostic = {"entity_category": "diagnostic"}
    entities = dict([
        entity("label", "sensor", "Label", state_topic=topics.event,
               value_template="{{ value_json.label }}", json_attributes_topic=topics.event,
               icon="mdi:label-outline"),
        entity("score", "sensor", "Score", state_topic=topics.state, value_template=_SCORE,
               unit_of_measurement="%", **measurement),
        entity("fps", "sensor", "Inference FPS", state_topic=topics.state,
               value_template="{{ value_json.fps }}", unit_of_measurement="fps",
               suggested_display_precision=1, **measurement),
        entity("latency", "sensor", "Latency", state_topic=topics.state,
               value_template="{{ value_json.latency_ms.capture_to_result }}",
               unit_of_measurement="ms", device_class="duration",
               suggested_display_precision=1, **measurement),
        entity("temperature", "sensor", "Temperature", state_topic=topics.stats,
               value_template=_TEMPERATURE, unit_of_measurement="°C",
               device_class="temperature", **measurement, **diagnostic),
        entity("throttled", "binary_sensor", "Throttled", state_topic=topics.stats,
               value_template=_THROTTLED, device_class="problem", **diagnostic),
    ])
    for label in topics.triggers:  # "is someone there": occupancy, on and off
        entities.update([entity(f"trigger_{slug(label)}", "binary_sensor", label.capitalize(),
                                state_topic=topics.trigger(label), payload_on="ON",
                                payload_off="OFF", device_class="occupancy")])
    if snapshot:
        entities.update([entity("snapshot", "image", "Snapshot", image_topic=topics.snapshot,
                                content_type="image/jpeg")])
    device = {"identifiers": [oid], "name": topics.node, "manufacturer": "edge",
              "sw_version": edge.__version__}
    if model:
        device["model"] = model
    return {"device": device, "origin": {"name": "edge", "sw_version": edge.__version__},
            "components": entities}
