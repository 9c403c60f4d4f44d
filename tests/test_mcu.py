"""edge-convert --mcu: the int8 .tflite in TFLM's and LiteRT's own interpreters against the int8
ONNX, the flatbuffer's schema details, the arena TFLM allocates, the C bundle compiled with
Debian's arm-none-eabi-g++, and a model that does not fit refused with the reason."""

import importlib
import importlib.util
import json
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest

from edge.convert.quant.frames import load_frames
from edge.convert.tflite.export import export_tflite

from .conftest import PHOTOS, QUANT_025
from .helpers import exact_qdq, litert
from .mcu_common import (
    GXX,
    LITERT_STEPS,
    TFLM_STEPS,
    agreement,
    convert,
    needs_gxx,
    needs_tflm,
    tflm,
    tflm_measure,
    tflm_runner,
)


@pytest.fixture(scope="module")
def mcu_025(tmp_path_factory):
    """The real QAT 0.25-128 weights, re-calibrated on the photos by onnxruntime's MinMax (the
    QDQ form whose details these tests probe), exported with --mcu."""
    out = tmp_path_factory.mktemp("mcu025")
    proc = convert("--weights", QUANT_025, "--quantization", "recalibrate", "--calibration",
                   PHOTOS, "--calibration-method", "minmax", "--mcu", "--output", out, "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    return {"out": out, "report": report, "mcu": report["mcu"],
            "tflite": Path(report["mcu"]["tflite"]["path"]).read_bytes(),
            "onnx": Path(report["files"]["int8"]["path"])}

@needs_tflm
def test_cli_writes_tflite_bundle_and_report(mcu_025):
    out, mcu = mcu_025["out"], mcu_025["mcu"]
    name = "mobilenet_v1_0.25_128_int8"
    assert (out / f"{name}.tflite").is_file()
    assert sorted(p.name for p in (out / f"{name}_mcu").iterdir()) == [
        "Makefile", "README.md", "edge_motion.c", "edge_motion.h", "example", "model_data.cc",
        "model_data.h", "model_labels.cc", "model_labels.h", "model_ops.h"]
        # README, Makefile, example and labels: tests/test_mcu_recipe.py
    assert mcu["arena_measured"] and mcu["measured"]["arena_bytes"] == mcu["arena_bytes"]
    assert mcu["flash_bytes"] == len(mcu_025["tflite"])
    assert mcu["tflite"]["ops"] == ["CONV_2D", "DEPTHWISE_CONV_2D", "MEAN", "FULLY_CONNECTED"]
    assert mcu["requantized_weights"] == []  # our int8 weights are kept bit for bit
    header = (out / f"{name}_mcu" / "model_data.h").read_text()
    assert f"kTensorArenaSize = {mcu['arena_bytes']};" in header
    assert f"kOutputZeroPoint = {mcu['tflite']['output']['zero_point']};" in header
    assert "kInputIsInt8 = true" in header and "kNumClasses = 1001" in header
    ops = (out / f"{name}_mcu" / "model_ops.h").read_text()
    assert re.findall(r"resolver\.(\w+)\(\)", ops) == ["AddConv2D", "AddDepthwiseConv2D",
                                                       "AddMean", "AddFullyConnected"]
    assert "MicroMutableOpResolver<kNumOps>" in ops and "kNumOps = 4;" in ops


