"""edge-run --doctor: what usually breaks a camera service, checked on this machine, each with
a one-line fix. FAIL blocks the configured job; WARN is worth knowing; exit 0 only without FAIL.
"""

from __future__ import annotations

import argparse
import grp
import os
import platform
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

from edge.errors import EdgeError
from edge.redact import redact


@dataclass
class Check:
    name: str
    status: str  # OK, WARN, FAIL, SKIP
    detail: str
    fix: str = ""


def _camera(args: argparse.Namespace) -> list[Check]:
    checks = []
    if args.picamera is not None:
        try:
            import picamera2
            from picamera2 import Picamera2
        except ImportError:
            return [Check("picamera2", "FAIL", "picamera2 is not importable",
                          "sudo apt install python3-picamera2; recreate the venv with "
                          "--system-site-packages")]
        origin = str(Path(picamera2.__file__).resolve())
        from_apt = origin.startswith("/usr/lib/python3/dist-packages")
        checks.append(Check("picamera2", "OK" if from_apt else "WARN", f"imported from {origin}",
                            "" if from_apt else "use apt's python3-picamera2: the pip build "
                            "does not match the system libcamera"))
        try:
            cameras = Picamera2.global_camera_info()
        except Exception as exc:
            cameras, why = [], str(exc)
        else:
            why = f"{len(cameras)} camera(s) detected"
        ok = args.picamera < len(cameras)
        checks.append(Check(f"camera picamera2:{args.picamera}", "OK" if ok else "FAIL", why,
                            "" if ok else "check the ribbon cable; `rpicam-hello --list-cameras`"))
        return checks
    if args.camera is None:
        return [Check("camera", "SKIP", "the configured source is not a camera")]
    spec = str(args.camera)
    if "://" in spec:
        return [Check(f"camera {redact(spec)}", "SKIP", "a network stream: not checked here")]
    node = f"/dev/video{spec}" if spec.isdigit() else spec
    if not os.path.exists(node):
        return [Check(f"camera {spec}", "FAIL", f"{node} does not exist",
                      "connect the camera; `v4l2-ctl --list-devices` lists cameras")]
    if not os.access(node, os.R_OK | os.W_OK):
        return [Check(f"camera {spec}", "FAIL", f"{node}: permission denied",
                      "sudo usermod -aG video $USER (then log in again)")]
    from edge.errors import SourceError
    from edge.sources.opencv import OpenCVSource

    source = OpenCVSource(spec, args.width, args.height, args.camera_fps)
    try:
        source.open()
        frame = source.read()
        got = source.negotiated
        detail = (f"opened, {frame.image.shape[1]}x{frame.image.shape[0]} at "
                  f"{got.get('fps', 0):.0f} FPS")
        return [Check(f"camera {spec}", "OK", detail)]
    except SourceError as exc:
        return [Check(f"camera {spec}", "FAIL", str(exc), "is another program using it?")]
    finally:
        source.close()


def _video_group() -> Check:
    try:
        gid = grp.getgrnam("video").gr_gid
    except KeyError:
        return Check("video group", "SKIP", "no 'video' group on this system")
    if os.geteuid() == 0 or gid in os.getgroups():
        return Check("video group", "OK", "this user can open cameras and /dev/vcio")
    return Check("video group", "WARN", "this user is not in 'video'",
                 "sudo usermod -aG video $USER (the service unit adds it by itself)")


def _vcgencmd() -> list[Check]:
    from edge.telemetry.thermal import decode_throttled, read_throttled

    if shutil.which("vcgencmd") is None:
        return [Check("vcgencmd", "SKIP", "not installed (not a Raspberry Pi?)")]
    if not os.access("/dev/vcio", os.R_OK | os.W_OK):
        return [Check("vcgencmd", "WARN", "/dev/vcio not accessible: no throttling or PMIC "
                      "readings", "add the user to 'video'; under systemd allow /dev/vcio")]
    value = read_throttled()
    if value.value is None:
        return [Check("vcgencmd", "WARN", value.reason)]
    words = decode_throttled(value.value)
    status = "WARN" if words["now"] or words["since_boot"] else "OK"
    detail = f"throttled={value.value}: " + (", ".join(words["now"] + words["since_boot"])
                                             or "no throttling")
    return [Check("vcgencmd", "OK", "reachable"),
            Check("throttling", status, detail,
                  "" if status == "OK" else "use the official power supply and a heatsink/fan")]


