"""Shared fixtures: the team's real data in ../shared/data (skipped with a reason when absent)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
MODELS = SHARED / "mobilenet_v1"
PHOTOS = SHARED / "photos"
LABELS = MODELS / "imagenet_labels.txt"
BIN = Path(sys.executable).parent


def need_shared() -> Path:
    if not (SHARED / "reference_predictions.json").is_file():
        pytest.skip(f"shared data not found at {SHARED} (a clone without ../shared has no "
                    "pretrained weights or photos)")
    return SHARED


@pytest.fixture(scope="session")
def shared() -> Path:
    return need_shared()


@pytest.fixture(scope="session")
def reference(shared) -> dict:
    return json.loads((shared / "reference_predictions.json").read_text())


@pytest.fixture(scope="session")
def converted_025(shared, tmp_path_factory) -> dict:
    """fp32 + int8 of the real mobilenet_v1_0.25_128.tflite, calibrated on the photos."""
    from edge.convert import ConvertOptions, convert

    out = tmp_path_factory.mktemp("mnv1_025")
    weights = str(MODELS / "mobilenet_v1_0.25_128.tflite")
    report = convert(ConvertOptions(output=out, weights=weights, labels=LABELS,
                                    calibration=PHOTOS), log=lambda _: None)
    return report
