"""Hostile input is refused before it is allocated: image headers that promise gigabytes,
numbers out of bounds, output paths that cannot be written."""

from __future__ import annotations

import json
import re
import struct
import subprocess
import zlib

import cv2
import numpy as np
import pytest

from edge.sources.images import MAX_PIXELS, header_size, too_large

from .conftest import BIN, PHOTOS, QUANT_025


def png_bomb(path, side: int) -> None:
    """A real, valid PNG of side x side black pixels: a few hundred KB on disk."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    packer = zlib.compressobj(9)
    row = b"\x00" * (1 + 3 * side)  # filter byte + RGB
    idat = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side,
                                                                       8, 2, 0, 0, 0))
                     + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


@pytest.mark.parametrize(("ext", "params"), [("jpg", []), ("png", []), ("bmp", []),
                                             ("webp", []), ("webp", [cv2.IMWRITE_WEBP_QUALITY,
                                                                     101]),
                                             ("ppm", []), ("pgm", [])])
def test_header_sizes_match_the_decoded_image(tmp_path, ext, params):
    image = np.random.default_rng(0).integers(0, 256, (37, 53, 3), np.uint8)
    path = tmp_path / f"a.{ext}"
    assert cv2.imwrite(str(path), image if ext != "pgm" else image[:, :, 0], params)
    assert header_size(path) == (53, 37)


def test_truncated_and_unknown_headers_leave_it_to_the_decoder(tmp_path):
    (tmp_path / "cut.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00")
    (tmp_path / "x.tif").write_bytes(b"II*\x00" + b"\x00" * 60)
    assert header_size(tmp_path / "cut.jpg") is None
    assert header_size(tmp_path / "x.tif") is None


def test_a_decompression_bomb_is_skipped_with_its_reason_not_decoded(tmp_path):
    from edge.convert import ConvertOptions, convert

    model = convert(ConvertOptions(output=tmp_path / "m", weights=str(QUANT_025)),
                    log=lambda _: None)["files"]["fp32"]["path"]
    folder = tmp_path / "frames"
    folder.mkdir()
    for photo in sorted(PHOTOS.iterdir())[:3]:
        (folder / photo.name).write_bytes(photo.read_bytes())
    png_bomb(folder / "zz_bomb.png", 12000)  # 144 MP: 432 MB decoded
    assert (folder / "zz_bomb.png").stat().st_size < 2_000_000
    assert too_large(folder / "zz_bomb.png") == \
        f"12000x12000 pixels, over the {MAX_PIXELS / 1e6:g} MP limit"
    proc = subprocess.run([str(BIN / "edge-run"), "--replay", str(folder), "--model", model,
                           "--json", "-q", "--no-config"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["frames"]["processed"] == 3 and summary["frames"]["skipped"] == 1
    assert summary["skipped_names"] == ["zz_bomb.png (12000x12000 pixels, over the 50 MP "
                                        "limit)"]
    assert summary["rss_peak_mb"] < 400  # the 432 MB image was never decoded


@pytest.mark.parametrize("flag", ["--json", "--plot"])
def test_edge_bench_checks_its_output_paths_before_measuring(tmp_path, flag):
    proc = subprocess.run([str(BIN / "edge-bench"), str(tmp_path / "none.onnx"), flag,
                           str(tmp_path / "missing" / "out.file")], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"edge-bench: error: {flag} {tmp_path}/missing/out.file: "
                                   f"folder {tmp_path}/missing does not exist")


def test_recorded_frames_are_on_disk_before_they_are_named_or_listed(tmp_path):
    """The order of system calls a power cut cannot break: write, fsync, rename, then the
    manifest line; the manifest and results log are fsynced too (strace shows it)."""
    import shutil

    if shutil.which("strace") is None:
        pytest.skip("no strace: apt-get install strace")
    rec, log = tmp_path / "rec", tmp_path / "r.jsonl"
    trace = tmp_path / "trace"
    proc = subprocess.run(["strace", "-f", "-qq", "-y", "-e", "trace=write,fsync,rename",
                           "-o", str(trace), str(BIN / "edge-run"), "--synthetic", "--no-infer",
                           "--record", str(rec), "--results", str(log), "--max-frames", "5",
                           "-q", "--no-config"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    events = []  # (call, path) in the order the calls started
    for line in trace.read_text().splitlines():
        if match := re.search(r"\b(fsync|write)\(\d+<([^>]+)>", line):
            events.append((match.group(1), match.group(2)))
        elif match := re.search(r'\brename\("([^"]+)"', line):
            events.append(("rename", match.group(1)))
    manifest = str(rec / "manifest.jsonl")
    frames = [p for kind, p in events if kind == "rename" and p.startswith(str(rec))]
    assert len(frames) == len((rec / "manifest.jsonl").read_text().splitlines()) >= 5
    for tmp in frames:
        synced = events.index(("fsync", tmp))
        renamed = events.index(("rename", tmp))
        listed = next(i for i, e in enumerate(events) if e == ("write", manifest)
                      and i > renamed)
        assert events.index(("write", tmp)) < synced < renamed < listed
    assert ("fsync", manifest) in events and ("fsync", str(log)) in events


@pytest.mark.parametrize("flag", ["--alpha 1000", "--alpha inf", "--alpha nan",
                                  "--classes 100000000", "--resolution 100000"])
def test_sizes_out_of_bounds_are_refused_with_what_they_would_cost(tmp_path, flag):
    proc = subprocess.run([str(BIN / "edge-convert"), *flag.split(), "-o", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    err = proc.stderr.strip().splitlines()[-1]
    assert err.startswith(f"edge-convert: error: {flag} is out of bounds")
    if "inf" not in flag and "nan" not in flag:
        assert "parameters" in err and "of activations per frame" in err


def test_calibration_with_too_few_readable_frames_is_an_error_unless_asked_for(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    (folder / "good.jpg").write_bytes((PHOTOS / "parrot.jpg").read_bytes())
    for i in range(11):
        (folder / f"broken{i}.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    base = [str(BIN / "edge-convert"), "--alpha", "0.25", "--resolution", "64",
            "--calibration", str(folder)]
    proc = subprocess.run([*base, "-o", str(tmp_path / "a")], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and "only 1 readable calibration frame (11 unreadable " \
        "skipped); int8 needs at least 8 (--calibration-samples 1 accepts it)" in proc.stderr
    assert not list((tmp_path / "a").iterdir())
    proc = subprocess.run([*base, "--calibration-samples", "1", "-o", str(tmp_path / "b")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = subprocess.run([*base[:-1], str(empty), "-o", str(tmp_path / "c")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "no image files" in proc.stderr


def test_sigterm_during_a_conversion_cleans_up_like_ctrl_c(tmp_path):
    """Mid-quantization: onnxruntime's calibrator has its files in $TMPDIR and the models are
    in a staging folder inside --output; SIGTERM leaves neither."""
    import os
    import signal
    import time

    tmp, out = tmp_path / "tmp", tmp_path / "out"
    tmp.mkdir()
    proc = subprocess.Popen([str(BIN / "edge-convert"), "--alpha", "1.0", "--resolution", "224",
                             "--calibration", str(PHOTOS), "--calibration-method", "minmax",
                             "-o", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "TMPDIR": str(tmp)})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(tmp.glob("edge-quant-*/*")):
        time.sleep(0.02)
    assert any(tmp.glob("edge-quant-*/*")), "the quantizer never wrote its temporary files"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1] == "edge-convert: terminated (SIGTERM); nothing " \
                                            "half-written was left"
    # .ses: onnxruntime's native library writes it in $TMPDIR on import and keeps it
    assert [p.name for p in tmp.iterdir() if p.name != ".ses"] == []
    assert list(out.iterdir()) == []
