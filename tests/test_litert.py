"""The LiteRT engine: edge-convert's int8 .tflite run by ai-edge-litert with the same contract
as onnxruntime (uint8 pixels in, float logits out), metadata, labels and errors."""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest

from .conftest import BIN, PHOTOS, QUANT_025, ROOT

pytest.importorskip("ai_edge_litert.interpreter", reason="LiteRT (the litert extra) not installed")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from edge.convert import ConvertOptions, convert

    out = tmp_path_factory.mktemp("litert")
    report = convert(ConvertOptions(output=out, weights=str(QUANT_025), calibration=PHOTOS),
                     log=lambda _: None)
    return {"tflite": out / "mobilenet_v1_0.25_128_int8.tflite", "report": report, "out": out}


def test_run_is_the_interpreters_own_answer_for_the_pixels(built):
    from ai_edge_litert.interpreter import Interpreter

    from edge.engines import open_engine

    engine = open_engine(built["tflite"], threads=1)
    assert engine.kind == "litert" and engine.input_shape == (1, 128, 128, 3)
    interp = Interpreter(model_path=str(built["tflite"]), num_threads=1)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    assert inp["dtype"] == np.int8  # int8 pixels: the camera's byte minus 128
    scale, zero = out["quantization"]
    rng = np.random.default_rng(3)
    for _ in range(5):
        pixels = rng.integers(0, 256, (1, 128, 128, 3), dtype=np.uint8)
        interp.set_tensor(inp["index"], (pixels.astype(np.int16) - 128).astype(np.int8))
        interp.invoke()
        want = (interp.get_tensor(out["index"])[0].astype(np.float32) - zero) * scale
        got = engine.run(pixels)
        assert got.dtype == np.float32 and np.array_equal(got, want)
    fresh = rng.integers(0, 256, (1, 128, 128, 3), dtype=np.uint8)
    copy = fresh.copy()
    engine.run(fresh)
    assert np.array_equal(fresh, copy)


def test_metadata_labels_and_trained_flag_travel_in_the_tflite(built):
    from edge.model import read_model_info

    info = read_model_info(built["tflite"])
    onnx_info = read_model_info(built["out"] / "mobilenet_v1_0.25_128_int8.onnx")
    assert (info.alpha, info.resolution, info.classes, info.precision) == (0.25, 128, 1001,
                                                                         "int8")
    assert info.trained and info.labels == onnx_info.labels
    assert info.labels[1] == "tench, Tinca tinca"


def test_edge_run_on_the_tflite_answers_like_the_reference(built, reference, tmp_path):
    out = tmp_path / "r.jsonl"
    proc = subprocess.run([str(BIN / "edge-run"), "--model", str(built["tflite"]), "--replay",
                           str(PHOTOS), "--results", str(out), "--json", "-q", "--no-config"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "XNNPACK" not in proc.stderr  # LiteRT's own chatter stays out of our output
    summary = json.loads(proc.stdout)
    assert summary["engine"] == "litert" and summary["frames"]["processed"] == 12
    preds = reference["models"][QUANT_025.name]["predictions"]
    results = [json.loads(line) for line in out.read_text().splitlines()]
    agree = 0
    for r in results:
        top = preds[r["name"]]["center_crop"]
        assert r["top"][0]["index"] in [t["index_1001"] for t in top], r["name"]
        assert " " in r["top"][0]["label"] or r["top"][0]["label"].isalpha()
        agree += r["top"][0]["index"] == top[0]["index_1001"]
    assert agree >= 9  # the kept int8 re-expressed for TFLite, against the file's own answers


def test_tflite_files_that_are_not_edge_models(tmp_path):
    proc = subprocess.run([str(BIN / "edge-run"), "--model", str(QUANT_025), "--synthetic",
                           "--no-config"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3
    assert proc.stderr.strip().endswith("not an edge model (no 'edge' metadata; convert it "
                                        "with edge-convert)")
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"nothing like a flatbuffer at all")
    proc = subprocess.run([str(BIN / "edge-run"), "--model", str(junk), "--synthetic",
                           "--no-config"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3 and "not a TFLite file" in proc.stderr


def test_without_litert_installed_the_error_says_how_to_get_it(built, tmp_path):
    shim = tmp_path / "shim" / "ai_edge_litert"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ImportError('hidden for this test')\n")
    env = {**os.environ, "PYTHONPATH": f"{shim.parent}{os.pathsep}{ROOT}"}
    proc = subprocess.run([str(BIN / "edge-run"), "--model", str(built["tflite"]), "--synthetic",
                           "--max-frames", "1", "--no-config"], capture_output=True, text=True,
                          timeout=60, env=env)
    assert proc.returncode == 3, proc.stderr
    # the hint installs into the very Python that runs edge, from this clone
    assert f" -m pip install -e '{ROOT}[litert]'" in proc.stderr
    assert f"{BIN}/python" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_the_report_names_the_tflite_where_it_is(built):
    tflite = built["report"]["tflite"]
    assert tflite["path"] == str(built["tflite"]) and built["tflite"].is_file()
    assert tflite["verification"]["runtimes"]["litert"]["cases"] == 24
