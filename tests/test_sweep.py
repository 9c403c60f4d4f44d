"""edge-bench --sweep and --layers: a reduced sweep run for real (two configurations, both
precisions on onnxruntime, int8 on LiteRT, the bundled photos), its table, JSON and plot; the
analysis rules on hand-made rows; the published table against the layer table."""

import json
import math
import os
import re
import subprocess

import cv2
import pytest

from edge.bench.layers import layer_of, summarise_trace
from edge.bench.sweep import make_request
from edge.bench.sweep.configs import (
    Configuration,
    all_configurations,
    calibration_source,
    parse_configurations,
    published,
    published_entry,
)
from edge.bench.sweep.measure import answer_target, fit_mac_rates, mark_pareto
from edge.convert.spec import MobileNetSpec
from edge.errors import EdgeError

from .conftest import BIN, PHOTOS

SMALL = "0.25-128,0.25-160"


def _env(cache) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "CACHE_DIRECTORY"}
    return {**env, "XDG_CACHE_HOME": str(cache)}


def _bench(*args, cache, timeout=300):
    return subprocess.run([str(BIN / "edge-bench"), *args], capture_output=True, text=True,
                          timeout=timeout, env=_env(cache))


@pytest.fixture(scope="module")
def reduced(tmp_path_factory):
    """One real reduced sweep with per-layer profiles, then the same sweep from the cache."""
    tmp = tmp_path_factory.mktemp("sweep")
    cache, out_json, out_png = tmp / "cache", tmp / "sweep.json", tmp / "sweep.png"
    first = _bench("--sweep", "--configs", SMALL, "--quick", "--runs", "10", "--threads", "1",
                   "--layers", "--target-fps", "30", "--json", str(out_json), "--plot",
                   str(out_png), "--engines", "onnxruntime,litert", cache=cache)
    assert first.returncode == 0, first.stderr
    again = _bench("--sweep", "--configs", "0.25-128", "--quick", "--runs", "10", "--threads",
                   "1", "--engines", "onnxruntime", "--json", str(tmp / "again.json"),
                   cache=cache)
    assert again.returncode == 0, again.stderr
    return {"proc": first, "report": json.loads(out_json.read_text()), "png": out_png,
            "again": json.loads((tmp / "again.json").read_text()), "cache": cache}


def test_table_has_every_configuration_in_both_precisions(reduced):
    out = reduced["proc"].stdout
    assert "RANDOM" in out and "published" in out
    rows = [line.split() for line in out.splitlines() if re.match(r"0\.25-1(28|60) ", line)]
    assert sorted((r[0], r[1], r[2]) for r in rows) == [
        ("0.25-128", "fp32", "onnxruntime"), ("0.25-128", "int8", "litert"),
        ("0.25-128", "int8", "onnxruntime"), ("0.25-160", "fp32", "onnxruntime"),
        ("0.25-160", "int8", "litert"), ("0.25-160", "int8", "onnxruntime")]
    for r in rows:
        entry = published_entry(Configuration(0.25, int(r[0][-3:])))
        want = entry["float" if r[1] == "fp32" else "quant"]["top1"]
        assert float(r[11]) == want  # the top-1 column is the published figure
    assert "Pareto front" in out and "MAC-pred = MACs /" in out
    # every row reaches 30 FPS on any board; the most accurate is 0.25-160's float checkpoint
    assert "--target-fps 30: 0.25-160 fp32 (onnxruntime), published top-1 45.5%" in out
    for engine in ("onnxruntime", "LiteRT"):
        assert re.search(rf"int8 \({engine}\) vs fp32 \(onnxruntime\): int8 faster in \d of 2",
                         out)


