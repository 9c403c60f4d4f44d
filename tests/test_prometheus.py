"""The fleet view against the real servers: Debian's promtool checks the shipped config and
rules (and runs the rules' own unit tests); a real Prometheus started here scrapes two real
edge-run processes through the shipped file_sd config while a real mosquitto carries their
MQTT; one of them is killed and both servers notice."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import urllib.error
import urllib.request

import pytest

from .conftest import ROOT
from .servers import (
    PROMETHEUS,
    PROMTOOL,
    Mosquitto,
    free_port,
    get_text,
    need_mosquitto,
    need_prometheus,
    prom_query,
    retained,
    start_edge_run,
    wait_port,
    wait_until,
)

DEPLOY = ROOT / "deploy" / "prometheus"
DEVICES = ("cam-a", "cam-b")
TOKEN = "fleet-token-7c1e"


def promtool(*args, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([PROMTOOL, *map(str, args)], capture_output=True, text=True,
                          timeout=60, input=stdin, cwd=DEPLOY)


def test_shipped_config_and_rules_pass_promtool():
    need_prometheus()
    for args in (("check", "config", "prometheus.yml"), ("check", "rules", "rules.yml"),
                 ("test", "rules", "rules_test.yml")):
        result = promtool(*args)
        assert result.returncode == 0, result.stdout + result.stderr
    assert "8 rules found" in promtool("check", "rules", "rules.yml").stdout


def test_dashboard_is_grafana_json_on_one_datasource():
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["device"]["definition"] == "label_values(edge_info, device)"
    titles = [p["title"] for p in dashboard["panels"]]
    for word in ("FPS", "Latency", "CPU time per frame", "Energy per inference", "Temperature"):
        assert any(word in t for t in titles), word
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}"
        assert all('device=~"$device"' in t["expr"] for t in panel["targets"])


def dashboard_queries() -> dict[str, list[str]]:
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    return {p["title"]: [t["expr"].replace("$__rate_interval", "30s").replace("$device", ".*")
                         for t in p["targets"]] for p in dashboard["panels"]}


def ready(url: str) -> bool:
    try:
        return get_text(url, timeout=2) is not None
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, converted_025):
    """mosquitto, two edge-run devices, and Prometheus scraping them with the shipped
    config (copied, targets filled in, intervals shortened to 1 s)."""
    need_prometheus()
    need_mosquitto()
    tmp = tmp_path_factory.mktemp("fleet")
    broker = Mosquitto(tmp).start()
    model = converted_025["files"]["fp32"]["path"]
    token = tmp / "edge.token"
    token.write_text(TOKEN + "\n")
    devices = {}
    try:
        for name in DEVICES:  # /metrics wants the fleet's bearer token
            devices[name] = start_edge_run(
                "--synthetic", "--camera-fps", "20", "--model", model, "--fps-cap", "10",
                "--metrics", "127.0.0.1:0", "--metrics-token-file", token, "--mqtt",
                f"mqtt://127.0.0.1:{broker.port}", "--mqtt-node", name,
                wait_for=("metrics on", "MQTT to"))
        config = tmp / "prometheus"
        shutil.copytree(DEPLOY, config)
        text = (config / "prometheus.yml").read_text()
        assert text.count("interval: 15s") == 2
        text = text.replace("interval: 15s", "interval: 1s")
        shipped = "    # authorization:\n    #   credentials_file: /etc/prometheus/edge.token\n"
        assert shipped in text  # the commented block, used as shipped
        text = text.replace(shipped, shipped.replace("# ", "").replace(
            "/etc/prometheus/edge.token", str(token)))
        (config / "prometheus.yml").write_text(text)
        targets = [{"targets": [notes["metrics on"].split("/")[2]], "labels": {"device": name}}
                   for name, (_, notes) in devices.items()]
        (config / "targets" / "devices.yml").write_text(json.dumps(targets))  # JSON is YAML
        port = free_port()
        prometheus = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config / 'prometheus.yml'}",
             f"--storage.tsdb.path={tmp / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            wait_port(port, prometheus, timeout=30)
            wait_until(lambda: ready(f"http://127.0.0.1:{port}/-/ready"), 30, "Prometheus ready")
            yield {"url": f"http://127.0.0.1:{port}", "broker": broker, "devices": devices}
        finally:
            prometheus.terminate()
            prometheus.wait(timeout=20)
    finally:
        for proc, _ in devices.values():
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=15)
        broker.stop()


def test_two_devices_on_prometheus_and_mqtt_then_one_dies(fleet):
    base, broker = fleet["url"], fleet["broker"]
    processed = wait_until(
        lambda: len(r := prom_query(base, 'edge_frames_total{kind="processed"} > 0')) == 2
        and r, 30, "both devices' frame counters in Prometheus")
    assert {r["metric"]["device"] for r in processed} == set(DEVICES)
    assert {r["metric"]["job"] for r in processed} == {"edge"}
    info = prom_query(base, "edge_info")
    assert {(r["metric"]["device"], r["metric"]["model"]) for r in info} == \
        {(d, "mobilenet_v1_0.25_128_fp32") for d in DEVICES}
    assert {r["metric"]["device"]: r["value"][1] for r in
            prom_query(base, "edge_mqtt_connected")} == {d: "1" for d in DEVICES}
    # the fps cap shows: about 10 a second each (5 s window, noisy machine: loose bounds)
    fps = wait_until(lambda: len(r := prom_query(
        base, 'edge_frames_per_second{kind="inference"} > 5')) == 2 and r, 20, "FPS")
    assert all(float(r["value"][1]) < 13 for r in fps)
    # the dashboard's queries are valid PromQL here; those with figures this machine has
    # (no thermal zone or power reader in this VM) return both devices
    for title, exprs in dashboard_queries().items():
        for expr in exprs:
            prom_query(base, expr)  # raises unless Prometheus accepts it
            if title.startswith(("Inference FPS", "Latency", "CPU time", "Devices up")):
                wait_until(lambda e=expr: {r["metric"]["device"] for r in prom_query(base, e)}
                           == set(DEVICES), 15, f"{title}: {expr}")
    latency = prom_query(base, 'edge_latency_seconds{stage="inference", quantile="0.5"}')
    assert all(0 < float(r["value"][1]) < 1 for r in latency) and len(latency) == 2
    # both on MQTT too, with their discovery
    kept = retained(broker.port, "#")
    for name in DEVICES:
        assert kept[f"edge/{name}/availability"] == b"online"
        assert f"homeassistant/device/edge_{name}/config" in kept

    victim, _ = fleet["devices"]["cam-b"]
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    wait_until(lambda: retained(broker.port, "edge/cam-b/availability", wait=0.3)
               .get("edge/cam-b/availability") == b"offline", 10, "the last will")
    up = wait_until(lambda: (r := {x["metric"]["device"]: x["value"][1]
                                   for x in prom_query(base, 'up{job="edge"}')})
                    .get("cam-b") == "0" and r, 15, "cam-b down in Prometheus")
    assert up["cam-a"] == "1"
    # the alert rule is evaluated live: pending for its 2 minutes
    wait_until(lambda: prom_query(base, 'ALERTS{alertname="EdgeDeviceDown", device="cam-b"}'),
               15, "EdgeDeviceDown pending")
    assert retained(broker.port, "edge/cam-a/availability")["edge/cam-a/availability"] == \
        b"online"


def test_metrics_listener_serves_only_metrics_that_lint_clean(fleet):
    _, notes = fleet["devices"]["cam-a"]
    url = notes["metrics on"]
    assert url.endswith("/metrics")
    with pytest.raises(urllib.error.HTTPError) as err:
        get_text(url)
    assert err.value.code == 401
    text = get_text(urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"}))
    lint = promtool("check", "metrics", stdin=text)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    for name in ("edge_frames_total", "edge_frames_per_second", "edge_latency_seconds_count",
                 "edge_cpu_seconds_total", "edge_resident_memory_bytes", "edge_mqtt_connected",
                 "edge_http_connections", "edge_http_unauthorized_requests_total"):
        assert f"\n{name}" in text, name
    for path in ("", "stream.mjpg", "snapshot.jpg", "stats"):
        with pytest.raises(urllib.error.HTTPError) as err:
            get_text(urllib.request.Request(url.removesuffix("metrics") + path,
                                            headers={"Authorization": f"Bearer {TOKEN}"}))
        assert err.value.code in (401, 404)  # the token opens /metrics, nothing else