def test_flatbuffer_has_what_tflm_and_litert_need(mcu_025):
    data = mcu_025["tflite"]
    model_mod = importlib.import_module("tflite.Model")
    model = model_mod.Model.GetRootAs(data, 0)
    assert data[4:8] == b"TFL3" and model.Version() == 3
    assert model.Buffers(0).DataLength() == 0
    for i in range(1, model.BuffersLength()):
        buf = model.Buffers(i)
        if buf.DataLength():
            start = buf._tab.Vector(buf._tab.Offset(4))
            assert start % 16 == 0, f"buffer {i} starts at {start}"
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        assert code.BuiltinCode() == code.DeprecatedBuiltinCode() > 0
    graph = model.Subgraphs(0)
    used = set()
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        used |= set(op.InputsAsNumpy()) | set(op.OutputsAsNumpy())
    assert used == set(range(graph.TensorsLength())), "no tensor may be left unused"
    depthwise = 0
    for i in range(graph.TensorsLength()):
        t = graph.Tensors(i)
        q = t.Quantization()
        if t.Name().endswith(b"/weights"):
            w = np.frombuffer(model.Buffers(t.Buffer()).DataAsNumpy().tobytes(), np.int8)
            assert w.min() >= -127 and not q.ZeroPointAsNumpy().any()
            assert q.ScaleLength() == t.ShapeAsNumpy()[q.QuantizedDimension()]
            if b"depthwise" in t.Name():
                depthwise += 1
                assert t.ShapeAsNumpy()[0] == 1 and q.QuantizedDimension() == 3
    assert depthwise == 13
    io = [graph.Tensors(int(graph.Inputs(0))), graph.Tensors(int(graph.Outputs(0)))]
    assert [t.Type() for t in io] == [9, 9]  # INT8
    meta = {model.Metadata(i).Name(): model.Metadata(i).Buffer()
            for i in range(model.MetadataLength())}
    assert set(meta) == {b"edge", b"OfflineMemoryAllocation"}
    edge = json.loads(model.Buffers(meta[b"edge"]).DataAsNumpy().tobytes())
    assert edge["input"]["dtype"] == "int8" and edge["trained"] is True


@needs_tflm
def test_tflm_runs_it_with_the_arena_it_reports_and_matches_the_onnx(mcu_025):
    arena = mcu_025["mcu"]["arena_bytes"]
    out = mcu_025["mcu"]["tflite"]["output"]
    worst, misses = agreement(tflm_runner(mcu_025["tflite"], arena), mcu_025["onnx"],
                              out["scale"], out["zero_point"], 128)
    assert misses == [] and worst <= TFLM_STEPS
    with pytest.raises(RuntimeError):  # the measured arena is the minimum
        tflm().Interpreter.from_bytes(mcu_025["tflite"], arena_size=arena - 64)
    ver = mcu_025["mcu"]["verification"]
    assert ver["tflm_arena_bytes"] == arena and ver["unavailable"] == []
    assert ver["runtimes"]["tflm"]["top1_agree"] == ver["runtimes"]["tflm"]["cases"] == 24


def test_litert_runs_every_op_on_xnnpack_and_matches_the_onnx(mcu_025):
    interp, run = litert(mcu_025["tflite"])
    nodes = interp._get_ops_details()
    plan = [n for n in nodes if n["op_name"] == "DELEGATE"]
    assert len(plan) == 1 and interp.get_output_details()[0]["index"] in plan[0]["outputs"]
    out = mcu_025["mcu"]["tflite"]["output"]
    worst, misses = agreement(run, mcu_025["onnx"], out["scale"], out["zero_point"], 128)
    assert misses == [] and worst <= LITERT_STEPS
    assert mcu_025["mcu"]["verification"]["litert_all_ops_delegated"] is True


@needs_tflm
def test_estimates_are_within_two_percent_of_the_measurement(mcu_025):
    mcu = mcu_025["mcu"]
    assert abs(mcu["estimate"]["arena_bytes"] / mcu["arena_bytes"] - 1) < 0.02
    assert abs(mcu["estimate"]["flash_bytes"] / mcu["flash_bytes"] - 1) < 0.02


