"""The real edge-run command on real files: replay against the reference, determinism,
recording round trip, clean errors and clean stops."""

import json
import os
import signal
import subprocess
import time

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from .conftest import BIN, PHOTOS, QUANT_025

TFLITE = QUANT_025
REFERENCE_MODEL = TFLITE.name


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """fp32 and int8 converted from the real 0.25-128 TFLite weights (ImageNet names built in)."""
    from edge.convert import ConvertOptions, convert

    out = tmp_path_factory.mktemp("models")
    report = convert(ConvertOptions(output=out, weights=str(TFLITE), calibration=PHOTOS),
                     log=lambda _: None)
    return {k: v["path"] for k, v in report["files"].items()}


@pytest.fixture(scope="module")
def random_model(tmp_path_factory):
    from edge.convert import ConvertOptions, convert

    out = tmp_path_factory.mktemp("random")
    report = convert(ConvertOptions(output=out, alpha=0.25, resolution=64, classes=10),
                     log=lambda _: None)
    return report["files"]["fp32"]["path"]


def edge_run(*args, timeout=120, cache=None):
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)} if cache else None
    return subprocess.run([str(BIN / "edge-run"), *map(str, args)], capture_output=True,
                          text=True, errors="replace", timeout=timeout, env=env)


def read_results(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def answers(results):
    return {r["name"]: r["top"][0]["index"] for r in results}


def check_against_reference(results, reference, mode):
    preds = reference["models"][REFERENCE_MODEL]["predictions"]
    assert sorted(r["name"] for r in results) == sorted(preds)
    for r in results:
        top = preds[r["name"]][mode]
        got = r["top"][0]["index"]
        if top[0]["prob"] - top[1]["prob"] >= 0.1:
            assert got == top[0]["index_1001"], (r["name"], mode)
        else:
            assert got in [t["index_1001"] for t in top], (r["name"], mode)


@pytest.mark.parametrize(("crop", "mode"), [("center", "center_crop"), ("full", "full_image")])
def test_replay_of_photos_matches_reference(models, reference, tmp_path, crop, mode):
    out = tmp_path / "out.jsonl"
    proc = edge_run("--replay", PHOTOS, "--model", models["fp32"], "--results", out,
                    "--crop", crop, "--quiet", cache=tmp_path)
    assert proc.returncode == 0, proc.stderr
    results = read_results(out)
    check_against_reference(results, reference, mode)
    assert "12 processed" in proc.stdout and "0 dropped" in proc.stdout
    first = results[0]
    assert set(first) == {"seq", "name", "t_source_ns", "top", "latency_ms", "metrics"}
    assert {"fps", "cpu_ms_per_frame", "rss_mb", "temperature_c", "watts",
            "power_method"} <= set(first["metrics"])
    assert len(first["top"]) == 5 and first["top"][0]["label"] != ""
    assert set(first["latency_ms"]) == {"capture_wait", "preprocess", "inference",
                                        "postprocess", "capture_to_result"}


def test_photos_in_an_mjpg_avi_give_the_same_answers(models, reference, tmp_path):
    video = tmp_path / "photos.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5, (640, 640))
    names = sorted(p.name for p in PHOTOS.iterdir())
    for name in names:  # squeezed to one frame size; --crop full squeezes to 128x128 anyway
        writer.write(cv2.resize(cv2.imread(str(PHOTOS / name)), (640, 640),
                                interpolation=cv2.INTER_AREA))
    writer.release()
    runs = {}
    for label, source in (("folder", PHOTOS), ("video", video)):
        out = tmp_path / f"{label}.jsonl"
        proc = edge_run("--replay", source, "--model", models["fp32"], "--results", out,
                        "--crop", "full", "-q", cache=tmp_path)
        assert proc.returncode == 0, proc.stderr
        runs[label] = [r["top"][0]["index"] for r in read_results(out)]
    assert len(runs["video"]) == 12
    # MJPG re-encodes every frame: answers may differ only where the reference itself is torn
    preds = reference["models"][REFERENCE_MODEL]["predictions"]
    for name, from_video, from_folder in zip(names, runs["video"], runs["folder"], strict=True):
        top = preds[name]["full_image"]
        if top[0]["prob"] - top[1]["prob"] >= 0.1:
            assert from_video == from_folder, name
    check_against_reference([{"name": n, "top": [{"index": i}]}
                             for n, i in zip(names, runs["video"], strict=True)],
                            reference, "full_image")


def test_replay_is_deterministic(models, tmp_path):
    logs = []
    for i in range(2):
        out = tmp_path / f"run{i}.jsonl"
        proc = edge_run("--replay", PHOTOS, "--model", models["int8"], "--results", out, "-q",
                        cache=tmp_path)
        assert proc.returncode == 0, proc.stderr
        # timings and the once-a-second measurements differ between runs; nothing else may
        logs.append([{k: v for k, v in r.items() if k not in ("latency_ms", "metrics")}
                     for r in read_results(out)])
    assert len(logs[0]) == 12 and logs[0] == logs[1]


def test_record_then_replay_keeps_frames_and_timestamps(random_model, tmp_path):
    rec = tmp_path / "rec"
    proc = edge_run("--synthetic", "--camera-fps", "40", "--no-infer", "--record", rec,
                    "--max-frames", "15", "--json")
    assert proc.returncode == 0, proc.stderr
    captured = json.loads(proc.stdout)["frames"]["captured"]
    manifest = [json.loads(line) for line in (rec / "manifest.jsonl").read_text().splitlines()]
    assert len(manifest) == captured >= 15
    assert all((rec / m["file"]).is_file() for m in manifest)
    gaps = np.diff([m["t_ns"] for m in manifest]) / 1e6
    assert gaps.min() > 0 and np.median(gaps) == pytest.approx(25.0, abs=5)

    # recording again into the same folder starts a new recording beside it
    again = edge_run("--synthetic", "--no-infer", "--record", rec, "--max-frames", "3", "-q")
    assert again.returncode == 0, again.stderr
    assert f"recording into {rec}.1" in again.stderr
    assert len((rec / "manifest.jsonl").read_text().splitlines()) == len(manifest)

    out = tmp_path / "replay.jsonl"
    proc = edge_run("--replay", rec, "--model", random_model, "--results", out, "-q",
                    "--realtime")
    assert proc.returncode == 0, proc.stderr
    results = read_results(out)
    assert [r["t_source_ns"] for r in results] == [m["t_ns"] for m in manifest]
    assert [r["name"] for r in results] == [m["file"] for m in manifest]
    assert all(r["untrained"] for r in results)


def test_untrained_model_is_flagged_everywhere(random_model, tmp_path):
    out = tmp_path / "r.jsonl"
    proc = edge_run("--synthetic", "--model", random_model, "--max-frames", "3",
                    "--results", out, "-q")
    assert proc.returncode == 0, proc.stderr
    assert "UNTRAINED" in proc.stderr and "UNTRAINED" in proc.stdout
    assert [r["untrained"] for r in read_results(out)] == [True] * 3


def one_line_error(proc, code, *needles):
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("edge-run: error: "), proc.stderr
    for needle in needles:
        assert needle in err[0], err[0]


def test_missing_camera_exits_fast_with_one_line(random_model):
    if os.path.exists("/dev/video0"):
        pytest.skip("this machine has a camera at /dev/video0")
    start = time.monotonic()
    proc = edge_run("--camera", "0", "--model", random_model, timeout=30)
    one_line_error(proc, 4, "camera 0", "tried V4L2 /dev/video0")
    assert time.monotonic() - start < 10


def test_bad_models(tmp_path, random_model):
    one_line_error(edge_run("--synthetic", "--model", tmp_path / "none.onnx"), 3, "not found")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"definitely not protobuf" * 10)
    one_line_error(edge_run("--synthetic", "--model", junk), 3, "junk.onnx", "not an ONNX")
    foreign = tmp_path / "foreign.onnx"
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(graph), foreign)
    one_line_error(edge_run("--synthetic", "--model", foreign), 3, "foreign.onnx",
                   "no 'edge' metadata")
    partial = tmp_path / "partial.onnx"
    model = onnx.load(random_model)
    meta = json.loads(model.metadata_props[0].value)
    del meta["resolution"], meta["precision"]
    model.metadata_props[0].value = json.dumps(meta)
    onnx.save(model, partial)
    one_line_error(edge_run("--synthetic", "--model", partial), 3, "lacks resolution, precision")


