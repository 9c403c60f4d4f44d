"""edge-convert --mcu beyond the bundled model: PyTorch-family padding and normalisation, the
MCU-sized networks end to end, what fits which part, a refused model leaving nothing behind,
flags checked first, the estimate without tflite-micro, and a kept quantization exported."""

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from edge.convert.mcu.targets import (
    Target,
    estimate_arena,
    estimate_flash,
    largest_fitting,
    parse_size,
)
from edge.convert.quant.frames import load_frames
from edge.convert.spec import MobileNetSpec
from edge.convert.tflite.export import export_tflite
from edge.errors import EdgeError

from .conftest import PHOTOS, QUANT_025
from .mcu_common import (
    GXX,
    LITERT_STEPS,
    TFLM_STEPS,
    convert,
    needs_tflm,
)


@pytest.mark.filterwarnings("ignore:.*experimental_preserve_all_tensors:UserWarning")
def test_torch_padding_and_per_channel_normalisation(tmp_path):
    """PyTorch-family weights: symmetric padding (explicit PAD + VALID) and a per-channel
    mean and std that cannot fold into the stem (a 1x1 depthwise convolution)."""
    import dataclasses

    from edge.convert.graph import build_model
    from edge.convert.quant.calibrate import quantize
    from edge.convert.weights import random_weights
    from edge.model import ModelInfo

    spec = MobileNetSpec.create(0.25, 96, 1000, "torch")
    weights = dataclasses.replace(random_weights(spec, 1), normalisation={
        "mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375]})
    info = ModelInfo(arch="mobilenet_v1", alpha=0.25, resolution=96, classes=1000,
                     background=False, channel_order="RGB", precision="fp32",
                     weights=dict(weights.source), labels=None, macs=spec.macs,
                     params=spec.params, padding="torch", normalisation=weights.normalisation)
    fp32 = build_model(spec, weights, info)
    int8, _ = quantize(fp32, [t for _, t in load_frames(PHOTOS, 96).cases()], "minmax")
    export = export_tflite(int8)
    assert export.ops[:3] == ["DEPTHWISE_CONV_2D", "PAD", "CONV_2D"]
    assert "normalisation" in export.notes[0] and export.input["zero_point"] == -128
    # layer by layer against the ONNX's own quantized tensors, before random weights
    # amplify the kernels' rounding differences: the normalisation, the padded stem, the
    # first padded depthwise layer
    names = ["normalised", "Conv2d_0/relu6", "Conv2d_1_depthwise/relu6"]
    probe = onnx.ModelProto()
    probe.CopyFrom(int8)
    del probe.graph.output[:]
    probe.graph.output.extend(onnx.helper.make_tensor_value_info(
        f"{n}_QuantizeLinear_Output", onnx.TensorProto.UINT8, None) for n in names)
    path = tmp_path / "probe.onnx"
    onnx.save(probe, path)
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=export.tflite, experimental_preserve_all_tensors=True)
    interp.allocate_tensors()
    index = {d["name"]: d["index"] for d in interp.get_tensor_details()}
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    for _, tensor in load_frames(PHOTOS, 96).cases():
        interp.set_tensor(interp.get_input_details()[0]["index"],
                          (tensor.astype(np.int16) - 128).astype(np.int8))
        interp.invoke()
        for name, want, limit in zip(names, session.run(None, {"image": tensor}), (1, 2, 3),
                                     strict=True):
            got = interp.get_tensor(index[name]).astype(np.int32)
            assert np.abs(got - (want.astype(np.int32) - 128).transpose(0, 2, 3, 1)).max() \
                <= limit, name


@pytest.mark.slow
@pytest.mark.parametrize("alpha,res", [(0.25, 96), (0.5, 96), (0.5, 128)])
@needs_tflm
def test_mcu_sized_networks_end_to_end(tmp_path, alpha, res):
    proc = convert("--alpha", alpha, "--resolution", res, "--calibration", PHOTOS,
                   "--calibration-samples", 6, "--mcu", "--output", tmp_path, "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert any("UNTRAINED" in w for w in report["warnings"])
    mcu = report["mcu"]
    assert mcu["verification"]["litert_all_ops_delegated"]
    for name, limit in (("tflm", TFLM_STEPS), ("litert", LITERT_STEPS)):
        r = mcu["verification"]["runtimes"][name]
        assert r["cases"] == 12 and r["max_steps"] <= limit
        assert all(d["onnx_margin_steps"] <= r["max_steps"] for d in r["disagreements"])
    if GXX:
        assert set(mcu["compiled"]["cpus"]) == {"cortex-m4", "cortex-m7"}
    assert mcu["arena_bytes"] <= mcu["target"]["sram_bytes"]


def test_model_that_does_not_fit_is_refused_and_nothing_is_written(tmp_path):
    proc = convert("--weights", QUANT_025, "--quantization", "recalibrate", "--calibration",
                   PHOTOS, "--calibration-samples", 4,
                   "--mcu", "--mcu-sram", "100K", "--mcu-flash", "400K", "--output", tmp_path)
    assert proc.returncode == 2
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "does not fit" in err and "bytes SRAM" in err and "bytes flash" in err
    # 0.25-96's measured arena is 93 KB and its model 582 KB: nothing fits 400K of flash
    assert "no MobileNetV1 from 0.25-96 up fits" in err
    assert list(tmp_path.iterdir()) == []
    proc = convert("--weights", QUANT_025, "--quantization", "recalibrate", "--calibration",
                   PHOTOS, "--calibration-samples", 4,
                   "--mcu", "--mcu-sram", "100K", "--output", tmp_path)
    err = proc.stderr.strip()
    assert proc.returncode == 2 and "tensor arena" in err and "bytes flash" not in err
    assert "largest that would fit (estimated, alpha-resolution): 0.25-96;" in err


def test_mcu_flags_are_checked_before_any_work(tmp_path):
    proc = convert("--mcu", "--output", tmp_path)
    assert proc.returncode == 2 and "--mcu" in proc.stderr and "--calibration" in proc.stderr
    proc = convert("--mcu", "--calibration", PHOTOS, "--mcu-sram", "lots", "--output", tmp_path)
    assert proc.returncode == 2 and "--mcu-sram" in proc.stderr
    proc = convert("--mcu", "--calibration", PHOTOS, "--mcu-target", "z80", "--output", tmp_path)
    assert proc.returncode == 2 and "cortex-m7" in proc.stderr


def test_sizes_targets_and_what_would_fit():
    assert parse_size("320K", "x") == 320 * 1024 and parse_size("2M", "x") == 2 << 20
    assert parse_size("1.5MiB", "x") == 3 << 19 and parse_size("300000", "x") == 300000
    with pytest.raises(EdgeError):
        parse_size("-1K", "--mcu-sram")
    default = Target.create()
    assert (default.name, default.sram, default.flash) == ("cortex-m7", 512 * 1024, 2 << 20)
    assert "STM32H7" in default.about
    assert Target.create("nrf52840", flash="2M").name == "nrf52840 (custom)"
    small = Target("t", 256 * 1024, 1 << 20)
    spec = MobileNetSpec.create(0.5, 160, 1001)
    # at 1 MB of flash only alpha 0.25 fits (0.5 needs 1.48 MB); its arena limits the size
    assert largest_fitting(spec, small) == ["0.25-192"]
    assert estimate_arena(MobileNetSpec.create(0.25, 192, 1001)) <= small.sram
    assert estimate_arena(MobileNetSpec.create(0.25, 224, 1001)) > small.sram
    assert estimate_flash(spec) > small.flash

def test_without_tflite_micro_the_arena_is_the_estimate_and_says_so(tmp_path, monkeypatch):
    """Where tflite-micro cannot be installed (it has x86-64 wheels only, so not on a Pi)."""
    import edge.convert.mcu.export as mcu
    from edge.convert import ConvertOptions
    from edge.convert import convert as convert_in_process
    from edge.convert.report import format_report

    monkeypatch.setattr(mcu, "measure_arena", lambda _: None)
    monkeypatch.setattr(mcu, "tflm_available", lambda: False)
    report = convert_in_process(ConvertOptions(
        output=tmp_path, alpha=0.25, resolution=96, calibration=PHOTOS, calibration_samples=2,
        verify_samples=1, mcu=True), log=lambda _: None)
    m = report["mcu"]
    assert not m["arena_measured"] and m["measured"] is None
    assert m["arena_bytes"] == m["estimate"]["arena_bytes"]
    header = (Path(m["bundle"]["path"]) / "model_data.h").read_text()
    assert "ESTIMATED from the layer table" in header
    assert f"kTensorArenaSize = {m['arena_bytes']};" in header
    assert "tflite-micro is not installed: the arena is the ESTIMATE" in " ".join(
        report["warnings"])
    assert any(w.startswith("--mcu: not verified in tflm") for w in report["warnings"])
    assert list(m["verification"]["runtimes"]) == ["litert"]
    assert "ESTIMATED" in format_report(report)


@needs_tflm
def test_a_kept_quantization_exports_too(tmp_path):
    """The QAT file's own int8 (the default for it) becomes a TFLM model without calibration.
    TFLM takes only int8 weights with zero point 0, so the file's uint8 weights stay integers
    where they fit and the other channels are re-quantized (listed): close, not exact. A
    post-training model's float logits get an int8 scale from the verification frames."""
    proc = convert("--weights", QUANT_025, "--verify", PHOTOS, "--mcu", "--output",
                   tmp_path / "kept", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    mcu = report["mcu"]
    assert report["quantization"]["mode"] == "keep"
    assert any("rounding nudge dropped" in n for n in mcu["notes"])
    assert mcu["requantized_weights"]  # said, not hidden
    for runtime in ("tflm", "litert"):
        result = mcu["verification"]["runtimes"][runtime]
        assert result["cases"] == 24 and result["top1_agree"] >= 20, (runtime, result)
        # a different top-1 only where the ONNX's own margin is within the error seen
        assert all(d["onnx_margin_steps"] <= result["max_steps"]
                   for d in result["disagreements"]), (runtime, result)
    proc = convert("--weights", QUANT_025, "--quantization", "recalibrate", "--calibration",
                   PHOTOS, "--mcu", "--output", tmp_path / "ptq", "--json")
    assert proc.returncode == 0, proc.stderr
    mcu = json.loads(proc.stdout)["mcu"]
    assert any("float logits are int8 here" in n for n in mcu["notes"])
    tflm_result = mcu["verification"]["runtimes"]["tflm"]
    # int8 logits can only split a near-tie of the float ones: one step apart at most
    assert all(d["onnx_margin_steps"] <= 1 for d in tflm_result["disagreements"])