def _system() -> list[Check]:
    from edge.telemetry.thermal import read_cpu_clock

    checks = []
    bits = struct.calcsize("P") * 8
    machine = platform.machine()
    checks.append(Check("64-bit OS", "OK" if bits == 64 else "WARN",
                        f"{machine}, {bits}-bit Python",
                        "" if bits == 64 else "install Raspberry Pi OS (64-bit): PyPI has no "
                        "32-bit ARM wheels of onnxruntime, LiteRT, OpenCV or numpy"))
    _, governor = read_cpu_clock()
    if governor.value is None:
        checks.append(Check("CPU governor", "SKIP", governor.reason))
    else:
        slow = governor.value == "powersave"
        checks.append(Check("CPU governor", "WARN" if slow else "OK", governor.value,
                            "echo ondemand | sudo tee /sys/devices/system/cpu/cpu*/cpufreq/"
                            "scaling_governor" if slow else ""))
    return checks


def _disk(args: argparse.Namespace) -> Check:
    target = args.record or (args.results.parent if args.results else None)
    if target is None:
        return Check("disk", "SKIP", "nothing is recorded or logged")
    probe = next((p for p in [Path(target), *Path(target).parents] if p.exists()), Path("/"))
    free = shutil.disk_usage(probe).free
    need = 1 << 30 if args.record else 100 << 20
    status = "OK" if free >= need else ("FAIL" if free < need // 10 else "WARN")
    return Check("disk", status, f"{free / 2**30:.1f} GiB free at {probe}",
                 "" if status == "OK" else "free space or point --record/--results elsewhere")


def _runtime(args: argparse.Namespace) -> list[Check]:
    import onnxruntime as ort

    from edge.machine import cpu_features

    cpu = cpu_features()
    checks = [Check("onnxruntime", "OK", f"{ort.__version__}, providers "
                    f"{', '.join(ort.get_available_providers())}; CPU {cpu['model']}, "
                    f"int8 dot-product {'yes' if cpu['dot_product'] else 'no'}"
                    f"{', i8mm' if cpu['int8_matmul'] else ''}")]
    if not args.infer:
        return checks
    if args.model is None:
        return [*checks, Check("model", "FAIL", "no model configured", "set --model")]
    from edge.engines import open_engine
    from edge.model import read_model_info

    model = args.model
    if model.is_dir():
        from edge.run.choice import builds_in

        try:
            model = next(iter(builds_in(model).values()))[0]
        except EdgeError as exc:
            return [*checks, Check("model", "FAIL", str(exc), "convert it with edge-convert")]
    try:
        info = read_model_info(model)
        open_engine(model, threads=1, cache_dir=None, info=info, warmup=True)
    except EdgeError as exc:
        return [*checks, Check("model", "FAIL", str(exc), "convert it with edge-convert")]
    checks.append(Check("model", "OK" if info.trained else "WARN",
                        f"{info.name}, {info.classes} classes"
                        + ("" if info.trained else ", UNTRAINED random weights"),
                        "" if info.trained else "convert real weights with edge-convert"))
    if info.precision == "int8" and not cpu["dot_product"]:
        checks.append(Check("int8 speed", "WARN", "int8 model on a CPU without dot-product "
                            "instructions: it may be slower than fp32",
                            "compare with `edge-bench FP32.onnx INT8.onnx`"))
    return checks


def _secrets(args: argparse.Namespace, config_path: Path | None) -> Check:
    from edge.redact import exposed_secrets
    from edge.run.wiring import secret_files

    exposed = exposed_secrets(secret_files(args), config_path)
    if exposed:
        return Check("secrets", "WARN", "; ".join(exposed),
                     "only the service's user (and root) should read secrets")
    return Check("secrets", "OK", "no password, token or key readable by every user")


def run_checks(args: argparse.Namespace, config_path: Path | None = None) -> list[Check]:
    return [*_camera(args), _video_group(), *_vcgencmd(), *_system(), _disk(args),
            _secrets(args, config_path), *_runtime(args)]


def format_checks(checks: list[Check]) -> str:
    lines = []
    for c in checks:
        line = f"{c.status:<5} {c.name:<22} {c.detail}"
        if c.fix:
            line += f"\n      {'':<22} fix: {c.fix}"
        lines.append(line)
    failed = sum(c.status == "FAIL" for c in checks)
    lines.append(f"{failed} problem(s) block the configured job" if failed else
                 "nothing blocks the configured job")
    return "\n".join(lines)
