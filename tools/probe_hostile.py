#!/usr/bin/env python3
"""The slow half of the hostile-input probe (the fast half is tests/test_hostile.py): what
each attack costs and how edge answers it, measured on this machine, for docs/deployment.md.

- signals at every moment of start-up: SIGINT and SIGTERM sent 0-1000 ms after edge-run
  starts; exit codes and whether a traceback was printed;
- memory: peak RSS (VmHWM) of a replay holding a 7000x7000 PNG and a 8000x6000 JPEG;
- time to refuse: a 50 MB config file, --http-password-file /dev/zero, --layers 4.0-2048;
- brute force: 100 wrong passwords against the page, how many were even checked;
- the recorder: frames kept and sampled from an unpaced and a 30 FPS synthetic camera.

    python tools/probe_hostile.py [--quick]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PHOTOS = ROOT / "data" / "photos"


def edge(tool: str, *args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / tool), *map(str, args)], capture_output=True, text=True,
                          timeout=600, **kw)


def signals(model: Path, delays_ms: list[int]) -> list[str]:
    rows = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        outcomes: dict[str, list[int]] = {}
        for ms in delays_ms:
            proc = subprocess.Popen([str(BIN / "edge-run"), "--no-config", "--model", str(model),
                                     "--replay", str(PHOTOS), "--loop", "--quiet"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            time.sleep(ms / 1000)
            proc.send_signal(sig)
            try:
                _, err = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate()
                outcomes.setdefault("HUNG", []).append(ms)
                continue
            what = f"exit {proc.returncode}" + (" + traceback" if "Traceback" in err else "")
            outcomes.setdefault(what, []).append(ms)
        for what, times in outcomes.items():
            rows.append(f"| {sig.name} | {what} | {', '.join(map(str, times))} ms |")
    return rows


def peak_rss(model: Path, tmp: Path) -> str:
    folder = tmp / "big"
    folder.mkdir()
    cv2.imwrite(str(folder / "png_7000.png"), np.zeros((7000, 7000, 3), np.uint8))
    noise = np.random.default_rng(0).integers(0, 256, (6000, 8000, 3), np.uint8)
    cv2.imwrite(str(folder / "jpeg_8000x6000.jpg"), noise, [cv2.IMWRITE_JPEG_QUALITY, 80])
    shutil.copy(PHOTOS / "bird.jpg", folder)
    proc = edge("edge-run", "--no-config", "--model", model, "--replay", folder, "--json")
    s = json.loads(proc.stdout)
    return (f"| replay of bird.jpg, a 7000x7000 PNG and an 8000x6000 JPEG | {s['rss_peak_mb']:.0f} "
            f"MB peak RSS; {s['frames']['processed']} processed, skipped: "
            f"{'; '.join(s['skipped_names']) or 'none'} |")


def refusals(tmp: Path) -> list[str]:
    big = tmp / "big.toml"
    big.write_bytes(b"# padding\n" * 5_000_000)
    cases = [("a 50 MB config file", ["edge-run", "--config", big, "--check-config"]),
             ("--http-password-file /dev/zero", ["edge-run", "--synthetic", "--no-infer",
                                                 "--http", "127.0.0.1:0",
                                                 "--http-password-file", "/dev/zero",
                                                 "--check-config"]),
             ("edge-bench --layers 4.0-2048", ["edge-bench", "--layers", "4.0-2048"])]
    rows = []
    for name, (tool, *args) in cases:
        t0 = time.perf_counter()
        proc = edge(tool, *args)
        rows.append(f"| {name} | exit {proc.returncode} in {time.perf_counter() - t0:.2f} s: "
                    f"`{proc.stderr.strip()[:110]}` |")
    return rows


def brute_force(tmp: Path) -> str:
    (tmp / "pw").write_text("correct-horse-battery\n")
    proc = subprocess.Popen([str(BIN / "edge-run"), "--no-config", "--synthetic", "--no-infer",
                             "--camera-fps", "5", "--http", "127.0.0.1:0",
                             "--http-password-file", str(tmp / "pw"), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = None
    while url is None:
        line = proc.stderr.readline()
        if "web page on" in line:
            url = line.split("web page on ")[1].split()[0]
    statuses: dict[int, int] = {}
    t0 = time.perf_counter()
    for i in range(100):
        token = base64.b64encode(f"edge:guess-{i}".encode()).decode()
        request = urllib.request.Request(url + "stats", headers={"Authorization":
                                                                 f"Basic {token}"})
        try:
            urllib.request.urlopen(request, timeout=5)
            code = 200
        except urllib.error.HTTPError as exc:
            code = exc.code
        statuses[code] = statuses.get(code, 0) + 1
    elapsed = time.perf_counter() - t0
    proc.terminate()
    proc.wait(timeout=30)
    return (f"| 100 wrong passwords, one address | {elapsed:.2f} s; "
            + ", ".join(f"{n} answered {code}" for code, n in sorted(statuses.items()))
            + " (429: locked out, the password not even checked) |")


def recorder(tmp: Path) -> list[str]:
    rows = []
    for name, extra in (("unpaced synthetic camera", []),
                        ("synthetic camera at 30 FPS", ["--camera-fps", "30"])):
        proc = edge("edge-run", "--no-config", "--synthetic", "--no-infer", "--duration", "5",
                    "--record", tmp / name.replace(" ", "_"), "--json", *extra)
        s = json.loads(proc.stdout)
        r = s["sinks"]["recorder"]
        rows.append(f"| recorder, {name}, 5 s | {s['frames']['captured']} captured, "
                    f"{r['written']} recorded, {r['dropped']} not (counted) |")
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer signal delays")
    args = ap.parse_args()
    delays = [0, 20, 50, 100, 300, 1000] if args.quick else \
        [0, 10, 20, 30, 40, 50, 70, 100, 150, 200, 300, 500, 700, 1000]
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if "model name" in line), "")
    print(f"machine: {platform.machine()} {cpu}, {os.cpu_count()} CPUs; "
          f"{time.strftime('%Y-%m-%d')}\n")
    with tempfile.TemporaryDirectory(prefix="edge-probe-") as tmp_name:
        tmp = Path(tmp_name)
        model = tmp / "model"
        edge("edge-convert", "--weights", ROOT / "data/models/mobilenet_v1_0.25_128_quant.tflite",
             "-o", model)
        print("| signal | outcome | sent after |\n| --- | --- | --- |")
        print("\n".join(signals(model, delays)))
        print("\n| probe | what happened |\n| --- | --- |")
        print(peak_rss(model, tmp))
        print("\n".join(refusals(tmp)))
        print(brute_force(tmp))
        print("\n".join(recorder(tmp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
