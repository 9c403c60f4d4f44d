"""The TOML configuration: strict, complete, overridden by flags, checkable without hardware."""

import re
import subprocess
from pathlib import Path

import pytest

from edge.cli import run_parser
from edge.run.config import ConfigError, load, parse_with_config
from edge.run.settings import BY_NAME

from .conftest import BIN, ROOT

EXAMPLE = ROOT / "deploy" / "edge.toml"


def write(tmp_path, text, name="edge.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def run(*args):
    return subprocess.run([str(BIN / "edge-run"), *map(str, args)], capture_output=True,
                          text=True, timeout=120)


def test_example_documents_every_key():
    text = EXAMPLE.read_text()
    documented = set(re.findall(r"^#?\s*([a-z_]+)\s*=", text, flags=re.M))
    assert {name for name, s in BY_NAME.items() if s.in_file} <= documented


def test_example_is_valid_and_checkable_without_hardware(tmp_path):
    values = load(EXAMPLE)
    assert values["camera"] == "0" and values["fps_cap"] == 5.0
    model = subprocess.run([str(BIN / "edge-convert"), "--alpha", "0.25", "--resolution", "64",
                            "-o", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert model.returncode == 0, model.stderr
    # --check-config passes on a machine without the configured camera: nothing is opened
    proc = run("--config", EXAMPLE, "--check-config", "--model",
               tmp_path / "mobilenet_v1_0.25_64_fp32.onnx", "--results", tmp_path / "r.jsonl")
    assert proc.returncode == 0, proc.stderr
    assert "OK" in proc.stdout and "source camera 0 (not opened)" in proc.stdout
    assert "UNTRAINED" in proc.stdout


@pytest.mark.parametrize(("text", "needle"), [
    ('fps_cap = "fast"\n', ":1: fps_cap: expected a number, got 'fast'"),
    ("camera = 0\n\nfps_capp = 3\n", ":3: fps_capp: unknown key (did you mean 'fps_cap'?)"),
    ("threads = 2.5\n", ":1: threads: expected an integer, got 2.5"),
    ("loop = 1\n", ":1: loop: expected true or false, got 1"),
    ('crop = "middle"\n', ":1: crop: expected one of center, full, got 'middle'"),
    ("[source]\ncamera = 0\n", ":1: source: tables are not used"),
    ("camera = 0\nsynthetic = true\n", "choose one source, not camera and synthetic"),
    ("fps_cap = \n", "not valid TOML"),
])
def test_strict_errors_name_file_line_key_and_expectation(tmp_path, text, needle):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load(path)
    assert str(err.value).startswith(str(path)) and needle in str(err.value)
    proc = run("--config", path, "--check-config")
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"edge-run: error: {err.value}"


def test_missing_config_file(tmp_path):
    proc = run("--config", tmp_path / "nope.toml", "--check-config")
    assert proc.returncode == 2 and "nope.toml: config file not found" in proc.stderr


def test_flags_override_the_file(tmp_path):
    path = write(tmp_path, 'camera = "0"\nfps_cap = 2.0\nloop = true\nresults = "/tmp/a.jsonl"\n'
                           'infer = false\n')
    args, used = parse_with_config(run_parser(), ["--config", str(path), "--fps-cap", "7",
                                                  "--no-loop", "--replay", "/data"])
    assert used == path
    assert args.fps_cap == 7.0 and args.loop is False and args.infer is False
    assert args.replay == Path("/data") and args.camera is None  # a source flag replaces
    assert args.results == Path("/tmp/a.jsonl")
    args, _ = parse_with_config(run_parser(), ["--config", str(path)])
    assert args.camera == "0" and args.fps_cap == 2.0 and args.loop is True


def test_no_config_ignores_the_default(monkeypatch, tmp_path):
    from edge.run import config

    monkeypatch.setattr(config, "DEFAULT_PATH", write(tmp_path, "fps_cap = 3.0\n"))
    args, used = parse_with_config(run_parser(), [])
    assert used == config.DEFAULT_PATH and args.fps_cap == 3.0
    args, used = parse_with_config(run_parser(), ["--no-config"])
    assert used is None and args.fps_cap is None


def test_bad_model_at_start_has_its_own_exit_code(tmp_path):
    path = write(tmp_path, f'synthetic = true\nmodel = "{tmp_path / "missing.onnx"}"\n')
    proc = run("--config", path)
    assert proc.returncode == 3 and "missing.onnx: model file not found" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(("text", "needle"), [
    ("threads = 0\n", ":1: threads: must be >= 1, got 0"),
    ("camera = 0\nthreads = 100000\n", ":2: threads: must be <= 128, got 100000"),
    ("fps_cap = 0.0\n", ":1: fps_cap: must be >= 0.001, got 0"),
    ("duration = inf\n", ":1: duration: must be a finite number, got inf"),
    ("results_keep = -1\n", ":1: results_keep: must be >= 1, got -1"),
])
def test_bounds_in_the_file_name_file_line_and_key(tmp_path, text, needle):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load(path)
    assert str(err.value) == f"{path}{needle}"


@pytest.mark.parametrize(("args", "needle"), [
    (["--threads", "0"], "argument --threads: must be >= 1, got 0"),
    (["--threads", "10000"], "argument --threads: must be <= 128, got 10000"),
    (["--fps-cap", "nan"], "argument --fps-cap: must be a finite number, got nan"),
    (["--top-k", "five"], "argument --top-k: expected an integer, got 'five'"),
    (["--crop", "middle"], "argument --crop: invalid choice: 'middle'"),
    (["--synth"], "unrecognized arguments: --synth"),
])
def test_bad_flags_are_one_line_errors(args, needle):
    proc = run("--no-config", "--check-config", *args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edge-run: error: "), proc.stderr
    assert needle in lines[0]


def test_a_source_flag_replaces_the_files_source_and_abbreviations_are_refused(tmp_path):
    path = write(tmp_path, 'camera = "0"\n')
    args, _ = parse_with_config(run_parser(), ["--config", str(path), "--synthetic"])
    assert args.synthetic is True and args.camera is None
    args, _ = parse_with_config(run_parser(), ["--config", str(path), "--picamera"])
    assert args.picamera == 0 and args.camera is None
    proc = run("--config", path, "--synth", "--check-config")
    assert proc.returncode == 2 and "unrecognized arguments: --synth" in proc.stderr