def test_json_rows_front_fit_and_environment(reduced):
    report = reduced["report"]
    env = report["environment"]["before"]
    for key in ("cpu", "logical_cpus", "physical_cores", "machine", "os_bits", "kernel",
                "onnxruntime", "thermal"):
        assert key in env
    assert report["published"]["source"].startswith("https://github.com/tensorflow/models/")
    assert report["settings"]["threads"] == 1
    assert report["settings"]["engines"] == ["litert", "onnxruntime"]
    assert report["settings"]["interleaved"] is True
    assert (report["build"]["built"], report["build"]["reused"]) == (2, 0)
    rows = report["rows"]
    assert len(rows) == 6
    litert = [r for r in rows if r["engine"] == "litert"]
    assert [(r["precision"], r["model"][-7:]) for r in litert] == [("int8", ".tflite")] * 2
    for r in rows:
        spec = MobileNetSpec.create(r["alpha"], r["resolution"], 1001)
        assert r["macs"] == spec.macs and r["params"] == spec.params
        assert r["runs"] == 10 and len(report["raw_latencies_ms"][r["label"]]) == 10
        assert 0 < r["latency_ms"]["p50"] <= r["latency_ms"]["p99"] and r["fps"] > 0
        assert r["cpu_ms_per_inference"] > 0 and r["trained"] is False
        rate = report["mac_model"][f"{r['engine']}/{r['precision']}"]["gmacs"]
        assert r["predicted_ms"] == pytest.approx(r["macs"] / rate / 1e6, rel=1e-3)
    for group in ("onnxruntime/fp32", "onnxruntime/int8", "litert/int8"):  # log-space fits:
        ratios = [r["measured_over_predicted"] for r in rows  # the ratios multiply to 1
                  if group == f"{r['engine']}/{r['precision']}"]
        assert len(ratios) == 2
        assert math.prod(ratios) == pytest.approx(1.0, abs=0.01)
    front = [r for r in rows if r["pareto"]]
    assert max(rows, key=lambda r: r["top1"]) in front
    assert min(rows, key=lambda r: r["latency_ms"]["p50"]) in front
    for r in rows:  # the rule, checked against the measured numbers
        p50, top1 = r["latency_ms"]["p50"], r["top1"]
        dominated = any(o is not r and o["latency_ms"]["p50"] <= p50 and o["top1"] >= top1
                        and (o["latency_ms"]["p50"] < p50 or o["top1"] > top1) for o in rows)
        assert r["pareto"] is not dominated
    target = report["target"]
    assert target["met"] and target["fps"] >= 30
    assert target["top1"] == max(r["top1"] for r in rows if r["fps"] >= 30)


def test_layers_split_depthwise_pointwise_and_rest(reduced):
    profiles = reduced["report"]["layers"]
    # default: the largest and the smallest swept configuration, both precisions
    assert [(p["config"], p["precision"]) for p in profiles] == [
        ("0.25-160", "fp32"), ("0.25-160", "int8"), ("0.25-128", "fp32"), ("0.25-128", "int8")]
    for p in profiles:
        spec = MobileNetSpec.create(0.25, int(p["config"][-3:]), 1001)
        layers = [r for r in p["layers"] if r["layer"] != "other ops"]
        assert [r["layer"] for r in layers] == [layer.name for layer in spec.layers]
        assert all(r["ms"] > 0 and r["macs"] > 0 for r in layers)
        assert sum(r["ms"] for r in p["layers"]) == pytest.approx(p["kernel_ms"], rel=1e-6)
        groups = p["groups"]
        assert (groups["depthwise"]["layers"], groups["pointwise"]["layers"]) == (13, 13)
        assert sum(g["time_share"] for g in groups.values()) == pytest.approx(1.0)
        assert sum(g["mac_share"] for g in groups.values()) == pytest.approx(1.0)
        dw_macs = sum(layer.macs for layer in spec.layers if layer.kind == "dw")
        assert groups["depthwise"]["macs"] == dw_macs
        assert p["run_ms"] > 0 and p["unprofiled_ms"] > 0
    out = reduced["proc"].stdout
    assert out.count("depthwise  13 layers:") == 4 and "MAC-pred ms" in out


def test_plot_and_cache(reduced):
    image = cv2.imread(str(reduced["png"]))
    assert image is not None and image.shape[1] > 1200  # the sweep and the layer panel
    again = reduced["again"]
    assert again["build"]["built"] == 0 and again["build"]["reused"] == 1
    assert "layers" not in again
    assert len(again["rows"]) == 2 and again["target"] is None


def test_layers_on_a_model_file(reduced, tmp_path):
    model = next(reduced["cache"].rglob("mobilenet_v1_0.25_128_int8.onnx"))
    proc = _bench("--layers", str(model), "--threads", "1", "--quick", "--json",
                  str(tmp_path / "l.json"), cache=reduced["cache"])
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "l.json").read_text())
    assert report["kind"] == "edge-bench layers" and "rows" not in report
    assert [p["model"] for p in report["layers"]] == [model.name]
    assert proc.stdout.startswith("mobilenet_v1_0.25_128_int8.onnx: onnxruntime")


