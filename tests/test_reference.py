"""Imported TFLite weights against LiteRT's reference predictions on real photographs."""

import json

import numpy as np
import onnxruntime as ort
import pytest

from edge.convert import ConvertOptions, convert
from edge.postprocess import softmax
from tools import make_reference

from .conftest import MODELS, PHOTOS, QUANT_025, need_shared
from .float_tflite import float_tflite_from

pytest.importorskip("PIL.Image", reason="Pillow (test extra) reproduces the reference's "
                                          "preprocessing")


def reference_input(photo, mode, size, photos=PHOTOS):
    """Exactly the reference's preprocessing (the script that made it, in tools/)."""
    return make_reference.reference_input(photos / photo, mode, size)


def _convert(path, tmp_path):
    report = convert(ConvertOptions(output=tmp_path, weights=str(path)),
                     log=lambda _: None)
    return report, ort.InferenceSession(report["files"]["fp32"]["path"],
                                        providers=["CPUExecutionProvider"])


def test_float_tflite_import_matches_litert_on_every_photo_and_mode(tmp_path):
    """The float import path, offline: a float32 TFLite in TOCO's layout written from the
    bundled QAT 0.25-128's dequantised (real, trained) weights, run by LiteRT, against the
    fp32 ONNX edge-convert makes of that file."""
    from ai_edge_litert.interpreter import Interpreter

    path = tmp_path / "mobilenet_v1_0.25_128_float.tflite"
    path.write_bytes(float_tflite_from(QUANT_025))
    report, session = _convert(path, tmp_path / "out")
    assert report["model"]["weights"]["note"] == "float TFLite model"
    assert list(report["files"]) == ["fp32"]  # no calibration frames: no int8
    interp = Interpreter(model_path=str(path))
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    assert inp["dtype"] == np.float32 and out["shape"].tolist() == [1, 1001]
    for photo in sorted(p.name for p in PHOTOS.iterdir()):
        for mode in ("full_image", "center_crop"):
            tensor = reference_input(photo, mode, 128)
            interp.set_tensor(inp["index"], (tensor.astype(np.float32) - 127.5) / 127.5)
            interp.invoke()
            want = interp.get_tensor(out["index"])[0]
            got = session.run(None, {"image": tensor})[0][0]
            assert np.abs(want - got).max() < 1e-3, (photo, mode)
            assert int(np.argmax(got)) == int(np.argmax(want)), (photo, mode)


@pytest.mark.shared
def test_float_tflite_matches_reference_on_every_photo_and_mode(tmp_path):
    shared = need_shared("the float 0.25-128 TFLite model")
    name = "mobilenet_v1_0.25_128.tflite"
    report, session = _convert(shared / "mobilenet_v1" / name, tmp_path)
    assert (report["model"]["alpha"], report["model"]["resolution"]) == (0.25, 128)
    reference = json.loads((shared / "reference_predictions.json").read_text())
    preds = reference["models"][name]["predictions"]
    assert len(preds) == 12
    for photo, modes in preds.items():
        for mode, top in modes.items():
            tensor = reference_input(photo, mode, 128, shared / "photos")
            probs = softmax(session.run(None, {"image": tensor})[0][0])
            assert int(np.argmax(probs)) == top[0]["index_1001"], (photo, mode)
            for entry in top:
                assert probs[entry["index_1001"]] == pytest.approx(entry["prob"], abs=0.02)


@pytest.mark.parametrize(("name", "size"), [("mobilenet_v1_0.25_128_quant.tflite", 128),
                                            ("mobilenet_v1_0.5_160_quant.tflite", 160)])
def test_dequantised_uint8_models_agree_with_reference(reference, tmp_path, name, size):
    report, session = _convert(MODELS / name, tmp_path)
    assert report["model"]["resolution"] == size
    assert "dequantised" in report["model"]["weights"]["note"]
    for photo, modes in reference["models"][name]["predictions"].items():
        for mode, top in modes.items():
            tensor = reference_input(photo, mode, size)
            got = int(np.argmax(session.run(None, {"image": tensor})[0]))
            if top[0]["prob"] - top[1]["prob"] >= 0.1:
                assert got == top[0]["index_1001"], (photo, mode)
            else:
                assert got in [t["index_1001"] for t in top], (photo, mode)