def test_corrupt_video_and_bad_options(tmp_path, random_model):
    video = tmp_path / "broken.avi"
    video.write_bytes(b"RIFF\x00\x00\x00\x00AVI LIST" + os.urandom(2000))
    one_line_error(edge_run("--replay", video, "--model", random_model), 4, "broken.avi")
    one_line_error(edge_run("--model", random_model), 2, "choose one source")
    one_line_error(edge_run("--synthetic", "--replay", tmp_path, "--model", random_model), 2,
                   "synthetic")
    one_line_error(edge_run("--synthetic"), 2, "--model is required")
    one_line_error(edge_run("--synthetic", "--model", random_model, "--fps-cap", "0"), 2,
                   "--fps-cap")


def test_max_frames_and_duration_end_cleanly(random_model, tmp_path):
    out = tmp_path / "r.jsonl"
    proc = edge_run("--synthetic", "--model", random_model, "--max-frames", "7",
                    "--results", out, "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["end"] == "max frames reached" and summary["frames"]["processed"] == 7
    assert len(read_results(out)) == 7
    proc = edge_run("--synthetic", "--camera-fps", "20", "--model", random_model,
                    "--duration", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["end"] == "duration reached"
    assert 10 <= summary["frames"]["processed"] <= 22


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_within_two_seconds_with_summary_and_whole_log(random_model, tmp_path,
                                                                    sig):
    out = tmp_path / "r.jsonl"
    proc = subprocess.Popen([str(BIN / "edge-run"), "--synthetic", "--camera-fps", "30",
                             "--model", random_model, "--results", str(out), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (not out.exists() or out.stat().st_size < 2000):
        time.sleep(0.05)
    sent = time.monotonic()
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=10)
    assert time.monotonic() - sent < 2.0
    assert proc.returncode == (130 if sig == signal.SIGINT else 0), stderr  # Ctrl-C: 130
    summary = json.loads(stdout)
    assert summary["end"] == "stopped"
    lines = read_results(out)  # every line parses
    assert len(lines) == summary["frames"]["processed"] >= 5


def _with_metadata_of(model_path, graph_path, target):
    """``graph_path``'s graph carrying ``model_path``'s edge metadata, as a copy would."""
    model, graph = onnx.load(model_path), onnx.load(graph_path)
    del graph.metadata_props[:]
    graph.metadata_props.extend(model.metadata_props)
    onnx.save(graph, target)
    return target


def test_a_graph_that_contradicts_its_metadata_is_refused_at_load(random_model, tmp_path):
    from edge.convert import ConvertOptions, convert

    # a real edge model of another size and class count, with the 64-px 10-class metadata
    other = convert(ConvertOptions(output=tmp_path / "o", alpha=0.25, resolution=96, classes=3),
                    log=lambda _: None)["files"]["fp32"]["path"]
    wrong = _with_metadata_of(random_model, other, tmp_path / "wrong.onnx")
    one_line_error(edge_run("--synthetic", "--model", wrong, "--max-frames", "1"), 3,
                   "wrong.onnx", "metadata says input uint8 [1, 64, 64, 3]",
                   "graph takes uint8 [1, 96, 96, 3]")
    identity = tmp_path / "identity.onnx"
    graph = helper.make_graph(
        [helper.make_node("Identity", ["image"], ["logits"])], "g",
        [helper.make_tensor_value_info("image", TensorProto.UINT8, [1, 64, 64, 3])],
        [helper.make_tensor_value_info("logits", TensorProto.UINT8, [1, 64, 64, 3])])
    onnx.save(helper.make_model(graph), identity)
    copied = _with_metadata_of(random_model, identity, tmp_path / "copied.onnx")
    one_line_error(edge_run("--synthetic", "--model", copied, "--max-frames", "1"), 3,
                   "copied.onnx", "metadata says 10 classes", "graph outputs [1, 64, 64, 3]")
