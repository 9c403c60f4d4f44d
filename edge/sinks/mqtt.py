"""Results and health to an MQTT broker, in the layout Frigate users know.

Under ``<prefix>/<node>/``:
    availability  ``online`` / ``offline``, retained, QoS 1; also the last will
    state         top-k, latency, FPS, sequence number, timestamp; at most ``rate`` a second
    event         the top-1 label once it changed (with hysteresis), retained, QoS 1
    stats         the ``/stats`` JSON (without whole-run percentiles) every
                  ``stats_interval`` seconds, retained
    snapshot      a JPEG of the frame when the top-1 label changed (optional), retained
plus Home Assistant's device discovery (edge/sinks/ha.py), re-sent when Home Assistant
announces ``online``.

Inference never waits on the network: paho's own thread does every read and write (publish()
only queues), and JPEG encoding and the stats run on this sink's thread. While the broker is
away, state messages are dropped and counted; availability, discovery and the newest event,
stats and snapshot are kept (one each) and re-sent on reconnect.
"""

from __future__ import annotations

import contextlib
import json
import logging
import ssl
import threading
import time

from edge.errors import EdgeError, install_hint
from edge.sinks import ha
from edge.sinks.base import PipelineView, Result, Sink, guarded_thread
from edge.sinks.mqtt_options import MqttOptions

log = logging.getLogger(__name__)
# CONNACK refusals that retrying cannot fix (MQTT 5 reason codes; paho maps 3.1.1's 4 and 5)
FATAL_REFUSALS = {134, 135}  # bad user name or password, not authorized
QUEUE_LIMIT = 64  # QoS 1 messages paho may hold while a connection breaks


class LabelTracker:
    """Hysteresis for the top-1 label: a new label becomes current once it has led every
    result for ``hold_s`` seconds, so a score flickering between two labels is silent. It is
    checked at each result and, between results (a slow camera, a slideshow of stills: the
    label stands until the next frame), when the hold ends (:meth:`due`)."""

    def __init__(self, hold_s: float) -> None:
        self.hold_s = hold_s
        self.current: str | None = None
        self.result: Result | None = None  # the newest result of the pending label
        self._candidate: str | None = None
        self._since = 0.0

    def update(self, label: str, now: float, result: Result | None = None) -> bool:
        """True when ``label`` just became the current label."""
        if label == self.current:
            self._candidate = None
            return False
        if label != self._candidate:
            self._candidate, self._since = label, now
        self.result = result
        return self.due(now)

    def due(self, now: float) -> bool:
        """True when the pending label has now led for ``hold_s`` and becomes current."""
        if self._candidate is not None and now - self._since >= self.hold_s:
            self.current, self._candidate = self._candidate, None
            return True
        return False

    def deadline(self) -> float | None:
        """When the pending label becomes current if nothing else arrives (monotonic s)."""
        return None if self._candidate is None else self._since + self.hold_s


def _paho():
    try:
        import paho.mqtt.client as mqtt
    except ImportError:
        raise EdgeError("--mqtt needs paho-mqtt 2: " + install_hint("mqtt")) from None
    if not hasattr(mqtt, "CallbackAPIVersion"):
        raise EdgeError("--mqtt needs paho-mqtt 2 (found 1.x, perhaps Debian's "
                        "python3-paho-mqtt): " + install_hint("mqtt"))
    return mqtt


def _new_client(options: MqttOptions, client_id: str):
    mqtt = _paho()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
    broker = options.broker
    if broker.username:
        client.username_pw_set(broker.username, broker.password)
    if broker.tls:
        try:
            client.tls_set(ca_certs=str(options.ca_file) if options.ca_file else None)
        except (OSError, ssl.SSLError) as exc:
            raise EdgeError(f"--mqtt-ca {options.ca_file}: not a usable CA certificate "
                            f"({exc})") from None
    client.reconnect_delay_set(1, 16)
    client.max_queued_messages_set(QUEUE_LIMIT)
    return client


