"""Power and energy: a small registry of readers, each None (with a reason) where it does not
apply, and a meter that turns the best one into watts, joules per inference and inferences per
joule. Every figure carries the method that produced it; estimates say so.

Readers, best first:
- ``pi5-pmic``: Raspberry Pi 5 PMIC rails, ``vcgencmd pmic_read_adc``, sum of V x A. Board
  rails only: the 5 V input and USB peripherals are not included.
- ``hwmon``: INA219/INA226/INA260 (and kin) power or energy channels under /sys/class/hwmon.
- ``rapl``: Intel/AMD RAPL package energy counters under /sys/class/powercap (CPU package only).
- ``estimate``: a known board's idle and full-load power, interpolated by CPU utilisation
  from /proc/stat. Always labelled "estimated".
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from edge.machine import PROC, SYS, Runner, read_text, run_vcgencmd, vcgencmd
from edge.telemetry.figures import Energy

INA_NAMES = {"ina209", "ina219", "ina220", "ina226", "ina230", "ina231", "ina238", "ina260",
             "ina2xx", "ina3221"}
# (idle W, all cores busy W) for the whole board, from commonly published measurements of
# each board with no peripherals; rough (+-30%), which is why they are only ever "estimated".
BOARDS = {
    "Raspberry Pi 5": (2.7, 7.5),
    "Raspberry Pi 4 Model B": (2.7, 6.4),
    "Raspberry Pi 3 Model B Plus": (1.9, 5.1),
    "Raspberry Pi 3 Model B": (1.4, 3.7),
    "Raspberry Pi Zero 2 W": (0.6, 3.0),
}


@dataclass
class PowerSample:
    """One reading: instantaneous ``watts`` and/or a cumulative ``energy_j`` counter."""

    method: str
    watts: float | None = None
    energy_j: float | None = None
    estimated: bool = False
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.watts is not None or self.energy_j is not None


class PowerReader:
    """Base reader: sample() returns a PowerSample; unavailable readers set ``reason``."""

    name = "none"
    estimated = False

    def sample(self) -> PowerSample:
        return PowerSample(self.name, reason="not implemented")


def parse_pmic(text: str) -> tuple[float | None, str]:
    """Sum of V x A over rails that report both, from ``vcgencmd pmic_read_adc`` output:
    lines like ``VDD_CORE_A current(7)=0.71484030A`` and ``VDD_CORE_V volt(15)=0.72164450V``."""
    amps: dict[str, float] = {}
    volts: dict[str, float] = {}
    pattern = re.compile(r"^\s*(\S+)_([AV])\s+(?:current|volt)\(\d+\)=(-?[0-9.]+)([AV])\s*$")
    for line in text.splitlines():
        match = pattern.match(line)
        if not match or match.group(2) != match.group(4):
            continue
        try:
            value = float(match.group(3))
        except ValueError:
            continue
        (amps if match.group(2) == "A" else volts)[match.group(1)] = value
    rails = sorted(set(amps) & set(volts))
    if not rails:
        return None, "no rail with both current and voltage in pmic_read_adc output"
    return sum(amps[r] * volts[r] for r in rails), ""


class PmicReader(PowerReader):
    name = "pi5-pmic"

    def __init__(self, runner: Runner = run_vcgencmd) -> None:
        self.runner = runner

    def sample(self) -> PowerSample:
        text, why = vcgencmd(["pmic_read_adc"], self.runner)
        if text is None:
            return PowerSample(self.name, reason=why)
        watts, why = parse_pmic(text)
        return PowerSample(self.name, watts=watts, reason=why)


class HwmonReader(PowerReader):
    """The first INA2xx-family hwmon device: power1_input (uW), energy1_input (uJ), or
    in1_input (mV, bus) x curr1_input (mA)."""

    name = "hwmon"

    def __init__(self, sys_root: Path = SYS) -> None:
        self.root = sys_root / "class/hwmon"

    def sample(self) -> PowerSample:
        devices = sorted(self.root.glob("hwmon*"))
        found = [d for d in devices if (read_text(d / "name") or "") in INA_NAMES]
        if not found:
            return PowerSample(self.name, reason=f"no INA2xx power monitor in {self.root}")
        problems = []
        for dev in found:
            label = f"hwmon {read_text(dev / 'name')} ({dev.name})"
            power = _number(dev / "power1_input")
            energy = _number(dev / "energy1_input")
            if power is not None or energy is not None:
                return PowerSample(label, watts=power / 1e6 if power is not None else None,
                                   energy_j=energy / 1e6 if energy is not None else None)
            volts, amps = _number(dev / "in1_input"), _number(dev / "curr1_input")
            if volts is not None and amps is not None:
                return PowerSample(label, watts=volts / 1e3 * amps / 1e3)
            problems.append(f"{dev}: no readable power1_input, energy1_input or in1/curr1")
        return PowerSample(self.name, reason="; ".join(problems))


class RaplReader(PowerReader):
    """Sum of the package energy counters (``intel-rapl:N``, also used by AMD)."""

    name = "rapl"

    def __init__(self, sys_root: Path = SYS) -> None:
        self.root = sys_root / "class/powercap"
        self._last: dict[Path, int] = {}
        self._total: dict[Path, int] = {}

    def sample(self) -> PowerSample:
        zones = [z for z in sorted(self.root.glob("intel-rapl:*")) if z.name.count(":") == 1]
        if not zones:
            return PowerSample(self.name, reason=f"no RAPL package zones in {self.root}")
        for zone in zones:
            raw = _number(zone / "energy_uj")
            if raw is None:
                why = "unreadable (root only on recent kernels)" \
                    if (zone / "energy_uj").exists() else "missing"
                return PowerSample(self.name, reason=f"{zone / 'energy_uj'}: {why}")
            wrap = _number(zone / "max_energy_range_uj") or 0
            last = self._last.get(zone)
            delta = 0 if last is None else raw - last
            if delta < 0:  # the counter wrapped
                delta += int(wrap) + 1 if wrap else 0
            self._total[zone] = self._total.get(zone, 0) + int(delta)
            self._last[zone] = int(raw)
        names = ",".join(read_text(z / "name") or z.name for z in zones)
        return PowerSample(f"rapl ({names})", energy_j=sum(self._total.values()) / 1e6)


def board_model(proc_root: Path = PROC) -> str | None:
    raw = read_text(proc_root / "device-tree/model")
    return raw.rstrip("\x00").split(" Rev ")[0] if raw else None


def cpu_times(proc_root: Path = PROC) -> tuple[float, float] | None:
    """(busy, total) jiffies from the aggregate ``cpu`` line of /proc/stat."""
    raw = read_text(proc_root / "stat")
    if not raw or not raw.startswith("cpu "):
        return None
    try:
        fields = [float(x) for x in raw.splitlines()[0].split()[1:]]
    except ValueError:
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


class EstimateReader(PowerReader):
    name = "estimate"
    estimated = True

    def __init__(self, proc_root: Path = PROC) -> None:
        self.proc = proc_root
        self._last = cpu_times(proc_root)

    def sample(self) -> PowerSample:
        model = board_model(self.proc)
        figures = next((v for k, v in BOARDS.items() if model and model.startswith(k)), None)
        if figures is None:
            return PowerSample(self.name, estimated=True,
                               reason=f"no power figures for this board ({model or 'unknown'})")
        now = cpu_times(self.proc)
        if now is None or self._last is None:
            return PowerSample(self.name, estimated=True, reason="/proc/stat unreadable")
        busy = now[0] - self._last[0]
        total = now[1] - self._last[1]
        self._last = now
        util = min(max(busy / total, 0.0), 1.0) if total > 0 else 0.0
        idle, full = figures
        return PowerSample(f"estimate ({model}, {idle}-{full} W by CPU utilisation)",
                           watts=idle + (full - idle) * util, estimated=True)


def default_readers(sys_root: Path = SYS, proc_root: Path = PROC,
                    runner: Runner = run_vcgencmd) -> list[PowerReader]:
    return [PmicReader(runner), HwmonReader(sys_root), RaplReader(sys_root),
            EstimateReader(proc_root)]


class EnergyMeter:
    """Samples the best available reader on its own thread and integrates energy.

    Instantaneous readers are integrated over their samples (trapezoids); counter readers
    (RAPL, hwmon energy) are differenced. ``measure_idle`` runs before the workload.
    """

    def __init__(self, readers: list[PowerReader] | None = None, interval: float = 0.5) -> None:
        self.readers = readers if readers is not None else default_readers()
        self.interval = interval
        self.reader: PowerReader | None = None
        self.reasons: dict[str, str] = {}
        self.method = ""
        self.estimated = False
        self.idle_watts: float | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._reset()

    def _reset(self) -> None:
        self._joules = 0.0
        self._last: tuple[float, PowerSample] | None = None
        self._start_t: float | None = None
        self.watts: float | None = None

    def choose(self) -> PowerReader | None:
        """The first reader that answers; reasons for the others are kept."""
        for reader in self.readers:
            first = reader.sample()
            if first.ok:
                self.reader, self.method, self.estimated = reader, first.method, first.estimated
                return reader
            self.reasons[reader.name] = first.reason
        return None

    def _step(self) -> None:
        sample = self.reader.sample() if self.reader else None
        now = time.monotonic()
        if sample is None or not sample.ok:
            return
        with self._lock:
            if self._last is not None:
                t0, prev = self._last
                dt = now - t0
                if sample.energy_j is not None and prev.energy_j is not None:
                    delta = sample.energy_j - prev.energy_j
                    self._joules += delta
                    self.watts = delta / dt if dt > 0 else self.watts
                elif sample.watts is not None and prev.watts is not None:
                    self._joules += 0.5 * (sample.watts + prev.watts) * dt
            if sample.watts is not None:
                self.watts = sample.watts
            self._last = (now, sample)
            self._start_t = self._start_t or now

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._step()

    def start(self) -> bool:
        """Begin integrating; False when no reader applies (see ``reasons``)."""
        if self.reader is None and self.choose() is None:
            return False
        self._reset()
        self._stop.clear()
        self._step()
        self._thread = threading.Thread(target=self._loop, name="energy", daemon=True)
        self._thread.start()
        return True

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=5)
            self._thread = None
            self._step()

    def measure_idle(self, seconds: float) -> float | None:
        """Mean watts over ``seconds`` of doing nothing, kept as ``idle_watts``."""
        if not self.start():
            return None
        time.sleep(seconds)
        self.stop()
        elapsed = self.elapsed()
        self.idle_watts = self._joules / elapsed if elapsed > 0 else self.watts
        return self.idle_watts

    def elapsed(self) -> float:
        with self._lock:
            if self._start_t is None or self._last is None:
                return 0.0
            return self._last[0] - self._start_t

    def report(self, inferences: int, subtract_idle: bool = False) -> Energy:
        """Watts, joules, J per inference and inferences per J, each with its method."""
        if self.reader is None:
            return Energy(reasons=dict(self.reasons))
        with self._lock:
            joules = self._joules
        elapsed = self.elapsed()
        if subtract_idle and self.idle_watts is not None:
            joules = max(joules - self.idle_watts * elapsed, 0.0)
        mean = joules / elapsed if elapsed > 0 else None
        return Energy(
            method=self.method,
            estimated=self.estimated,
            watts_now=_round(self.watts),
            watts_mean=_round(mean),
            joules=_round(joules),
            seconds=round(elapsed, 3),
            idle_watts=_round(self.idle_watts),
            idle_subtracted=bool(subtract_idle and self.idle_watts is not None),
            j_per_inference=_round(joules / inferences) if inferences and elapsed else None,
            inferences_per_j=_round(inferences / joules) if joules > 0 else None,
        )


def _number(path: Path) -> float | None:
    raw = read_text(path)
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(value, digits)
