"""Hostile input, round two: the probe's commands, as tests. File names that are not UTF-8,
headers OpenCV cannot read, frames the recorder could not keep, inputs with no size bound,
numbers at the edges, signals at awkward moments, broken pipes, a converter killed or out of
disk, a folder holding two networks. Each gets one line and an exit code, nothing lost in
silence and nothing half-written. (Slow and memory-bound probes: tools/probe_hostile.py.)"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import BIN, PHOTOS, QUANT_025, QUANT_05
from .test_limits import png_bomb

LATIN1 = os.fsdecode(b"caf\xe9.jpg")  # a Latin-1 name: not UTF-8


def run(tool: str, *args, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / tool), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, **kw)


def one_line_error(proc: subprocess.CompletedProcess, code: int = 2) -> str:
    err = proc.stderr.strip()
    assert proc.returncode == code, (proc.returncode, err)
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    """The 0.25-128 QAT file converted: a model folder for edge-run."""
    out = tmp_path_factory.mktemp("model")
    proc = run("edge-convert", "--weights", QUANT_025, "-o", out, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture
def odd_photos(tmp_path) -> Path:
    """Three photos, one under a name that is not UTF-8, and two files OpenCV cannot read:
    a PPM whose header has a comment and promises 20000x20000, and a P3 PPM cut short."""
    folder = tmp_path / "odd"
    folder.mkdir()
    shutil.copy(PHOTOS / "bird.jpg", folder / "bird.jpg")
    shutil.copy(PHOTOS / "parrot.jpg", folder / "parrot.jpg")
    shutil.copy(PHOTOS / "cat.jpg", os.path.join(folder, LATIN1))
    (folder / "x.ppm").write_bytes(b"P6\n# c\n20000 20000\n255\n")
    (folder / "y.ppm").write_bytes(b"P3\n# a comment\n2 2\n255\n0 0 0 255")
    return folder


def test_any_file_name_and_unreadable_headers_in_a_replay(model, odd_photos, tmp_path):
    results = tmp_path / "r.jsonl"
    proc = run("edge-run", "--no-config", "--model", model, "--replay", odd_photos, "--json",
               "--results", results)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["frames"]["processed"] == 3 and summary["frames"]["skipped"] == 2
    assert any(n.startswith("x.ppm (20000x20000 pixels") for n in summary["skipped_names"])
    assert any(n.startswith("y.ppm (") for n in summary["skipped_names"])
    names = [json.loads(line)["name"] for line in results.read_text().splitlines()]
    assert "caf\ufffd.jpg" in names  # shown, never crashing a JSON writer
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert next(r for r in lines if r["name"] == "caf\ufffd.jpg")["top"][0]["label"] in (
        "Egyptian cat", "tabby", "tiger cat")


def test_a_video_name_that_is_not_utf8_is_one_line(model, tmp_path):
    err = one_line_error(run("edge-run", "--no-config", "--model", model, "--camera",
                             os.fsdecode(b"vid\xe9.avi")))
    assert "not valid UTF-8" in err


def test_calibration_with_odd_files_skips_them_and_leaves_no_staging(odd_photos, tmp_path):
    out = tmp_path / "out"
    proc = run("edge-convert", "--alpha", "0.25", "--resolution", "96", "--classes", "4",
               "--calibration", odd_photos, "--calibration-samples", "2",
               "--verify-samples", "5", "--no-tflite", "-o", out, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "mobilenet_v1_0.25_96_fp32.onnx", "mobilenet_v1_0.25_96_int8.onnx", "report.json"]
    skipped = json.loads((out / "report.json").read_text())["calibration"]["skipped"]
    assert len(skipped) == 2 and any("x.ppm" in s for s in skipped)


def test_every_frame_the_recorder_does_not_keep_is_counted(tmp_path):
    folder = tmp_path / "rec"
    proc = run("edge-run", "--no-config", "--synthetic", "--no-infer", "--duration", "2",
               "--record", folder, "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    recorder = summary["sinks"]["recorder"]
    manifest = (folder / "manifest.jsonl").read_text().splitlines()
    assert recorder["written"] == len(manifest) > 0
    assert recorder["written"] + recorder["dropped"] == summary["frames"]["captured"]
    # an unpaced synthetic source outruns any JPEG encoder: sampling, said and counted
    assert recorder["dropped"] > 0
    text = run("edge-run", "--no-config", "--synthetic", "--no-infer", "--duration", "1",
               "--record", tmp_path / "rec2")
    assert "not recorded (the disk or the encoder could not keep up)" in text.stdout


@pytest.mark.parametrize(("args", "needle"), [
    (("--fps-cap", "1e-12"), "--fps-cap: must be >= 0.001"),
    (("--duration", "-1"), "--duration: must be > 0"),
    (("--duration", "nan"), "--duration: must be a finite number"),
    (("--threads", "10000"), "--threads: must be <= 128"),
    (("--idle-seconds", "inf"), "--idle-seconds: must be a finite number"),
])
def test_edge_run_numbers_out_of_bounds(args, needle):
    err = one_line_error(run("edge-run", "--no-config", "--synthetic", "--no-infer", *args))
    assert needle in err


@pytest.mark.parametrize(("args", "needle"), [
    (("--duration", "nan"), "--duration: must be a finite number"),
    (("--duration", "inf"), "--duration: must be a finite number"),
    (("--sustained", "-1"), "--sustained: must be > 0"),
    (("--warmup", "-1"), "--warmup: must be >= 0"),
    (("--threads", "1,10000"), "--threads: must be <= 128"),
    (("--idle-seconds", "nan"), "--idle-seconds: must be a finite number"),
    (("--layers",), "--layers '4.0-2048': expected published configurations"),
])
def test_edge_bench_numbers_out_of_bounds(args, needle):
    models = ["4.0-2048"] if args == ("--layers",) else [str(QUANT_025)]
    err = one_line_error(run("edge-bench", *args, *models))
    assert needle in err


def test_a_capped_rate_still_ends_on_time():
    t0 = time.monotonic()
    proc = run("edge-run", "--no-config", "--synthetic", "--no-infer", "--fps-cap", "0.05",
               "--duration", "2", "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["end"] == "duration reached"
    assert time.monotonic() - t0 < 15  # 20 s per frame at 0.05 FPS; the duration wins


@pytest.mark.parametrize(("make", "flag", "needle"), [
    (lambda p: p.write_bytes(b"# x\n" * (300_000)), "--config", "more than a config file"),
    (lambda p: None, "--http-password-file", "not a regular file"),
])
def test_inputs_have_size_bounds_checked_before_reading(tmp_path, make, flag, needle):
    path = tmp_path / "f"
    make(path)
    target = path if path.exists() else Path("/dev/zero")
    args = ["--synthetic", "--no-infer", "--check-config"]
    args += ["--http", "127.0.0.1:0"] if flag != "--config" else []
    err = one_line_error(run("edge-run", *args, flag, target))
    assert needle in err


def test_labels_from_a_device_are_refused(tmp_path):
    err = one_line_error(run("edge-convert", "--weights", QUANT_025, "--labels", "/dev/zero",
                             "-o", tmp_path / "o"))
    assert "--labels /dev/zero" in err and not (tmp_path / "o").exists()


def test_a_huge_image_is_skipped_before_it_is_decoded(model, tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    shutil.copy(PHOTOS / "bird.jpg", folder)
    png_bomb(folder / "big.png", 7000)  # 49 MP: under the pixel limit, over the full decode
    proc = run("edge-run", "--no-config", "--model", model, "--replay", folder, "--json")
    summary = json.loads(proc.stdout)
    assert summary["frames"]["processed"] == 1 and summary["frames"]["skipped"] == 1
    assert "only JPEGs are decoded beyond" in summary["skipped_names"][0]
    assert summary["rss_peak_mb"] < 384  # the unit's MemoryMax


def test_output_closed_by_its_reader_ends_the_run_quietly(model):
    proc = subprocess.run(f"'{BIN / 'edge-run'}' --no-config --model '{model}' --replay "
                          f"'{PHOTOS}' --loop -v | head -1", shell=True, capture_output=True,
                          text=True, timeout=120, executable="/bin/bash")
    assert proc.stdout.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    code = subprocess.run(f"set -o pipefail; '{BIN / 'edge-run'}' --no-config --model "
                          f"'{model}' --replay '{PHOTOS}' --loop -v | head -1", shell=True,
                          capture_output=True, timeout=120, executable="/bin/bash").returncode
    assert code == 141  # 128 + SIGPIPE, as a shell reports `cmd | head`


def _signalled(model, sig: int, after_s: float | None) -> tuple[int, str, str]:
    """edge-run replaying forever, sent ``sig`` once its first result is out (None) or
    ``after_s`` after it started."""
    proc = subprocess.Popen([str(BIN / "edge-run"), "--no-config", "--model", str(model),
                             "--replay", str(PHOTOS), "--loop", "--realtime", "-v"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if after_s is None:
        assert proc.stdout.readline()  # a result: the run is under way
    else:
        time.sleep(after_s)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 0)])
def test_signals_mid_run_end_cleanly_with_the_summary(model, sig, code):
    returncode, out, err = _signalled(model, sig, None)
    assert returncode == code and "Traceback" not in err, err
    assert "frames " in out and "(stopped)" in out


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("after_s", [0.15, 0.4])
def test_signals_while_starting_end_cleanly(model, sig, after_s):
    """Python's own start-up (its first ~30 ms) is before edge has a say; from then on a
    signal is recorded and the run ends cleanly as soon as it safely can."""
    returncode, _, err = _signalled(model, sig, after_s)
    assert "Traceback" not in err, err
    assert returncode == (130 if sig == signal.SIGINT else 0), err


def test_a_converter_killed_leaves_staging_the_next_run_removes(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen([str(BIN / "edge-convert"), "--alpha", "0.5", "--calibration",
                             str(PHOTOS), "-o", str(out)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(out.glob(".edge-convert-*/*")):
        time.sleep(0.05)
    proc.kill()
    proc.wait(timeout=30)
    assert list(out.glob(".edge-convert-*"))  # SIGKILL cleans nothing up
    again = run("edge-convert", "--weights", QUANT_025, "-o", out, timeout=300)
    assert again.returncode == 0, again.stderr
    assert not list(out.glob(".edge-convert-*"))


def test_bad_weights_create_no_output_folder(tmp_path):
    err = one_line_error(run("edge-convert", "--weights", tmp_path / "nope.tflite", "-o",
                             tmp_path / "out"))
    assert "nope.tflite" in err and not (tmp_path / "out").exists()


def test_a_second_network_replaces_the_first_in_its_folder(model, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(model, out)
    proc = run("edge-convert", "--weights", QUANT_05, "-o", out, timeout=300)
    assert proc.returncode == 0 and "removed the previous conversion's" in proc.stdout
    assert all("0.5_160" in p.name for p in out.iterdir() if p.suffix in (".onnx", ".tflite"))
    done = run("edge-run", "--no-config", "--model", out, "--replay", PHOTOS, "--max-frames",
               "2", "-q")
    assert done.returncode == 0, done.stderr
    # two networks put side by side by hand: the error names them and says what to do
    for path in model.glob("*.onnx"):
        shutil.copy(path, out)
    err = one_line_error(run("edge-run", "--no-config", "--model", out, "--synthetic"), 3)
    assert "holds 2 networks" in err and "0.25-128 (" in err and "--model FOLDER/FILE" in err


def test_a_full_output_disk_is_one_line_and_changes_nothing(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs",
                                            str(disk)], capture_output=True).returncode != 0:
        pytest.skip("needs root to mount a small tmpfs as a full disk")
    try:
        err = one_line_error(run("edge-convert", "--weights", QUANT_025, "-o", disk / "out",
                                 timeout=300))
        assert "No space left on device" in err and "nothing in it was changed" in err
        assert [p.name for p in (disk / "out").iterdir()] == []
    finally:
        subprocess.run(["umount", str(disk)], check=False)