@pytest.mark.parametrize("args, message", [
    ((), "give MODEL files"),
    (("--sweep", "--configs", "0.3-100"), "--configs '0.3-100'"),
    (("--sweep", "--calibration", "/nonexistent/frames"), "/nonexistent/frames: --calibration"),
    (("--target-fps", "30", "--layers", "x.onnx"), "--target-fps needs --sweep"),
    (("--sweep", "--target-fps", "0"), "--target-fps: must be > 0"),
    (("--sweep", "--threads", "1,2"), "one thread count"),
    (("--sweep", "--duration", "5"), "--duration is not for --sweep"),
    (("--layers", "nothing-here"), "nothing-here: no such model file"),
    (("--layers", "m.tflite"), "m.tflite: --layers profiles ONNX"),
    (("--sweep", "--engines", "tvm"), "--engines 'tvm': expected onnxruntime or litert"),
    (("--layers", "--engines", "litert"), "--engines needs --sweep"),
    (("m.onnx", "--engines", "litert"), "--engines goes with --sweep"),
])
def test_bad_input_is_one_line_and_exit_2(args, message, tmp_path):
    if "m.tflite" in args:
        (tmp_path / "m.tflite").write_bytes(b"TFL3")
    proc = subprocess.run([str(BIN / "edge-bench"), *args], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path, env=_env(tmp_path / "cache"))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("edge-bench: error: ") and message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stdout == ""
    assert not (tmp_path / "cache" / "edge").exists()  # nothing built before the checks


def test_published_table_matches_the_layer_table():
    models = published()["models"]
    assert {(m["alpha"], m["resolution"]) for m in models} == \
        {(c.alpha, c.resolution) for c in all_configurations()}
    for m in models:
        spec = MobileNetSpec.create(m["alpha"], m["resolution"], 1001)
        macs = spec.macs / 1e6
        if m["alpha"] == 0.75:  # TF-slim lists 2.7% fewer at every resolution (see the note)
            assert macs / m["million_macs"] == pytest.approx(325.4 / 317, rel=2e-3)
        elif (m["alpha"], m["resolution"]) == (0.25, 192):  # a typo: 34 where rho^2 gives 30
            assert m["million_macs"] == 34 and macs == pytest.approx(41 * (192 / 224) ** 2,
                                                                      rel=0.01)
        else:
            assert macs == pytest.approx(m["million_macs"], rel=0.01, abs=0.5)
        assert spec.params / 1e6 == pytest.approx(m["million_params"], rel=0.01)
        assert 0 < m["quant"]["top1"] <= m["float"]["top1"] < m["float"]["top5"] < 100
    # accuracy falls with width at every resolution and with resolution at every width
    for c in all_configurations():
        for smaller in (Configuration(c.alpha / 2, c.resolution),
                        Configuration(c.alpha, c.resolution - 32)):
            entry = published_entry(smaller)
            if entry:
                assert entry["float"]["top1"] < published_entry(c)["float"]["top1"]


def _row(name, precision, p50, top1, fps=None):
    alpha, res = name.split("-")
    return {"label": f"{name} {precision} onnxruntime", "config": name, "alpha": float(alpha),
            "resolution": int(res), "precision": precision, "engine": "onnxruntime",
            "macs": 10_000_000, "latency_ms": {"p50": p50, "p99": p50 * 1.5},
            "fps": fps if fps is not None else 1e3 / p50, "top1": top1}


def test_pareto_and_target_rules():
    rows = [_row("1.0-224", "fp32", 10.0, 70.9), _row("1.0-224", "int8", 4.0, 69.7),
            _row("0.5-224", "fp32", 5.0, 63.3),  # slower and less accurate than 1.0-224 int8
            _row("0.25-128", "int8", 0.5, 39.9), _row("0.25-128", "fp32", 0.5, 41.5)]
    mark_pareto(rows)
    assert [r["pareto"] for r in rows] == [True, True, False, False, True]
    fast = answer_target(rows, 200)
    assert fast["met"] and (fast["config"], fast["precision"]) == ("1.0-224", "int8")
    assert fast["margin"] == pytest.approx(1.25) and fast["budget_ms"] == pytest.approx(5.0)
    assert fast["candidates"] == 4
    assert answer_target(rows, 30)["precision"] == "fp32"
    missed = answer_target(rows, 5000)
    assert not missed["met"] and missed["margin"] == pytest.approx(0.4)
    with pytest.raises(EdgeError):
        answer_target(rows, 0)