@needs_gxx
def test_c_bundle_compiles_for_cortex_m4_and_m7(mcu_025, tmp_path):
    bundle = Path(mcu_025["mcu"]["bundle"]["path"])
    source = (bundle / "model_data.cc").read_text()
    array = bytes.fromhex("".join(re.findall(r"\\x([0-9a-f]{2})", source)))
    assert array == mcu_025["tflite"]
    assert "alignas(16)" in source
    # the resolver header against minimal declarations of TFLM's API (the names and types
    # it uses); the README says how it was compiled against TFLM's own headers
    stub = tmp_path / "tensorflow" / "lite" / "micro"
    stub.mkdir(parents=True)
    methods = "".join(f"  TfLiteStatus {m}();\n" for m in (
        "AddConv2D", "AddDepthwiseConv2D", "AddMean", "AddFullyConnected", "AddPad",
        "AddQuantize"))
    (stub / "micro_mutable_op_resolver.h").write_text(
        "typedef enum { kTfLiteOk = 0, kTfLiteError = 1 } TfLiteStatus;\nnamespace tflite {\n"
        f"template <unsigned int N> class MicroMutableOpResolver {{\n public:\n{methods}}};\n}}\n")
    unit = tmp_path / "uses.cc"
    unit.write_text('#include "model_data.h"\n#include "model_ops.h"\n'
                    "int setup(edge_model::OpResolver& r) { return edge_model::RegisterOps(r) "
                    "== kTfLiteOk && edge_model::kTensorArenaSize > 0; }\n")
    for cpu in ("cortex-m4", "cortex-m7"):
        flags = [f"-mcpu={cpu}", "-mthumb", "-Os", "-std=c++17", "-Wall", "-Werror",
                 f"-I{bundle}", f"-I{tmp_path}", "-c"]
        obj = tmp_path / f"{cpu}.o"
        subprocess.run([GXX, *flags, str(bundle / "model_data.cc"), "-o", str(obj)], check=True)
        subprocess.run([GXX, *flags, str(unit), "-o", str(tmp_path / "uses.o")], check=True)
        sizes = subprocess.run(["arm-none-eabi-size", "-A", str(obj)], capture_output=True,
                               text=True, check=True).stdout
        rodata = int(re.search(r"^\.rodata\s+(\d+)", sizes, re.MULTILINE).group(1))
        symbols = subprocess.run(["arm-none-eabi-nm", "-S", str(obj)], capture_output=True,
                                 text=True, check=True).stdout
        size = re.search(r"^[0-9a-f]+ ([0-9a-f]+) R g_edge_model_data$", symbols, re.MULTILINE)
        assert int(size.group(1), 16) == len(mcu_025["tflite"]) + 1  # + the literal's zero
        assert 0 < rodata - len(mcu_025["tflite"]) <= 32  # + the size variable, alignment
        assert mcu_025["mcu"]["compiled"]["cpus"][cpu]["rodata_bytes"] == rodata
        # the motion gate's C (tests/test_motion_c.py checks it against the Python gate)
        assert mcu_025["mcu"]["compiled"]["cpus"][cpu]["motion_text_bytes"] > 0


# TFLM's own sources are on neither PyPI nor Debian: these run where EDGE_TFLM_SOURCES names a
# folder with tflite-micro, flatbuffers (the version TFLM's schema asserts), gemmlowp and ruy.
# The firmware built from the bundle and run under QEMU: tests/test_mcu_firmware.py.
SOURCES = Path(os.environ["EDGE_TFLM_SOURCES"]) if os.environ.get("EDGE_TFLM_SOURCES") else None
needs_tflm_sources = pytest.mark.skipif(
    SOURCES is None, reason="set EDGE_TFLM_SOURCES to a folder with tflite-micro, flatbuffers, "
                            "gemmlowp and ruy checkouts (../shared/tflm)")


@needs_gxx
@needs_tflm_sources
def test_resolver_compiles_against_tflm_headers(mcu_025):
    from edge.convert.mcu.bundle import compile_check

    includes = (SOURCES / "tflite-micro", SOURCES / "flatbuffers" / "include",
                SOURCES / "gemmlowp")
    result = compile_check(Path(mcu_025["mcu"]["bundle"]["path"]), includes)
    assert all(c["resolver_compiled"] for c in result["cpus"].values())


