"""The ONNX graph: checker-clean, the input/output contract, metadata, folding math."""

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from edge.convert import ConvertOptions, convert
from edge.convert.graph import build_model
from edge.convert.spec import MobileNetSpec
from edge.convert.weights import fold_batch_norm, random_weights
from edge.model import ModelInfo, read_model_info


def _info(spec, weights, precision="fp32"):
    return ModelInfo(arch="mobilenet_v1", alpha=spec.alpha, resolution=spec.resolution,
                     classes=spec.classes, background=weights.background, channel_order="RGB",
                     precision=precision, weights=weights.source, macs=spec.macs,
                     params=spec.params, padding=spec.padding)


@pytest.mark.parametrize(("alpha", "res", "classes"), [(0.35, 100, 10), (0.25, 96, 1001)])
def test_random_model_is_checker_clean_and_honours_the_contract(alpha, res, classes):
    spec = MobileNetSpec.create(alpha, res, classes)
    weights = random_weights(spec, seed=1)
    model = build_model(spec, weights, _info(spec, weights))
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version >= 17
    (inp,), (out,) = model.graph.input, model.graph.output
    assert inp.name == "image" and inp.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert [d.dim_value for d in inp.type.tensor_type.shape.dim] == [1, res, res, 3]
    assert out.name == "logits"
    assert [d.dim_value for d in out.type.tensor_type.shape.dim] == [1, classes]
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    logits = session.run(None, {"image": np.full((1, res, res, 3), 200, np.uint8)})[0]
    assert logits.shape == (1, classes) and np.isfinite(logits).all()
    n_params = sum(int(np.prod(i.dims)) for i in model.graph.initializer
                   if i.name.endswith(("/weights", "/bias")))
    assert n_params == spec.params


def test_random_init_is_flagged_untrained_in_metadata_and_report(tmp_path):
    report = convert(ConvertOptions(output=tmp_path, alpha=0.25, resolution=64, classes=10),
                     log=lambda _: None)
    info = read_model_info(tmp_path / "mobilenet_v1_0.25_64_fp32.onnx")
    assert info.trained is False and info.weights["kind"] == "random"
    assert "UNTRAINED" in info.weights["note"]
    assert report["model"]["trained"] is False
    assert any("UNTRAINED" in w for w in report["warnings"])
    on_disk = json.loads((tmp_path / "report.json").read_text())
    assert on_disk["model"]["trained"] is False


def test_metadata_carries_what_the_runtime_needs(tmp_path):
    convert(ConvertOptions(output=tmp_path, alpha=0.5, resolution=96), log=lambda _: None)
    info = read_model_info(tmp_path / "mobilenet_v1_0.5_96_fp32.onnx")
    assert (info.alpha, info.resolution, info.classes, info.background) == (0.5, 96, 1001, True)
    assert (info.channel_order, info.layout, info.precision) == ("RGB", "NHWC", "fp32")
    assert info.normalisation == {"mean": [127.5] * 3, "std": [127.5] * 3}
    spec = MobileNetSpec.create(0.5, 96, 1001)
    assert (info.macs, info.params) == (spec.macs, spec.params)
    assert info.label(3) == "class 3"  # no labels given


def test_batch_norm_folding_equals_conv_then_batch_norm():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(6, 4, 1, 1)).astype(np.float32)
    bias = rng.normal(size=6).astype(np.float32)
    gamma, beta = rng.normal(size=6), rng.normal(size=6)
    mean, var = rng.normal(size=6), rng.uniform(0.1, 2, size=6)
    x = rng.normal(size=(4, 5)).astype(np.float32)  # 4 channels, 5 pixels
    y = w[:, :, 0, 0] @ x + bias[:, None]
    expected = gamma[:, None] * (y - mean[:, None]) / np.sqrt(var[:, None] + 1e-3) + beta[:, None]
    fw, fb = fold_batch_norm(w, gamma, beta, mean, var, 1e-3, bias=bias)
    got = fw[:, :, 0, 0] @ x + fb[:, None]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