def test_mac_rate_fit_is_the_geometric_mean():
    rows = [{**_row("1.0-224", "fp32", 2.0, 70.9), "macs": 200_000_000},
            {**_row("0.5-224", "fp32", 1.0, 63.3), "macs": 25_000_000}]
    rate = fit_mac_rates(rows)["onnxruntime/fp32"]
    assert rate["gmacs"] == pytest.approx(math.sqrt(100 * 25), rel=1e-3)
    assert (rate["min_gmacs"], rate["max_gmacs"]) == (25.0, 100.0)


def test_layer_names_map_back_to_the_layer_table():
    names = [layer.name for layer in MobileNetSpec.create(1.0, 224, 1001).layers]
    assert layer_of("Conv2d_1_depthwise_token_3", names) == "Conv2d_1_depthwise"
    assert layer_of("Conv2d_10_pointwise/relu6_nchwc", names) == "Conv2d_10_pointwise"
    assert layer_of("Conv2d_0_token_0", names) == "Conv2d_0"
    assert layer_of("Conv2d_1_depthwise/Relu6", names) == "Conv2d_1_depthwise"
    assert layer_of("Logits", names) == "Logits"
    assert layer_of("pixels/Pad", names) is None and layer_of("Conv2d_14_x", names) is None


def test_configurations_and_calibration(monkeypatch, tmp_path):
    assert [c.name for c in parse_configurations("1.0-224, 0.25_128,1.0-224")] == \
        ["1.0-224", "0.25-128"]
    assert calibration_source(None) == PHOTOS  # the repository's photos by default
    monkeypatch.setattr("edge.bench.sweep.configs.bundled_photos", lambda: None)
    with pytest.raises(EdgeError, match=r"data/photos.*--calibration DIR"):
        calibration_source(None)
    assert calibration_source(tmp_path) == tmp_path
    request = make_request(sweep=False, layers=True, models=[], configs=None, threads=1,
                           runs=None, warmup=None, quick=True, calibration=PHOTOS)
    assert [t.name for t in request.layers] == ["1.0-224", "0.25-128"]
    assert (request.runs, request.rounds, request.profile_runs) == (30, 5, 20)


def test_trace_summary_takes_each_layers_median_run():
    layers = MobileNetSpec.create(0.25, 128, 1001).layers
    events = [{"cat": "Session", "name": "model_run", "ts": 0, "dur": 5}]  # warm-up, dropped
    for run in range(3):
        start = 1000 * (run + 1)
        events.append({"cat": "Session", "name": "model_run", "ts": start, "dur": 900})
        slow = 100 if run == 1 else 1  # one preempted run
        for i, layer in enumerate(layers):
            events.append({"cat": "Node", "name": f"{layer.name}_token_{i}_kernel_time",
                           "ts": start + i, "dur": 2 * slow if layer.kind == "dw" else slow,
                           "args": {"op_name": "QLinearConv"}})
        events.append({"cat": "Node", "name": "pixels/Pad_kernel_time", "ts": start + 99,
                       "dur": 3, "args": {"op_name": "Pad"}})
    s = summarise_trace(events, layers, runs=3)
    assert s["run_ms"] == pytest.approx(0.9)
    assert {r["layer"]: r["ms"] for r in s["layers"]}["Conv2d_1_depthwise"] == pytest.approx(2e-3)
    assert s["other_ops_ms"] == {"Pad": pytest.approx(3e-3)}
    assert s["kernel_ms"] == pytest.approx((13 * 2 + 15 + 3) / 1e3)  # 13 dw x 2 µs, 15 x 1, Pad
    assert s["groups"]["depthwise"]["time_share"] == pytest.approx(26 / 44)
    with pytest.raises(EdgeError, match="holds 4 runs, 5 expected"):
        summarise_trace(events, layers, runs=5)
    with pytest.raises(EdgeError, match="Logits"):
        summarise_trace([e for e in events if not e["name"].startswith("Logits")], layers, 3)
