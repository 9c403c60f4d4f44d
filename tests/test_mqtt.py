"""MQTT and Home Assistant discovery against a real broker: Debian's mosquitto started here
on 127.0.0.1 with its own config, password file and TLS listener (a CA made with openssl
in the test), and real edge-run processes classifying the bundled photos."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from edge.errors import EdgeError
from edge.sinks import ha
from edge.sinks.mqtt import LabelTracker
from edge.sinks.mqtt_options import PASSWORD_ENV, MqttOptions, parse_broker

from .conftest import BIN, PHOTOS
from .servers import (
    Mosquitto,
    Recorder,
    get_json,
    get_text,
    metric,
    need_mosquitto,
    retained,
    start_edge_run,
    wait_until,
)

USER, PASSWORD = "edge", "s3cret-pw"
SCENES = {"parrot.jpg": "macaw", "cat.jpg": "Egyptian cat"}  # LiteRT's confident top-1s


# -- without a broker ---------------------------------------------------------------------
def test_broker_url_and_password_sources(tmp_path):
    b = parse_broker("mqtt://broker.lan", environ={})
    assert (b.host, b.port, b.tls, b.username, b.password) == ("broker.lan", 1883, False,
                                                               None, None)
    b = parse_broker("mqtts://cam:pw%40x@10.0.0.2", environ={})
    assert (b.port, b.tls, b.username, b.password) == (8883, True, "cam", "pw@x")
    assert b.url == "mqtts://cam@10.0.0.2:8883" and "pw" not in repr(b)
    secret = tmp_path / "pw"
    secret.write_text("from-file\n")
    env = {PASSWORD_ENV: "from-env"}
    assert parse_broker("mqtt://u:url@h:1", secret, env).password == "from-file"
    assert parse_broker("mqtt://u:url@h:1", None, env).password == "from-env"
    assert parse_broker("mqtt://u:url@h:1", None, {}).password == "url"
    for bad, words in (("http://h", "expected mqtt://"), ("mqtt://", "expected"),
                       ("mqtt://h:99999", "expected"), ("mqtt://h/topic", "expected"),
                       ("mqtt://:hunter2@h", "needs a user name"),
                       ("mqtt://u:hunter2@h:notaport", "expected")):  # does not even parse
        with pytest.raises(EdgeError, match=words) as err:
            parse_broker(bad, environ={})
        assert "hunter2" not in str(err.value)
    with pytest.raises(EdgeError, match=r"--mqtt-password-file .*cannot read"):
        parse_broker("mqtt://u@h", tmp_path / "missing", {})


def test_options_reject_unusable_topics():
    broker = parse_broker("mqtt://h", environ={})
    for kwargs, flag in (({"node": "a/b"}, "--mqtt-node"), ({"node": "cam+"}, "--mqtt-node"),
                         ({"prefix": "#"}, "--mqtt-prefix"), ({"prefix": ""}, "--mqtt-prefix"),
                         ({"rate": 0}, "--mqtt-rate"), ({"hold_s": -1}, "--mqtt-hold")):
        with pytest.raises(EdgeError, match=flag):
            MqttOptions(broker, **kwargs)
    assert MqttOptions(broker, prefix="site/edge", node="cam.1").topics.state == \
        "site/edge/cam.1/state"


def test_label_hysteresis():
    tracker = LabelTracker(hold_s=1.0)
    # a score flickering between two labels every frame never makes an event
    assert not any(tracker.update("ab"[i % 2], i * 0.1) for i in range(50))
    assert tracker.current is None
    changes = [t for t in range(30) if tracker.update("cat", 10 + t * 0.1)]
    assert changes == [10]  # after 1.0 s of leading, once
    assert tracker.current == "cat"
    # a one-second stay of another label interrupted once restarts the clock
    seq = ["dog"] * 8 + ["cat"] + ["dog"] * 11
    fired = [i for i, label in enumerate(seq) if tracker.update(label, 20 + i * 0.1)]
    assert fired == [19] and tracker.current == "dog"


def test_discovery_payload():
    topics = ha.Topics("edge", "pi kitchen")
    payload = ha.discovery(topics, snapshot=True, model="m")
    assert ha.discovery_topic("homeassistant", "pi kitchen") == \
        "homeassistant/device/edge_pi_kitchen/config"
    comps = payload["components"]
    assert set(comps) == {"label", "score", "fps", "latency", "temperature", "throttled",
                          "snapshot"}
    assert len({c["unique_id"] for c in comps.values()}) == len(comps)
    assert all(c["availability_topic"] == "edge/pi kitchen/availability" for c in comps.values())
    assert comps["snapshot"]["platform"] == "image"
    assert "snapshot" not in ha.discovery(topics, snapshot=False)["components"]


def test_without_paho_the_error_says_what_to_install(monkeypatch):
    from edge.sinks.mqtt import MqttSink

    monkeypatch.setitem(sys.modules, "paho.mqtt.client", None)  # import fails as if absent
    with pytest.raises(EdgeError, match=r"-m pip install -e '.*\[mqtt\]'"):
        MqttSink(MqttOptions(parse_broker("mqtt://h", environ={}), node="n"))


def test_check_config_validates_mqtt_without_connecting(tmp_path):
    def run(*args):
        return subprocess.run([str(BIN / "edge-run"), "--no-config", "--synthetic", "--no-infer",
                               "--check-config", *map(str, args)], capture_output=True,
                              text=True, timeout=60)

    secret = tmp_path / "secret"
    secret.write_text("broker-password\n")
    ok = run("--mqtt", "mqtt://u@192.0.2.1:1", "--mqtt-password-file", secret)
    assert ok.returncode == 0, ok.stderr
    bad = run("--mqtt", "mqtt://u:hunter2@h", "--mqtt-node", "a/b")
    assert bad.returncode == 2 and "--mqtt-node" in bad.stderr and "hunter2" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


# -- against mosquitto --------------------------------------------------------------------
@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """A test CA and a server certificate for 127.0.0.1 it signed (openssl)."""
    if not shutil.which("openssl"):
        pytest.skip("needs openssl")
    d = tmp_path_factory.mktemp("ca")

    def openssl(*args):
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=edge test CA")
    openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (d / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "san.cnf")
    return d / "ca.pem", d / "server.pem", d / "server.key"


@pytest.fixture(scope="module")
def broker(tmp_path_factory, certs):
    need_mosquitto()
    server = Mosquitto(tmp_path_factory.mktemp("mosquitto"), {USER: PASSWORD}, certs).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def model(converted_025):
    return converted_025["files"]["fp32"]["path"]


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    """A recording that shows a parrot for 2 s, then a cat for 2 s, at 10 frames a second."""
    folder = tmp_path_factory.mktemp("scenes")
    lines = []
    for k, name in enumerate(SCENES):
        shutil.copy(PHOTOS / name, folder / name)
        lines += [json.dumps({"file": name, "t_ns": int((k * 20 + i) * 1e8)}) for i in range(20)]
    (folder / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def mqtt_url(server):
    return f"mqtt://{USER}@127.0.0.1:{server.port}"


def test_a_node_on_the_broker_and_in_home_assistant(broker, model, scenes, tmp_path):
    jinja2 = pytest.importorskip("jinja2", reason="needs jinja2 to render the templates")
    rec = Recorder(broker.port, ["edge/cam-a/#", "homeassistant/#"], USER, PASSWORD)
    secret = tmp_path / "password"
    secret.write_text(PASSWORD + "\n")
    proc, notes = start_edge_run(
        "--replay", scenes, "--realtime", "--loop", "--model", model,
        "--mqtt", mqtt_url(broker), "--mqtt-password-file", secret, "--mqtt-node", "cam-a",
        "--mqtt-rate", "4", "--mqtt-stats-interval", "1", "--mqtt-hold", "0.5",
        "--mqtt-snapshot", "--metrics", "127.0.0.1:0", wait_for=("metrics on", "MQTT to"))
    try:
        assert notes["MQTT to"] == f"MQTT to {mqtt_url(broker)} as edge/cam-a"
        config = json.loads(rec.wait_for("homeassistant/device/edge_cam-a/config"))
        assert config["device"]["model"] == "mobilenet_v1_0.25_128_fp32"
        assert rec.wait_for("edge/cam-a/availability") == b"online"
        # the top-1 label changes parrot -> cat -> parrot: one event each, the reference labels
        wait_until(lambda: len(rec.on("edge/cam-a/event")) >= 3, 20, "three label events")
        events = [json.loads(p) for p, _, _ in rec.on("edge/cam-a/event")]
        labels = [e["label"] for e in events[:3]]
        assert labels[0] != labels[1] and labels[0] == labels[2]
        assert set(labels) == set(SCENES.values())
        # state: at most 4 a second, with everything a dashboard needs
        t0 = time.monotonic()
        time.sleep(3.0)
        states = [json.loads(p) for p, _, t in rec.on("edge/cam-a/state") if t0 <= t]
        assert 8 <= len(states) <= 4 * 3 + 2
        first = states[0]
        assert set(first) >= {"seq", "timestamp", "top", "latency_ms", "fps", "name"}
        assert len(first["top"]) == 5 and first["fps"] > 0
        assert abs(first["timestamp"] - time.time()) < 10
        assert [s["seq"] for s in states] == sorted({s["seq"] for s in states})
        stats = json.loads(rec.wait_for("edge/cam-a/stats"))
        assert stats["frames"]["processed"] > 0 and stats["sinks"]["mqtt"]["connected"]
        jpeg = rec.wait_for("edge/cam-a/snapshot")
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert image.shape[:2] == cv2.imread(str(PHOTOS / "parrot.jpg")).shape[:2]
        # every entity's template renders to a value from the real payloads
        topics = {"edge/cam-a/state": first, "edge/cam-a/stats": stats,
                  "edge/cam-a/event": events[0]}
        env = jinja2.Environment()
        for key, comp in config["components"].items():
            if "value_template" not in comp:
                continue
            value = env.from_string(comp["value_template"]).render(
                value_json=topics[comp["state_topic"]])
            if key in ("temperature", "throttled"):
                assert value in ("None", "ON", "OFF") or float(value) > 0, (key, value)
            else:
                assert value not in ("", "None"), (key, value)
        assert float(env.from_string(config["components"]["score"]["value_template"]).render(
            value_json=first)) == pytest.approx(first["top"][0]["score"] * 100, abs=0.06)
        # Home Assistant restarts and says so: the discovery comes again
        t1 = time.monotonic()
        rec.publish("homeassistant/status", b"online")
        rec.wait_for("homeassistant/device/edge_cam-a/config", after=t1, timeout=5)
        text = get_text(notes["metrics on"])
        assert metric(text, "edge_mqtt_connected") == 1
        assert metric(text, "edge_mqtt_messages_published_total") > 10
    finally:
        proc.send_signal(signal.SIGKILL)  # power cut: the broker says offline for us
        proc.wait(timeout=10)
    rec.wait_for("edge/cam-a/availability", lambda p: p == b"offline", timeout=10)
    rec.close()
    kept = retained(broker.port, "edge/cam-a/#", USER, PASSWORD)
    assert kept["edge/cam-a/availability"] == b"offline"
    assert json.loads(kept["edge/cam-a/event"])["label"] in SCENES.values()


def test_wrong_credentials_stop_with_one_line(broker, model):
    t0 = time.monotonic()
    proc = subprocess.run([str(BIN / "edge-run"), "--no-config", "--synthetic", "--model",
                           model, "--mqtt", mqtt_url(broker), "-q"], capture_output=True,
                          text=True, timeout=60, env={**os.environ, PASSWORD_ENV: "wrong-pw"})
    assert proc.returncode == 2  # RestartPreventExitStatus: no crash loop under systemd
    # mosquitto answers a wrong password with 3.1.1's "not authorized"
    assert proc.stderr.strip().splitlines() == [
        f"edge-run: error: --mqtt {mqtt_url(broker)}: the broker refused the connection "
        "(Not authorized)"]
    assert "wrong-pw" not in proc.stderr + proc.stdout
    assert time.monotonic() - t0 < 30


def test_tls_with_a_test_ca_and_removal(broker, model, certs):
    ca = certs[0]
    url = f"mqtts://{USER}@127.0.0.1:{broker.tls_port}"
    env = {**os.environ, PASSWORD_ENV: PASSWORD}
    untrusted = subprocess.run([str(BIN / "edge-run"), "--no-config", "--synthetic", "--model",
                                model, "--mqtt", url, "-q"], capture_output=True, text=True,
                               timeout=60, env=env)
    assert untrusted.returncode == 2 and "certificate is not trusted" in untrusted.stderr
    assert "--mqtt-ca" in untrusted.stderr
    rec = Recorder(broker.port, ["edge/cam-tls/#"], USER, PASSWORD)
    ok = subprocess.run([str(BIN / "edge-run"), "--no-config", "--synthetic", "--model", model,
                         "--mqtt", url, "--mqtt-ca", ca, "--mqtt-node", "cam-tls",
                         "--max-frames", "20", "-q"], capture_output=True, text=True,
                        timeout=60, env=env)
    assert ok.returncode == 0, ok.stderr
    # online when it came, offline when it stopped cleanly (published by us: no will fires)
    assert [p for p, _, _ in rec.on("edge/cam-tls/availability")] == [b"online", b"offline"]
    assert rec.on("edge/cam-tls/state")
    rec.close()
    assert "homeassistant/device/edge_cam-tls/config" in retained(
        broker.port, "homeassistant/#", USER, PASSWORD)
    removal = subprocess.run([str(BIN / "edge-run"), "--no-config", "--mqtt", url, "--mqtt-ca",
                              ca, "--mqtt-node", "cam-tls", "--mqtt-remove"],
                             capture_output=True, text=True, timeout=60, env=env)
    assert removal.returncode == 0, removal.stderr
    assert "cleared homeassistant/device/edge_cam-tls/config" in removal.stdout
    left = retained(broker.port, "#", USER, PASSWORD)
    assert not [t for t in left if "cam-tls" in t], left


def test_broker_down_at_start_and_restarting_mid_run(tmp_path, model, scenes, request):
    """Inference never waits for the broker; the outage shows in /stats, /metrics and the
    systemd STATUS while the watchdog keeps being fed; a broker that forgot everything
    (no persistence) gets availability, discovery and the last event back."""
    need_mosquitto()
    from .test_service import NotifySocket

    server = Mosquitto(tmp_path)  # anonymous, not started yet
    request.addfinalizer(server.stop)  # also when an assertion fails
    notify = NotifySocket(tmp_path / "notify")
    proc, notes = start_edge_run(
        "--replay", scenes, "--realtime", "--loop", "--model", model,
        "--mqtt", f"mqtt://127.0.0.1:{server.port}", "--mqtt-node", "cam-b",
        "--mqtt-hold", "0.5", "--http", "127.0.0.1:0", wait_for=("web page on", "MQTT to"),
        env={"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "1000000"})
    stats_url = notes["web page on"] + "stats"
    rec = None
    try:
        assert "not connected yet" in notes["MQTT to"]
        before = wait_until(lambda: (s := get_json(stats_url))["frames"]["processed"] > 20
                            and s, what="frames processed with no broker")
        assert any(p.startswith(f"mqtt: broker mqtt://127.0.0.1:{server.port} unreachable")
                   for p in before["problems"])
        t_status, status = notify.wait_for(lambda f: "mqtt: broker" in f.get("STATUS", ""))
        assert status["STATUS"].split(";")[0].endswith("FPS") or "top-1" in status["STATUS"]
        assert notify.wait_for(lambda f: f.get("WATCHDOG") == "1", after=t_status)

        server.start()  # the broker comes: the node announces itself
        rec = Recorder(server.port, ["edge/cam-b/#", "homeassistant/#"])
        rec.wait_for("edge/cam-b/availability", lambda p: p == b"online", timeout=30)
        rec.wait_for("edge/cam-b/event", timeout=10)
        wait_until(lambda: not get_json(stats_url)["problems"], what="problem cleared")
        rec.close()
        rec = None

        base = get_json(stats_url)["sinks"]["mqtt"]["dropped"]  # while it was not there yet
        server.stop()  # and goes away: state messages are dropped and counted
        down = wait_until(lambda: (s := get_json(stats_url))["sinks"]["mqtt"]["dropped"]
                          > base + 2 and s, what="state messages dropped")
        assert not down["sinks"]["mqtt"]["connected"]
        assert any("state messages dropped" in p for p in down["problems"])
        processed = down["frames"]["processed"]
        time.sleep(1.0)
        assert get_json(stats_url)["frames"]["processed"] > processed + 5  # inference goes on
        t_down = time.monotonic()
        assert notify.watchdogs(since=t_down - 1.0) >= 1

        server.start()  # back, with no retained message left: all of it comes again
        wait_until(lambda: get_json(stats_url)["sinks"]["mqtt"]["connected"], 40,
                   "reconnected")
        kept = wait_until(lambda: (k := retained(server.port, "#", wait=0.5))
                          .get("edge/cam-b/event") and k, what="event re-sent")
        assert kept["edge/cam-b/availability"] == b"online"
        assert "homeassistant/device/edge_cam-b/config" in kept
        assert json.loads(kept["edge/cam-b/event"])["label"] in SCENES.values()
        figures = get_json(stats_url)["sinks"]["mqtt"]
        assert figures["disconnects"] == 1 and figures["dropped"] > base + 2
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
        notify.close()
        if rec is not None:
            rec.close()
    assert proc.returncode == 0
    assert retained(server.port, "edge/cam-b/availability") == {
        "edge/cam-b/availability": b"offline"}


def test_the_demo_command_names_each_photo_in_home_assistant(model, tmp_path, request):
    """The README demo with --mqtt (photos at their default hold, defaults otherwise): each
    photo becomes the label Home Assistant shows, one event per photo, in replay order."""
    need_mosquitto()
    server = Mosquitto(tmp_path)
    request.addfinalizer(server.stop)
    server.start()
    rec = Recorder(server.port, ["edge/+/event"])
    request.addfinalizer(rec.close)
    # photos held 1.5 s (the default 2 s, shortened to keep the test short), --mqtt-hold 1 s
    proc = subprocess.run(
        [str(BIN / "edge-run"), "--no-config", "--model", model, "--replay", str(PHOTOS),
         "--realtime", "--hold", "1.5", "--mqtt", f"mqtt://127.0.0.1:{server.port}",
         "--mqtt-node", "demo", "--max-frames", "5", "-q"],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    time.sleep(0.5)
    events = [json.loads(p) for p, _, _ in rec.on("edge/demo/event")]
    # each label settles 1 s after its photo came, while that photo is still shown (the
    # worker publishes it: no frame follows within the hold); cat_720p.jpg (seq 2) is
    # cat.jpg again, so no event; the last photo's may or may not settle before the run ends
    assert [e["seq"] for e in events][:3] == [0, 1, 3] and len(events) <= 4, events
    assert len({e["label"] for e in events}) == len(events)
