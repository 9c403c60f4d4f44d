"""The repository's own data set stays small and accounted for: the binary files under the 4 MB
budget, and every bundled model's checksum recorded beside its provenance in data/SOURCES.md."""

import hashlib
import os
import re
from pathlib import Path

from .conftest import DATA, ROOT

BINARY = {".tflite", ".jpg", ".jpeg", ".png", ".bmp", ".onnx", ".h5", ".safetensors"}
SKIP_DIRS = {".git", ".venv", "out", "node_modules"}


def _binary_files():
    """Binary files of the repository (the working tree minus venvs, build output, caches)."""
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith(".")
                   and not d.endswith(".egg-info") and d != "__pycache__"]
        for name in files:
            if Path(name).suffix.lower() in BINARY:
                yield Path(folder) / name


def test_binary_files_fit_the_budget():
    total = sum(p.stat().st_size for p in _binary_files())
    # 4 MB, plus 0.35 MB for the person model (data/person, #24: the person trigger offline)
    assert 0 < total <= 4_350_000, f"{total:,} bytes of binary files"


def test_every_bundled_model_has_its_checksum_in_sources():
    listed = dict((name, digest) for digest, name in
                  re.findall(r"^([0-9a-f]{64})  (\S+)$", (DATA / "SOURCES.md").read_text(),
                             re.MULTILINE))
    models = sorted([*(DATA / "models").glob("*.tflite"), *(DATA / "peers").glob("*.tflite"),
                     *(DATA / "person").glob("*.tflite")])
    assert len(models) == 4
    for model in models:
        assert listed.get(model.name) == hashlib.sha256(model.read_bytes()).hexdigest(), model
