"""The machine's side of the figures: thermal and clock state, power and energy, memory.

One background thread refreshes the slow readings (vcgencmd spawns a process) every few
seconds; snapshot() is cheap and safe to call from any thread.
"""

from __future__ import annotations

import logging
import resource
import threading
from pathlib import Path

from edge.telemetry.figures import Energy
from edge.telemetry.power import EnergyMeter
from edge.telemetry.thermal import ThermalState, read_thermal_state

log = logging.getLogger(__name__)


def _status_mb(key: str, proc_self: Path = Path("/proc/self/status")) -> float | None:
    try:
        for line in proc_self.read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    return None


def rss_peak_mb() -> float:
    """Peak resident memory in MB: VmHWM. (ru_maxrss is no substitute: Linux carries the
    parent's peak across fork and exec, so a child of a big process reports the parent's.)"""
    peak = _status_mb("VmHWM")
    return peak if peak is not None else \
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def rss_mb(proc_self: Path = Path("/proc/self/status")) -> float | None:
    """Resident memory of this process in MB (VmRSS), or the peak where /proc is absent."""
    now = _status_mb("VmRSS", proc_self)
    return now if now is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class SystemMonitor:
    def __init__(self, energy: EnergyMeter | None = None, interval: float = 2.0,
                 subtract_idle: bool = False) -> None:
        self.energy = energy if energy is not None else EnergyMeter()
        self.interval = interval
        self.subtract_idle = subtract_idle
        self._thermal = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.error: str | None = None  # why the monitor thread stopped

    def start(self) -> None:
        self.energy.start()
        self._refresh()
        self._thread = threading.Thread(target=self._loop, name="monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.energy.stop()
        if self.error is None:
            self._refreshed()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval) and self._refreshed():
            pass

    def _refreshed(self) -> bool:
        """Refresh; on an error the readings stop (the run goes on) and ``error`` says so."""
        try:
            self._refresh()
            return True
        except Exception as exc:
            log.exception("system monitor stopped")
            self.error = f"stopped: {type(exc).__name__}: {exc}"
            return False

    def _refresh(self) -> None:
        state = read_thermal_state()
        with self._lock:
            self._thermal = state

    def snapshot(self, inferences: int) -> tuple[ThermalState | None, Energy]:
        """The newest thermal state and the energy so far."""
        with self._lock:
            thermal = self._thermal
        return thermal, self.energy.report(inferences, self.subtract_idle)