def test_uint8_per_tensor_weights_are_requantized_and_still_match(mcu_025, tmp_path):
    """The other int8 form: uint8 per-tensor weights with non-zero zero points (as a QAT
    file's own parameters are), made here with onnxruntime's quantize_static."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from edge.convert.quant.ort import _Reader

    fp32 = mcu_025["out"] / "mobilenet_v1_0.25_128_fp32.onnx"
    pre, u8 = tmp_path / "pre.onnx", tmp_path / "u8.onnx"
    quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
    tensors = [t for _, t in load_frames(PHOTOS, 128).cases()]
    quantize_static(str(pre), str(u8), _Reader(tensors), quant_format=QuantFormat.QDQ,
                    per_channel=False, weight_type=QuantType.QUInt8,
                    activation_type=QuantType.QUInt8,
                    op_types_to_quantize=["Conv", "Gemm", "Clip", "GlobalAveragePool",
                                          "Flatten"])
    export = export_tflite(onnx.load(u8))
    assert export.requantized  # uint8 minus a zero point spans up to 255 values
    assert all(int(r.split("(")[1].split("/")[0]) < int(r.split("/")[-1].split()[0])
               for r in export.requantized), "only the channels that do not fit change"
    arena = tflm_measure(export.tflite)
    out = export.output
    worst, misses = agreement(tflm_runner(export.tflite, arena), u8, out["scale"],
                              out["zero_point"], 128)
    assert misses == [] and worst <= 8  # the re-quantized channels move a few steps more
    _, run = litert(export.tflite)
    worst, misses = agreement(run, u8, out["scale"], out["zero_point"], 128)
    assert misses == [] and worst <= 8



def test_uint8_input_adds_quantize_and_gives_the_same_logits(mcu_025):
    model = onnx.load(mcu_025["onnx"])
    raw = export_tflite(model, "uint8")
    assert raw.ops[0] == "QUANTIZE" and raw.input["dtype"] == "uint8"
    assert raw.input["zero_point"] == 128 and raw.input["scale"] == 1.0
    run_raw = tflm_runner(raw.tflite, tflm_measure(raw.tflite))
    run_int8 = tflm_runner(mcu_025["tflite"], mcu_025["mcu"]["arena_bytes"])
    for _, tensor in load_frames(PHOTOS, 128, limit=3).cases():
        shifted = (tensor.astype(np.int16) - 128).astype(np.int8)
        assert np.array_equal(run_raw(tensor), run_int8(shifted))

def test_stem_reading_pixels_at_scale_1_128_zero_point_128(mcu_025, tmp_path):
    """The QAT files' input quantization (what a "kept" int8 ONNX carries): the stem reads
    (pixel - 128) / 128. Built from ours by moving 128 x sum(weights) into the stem's bias:
    the same numbers, so the export must give the same logits with that input scale."""
    from onnx import numpy_helper

    model = onnx.load(mcu_025["onnx"])
    inits = {i.name: i for i in model.graph.initializer}

    def put(name, array):
        inits[name].CopyFrom(numpy_helper.from_array(array, name))

    weights = numpy_helper.to_array(inits["Conv2d_0/weights_quantized"]).astype(np.int64)
    bias = numpy_helper.to_array(inits["stem/bias_q"]).astype(np.int64)
    put("pixels/scale", np.array(1 / 128, np.float32))
    put("pixels/zero_point", np.array(128, np.uint8))
    put("Conv2d_0/weights_scale",
        numpy_helper.to_array(inits["Conv2d_0/weights_scale"]) * np.float32(128))
    put("stem/bias_q", (bias + 128 * weights.sum(axis=(1, 2, 3))).astype(np.int32))
    path = tmp_path / "qat_input.onnx"
    onnx.save(model, path)
    export = export_tflite(model)
    assert export.input["scale"] == 1 / 128 and export.input["zero_point"] == 0
    run_ours = tflm_runner(mcu_025["tflite"], mcu_025["mcu"]["arena_bytes"])
    run_qat = tflm_runner(export.tflite, tflm_measure(export.tflite))
    ref_ours, ref_qat = exact_qdq(mcu_025["onnx"]), exact_qdq(path)
    step = export.output["scale"]
    for _, tensor in load_frames(PHOTOS, 128, limit=3).cases():
        # float32 evaluation rounds the two forms' products differently: a stem output
        # that lands on the other side of a rounding edge moves the logits a step or two
        a, b = ref_ours(tensor), ref_qat(tensor)
        assert np.abs(a - b).max() <= 3.01 * step and a.argmax() == b.argmax()
        x = (tensor.astype(np.int16) - 128).astype(np.int8)
        assert np.array_equal(run_ours(x), run_qat(x))  # integer arithmetic: identical

