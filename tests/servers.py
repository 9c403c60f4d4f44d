"""Real servers for the many-devices tests: Debian's mosquitto and prometheus, started on
127.0.0.1 with their own config files, an MQTT client that records what arrives, and
edge-run processes that say where they listen."""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from .conftest import BIN

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")


def need_mosquitto() -> None:
    if not Path(MOSQUITTO).is_file():
        pytest.skip("needs Debian's mosquitto (apt-get install mosquitto; .ci/run does)")
    pytest.importorskip("paho.mqtt.client", reason="needs paho-mqtt 2 (the mqtt extra)")


def need_prometheus() -> None:
    if not (PROMETHEUS and PROMTOOL):
        pytest.skip("needs Debian's prometheus and promtool (apt-get install prometheus; "
                    ".ci/run does)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port} after {timeout} s")


class Mosquitto:
    """A broker with a password file, a plain and (given certificates) a TLS listener,
    no persistence: a restart forgets every retained message, the hard case."""

    def __init__(self, folder: Path, users: dict[str, str] | None = None,
                 tls: tuple[Path, Path, Path] | None = None) -> None:
        self.folder, self.port = folder, free_port()
        self.tls_port = free_port() if tls else None
        lines = ["per_listener_settings false", "persistence false", "log_dest stderr",
                 f"listener {self.port} 127.0.0.1"]
        if tls:
            ca, cert, key = tls
            lines += [f"listener {self.tls_port} 127.0.0.1", f"cafile {ca}",
                      f"certfile {cert}", f"keyfile {key}"]
        if users:
            passwd = folder / "passwd"
            for i, (user, password) in enumerate(users.items()):
                subprocess.run(["mosquitto_passwd", "-b", *(["-c"] if i == 0 else []),
                                str(passwd), user, password], check=True, capture_output=True)
            lines += ["allow_anonymous false", f"password_file {passwd}"]
        else:
            lines.append("allow_anonymous true")
        if os.geteuid() == 0:  # as root, mosquitto drops to user "mosquitto" unless told
            lines.append(f"user {pwd.getpwuid(0).pw_name}")
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen | None = None

    def start(self) -> Mosquitto:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        wait_port(self.port, self.proc)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None


class Recorder:
    """An MQTT client that keeps every message (topic, payload, retain flag, time)."""

    def __init__(self, port: int, topics: list[str], user: str | None = None,
                 password: str | None = None) -> None:
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, bytes, bool, float]] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        if user:
            self.client.username_pw_set(user, password)
        subscribed = threading.Event()
        self.client.on_connect = lambda c, *_: [c.subscribe(t, qos=1) for t in topics]
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert subscribed.wait(5), "the test's own MQTT client could not subscribe"

    def _on_message(self, _client, _userdata, msg) -> None:
        with self._lock:
            self.messages.append((msg.topic, msg.payload, bool(msg.retain), time.monotonic()))

    def on(self, topic: str, after: float = 0.0) -> list[tuple[bytes, bool, float]]:
        with self._lock:
            return [(p, r, t) for tp, p, r, t in self.messages if tp == topic and t >= after]

    def wait_for(self, topic: str, predicate=lambda payload: True, after: float = 0.0,
                 timeout: float = 20.0) -> bytes:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for payload, _retain, _t in self.on(topic, after):
                if predicate(payload):
                    return payload
            time.sleep(0.05)
        raise AssertionError(f"nothing matching on {topic} within {timeout} s; got "
                             f"{[p[:80] for p, _, _ in self.on(topic)][-5:]}")

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def retained(port: int, topic: str, user: str | None = None, password: str | None = None,
             wait: float = 1.0) -> dict[str, bytes]:
    """What a new subscriber to ``topic`` gets as retained messages."""
    rec = Recorder(port, [topic], user, password)
    time.sleep(wait)
    rec.close()
    return {t: p for t, p, r, _ in rec.messages if r}


def start_edge_run(*args, env: dict | None = None, wait_for=("metrics on",),
                   **popen) -> tuple:
    """edge-run in the background; returns (process, {note prefix: URL or text}) once it
    printed the notes named in ``wait_for`` (``popen``: more Popen arguments)."""
    proc = subprocess.Popen([str(BIN / "edge-run"), "--no-config", "-q", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})}, **popen)
    notes: dict[str, str] = {}
    deadline = time.monotonic() + 60
    while not all(w in notes for w in wait_for) and time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            raise AssertionError(f"edge-run exited early ({proc.wait()}): {notes}")
        for w in wait_for:
            if line.startswith(w):
                match = re.search(r"(https?://\S+)", line)
                notes[w] = match.group(1) if match else line.strip()
    # keep reading, so a chatty process never blocks on a full pipe
    proc.log = []
    threading.Thread(target=lambda: proc.log.extend(iter(proc.stderr.readline, "")),
                     daemon=True).start()
    return proc, notes


def get_json(url: str, timeout: float = 10.0):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def get_text(url: str, timeout: float = 10.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read().decode()


def metric(text: str, name: str) -> float | None:
    match = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.M)
    return float(match.group(1)) if match else None


def prom_query(base: str, query: str) -> list[dict]:
    answer = get_json(f"{base}/api/v1/query?{urllib.parse.urlencode({'query': query})}")
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def wait_until(predicate, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} not met within {timeout} s")
