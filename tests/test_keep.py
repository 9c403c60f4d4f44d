"""--quantization keep: the int8 model of a quantised TFLite file is the file's own
quantization, and answers as LiteRT does on the bundled photos."""

import json
import os
import subprocess

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from edge.convert import ConvertOptions, convert
from edge.model import read_model_info
from edge.postprocess import softmax
from edge.run.choice import builds_in, choose, record_path

from .conftest import BIN, PEER_INT8_025, PHOTOS, QUANT_025, QUANT_05
from .helpers import ort_session
from .test_reference import reference_input

litert = pytest.importorskip("ai_edge_litert.interpreter",
                             reason="LiteRT (test extra) is the oracle for kept quantization")
STEP = 1 / 256  # LiteRT's uint8 softmax output


@pytest.fixture(scope="module", params=[QUANT_025, QUANT_05], ids=["0.25_128", "0.5_160"])
def kept(request, tmp_path_factory):
    """fp32 + kept int8 of a bundled QAT file, with no calibration at all."""
    out = tmp_path_factory.mktemp("kept")
    report = convert(ConvertOptions(output=out, weights=str(request.param)), log=lambda _: None)
    return request.param, report


def test_kept_int8_gives_litert_top1_and_probabilities_on_every_photo(kept, reference):
    tflite, report = kept
    size = report["model"]["resolution"]
    # onnxruntime's integer kernels, as edge-run runs the model: a kept QAT file is uint8
    # weights on uint8 activations, whose products no x86 or ARM kernel saturates, requantized
    # in float and rounded to nearest even as LiteRT's XNNPACK does, so they agree bit for bit
    # on every CPU (the QDQ standard's float arithmetic rounds differently: up to ~9 steps)
    ours = ort_session(report["files"]["int8"]["path"])
    interp = litert.Interpreter(model_path=str(tflite))
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    cases = 0
    for photo, modes in reference["models"][tflite.name]["predictions"].items():
        for mode, top in modes.items():
            x = reference_input(photo, mode, size)
            probs = softmax(ours.run(None, {"image": x})[0][0])
            # the recorded reference (tools/make_reference.py) ...
            assert int(np.argmax(probs)) == top[0]["index_1001"], (photo, mode)
            for entry in top:
                assert abs(probs[entry["index_1001"]] - entry["prob"]) <= 2 * STEP, (photo, mode)
            # ... and LiteRT live, on all 1001 classes
            interp.set_tensor(inp["index"], x)
            interp.invoke()
            live = interp.get_tensor(out["index"])[0] * STEP
            assert int(np.argmax(probs)) == int(np.argmax(live)), (photo, mode)
            assert np.abs(probs - live).max() <= 2 * STEP, (photo, mode)
            cases += 1
    assert cases == 24


