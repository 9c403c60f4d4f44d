"""The real edge-train on the bundled photos, then the real edge-run on what it wrote.

Classes ImageNet has no single label for: "animal" (a chickadee, a cat, a dog, an owl),
"food" (a hot dog, a bag of crisps) and "person" (Grace Hopper). DATA holds views 0-5 of
tools/views.py of each photo; views 6 and 7 (other crops), two photos nobody trained on (a
parrot, two dogs) and blank frames (which should be the unknown answer) are replayed.
Answers are checked against the int8 model evaluated exactly (onnxruntime without graph
optimisations), never against one CPU's int8 kernels; LiteRT and TFLM must give its top-1.
"""

import json
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from edge.model import read_model_info
from edge.preprocess import to_input
from edge.run.choice import builds_in, faithful
from edge.train.views import DEFAULT_VIEWS
from tools.views import views, write_views

from .conftest import BIN, PHOTOS, QUANT_025
from .helpers import exact_qdq, litert
from .mcu_common import LITERT_STEPS, TFLM_STEPS, needs_tflm, tflm_runner

CLASSES = {"animal": ["bird", "cat", "imprinting_dog_test_0", "owl"],
           "food": ["hot_dog", "missvickie_potato_chips"], "person": ["grace_hopper"]}
UNSEEN = {"parrot": "animal", "pets": "animal"}
MARGIN = 4  # output steps: an answer this clear is the same on every CPU's kernels