def _first_connect(client, options: MqttOptions) -> str | None:
    """Open the connection synchronously, so the reason of a failure is known. Returns
    None when the socket is open, else why not (the caller retries in the background).
    An untrusted certificate is a configuration error, not an outage."""
    broker = options.broker
    try:
        client.connect(broker.host, broker.port, options.keepalive)
        return None
    except ssl.SSLCertVerificationError as exc:
        raise EdgeError(f"--mqtt {broker.url}: the broker's certificate is not trusted "
                        f"({exc.verify_message}); give its CA with --mqtt-ca") from None
    except OSError as exc:
        client.connect_async(broker.host, broker.port, options.keepalive)
        return exc.strerror or str(exc) or type(exc).__name__


class MqttSink(Sink):
    """Publishes results and health to a broker; see the module docstring for topics."""

    name = "mqtt"

    def __init__(self, options: MqttOptions) -> None:
        self.options = options
        self.topics = options.topics
        self._client = _new_client(options, client_id=f"edge-{options.node}")
        self._client.will_set(self.topics.availability, "offline", qos=1, retain=True)
        for hook in ("on_connect", "on_connect_fail", "on_disconnect", "on_message"):
            setattr(self._client, hook, getattr(self, "_" + hook))
        self._lock = threading.Lock()
        self.connected = False
        self._down_since: float | None = time.time()
        self._why = "not connected yet"
        self.published = self.dropped = self.disconnects = 0
        self._dropped_before = 0  # dropped when the current outage began
        self._stats_now = False
        self._answered = threading.Event()  # the broker's first CONNACK arrived
        self._refusal: str | None = None
        self._tracker = LabelTracker(options.hold_s)
        self._results = 0  # results handled so far
        self._next_state = 0.0
        # the newest of each, re-sent on reconnect (payload bytes)
        self._event: bytes | None = None
        self._trigger_states: dict[str, bytes] = {}  # label -> the retained ON or OFF
        self._stats: bytes | None = None
        self._snapshot: bytes | None = None
        self._snapshot_frame = None
        self._view: PipelineView | None = None
        self._wake, self._stop = threading.Event(), threading.Event()
        self._worker = guarded_thread(self, self._work, "mqtt")
        self._started = False

    # -- lifecycle -------------------------------------------------------------------------
    def connect(self, timeout: float = 5.0) -> None:
        """Start the network thread. Waits up to ``timeout`` for the broker's first answer
        when it is reachable; a refusal of the credentials is an EdgeError (retrying cannot
        fix it). An unreachable broker is not: the sink keeps trying in the background."""
        why = _first_connect(self._client, self.options)
        if why is not None:
            self._set_down(f"unreachable ({why})")
            log.warning("MQTT broker %s unreachable (%s); retrying in the background",
                        self.options.broker.url, why)
        self._client.loop_start()
        self._started = True
        if why is None and self._answered.wait(timeout) and self._refusal:
            self._client.loop_stop()
            self._started = False
            raise EdgeError(f"--mqtt {self.options.broker.url}: the broker refused the "
                            f"connection ({self._refusal})")

    def open(self, view: PipelineView) -> None:
        if not self._started:
            self.connect()
        self._view = view
        self._worker.start()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._worker.is_alive():
            self._worker.join(timeout=5)
        if not self._started:
            return
        if not self.connected:
            # paho's thread may sit in a connect attempt for seconds; it is a daemon and
            # ends at the next check, so do not make the process wait for it
            self._client.disconnect()
            return
        # a clean disconnect does not fire the will: say it ourselves
        info = self._client.publish(self.topics.availability, "offline", qos=1, retain=True)
        with contextlib.suppress(RuntimeError, ValueError):  # not sent: the will says it
            info.wait_for_publish(timeout=2.0)
        self._client.disconnect()
        self._client.loop_stop()

    # -- health ----------------------------------------------------------------------------
    @property
    def error(self) -> str | None:
        if self.dead:
            return self.dead
        with self._lock:
            if self.connected:
                return None
            since = time.strftime("%H:%M:%S", time.localtime(self._down_since))
            lost = self.dropped - self._dropped_before
            dropped = f", {lost} state messages dropped" if lost else ""
            return f"broker {self.options.broker.url} {self._why} since {since}{dropped}"

    def figures(self) -> dict:
        with self._lock:
            return {"broker": self.options.broker.url, "node": self.options.node,
                    "connected": self.connected, "published": self.published,
                    "dropped": self.dropped, "disconnects": self.disconnects}

    def _set_down(self, why: str) -> bool:
        """Record an outage; True when the connection was up until now."""
        with self._lock:
            was_up = self.connected
            if was_up:
                self.disconnects += 1
                self._dropped_before = self.dropped
            self.connected = False
            self._why = why
            if self._down_since is None:
                self._down_since = time.time()
            return was_up

    # -- paho callbacks (paho's network thread) --------------------------------------------
    def _on_connect(self, client, _userdata, _flags, reason, _properties) -> None:
        if reason.is_failure:
            self._set_down(f"refused the connection ({reason})")
            if reason.value in FATAL_REFUSALS:
                self._refusal = str(reason)
            if self._answered.is_set():  # the first answer is connect()'s to report
                log.warning("MQTT broker %s refused the connection: %s",
                            self.options.broker.url, reason)
            self._answered.set()
            return
        with self._lock:
            back_after = time.time() - self._down_since if self._down_since else 0.0
            self.connected, self._down_since = True, None
        if self._answered.is_set():
            log.warning("MQTT broker %s is back after %.1f s", self.options.broker.url,
                        back_after)
        self._answered.set()
        if self.options.discovery_prefix is not None:
            client.subscribe(f"{self.options.discovery_prefix}/status", qos=1)
        self._announce()

    def _on_connect_fail(self, _client, _userdata) -> None:
        self._set_down("unreachable")

    def _on_disconnect(self, _client, _userdata, _flags, reason, _properties) -> None:
        if self._stop.is_set():
            return
        if self._set_down("unreachable" if not reason.is_failure else f"lost ({reason})"):
            log.warning("MQTT connection to %s lost (%s)", self.options.broker.url, reason)

    def _on_message(self, _client, _userdata, message) -> None:
        # Home Assistant (re)started: it lost non-retained discovery; tell it again
        if message.topic.endswith("/status") and message.payload == b"online":
            self._announce()

    def _announce(self) -> None:
        """Availability, discovery and the newest event, snapshot and stats."""
        topics = self.topics
        self._publish(topics.availability, b"online", qos=1, retain=True)
        if self.options.discovery_prefix is not None:
            payload = ha.discovery(topics, self.options.snapshot, self.options.model)
            self._publish(ha.discovery_topic(self.options.discovery_prefix, self.options.node),
                          json.dumps(payload).encode(), qos=1, retain=True)
        for topic, payload in ((topics.event, self._event), (topics.snapshot, self._snapshot),
                               (topics.stats, self._stats)):
            if payload is not None:
                self._publish(topic, payload, qos=1, retain=True)
        for label in topics.triggers:  # off until a trigger says otherwise
            self._publish(topics.trigger(label), self._trigger_states.get(label, b"OFF"),
                          qos=1, retain=True)
        self._stats_now = True  # fresh stats now, not in a minute
        self._wake.set()

    # -- publishing ------------------------------------------------------------------------
    def _publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False,
                 droppable: bool = False) -> None:
        """Queue a message for paho's thread; never blocks. Droppable messages (state) are
        counted when they cannot go out; the others are kept by the caller for reconnect."""
        if self.connected:
            info = self._client.publish(topic, payload, qos=qos, retain=retain)
            if info.rc == 0:
                with self._lock:
                    self.published += 1
                return
        if droppable:
            with self._lock:
                self.dropped += 1

    def handle(self, result: Result) -> None:
        now = time.monotonic()
        self._results += 1
        for state in result.switched():
            payload = b"ON" if state.on else b"OFF"
            self._trigger_states[state.label] = payload
            self._publish(self.topics.trigger(state.label), payload, qos=1, retain=True)
        if self._results == 1:  # the first figures worth sending
            self._stats_now = True
            self._wake.set()
        if result.top:
            with self._lock:
                fired = self._tracker.update(result.top[0][1], now, result)
                pending = self._tracker.deadline() is not None
            if fired:
                self._publish_event(result)
            elif pending:
                self._wake.set()  # the worker publishes it when the hold ends
        if now >= self._next_state:  # keep the cadence, but never catch up in a burst
            interval = 1.0 / self.options.rate
            late = now - self._next_state >= interval
            self._next_state = (now if late else self._next_state) + interval
            state = {**result.to_dict(), "timestamp": round(time.time(), 3),
                     "fps": round(self._view.fps(), 2)}
            self._publish(self.topics.state, json.dumps(state).encode(), droppable=True)

    def _publish_event(self, result: Result) -> None:
        """The top-1 label changed: the event (retained) and, when asked, its snapshot."""
        index, label, score = result.top[0]
        self._event = json.dumps({"label": label, "index": index, "score": round(score, 4),
                                  "seq": result.seq, "timestamp": round(time.time(), 3),
                                  **({} if result.trained else {"untrained": True})}
                                 ).encode()
        self._publish(self.topics.event, self._event, qos=1, retain=True)
        if self.options.snapshot and result.frame is not None:
            self._snapshot_frame = result.frame
            self._wake.set()

    def _work(self) -> None:
        """Stats on their interval and snapshots when asked, off the reporting thread."""
        due = time.monotonic() + self.options.stats_interval
        while not self._stop.is_set():
            with self._lock:
                label_due = self._tracker.deadline()
            wake_at = due if label_due is None else min(due, label_due)
            self._wake.wait(max(wake_at - time.monotonic(), 0.0))
            self._wake.clear()
            if self._stop.is_set():
                return
            with self._lock:
                fired = self._tracker.due(time.monotonic())
                result = self._tracker.result
            if fired and result is not None:
                self._publish_event(result)
            frame, self._snapshot_frame = self._snapshot_frame, None
            if frame is not None:
                jpeg = frame.jpeg(80)
                if jpeg is not None:
                    self._snapshot = jpeg
                    self._publish(self.topics.snapshot, jpeg, qos=0, retain=True)
            if (self._stats_now and self._results) or time.monotonic() >= due:
                self._stats_now = False
                due = time.monotonic() + self.options.stats_interval
                try:
                    # whole-run percentiles sort up to a million samples a stage: /stats
                    # has them on demand; a message every minute does without
                    stats = self._view.stats(run_percentiles=False).to_dict()
                    self._stats = json.dumps(stats).encode()
                except Exception:  # a figure that cannot be read must not end the thread
                    log.exception("stats for MQTT failed")
                    continue
                self._publish(self.topics.stats, self._stats, qos=0, retain=True)


def remove(options: MqttOptions, timeout: float = 10.0) -> list[str]:
    """Clear the node's retained messages and its Home Assistant device (empty retained
    messages); returns the topics cleared. Run it with the node's service stopped."""
    client = _new_client(options, client_id=f"edge-{options.node}-remove")
    answer: list = []
    answered = threading.Event()
    client.on_connect = lambda _c, _u, _f, reason, _p: (answer.append(reason), answered.set())
    why = _first_connect(client, options)
    if why is not None:
        raise EdgeError(f"--mqtt {options.broker.url}: cannot reach the broker ({why})")
    client.loop_start()
    try:
        if not answered.wait(timeout):
            raise EdgeError(f"--mqtt {options.broker.url}: no answer within {timeout:g} s")
        if answer[0].is_failure:
            raise EdgeError(f"--mqtt {options.broker.url}: the broker refused the "
                            f"connection ({answer[0]})")
        topics = options.topics.retained()
        if options.discovery_prefix is not None:
            topics.insert(0, ha.discovery_topic(options.discovery_prefix, options.node))
        for topic in topics:
            client.publish(topic, b"", qos=1, retain=True).wait_for_publish(timeout)
        return topics
    finally:
        client.disconnect()
        client.loop_stop()
