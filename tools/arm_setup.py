"""Emulated Raspberry Pi userlands for arm_check.py, built from registries into a work folder.

- Debian's python3.11 for arm64 (64-bit Pi OS) or armhf (32-bit Pi OS), fetched by apt with a
  private state folder and unpacked with ``dpkg -x`` (the system's package setup is untouched);
- PyPI wheels for them, pinned to this machine's versions: ``pip download`` into a wheel cache,
  then ``pip install --no-index --target`` (both skipped when already done);
- ``emulate()``: a command under ``qemu-{aarch64,arm}-static -cpu X`` inside ``unshare -m``
  with the board's /proc/cpuinfo bind-mounted over the host's (qemu-user passes the x86 one
  through; onnxruntime's CPU detection crashes on it).
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PY_DEBS = ["python3.11-minimal", "libpython3.11-minimal", "libpython3.11-stdlib", "libc6",
           "libgcc-s1", "libstdc++6", "zlib1g", "libexpat1", "libffi8", "libbz2-1.0",
           "liblzma5", "libssl3", "libcrypt1", "libuuid1", "libsqlite3-0", "libncursesw6",
           "libtinfo6", "libreadline8", "libdb5.3", "libnsl2", "libtirpc3", "libgssapi-krb5-2",
           "libkrb5-3", "libk5crypto3", "libkrb5support0", "libcom-err2", "libkeyutils1"]
# Debian's own numpy for armhf (PyPI has no armv7l numpy wheel) and the BLAS/LAPACK it loads
NUMPY_DEBS = ["python3-numpy", "libblas3", "liblapack3", "libgfortran5"]
TRIPLET = {"arm64": "aarch64-linux-gnu", "armhf": "arm-linux-gnueabihf"}
QEMU = {"arm64": "qemu-aarch64-static", "armhf": "qemu-arm-static"}
GLIBC_MINOR = 36  # Debian 12's glibc: the newest manylinux tag its python can take


@dataclass(frozen=True)
class Cpu:
    """An emulated board: qemu's CPU model and the /proc/cpuinfo a real one shows."""

    name: str
    qemu: str
    arch: str
    board: str
    features: str
    part: str
    variant: str = "0x0"
    revision: str = "4"


CPUS = [
    Cpu("pi3", "cortex-a53", "arm64", "Raspberry Pi 3 Model B Rev 1.2 / Zero 2 W",
        "fp asimd evtstrm crc32 cpuid", "0xd03"),
    Cpu("pi4", "cortex-a72", "arm64", "Raspberry Pi 4 Model B Rev 1.4",
        "fp asimd evtstrm crc32 cpuid", "0xd08", revision="3"),
    Cpu("pi5", "cortex-a76", "arm64", "Raspberry Pi 5 Model B Rev 1.0",
        "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc "
        "dcpop asimddp", "0xd0b", variant="0x4", revision="1"),
]
# 32-bit Pi OS: the lowest ARMv7 board it runs on (Pi 2); Pi 3/4/5 run the same armhf code
ARMHF_CPU = Cpu("pi2-armhf", "cortex-a7", "armhf", "Raspberry Pi 2 Model B Rev 1.1",
                "half thumb fastmult vfp edsp neon vfpv3 tls vfpv4 idiva idivt vfpd32 lpae "
                "evtstrm", "0xc07", revision="5")


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, **kw)


def cpuinfo_text(cpu: Cpu) -> str:
    """/proc/cpuinfo as the board's kernel writes it (four cores)."""
    arch = "7" if cpu.arch == "armhf" else "8"
    name = "model name\t: ARMv7 Processor rev 5 (v7l)\n" if cpu.arch == "armhf" else ""
    cores = [f"processor\t: {i}\n{name}BogoMIPS\t: 108.00\nFeatures\t: {cpu.features}\n"
             f"CPU implementer\t: 0x41\nCPU architecture: {arch}\nCPU variant\t: {cpu.variant}\n"
             f"CPU part\t: {cpu.part}\nCPU revision\t: {cpu.revision}\n" for i in range(4)]
    return "\n".join(cores) + f"\nModel\t\t: {cpu.board}\n"


def _apt_options(state: Path, arch: str) -> list[str]:
    return [f"-o=Dir={state}", f"-o=Dir::State::status={state}/var/lib/dpkg/status",
            f"-o=APT::Architecture={arch}", f"-o=APT::Architectures::={arch}",
            "-o=Dir::Etc::trusted=/etc/apt/trusted.gpg",
            "-o=Dir::Etc::trustedparts=/etc/apt/trusted.gpg.d", "-qq"]


