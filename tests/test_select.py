"""int8 or fp32: measured on this CPU, remembered, and explained."""

import json

import pytest

from edge.choice import builds_in, choose
from edge.engine import cpu_key
from edge.errors import ModelError
from edge.fileio import sha256_file

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
                           calibration=frames), log=lambda _: None)
    return out


def test_measures_once_then_remembers(folder, tmp_path):
    path, note = choose(folder, threads=1, cache_dir=tmp_path, seconds=0.1)
    assert path.parent == folder and "measured now" in note
    assert ("int8 is" in note and "faster" in note) or "fp32, because int8" in note
    again, note2 = choose(folder, threads=1, cache_dir=tmp_path, seconds=0.1)
    assert again == path and "measured earlier" in note2


def test_picks_fp32_and_says_why_when_int8_is_slower(folder, tmp_path):
    builds = builds_in(folder)
    fp32, int8 = builds["fp32"][0], builds["int8"][0]
    key = f"{sha256_file(fp32)[:16]}-{sha256_file(int8)[:16]}-{cpu_key()}-t2"
    (tmp_path / f"precision-{key}.json").write_text(json.dumps({"int8_ms": 13.0,
                                                                "fp32_ms": 10.0}))
    path, note = choose(folder, threads=2, cache_dir=tmp_path)
    assert path == fp32
    assert "int8 is 1.30x SLOWER" in note and "dot-product" in note


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
    chosen = "int8" if "int8 is" in note and "faster" in note else "fp32"
    assert "(measured now" in note and f"mobilenet_v1_0.25_64_{chosen}.onnx" in note
    assert f"mobilenet_v1_0.25_64_{chosen}" in proc.stdout
    assert list(tmp_path.glob("edge/precision-*.json"))
