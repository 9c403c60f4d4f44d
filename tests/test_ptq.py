"""Post-training int8 of float weights against fp32 on held-out frames: the views of six
photos calibrate, the views of the other six verify (tools/views.py)."""

import numpy as np
import pytest

from edge.convert import ConvertOptions, convert
from tools.views import VIEWS, split_photos, write_views

from .conftest import PHOTOS, QUANT_025, QUANT_05, need_shared

WHOLE = {i for i, (side, *_) in enumerate(VIEWS) if side >= 0.7}  # whole photo, centre


@pytest.fixture(scope="module")
def views(tmp_path_factory):
    root = tmp_path_factory.mktemp("views")
    calibrate, verify = split_photos(PHOTOS)
    return write_views(calibrate, root / "calibrate"), write_views(verify, root / "verify")


def recalibrated(weights, views, out):
    calibrate, verify = views
    return convert(ConvertOptions(output=out, weights=str(weights), quantization="recalibrate",
                                  calibration=calibrate, verify=verify), log=lambda _: None)


def agreement(report) -> tuple[float, float]:
    """(all held-out cases, the whole-photo and centre views) top-1 agreement with fp32."""
    rows = report["verification"]["result"]["per_case"]
    whole = [r for r in rows if int(r["case"].split(":")[0].rsplit("_", 1)[1][0]) in WHOLE]
    return (np.mean([r["top1_agree"] for r in rows]),
            np.mean([r["top1_agree"] for r in whole]))


def check(report, overall: float, whole_views: float = 0.95):
    assert report["quantization"]["method"] == "gptq"
    assert report["calibration"]["method"] == "gptq"
    ver = report["verification"]
    assert ver["held_out"] is True and ver["result"]["cases"] == 6 * len(VIEWS) * 2
    calibrated = {p.stem for p in split_photos(PHOTOS)[0]}
    assert not {r["case"].rsplit("_", 1)[0] for r in ver["result"]["per_case"]} & calibrated
    everything, whole = agreement(report)
    assert whole >= whole_views, whole
    assert everything >= overall, everything


def test_dequantised_025_qat_weights(views, tmp_path):
    # int8 verified by the exact QDQ arithmetic (the same on every CPU): 79/96 of all views,
    # 43/48 of the whole and centre views; off-centre crops are often near-ties for the 0.25
    # model (an AVX2 x86's saturating kernels once read 47/48, a VNNI one's 44/48)
    check(recalibrated(QUANT_025, views, tmp_path), overall=0.80, whole_views=0.875)


def test_dequantised_05_qat_weights(views, tmp_path):
    # measured: 96/96; onnxruntime's MinMax on the same frames: 63/96
    check(recalibrated(QUANT_05, views, tmp_path), overall=0.95)


@pytest.mark.shared
def test_float_025_checkpoint(views, tmp_path):
    shared = need_shared("the float 0.25-128 TFLite checkpoint")
    # measured (exact QDQ arithmetic): 84/96 of all views, 46/48 whole and centre;
    # onnxruntime's MinMax: 64/96, 38/48
    report = recalibrated(shared / "mobilenet_v1" / "mobilenet_v1_0.25_128.tflite", views,
                          tmp_path)
    check(report, overall=0.85, whole_views=0.93)
