"""edge-bench on converted models: the table, the JSON with its environment, the plot."""

import json
import re
import subprocess

import cv2
import numpy as np
import pytest

from edge.bench.models import compare_precisions
from edge.sources.synthetic import colour_bands

from .conftest import BIN


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """fp32 and int8 of a small random network, calibrated on generated frames."""
    from edge.convert import ConvertOptions, convert

    frames = tmp_path_factory.mktemp("frames")
    rng = np.random.default_rng(0)
    for i in range(6):
        noise = rng.integers(0, 60, (240, 320, 3), dtype=np.uint8)
        cv2.imwrite(str(frames / f"{i}.png"), cv2.add(colour_bands(320, 240, i * 40), noise))
    out = tmp_path_factory.mktemp("pair")
    report = convert(ConvertOptions(output=out, alpha=0.25, resolution=64, classes=10,
                                    calibration=frames, calibration_samples=4),
                     log=lambda _: None)
    return report["files"]["fp32"]["path"], report["files"]["int8"]["path"]


def test_bench_table_json_and_plot(pair, tmp_path):
    out_json, out_png = tmp_path / "bench.json", tmp_path / "bench.png"
    proc = subprocess.run([str(BIN / "edge-bench"), *pair, "--threads", "1,2", "--runs", "40",
                           "--json", str(out_json), "--plot", str(out_png), "--sustained", "3",
                           "-q"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "onnxruntime" in lines[0] and "dot-product" in lines[0]
    assert sum(line.startswith("mobilenet_v1") for line in lines) == 4  # 2 models x 2 threads
    assert re.search(r"0\.25-64 at 1 thread\(s\), \S+_int8\.onnx against \S+_fp32\.onnx: "
                     r"(WARNING: )?int8 is ([\d.]+x|as fast as fp32 here)", proc.stdout)
    assert "sustained" in proc.stdout
    report = json.loads(out_json.read_text())
    env = report["environment"]["before"]
    for key in ("cpu", "logical_cpus", "physical_cores", "machine", "os_bits", "kernel",
                "onnxruntime", "providers", "thermal"):
        assert key in env
    assert {"governor", "frequency_mhz", "temperature_c", "throttled"} <= set(env["thermal"])
    assert "after_thermal" in report["environment"]
    assert report["settings"]["interleaved"] is True
    assert len(report["results"]) == 4
    for r in report["results"]:
        assert r["runs"] == 40 and r["load_ms"] > 0 and r["first_inference_ms"] > 0
        lat = r["latency_ms"]
        assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"]
        assert r["throughput_fps"] > 0 and r["cpu_ms_per_inference"] > 0
        assert (r["alpha"], r["resolution"]) == (0.25, 64) and r["macs"] > 0
        assert len(report["raw_latencies_ms"][r["label"]]) == 40
    assert [c["threads"] for c in report["comparisons"]] == [1, 2]
    assert len(report["sustained"]["series"]) >= 2
    image = cv2.imread(str(out_png))
    assert image is not None and image.shape[1] > 800


def test_comparison_warns_plainly_when_int8_is_slower():
    def result(precision, p50):
        return {"precision": precision, "alpha": 1.0, "resolution": 224, "threads": 4,
                "model": f"m_{precision}.onnx", "latency_ms": {"p50": p50}}

    slower = compare_precisions([result("fp32", 10.0), result("int8", 13.0)], dot_product=False)
    assert slower[0]["int8_faster"] is False and slower[0]["speedup"] == pytest.approx(0.769, 1e-3)
    assert slower[0]["verdict"].startswith("WARNING: int8 is 1.30x SLOWER")
    assert "dot-product" in slower[0]["verdict"]
    faster = compare_precisions([result("fp32", 10.0), result("int8", 4.0)])
    assert faster[0]["verdict"] == "int8 is 2.50x faster than fp32"
    level = compare_precisions([result("fp32", 10.0), result("int8", 10.1)], dot_product=False)
    assert level[0]["verdict"] == "int8 is as fast as fp32 here (0.99x)"


def test_several_sessions_are_measured_without_spinning(pair, monkeypatch):
    """Interleaved sessions spin-waiting would steal each other's cores and CPU time."""
    import edge.bench.models

    opened = []

    def keep(*args, **kwargs):
        engine = edge.engines.open_engine(*args, **kwargs)
        opened.append(engine.session.get_session_options().get_session_config_entry(
            "session.intra_op.allow_spinning"))  # what onnxruntime was told
        return engine

    monkeypatch.setattr(edge.bench.models, "open_engine", keep)
    several = edge.bench.models.run_benchmark(list(pair), [1, 2], runs=10, rounds=1, warmup=1)
    assert several["settings"]["spinning"].startswith("off") and opened == ["0"] * 4
    opened.clear()
    one = edge.bench.models.run_benchmark([pair[0]], [1], runs=10, rounds=1, warmup=1)
    assert one["settings"]["spinning"].startswith("onnxruntime default (on)") and opened == ["1"]


def test_bench_rejects_a_bad_model(tmp_path):
    bogus = tmp_path / "x.onnx"
    bogus.write_bytes(b"nope")
    proc = subprocess.run([str(BIN / "edge-bench"), str(bogus)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 3
    assert proc.stderr.strip().startswith("edge-bench: error: ") and "x.onnx" in proc.stderr


def test_the_top1_beside_the_speed_is_the_one_known(converted_025, tmp_path):
    """edge-bench's accuracy column: TF-slim's published figure for a model made from its
    checkpoint (quantization-aware int8 here), edge-train's held-out figure for a model it
    trained, nothing for anything else."""
    import shutil

    from edge.bench.accuracy import known_accuracy
    from edge.bench.sweep.configs import published
    from edge.model import read_model_info

    int8 = converted_025["files"]["int8"]["path"]
    row = next(m for m in published()["models"] if (m["alpha"], m["resolution"]) == (0.25, 128))
    acc = known_accuracy(int8, read_model_info(int8))
    assert acc["top1"] == row["quant"]["top1"] and "quantization-aware" in acc["source"]
    trained = tmp_path / "trained"
    trained.mkdir()
    shutil.copy(int8, trained / "m.onnx")
    (trained / "report.json").write_text(json.dumps(
        {"evaluation": {"accuracy": 0.875, "photos": 16, "folds": 4}}))
    acc = known_accuracy(trained / "m.onnx", read_model_info(trained / "m.onnx"))
    assert acc["top1"] == 87.5 and "16 held-out photos" in acc["source"]
    random = tmp_path / "random"
    proc = subprocess.run([str(BIN / "edge-convert"), "--alpha", "0.25", "--resolution", "64",
                           "-o", random], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    fp32 = next(random.glob("*_fp32.onnx"))
    assert known_accuracy(fp32, read_model_info(fp32)) is None
