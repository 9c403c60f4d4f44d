"""SoC temperature, CPU clock and governor, and the Raspberry Pi's throttling flags.

Every reader returns a value or None with a reason; nothing here raises on a missing file,
a missing tool or garbage. Paths are parameters so tests can point them at a fake tree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from edge.machine import SYS, Runner, read_text, run_vcgencmd, vcgencmd

# vcgencmd get_throttled bits, as documented by Raspberry Pi
THROTTLE_BITS = {
    0: "under-voltage detected",
    1: "arm frequency capped",
    2: "currently throttled",
    3: "soft temperature limit active",
    16: "under-voltage has occurred",
    17: "arm frequency capping has occurred",
    18: "throttling has occurred",
    19: "soft temperature limit has occurred",
}


@dataclass
class Value:
    """A reading: ``value`` (None when unavailable), where it came from, and why not."""

    value: float | str | None
    source: str = ""
    reason: str = ""

    def to_dict(self) -> dict:
        out: dict = {"value": self.value, "source": self.source}
        if self.value is None:
            out["reason"] = self.reason
        return out



def parse_throttled(text: str) -> Value:
    """``throttled=0x50005`` -> the hex mask; flags decoded by :func:`decode_throttled`."""
    match = re.search(r"throttled=(0x[0-9a-fA-F]+)", text)
    if not match:
        return Value(None, "vcgencmd get_throttled", f"unexpected answer {text.strip()[:60]!r}")
    return Value(match.group(1).lower(), "vcgencmd get_throttled")


def decode_throttled(mask: str) -> dict[str, list[str]]:
    """{"now": [...], "since_boot": [...]} in words."""
    bits = int(mask, 16)
    now = [THROTTLE_BITS[b] for b in (0, 1, 2, 3) if bits & (1 << b)]
    since = [THROTTLE_BITS[b] for b in (16, 17, 18, 19) if bits & (1 << b)]
    return {"now": now, "since_boot": since}


def read_throttled(runner: Runner = run_vcgencmd) -> Value:
    text, why = vcgencmd(["get_throttled"], runner)
    return Value(None, "vcgencmd get_throttled", why) if text is None else parse_throttled(text)


def parse_measure_temp(text: str) -> Value:
    """``temp=48.3'C`` -> 48.3."""
    match = re.search(r"temp=(-?[0-9.]+)'C", text)
    if not match:
        return Value(None, "vcgencmd measure_temp", f"unexpected answer {text.strip()[:60]!r}")
    return Value(float(match.group(1)), "vcgencmd measure_temp")


def read_temperature(sys_root: Path = SYS, runner: Runner = run_vcgencmd) -> Value:
    """SoC temperature in degrees C: the CPU's thermal zone, else ``vcgencmd measure_temp``."""
    zones = sorted((sys_root / "class/thermal").glob("thermal_zone*"))
    preferred = ("cpu-thermal", "x86_pkg_temp", "soc_thermal", "cpu_thermal", "k10temp")
    ranked = sorted(zones, key=lambda z: next(
        (i for i, p in enumerate(preferred) if read_text(z / "type") == p), len(preferred)))
    problems = []
    for zone in ranked:
        raw = read_text(zone / "temp")
        try:
            celsius = int(raw) / 1000.0
        except (TypeError, ValueError):
            problems.append(f"{zone / 'temp'}: {raw!r}")
            continue
        if -40 <= celsius <= 150:
            return Value(celsius, f"{zone / 'temp'} ({read_text(zone / 'type') or '?'})")
        problems.append(f"{zone / 'temp'}: implausible {celsius} C")
    text, why = vcgencmd(["measure_temp"], runner)
    if text is not None:
        return parse_measure_temp(text)
    reason = "; ".join(problems) if problems else "no thermal zone in " \
        f"{sys_root / 'class/thermal'}; {why}"
    return Value(None, "thermal zone", reason)


def read_cpu_clock(sys_root: Path = SYS, cpu: int = 0) -> tuple[Value, Value]:
    """(current frequency in MHz, governor) of one CPU from cpufreq."""
    base = sys_root / f"devices/system/cpu/cpu{cpu}/cpufreq"
    raw = read_text(base / "scaling_cur_freq")
    try:
        freq = Value(int(raw) / 1000.0, str(base / "scaling_cur_freq"))
    except (TypeError, ValueError):
        freq = Value(None, str(base / "scaling_cur_freq"),
                     "no cpufreq (virtual machine or driver missing)" if raw is None
                     else f"unexpected {raw!r}")
    governor = read_text(base / "scaling_governor")
    gov = Value(governor, str(base / "scaling_governor")) if governor and governor.isprintable() \
        else Value(None, str(base / "scaling_governor"), "no cpufreq governor")
    return freq, gov


@dataclass
class ThermalState:
    temperature_c: Value
    frequency_mhz: Value
    governor: Value
    throttled: Value
    throttled_words: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"temperature_c": self.temperature_c.to_dict(),
                "frequency_mhz": self.frequency_mhz.to_dict(),
                "governor": self.governor.to_dict(),
                "throttled": {**self.throttled.to_dict(), **self.throttled_words}}


def read_thermal_state(sys_root: Path = SYS, runner: Runner = run_vcgencmd) -> ThermalState:
    freq, gov = read_cpu_clock(sys_root)
    throttled = read_throttled(runner)
    words = decode_throttled(throttled.value) if isinstance(throttled.value, str) else {}
    return ThermalState(read_temperature(sys_root, runner), freq, gov, throttled, words)