def test_kept_int8_is_the_files_own_quantization(kept):
    """Weights, biases and every scale and zero point, read back through LiteRT."""
    tflite, report = kept
    model = onnx.load(report["files"]["int8"]["path"])
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    interp = litert.Interpreter(model_path=str(tflite))
    tensors = interp.get_tensor_details()

    def find(layer, dtype, ndim, part=""):
        hits = [t for t in tensors if f"/{layer}/" in t["name"] and part in t["name"]
                and t["dtype"] == dtype and len(t["shape"]) == ndim]
        assert hits, layer
        return hits[0]

    layers = [n.name for n in model.graph.node if n.op_type == "Conv"]
    assert len(layers) == 27
    for layer in [*layers, "Logits"]:
        tf_name = "Conv2d_1c_1x1" if layer == "Logits" else layer
        w = find(tf_name, np.uint8, 4, "weights_quant")
        values = interp.get_tensor(w["index"])
        values = (values.transpose(3, 0, 1, 2) if "depthwise" in layer else
                  values.reshape(values.shape[0], -1) if layer == "Logits" else
                  values.transpose(0, 3, 1, 2))
        assert np.array_equal(inits[f"{layer}/weights_quantized"], values), layer
        assert inits[f"{layer}/weights_quantized"].dtype == np.uint8
        assert float(inits[f"{layer}/weights_scale"]) == np.float32(w["quantization"][0])
        assert int(inits[f"{layer}/weights_zero_point"]) == w["quantization"][1]
        b = find(tf_name, np.int32, 1)
        assert np.array_equal(inits[f"{layer}/bias_quantized"], interp.get_tensor(b["index"]))
    for layer in layers:  # ReLU6 outputs at 6/255, zero point 0, as trained
        relu = next(t for t in tensors if t["name"].startswith(f"MobilenetV1/MobilenetV1/"
                                                               f"{layer}/Relu6"))
        assert float(inits[f"{layer}/out/scale"]) == np.float32(relu["quantization"][0])
        assert int(inits[f"{layer}/out/zero_point"]) == relu["quantization"][1] == 0
        assert relu["quantization"][0] == pytest.approx(6 / 255, rel=1e-4)  # trained
    image = interp.get_input_details()[0]
    assert (float(inits["input/scale"]), int(inits["input/zero_point"])) == (1 / 128, 128)
    assert image["quantization"] == (1 / 128, 128)
    kinds = {n.op_type for n in model.graph.node}
    assert kinds <= {"Transpose", "DequantizeLinear", "QuantizeLinear", "Conv", "Clip",
                     "GlobalAveragePool", "Add", "Flatten", "Gemm"}


def test_kept_logits_are_the_files_quantised_logits(kept):
    _, report = kept
    info = read_model_info(report["files"]["int8"]["path"])
    logits = info.quantization["logits"]
    x = reference_input("bird.jpg", "center_crop", report["model"]["resolution"])
    out = ort_session(report["files"]["int8"]["path"]).run(None, {"image": x})[0][0]
    steps = out / logits["scale"] + logits["zero_point"]
    assert np.abs(steps - np.round(steps)).max() < 1e-3
    assert steps.min() >= 0 and steps.max() <= 255


def test_metadata_and_report_say_keep(kept):
    _, report = kept
    info = read_model_info(report["files"]["int8"]["path"])
    q = info.quantization
    assert q["mode"] == "keep" and q["format"] == "QDQ"
    assert q["weights"] == "uint8 per-tensor asymmetric"
    assert q["input"] == {"scale": 1 / 128, "zero_point": 128, "raw_pixels": True}
    assert info.normalisation == {"mean": [128.0] * 3, "std": [128.0] * 3}
    assert report["quantization"] == q and report["calibration"] is None
    assert report["verification"] is None
    assert any("int8 not verified" in w for w in report["warnings"])
    assert any("softmax" in d for d in q["differs"])


def test_calibration_frames_only_verify_a_kept_model(tmp_path, reference):
    report = convert(ConvertOptions(output=tmp_path, weights=str(QUANT_025), calibration=PHOTOS),
                     log=lambda _: None)
    assert report["quantization"]["mode"] == "keep" and report["calibration"] is None
    ver = report["verification"]
    assert ver["held_out"] is True and ver["result"]["cases"] == 24
    ref = ver["reference"]
    assert ref["runtime"].startswith("LiteRT") and ref["file"] == QUANT_025.name
    assert ref["top1_agree"] == ref["cases"] == 24  # the runtime's own preprocessing here
    assert ref["max_prob_diff"] <= 2 * STEP


def run_cli(*args, cache=None):
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)} if cache else None
    return subprocess.run([str(BIN / args[0]), *map(str, args[1:])], capture_output=True,
                          text=True, timeout=300, env=env)


def test_quantization_flags_that_contradict_the_weights(tmp_path):
    proc = run_cli("edge-convert", "--alpha", "0.25", "--resolution", "64", "--quantization",
                   "keep", "-o", tmp_path / "a")
    assert proc.returncode == 2 and "not a quantised model" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = run_cli("edge-convert", "--weights", QUANT_025, "--calibration-method", "minmax",
                   "-o", tmp_path / "b")
    assert proc.returncode == 2 and "--calibration-method" in proc.stderr
    assert not (tmp_path / "b").exists() or not list((tmp_path / "b").iterdir())
    proc = run_cli("edge-convert", "--weights", QUANT_025, "--quantization", "recalibrate",
                   "-o", tmp_path / "c", "--json")
    assert proc.returncode == 0, proc.stderr
    assert "int8" not in json.loads(proc.stdout)["files"]  # recalibrate needs frames