def edge_train(*args, timeout=600):
    return subprocess.run([str(BIN / "edge-train"), *map(str, args)], capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def photo_data(tmp_path_factory):
    """(DATA, probe folder, {probe file: expected label})."""
    root = tmp_path_factory.mktemp("train_data")
    data, probes, expected = root / "data", root / "probes", {}
    probes.mkdir()
    for label, names in CLASSES.items():
        write_views([PHOTOS / f"{n}.jpg" for n in names], data / label, 6)
        for n in names:
            for i, view in enumerate(views(cv2.imread(str(PHOTOS / f"{n}.jpg")))[6:], 6):
                cv2.imwrite(str(probes / f"{n}_{i}.png"), view)
                expected[f"{n}_{i}.png"] = label
    for n, label in UNSEEN.items():
        shutil.copy(PHOTOS / f"{n}.jpg", probes / f"{n}.jpg")
        expected[f"{n}.jpg"] = label
    for name, value in (("black", 0), ("grey", 128)):
        cv2.imwrite(str(probes / f"{name}.png"), np.full((240, 320, 3), value, np.uint8))
        expected[f"{name}.png"] = "other"
    return data, probes, expected


def train(data, out, *args):
    proc = edge_train(data, "--output", out, "--json", out.parent / f"{out.name}.json", *args)
    assert proc.returncode == 0, proc.stderr
    return json.loads((out.parent / f"{out.name}.json").read_text()), proc


@pytest.fixture(scope="module")
def trained(photo_data, tmp_path_factory):
    """The default base (the bundled QAT 0.5-160) trained on DATA."""
    root = tmp_path_factory.mktemp("trained")
    report, proc = train(photo_data[0], root / "out", "--cache-dir", root / "cache")
    return {"out": root / "out", "report": report, "stdout": proc.stdout,
            "cache": root / "cache", "int8": Path(report["files"]["int8"]["path"]),
            "tflite": Path(report["files"]["tflite"]["path"])}


def exact_answers(onnx_path, probes):
    """{probe: (label, margin over the runner-up in output steps)} by exact QDQ."""
    info = read_model_info(onnx_path)
    run, scale = exact_qdq(onnx_path), info_scale(onnx_path)
    answers = {}
    for path in sorted(probes.iterdir()):
        q = np.rint(run(to_input(cv2.imread(str(path)), "BGR", info.resolution)) / scale)
        top, second = np.sort(q)[-1], np.sort(q)[-2]
        answers[path.name] = (info.labels[int(np.argmax(q))], int(top - second))
    return answers


def info_scale(onnx_path) -> float:
    model = onnx.load(onnx_path)
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    return float(inits["Logits/out/scale"])


def test_writes_a_model_folder_like_edge_convert(trained):
    out, report = trained["out"], trained["report"]
    assert sorted(p.name for p in out.iterdir()) == [
        "mobilenet_v1_0.5_160_fp32.onnx", "mobilenet_v1_0.5_160_int8.onnx",
        "mobilenet_v1_0.5_160_int8.tflite", "report.json"]
    builds = builds_in(out)  # what edge-run --model OUT reads: one network, three builds
    assert sorted(builds) == ["fp32", "int8", "int8-litert"] and faithful(builds) == "int8"
    labels = ["animal", "food", "person", "other"]
    for path, info in builds.values():
        assert info.labels == labels and info.classes == 4 and not info.background, path
        assert info.weights["kind"] == "edge-train" and info.trained
    assert report["base"]["file"] == "mobilenet_v1_0.5_160_quant.tflite"
    assert report["base"]["quantization"].startswith("kept")
    assert report["head"]["kind"] == "trained"
    assert len(report["head"]["views"]) == DEFAULT_VIEWS
    ev = report["evaluation"]
    assert ev["method"].startswith("5-fold cross-validation by photo")
    assert ev["photos"] == 42 and len(ev["confusion"]["matrix"]) == 3
    assert [len(row) for row in ev["confusion"]["matrix"]] == [4, 4, 4]
    assert sum(map(sum, ev["confusion"]["matrix"])) == 42
    assert report["unknown"]["label"] == "other" and report["unknown"]["novel"] == 42
    assert report["tflite"]["verification"]["runtimes"]["litert"]["max_steps"] <= LITERT_STEPS
    assert report["verification"]["result"]["cases"] == 48  # 24 photos x 2 crops
    for what in ("held-out    5-fold", "confusion", "unknown     'other'", "time", "size"):
        assert what in trained["stdout"]
    assert any("near-duplicates" in w for w in report["warnings"])  # cat.jpg's views


def test_head_is_the_int8_classifier_and_the_unknown_is_its_last_row(trained):
    model = onnx.load(trained["int8"])
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    gemm = next(n for n in model.graph.node if n.name == "Logits")
    assert gemm.op_type == "Gemm" and gemm.input[1] == "Logits/weights"
    w, scale = inits["Logits/weights_quantized"], inits["Logits/weights_scale"]
    zero, bias = inits["Logits/weights_zero_point"], inits["Logits/bias_quantized"]
    assert w.dtype == np.int8 and w.shape == (4, 512) and scale.shape == (4,)
    assert not zero.any() and bias.dtype == np.int32 and np.abs(w).max() == 127
    assert not w[3].any()  # the unknown class: zero weights, the threshold as its bias
    threshold = trained["report"]["unknown"]["threshold"]
    bias_scale = inits["Logits/bias_scale"][3]
    assert abs(bias[3] * bias_scale - threshold) <= bias_scale / 2
    after = [n.op_type for n in model.graph.node if n.name.startswith("Logits/out")]
    assert after == ["QuantizeLinear", "DequantizeLinear"]  # nothing float after the head
    interp, _ = litert(trained["tflite"])
    assert list(interp.get_output_details()[0]["shape"]) == [1, 4]
    ops = {op["op_name"] for op in interp._get_ops_details()}
    assert "FULLY_CONNECTED" in ops or ops == {"DELEGATE"}


def test_edge_run_replays_the_probes_with_the_expected_answers(trained, photo_data, tmp_path):
    _, probes, expected = photo_data
    exact = exact_answers(trained["int8"], probes)
    assert {name: label for name, (label, _) in exact.items()} == expected
    assert min(margin for _, margin in exact.values()) >= 1, exact  # no ties
    clear = {name for name, (_, margin) in exact.items() if margin >= MARGIN}
    assert len(clear) >= 0.8 * len(expected), exact
    results = tmp_path / "results.jsonl"
    proc = subprocess.run([str(BIN / "edge-run"), "--no-config", "--model", trained["out"],
                           "--replay", probes, "--results", results, "-q"],
                          capture_output=True, text=True, timeout=300,
                          env={"XDG_CACHE_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    answers = {r["name"]: r["top"][0]["label"] for r in
               map(json.loads, results.read_text().splitlines())}
    assert sorted(answers) == sorted(expected)
    # edge-run runs onnxruntime's optimised int8 kernels, which may differ from the exact
    # arithmetic by a step or two: the answers must match where the exact margin is clear
    assert {n: answers[n] for n in clear} == {n: expected[n] for n in clear}


def _agreement(run, onnx_path, tensors, scale, zero, steps):
    """(largest difference from the exact logits in output steps, cases whose exact margin
    is more than twice ``steps``, those of them where ``run``'s top-1 is the exact top-1).
    Closer calls may swap on kernels within ``steps``, and which do depends on the CPU."""
    reference = exact_qdq(onnx_path)
    worst, clear, same = 0, 0, 0
    for _, tensor in tensors:
        want = np.rint(reference(tensor) / scale).astype(np.int32) + zero
        got = run((tensor.astype(np.int16) - 128).astype(np.int8)).reshape(-1).astype(np.int32)
        worst = max(worst, int(np.abs(got - want).max()))
        if want.max() - np.partition(want, -2)[-2] > 2 * steps:
            clear += 1
            same += int(got.argmax() == want.argmax())
    return worst, clear, same


def _tensors(photo_data, size):
    data, probes, _ = photo_data
    paths = sorted(probes.iterdir()) + sorted(data.glob("*/*_0.png"))
    return [(f"{p.name}:{crop}", to_input(cv2.imread(str(p)), "BGR", size, crop))
            for p in paths for crop in ("center", "full")]


def test_litert_answers_as_the_exact_int8_onnx(trained, photo_data):
    out = trained["report"]["tflite"]["output"]
    _, run = litert(trained["tflite"])
    tensors = _tensors(photo_data, 160)
    worst, clear, same = _agreement(run, trained["int8"], tensors, out["scale"],
                                    out["zero_point"], LITERT_STEPS)
    assert worst <= LITERT_STEPS and same == clear >= 0.9 * len(tensors)


@needs_tflm
def test_mcu_bundle_runs_in_tflm_as_the_exact_int8_onnx(photo_data, tmp_path):
    report, _ = train(photo_data[0], tmp_path / "mcu", "--base", QUANT_025, "--mcu",
                      "--cache-dir", tmp_path / "cache")
    mcu = report["mcu"]
    assert mcu["arena_measured"] and mcu["verification"]["unavailable"] == []
    tflm = mcu["verification"]["runtimes"]["tflm"]
    assert tflm["cases"] == 48 and tflm["max_steps"] <= TFLM_STEPS
    bundle = Path(mcu["bundle"]["path"])
    assert {"model_data.cc", "model_data.h", "model_ops.h"} <= {p.name for p in bundle.iterdir()}
    assert "kNumClasses = 4" in (bundle / "model_data.h").read_text()
    tflite = Path(report["files"]["tflite"]["path"]).read_bytes()
    tensors = _tensors(photo_data, 128)
    worst, clear, same = _agreement(tflm_runner(tflite, mcu["arena_bytes"]),
                                    Path(report["files"]["int8"]["path"]), tensors,
                                    mcu["tflite"]["output"]["scale"],
                                    mcu["tflite"]["output"]["zero_point"], TFLM_STEPS)
    assert worst <= TFLM_STEPS and same == clear >= 0.9 * len(tensors)


def test_retraining_reuses_the_cache_and_gives_the_same_files(trained, photo_data, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(photo_data[0], data)
    report, _ = train(data, tmp_path / "again", "--cache-dir", trained["cache"])
    assert report["embeddings"]["computed_views"] == 0
    assert report["timings"]["embed_s"] < trained["report"]["timings"]["embed_s"]
    for name in ("mobilenet_v1_0.5_160_int8.onnx", "mobilenet_v1_0.5_160_int8.tflite"):
        assert (tmp_path / "again" / name).read_bytes() == (trained["out"] / name).read_bytes()
    shutil.copy(PHOTOS / "parrot.jpg", data / "animal" / "parrot.jpg")
    report, _ = train(data, tmp_path / "again", "--cache-dir", trained["cache"])
    assert report["embeddings"]["computed_views"] == DEFAULT_VIEWS  # one new photo
    assert report["data"]["classes"][0]["photos"] == 25


def test_a_failure_after_the_models_were_built_leaves_out_as_it_was(trained, photo_data,
                                                                      tmp_path):
    out = tmp_path / "out"
    shutil.copytree(trained["out"], out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    proc = edge_train(photo_data[0], "--output", out, "--mcu", "--mcu-sram", "64K",
                      "--cache-dir", trained["cache"])
    assert proc.returncode == 2 and "does not fit" in proc.stderr, proc.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no staging folder left


def test_edge_bench_measures_the_trained_models(trained):
    proc = subprocess.run([str(BIN / "edge-bench"), trained["int8"], trained["tflite"],
                           "--runs", "10", "--warmup", "1", "--threads", "1", "--json"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)["results"]) == 2


def test_one_photo_per_class_is_imprinted(tmp_path):
    data = tmp_path / "data"
    for label, name in (("animal", "owl"), ("food", "hot_dog"), ("person", "grace_hopper")):
        (data / label).mkdir(parents=True)
        shutil.copy(PHOTOS / f"{name}.jpg", data / label)
    report, _ = train(data, tmp_path / "out", "--base", QUANT_025, "--no-cache")
    assert report["head"]["kind"] == "imprinted"
    assert report["evaluation"]["method"] is None
    assert any("not measured" in w for w in report["warnings"])
    assert report["unknown"] is None and any("no 'other' answer" in w
                                             for w in report["warnings"])
    probes = tmp_path / "probes"
    probes.mkdir()
    for name in ("bird", "parrot", "missvickie_potato_chips"):
        shutil.copy(PHOTOS / f"{name}.jpg", probes)
    answers = exact_answers(Path(report["files"]["int8"]["path"]), probes)
    assert {n: label for n, (label, _) in answers.items()} == {
        "bird.jpg": "animal", "parrot.jpg": "animal", "missvickie_potato_chips.jpg": "food"}


def test_a_float_base_is_calibrated_on_the_photos(photo_data, tmp_path):
    from .float_tflite import float_tflite_from

    base = tmp_path / "float_0.25_128.tflite"
    base.write_bytes(float_tflite_from(QUANT_025))
    report, _ = train(photo_data[0], tmp_path / "out", "--base", base, "--no-cache")
    assert report["base"]["quantization"].startswith("post-training (GPTQ), calibrated on 42")
    info = read_model_info(Path(report["files"]["int8"]["path"]))
    assert info.quantization["mode"] == "recalibrate" and info.labels[-1] == "other"
    answers = exact_answers(Path(report["files"]["int8"]["path"]), photo_data[1])
    right = sum(answers[n][0] == label for n, label in photo_data[2].items())
    assert right >= len(photo_data[2]) - 2, answers
    assert report["tflite"]["verification"]["runtimes"]["litert"]["max_steps"] <= LITERT_STEPS
