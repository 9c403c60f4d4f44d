"""The README's first command in a fresh clone, offline: only what git holds (nothing beside
it, no out/), the venv standing in for the one the demo would make (so no pip here: the
clone's own package is put first on the path). What the README says the demo prints, it
prints; the person demo it documents runs too."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from .conftest import ROOT


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout to clone")
    folder = tmp_path_factory.mktemp("fresh") / "edge"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(ROOT), str(folder)],
                   check=True, timeout=120)
    # the venv the demo would create with pip: this test's own, the clone's code first
    (folder / ".venv").symlink_to(os.path.dirname(os.path.dirname(sys.executable)))
    return folder


def demo(clone, *args) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(clone)}
    return subprocess.run(["tools/demo.sh", *args], cwd=clone, capture_output=True, text=True,
                          timeout=300, env=env)


def test_the_demo_prints_what_the_readme_promises(clone):
    readme = (ROOT / "README.md").read_text()
    assert "tools/demo.sh" in readme
    promised = re.findall(r"`(\S+\.jpg) ([^`]+)`", readme)
    assert len(promised) >= 3
    proc = demo(clone)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for photo, label in promised:
        assert re.search(rf"{re.escape(photo)}\s+{re.escape(label)}\b", proc.stdout), \
            (photo, label, proc.stdout[-3000:])
    # the hint it prints runs as printed from the clone (the venv's path, not a bare name)
    assert ".venv/bin/edge-convert" in proc.stderr
    assert (clone / "out" / "demo" / "report.json").is_file()


def test_the_person_demo_runs_offline(clone):
    proc = demo(clone, "--person", "--results", "person.jsonl")
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = (clone / "person.jsonl").read_text().splitlines()
    assert len(lines) == 12 and all('"triggers"' in line for line in lines)
    assert "trigger           person:" in proc.stdout + proc.stderr
