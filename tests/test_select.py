"""int8 or fp32: measured on this CPU, remembered, and explained."""

import json

import pytest

from edge.errors import ModelError
from edge.run.choice import builds_in, choose, record_path

from .conftest import BIN


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    import cv2

    from edge.convert import ConvertOptions, convert
    from edge.sources.synthetic import colour_bands

    frames = tmp_path_factory.mktemp("frames")
    for i in range(4):
        cv2.imwrite(str(frames / f"{i}.png"), colour_bands(160, 120, i * 50))
    out = tmp_path_factory.mktemp("both")
    convert(ConvertOptions(output=out, alpha=0.25, resolution=64, classes=10,
                           calibration=frames, calibration_samples=4), log=lambda _: None)
    return out


def test_measures_once_then_remembers(folder, tmp_path):
    path, note = choose(folder, threads=1, cache_dir=tmp_path, seconds=0.1)
    assert path.parent == folder and "measured now" in note
    assert "is the fastest build on this CPU" in note and note.count("x slower") == 2
    again, note2 = choose(folder, threads=1, cache_dir=tmp_path, seconds=0.1)
    assert again == path and "measured earlier" in note2


def test_picks_fp32_and_says_why_when_int8_is_slower(folder, tmp_path):
    builds = builds_in(folder)
    assert set(builds) == {"fp32", "int8", "int8-litert"}
    record_path(builds, 2, tmp_path).write_text(json.dumps(
        {"ms": {"int8": 13.0, "fp32": 10.0, "int8-litert": 20.0}}))
    path, note = choose(folder, threads=2, cache_dir=tmp_path)
    assert path == builds["fp32"][0]
    assert "int8 is 1.30x SLOWER" in note and "dot-product" in note
    assert "int8 on LiteRT 2.00x slower" in note and "measured earlier" in note


def test_the_litert_build_wins_where_it_is_fastest_and_is_left_out_without_litert(
        folder, tmp_path, monkeypatch):
    from edge.run import choice

    builds = builds_in(folder)
    record_path(builds, 1, tmp_path).write_text(json.dumps(
        {"ms": {"int8": 2.0, "fp32": 3.0, "int8-litert": 1.0}}))
    path, note = choose(folder, threads=1, cache_dir=tmp_path)
    assert path.suffix == ".tflite" and "int8 on LiteRT is the fastest build" in note
    assert "int8 2.00x slower" in note and "fp32 3.00x slower" in note
    monkeypatch.setattr(choice, "litert_available", lambda: (False, "not installed"))
    path, note = choose(folder, threads=1, cache_dir=tmp_path / "other")
    assert path.suffix == ".onnx" and "LiteRT not considered: not installed" in note


def test_folder_problems(tmp_path):
    with pytest.raises(ModelError, match="no edge models"):
        builds_in(tmp_path)


def test_edge_run_with_a_folder(folder, tmp_path):
    import os
    import subprocess

    proc = subprocess.run([str(BIN / "edge-run"), "--model", str(folder), "--synthetic",
                           "--max-frames", "3", "-q", "--no-config"], capture_output=True,
                          text=True, timeout=120,
                          env={**os.environ, "XDG_CACHE_HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    # whichever build wins here (a timing on a shared machine), the run says which and why,
    # runs that one, and remembers the verdict
    note = next(line for line in proc.stderr.splitlines() if line.startswith("model "))
    chosen = note.split()[1].rstrip(":")
    assert "(measured now" in note and chosen.startswith("mobilenet_v1_0.25_64_")
    engine = "litert" if chosen.endswith(".tflite") else "onnxruntime"
    assert f"{chosen.rsplit('.', 1)[0]} on {engine}" in proc.stdout
    assert list(tmp_path.glob("edge/builds-*.json"))
