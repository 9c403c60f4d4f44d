"""Shared fixtures. The repository's own data (``data/``: two real quantization-aware-trained
MobileNetV1 files, LiteRT's own int8 build of a 0.25-128, twelve photos, LiteRT's reference
predictions) is always there; the team's larger set in ../shared/data (the float 0.25-128
checkpoint, the bigger LiteRT peer files) is optional and tests that need it skip with a reason
when it is absent."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
MODELS = DATA / "models"
PHOTOS = DATA / "photos"
QUANT_025 = MODELS / "mobilenet_v1_0.25_128_quant.tflite"  # small and fast: most tests
QUANT_05 = MODELS / "mobilenet_v1_0.5_160_quant.tflite"  # the demo's model
# LiteRT's own post-training int8 of 0.25-128 (random weights): a foreign int8 file to import
PEER_INT8_025 = DATA / "peers" / "mnv1_a0.25_128_int8.tflite"
SHARED = ROOT.parent / "shared" / "data"
BIN = Path(sys.executable).parent


def need_shared(what: str = "the float TFLite model") -> Path:
    if not (SHARED / "reference_predictions.json").is_file():
        pytest.skip(f"needs ../shared/data ({what}; too large to bundle), not found at "
                    f"{SHARED}")
    return SHARED


@pytest.fixture(scope="session")
def reference() -> dict:
    """LiteRT's own top-5 for each bundled model, photo and crop mode
    (``tools/make_reference.py`` re-derives it)."""
    return json.loads((DATA / "reference_predictions.json").read_text())


@pytest.fixture(scope="session")
def converted_025(tmp_path_factory) -> dict:
    """fp32 + int8 of the real 0.25-128 QAT weights, recalibrated on the bundled photos."""
    from edge.convert import ConvertOptions, convert

    out = tmp_path_factory.mktemp("mnv1_025")
    report = convert(ConvertOptions(output=out, weights=str(QUANT_025), calibration=PHOTOS,
                                    quantization="recalibrate"), log=lambda _: None)
    return report