def _apt_state(work: Path, arch: str) -> list[str]:
    """A private apt state for ``arch`` with this machine's Debian sources; its options."""
    state = work / f"apt-{arch}"
    options = _apt_options(state, arch)
    if (state / "updated").exists():
        return options
    for sub in ("etc/apt/sources.list.d", "etc/apt/preferences.d", "var/lib/apt/lists/partial",
                "var/cache/apt/archives/partial", "var/lib/dpkg"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    (state / "var/lib/dpkg/status").touch()
    for source in Path("/etc/apt/sources.list.d").glob("*"):
        if source.suffix in (".list", ".sources"):
            shutil.copy(source, state / "etc/apt/sources.list.d" / source.name)
    if Path("/etc/apt/sources.list").exists():
        shutil.copy("/etc/apt/sources.list", state / "etc/apt/sources.list")
    run(["apt-get", *options, "update"])
    (state / "updated").touch()
    return options


def sysroot(work: Path, arch: str, extra: list[str] = ()) -> Path:
    """Debian's python3.11 (and ``extra`` packages) for ``arch`` unpacked into
    work/root-ARCH; returns the sysroot. A package already unpacked is not fetched again."""
    root = work / f"root-{arch}"
    debs = work / f"debs-{arch}"
    debs.mkdir(parents=True, exist_ok=True)
    done = root / ".unpacked"
    have = set(done.read_text().split()) if done.exists() else set()
    wanted = [d for d in [*PY_DEBS, *extra] if d not in have]
    if not wanted:
        return root
    run(["apt-get", *_apt_state(work, arch), "download", *wanted], cwd=debs,
        stderr=subprocess.DEVNULL)
    for deb in sorted(debs.glob("*.deb")):
        if deb.name.split("_")[0] in wanted:
            run(["dpkg", "-x", str(deb), str(root)])
    lib = root / "usr/lib" / TRIPLET[arch]
    for name in ("blas/libblas.so.3", "lapack/liblapack.so.3"):  # Debian's alternatives,
        link = lib / Path(name).name                               # which postinst would make
        if (lib / name).exists() and not link.exists():
            link.symlink_to(name)
    if sys.version_info[:2] == (3, 11):  # bytecode is the same on every CPU: compiled here in
        subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0",  # seconds, not
                        str(root / "usr/lib/python3.11"),  # under emulation at first start
                        str(root / "usr/lib/python3/dist-packages")],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done.write_text(" ".join(sorted(have | set(wanted))))
    return root


def platforms(machine: str) -> list[str]:
    """pip ``--platform`` flags for a glibc-2.36 ``machine``: pip does not expand
    ``manylinux_2_28`` to the older tags it implies, so every one is named."""
    tags = [f"manylinux_2_{minor}_{machine}" for minor in range(GLIBC_MINOR, 16, -1)]
    tags += [f"manylinux2014_{machine}", f"linux_{machine}"]
    return [flag for tag in tags for flag in ("--platform", tag)]


def _pip_target_args(machine: str) -> list[str]:
    return [*platforms(machine), "--only-binary=:all:", "--python-version", "311",
            "--implementation", "cp"]


def wheels(work: Path, arch: str, requirements: list[str], name: str = "site",
           no_deps: bool = False) -> Path:
    """``requirements`` from PyPI for ``arch``'s python3.11 in work/NAME-ARCH (kept: a run
    with the same requirements installs nothing)."""
    site = work / f"{name}-{arch}"
    marker = site / ".requirements.json"
    if marker.exists() and json.loads(marker.read_text()) == requirements:
        return site
    machine = "aarch64" if arch == "arm64" else "armv7l"
    cache = work / f"wheels-{arch}"
    deps = ["--no-deps"] if no_deps else []
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    run([*pip, "download", "-d", str(cache), *deps, *_pip_target_args(machine),
         *requirements], stderr=subprocess.DEVNULL)
    shutil.rmtree(site, ignore_errors=True)
    run([*pip, "install", "--no-index", "--find-links", str(cache), "--target", str(site),
         *deps, *_pip_target_args(machine), *requirements])
    marker.write_text(json.dumps(requirements))
    return site


def wheel_exists(machine: str, requirement: str, python: str) -> str | None:
    """The wheel file PyPI has for ``requirement`` on ``machine`` and CPython ``python``
    (e.g. "311"), or None; resolved by ``pip download --no-deps`` into a throwaway folder."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                               "--disable-pip-version-check", "-d", tmp, *platforms(machine),
                               "--only-binary=:all:", "--python-version", python,
                               "--implementation", "cp", requirement],
                              capture_output=True, text=True)
        files = sorted(p.name for p in Path(tmp).iterdir())
    return files[0] if proc.returncode == 0 and files else None


def emulate(cpu: Cpu, work: Path, argv: list[str], pythonpath: list[Path],
            **kw) -> subprocess.CompletedProcess:
    """``argv`` (argv[0] a program in the sysroot) under qemu-user on ``cpu``, in a private
    mount namespace with the board's /proc/cpuinfo."""
    qemu = shutil.which(QEMU[cpu.arch])
    if qemu is None:
        raise RuntimeError(f"{QEMU[cpu.arch]} not found: apt-get install qemu-user-static")
    fake = work / f"cpuinfo-{cpu.name}"
    fake.write_text(cpuinfo_text(cpu))
    script = (f"mount --bind {shlex.quote(str(fake))} /proc/cpuinfo && exec {qemu} "
              f"-cpu {cpu.qemu} {shlex.join(argv)}")
    root = work / f"root-{cpu.arch}"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(work), "LANG": "C.UTF-8",
           "QEMU_LD_PREFIX": str(root),
           "PYTHONPATH": ":".join(map(str, pythonpath)), **kw.pop("env", {})}
    return subprocess.run(["unshare", "-m", "sh", "-c", script], env=env, **kw)


def python(work: Path, arch: str) -> Path:
    """The interpreter inside ``arch``'s sysroot."""
    return work / f"root-{arch}" / "usr/bin/python3.11"