def test_edge_run_runs_the_kept_build_and_answers_as_litert(tmp_path):
    """The demo: a folder converted from the 0.5-160 QAT file, frames preprocessed by the
    runtime; LiteRT given the same tensors gives the same top-1 for every photo and crop."""
    from edge.convert.quant.frames import load_frames

    out = tmp_path / "demo"
    convert(ConvertOptions(output=out, weights=str(QUANT_05), calibration=PHOTOS),
            log=lambda _: None)
    interp = litert.Interpreter(model_path=str(QUANT_05))
    interp.allocate_tensors()
    inp, res = interp.get_input_details()[0], interp.get_output_details()[0]
    frames = load_frames(PHOTOS, 160)
    for crop in ("center", "full"):
        results = tmp_path / f"{crop}.jsonl"
        proc = run_cli("edge-run", "--model", out, "--replay", PHOTOS, "--crop", crop,
                       "--results", results, "--quiet", "--no-config", cache=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert "int8 with the checkpoint's own quantization, the faithful build" in proc.stderr
        got = {r["name"]: r["top"][0]["index"] for r in map(json.loads, results.read_text()
                                                             .splitlines())}
        for name, by_crop in zip(frames.names, frames.tensors, strict=True):
            interp.set_tensor(inp["index"], by_crop[crop])
            interp.invoke()
            probs = interp.get_tensor(res["index"])[0]  # uint8: ties are common
            assert probs[got[name]] == probs.max(), (name, crop)
        assert got["bird.jpg"] == 20  # chickadee, not a ringneck snake


def test_prefer_fastest_says_when_it_is_not_the_faithful_build(kept, tmp_path):
    _, report = kept
    folder = os.path.dirname(report["files"]["int8"]["path"])
    builds = builds_in(folder)
    fp32, int8 = builds["fp32"][0], builds["int8"][0]
    path, note = choose(folder, threads=1, cache_dir=None)
    assert path == int8 and "faithful build" in note
    record = record_path(builds, 1, tmp_path)
    record.write_text(json.dumps({"ms": {"int8": 1.3, "fp32": 1.0, "int8-litert": 1.6}}))
    path, note = choose(folder, threads=1, cache_dir=tmp_path, prefer="fastest")
    assert path == fp32 and "NOT the faithful build" in note and "--prefer faithful" in note
    record.write_text(json.dumps({"ms": {"int8": 1.0, "fp32": 1.3, "int8-litert": 1.6}}))
    path, note = choose(folder, threads=1, cache_dir=tmp_path, prefer="fastest")
    assert path == int8 and "NOT" not in note


def test_litert_int8_file_per_channel_weights_kept_close(tmp_path):
    """LiteRT's own int8 build (per-channel int8 weights, int8 activations, float input):
    kept as int8 weights and shifted uint8 activations. On x86 without VNNI onnxruntime's
    uint8 x int8 kernels round pairs through 16 bits, so a few logit steps may differ."""
    peer = PEER_INT8_025
    report = convert(ConvertOptions(output=tmp_path, weights=str(peer)), log=lambda _: None)
    q = report["quantization"]
    assert q["weights"] == "int8 per-channel symmetric" and not q["input"]["raw_pixels"]
    ours = ort_session(report["files"]["int8"]["path"], optimize=False)
    interp = litert.Interpreter(model_path=str(peer))
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    for photo in sorted(PHOTOS.iterdir())[:4]:
        x = reference_input(photo.name, "full_image", 128)
        interp.set_tensor(inp["index"], (x.astype(np.float32) - 127.5) / 127.5)
        interp.invoke()
        want = interp.get_tensor(out["index"])[0]
        got = ours.run(None, {"image": x})[0][0]
        assert np.abs(want - got).max() <= 4 * q["logits"]["scale"] + 1e-5, photo.name
