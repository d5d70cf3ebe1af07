"""Linux sysfs collector: hwmon sensors and RAPL energy counters.

hwmon (``<root>/class/hwmon/hwmon*/``): ``name`` names the chip (coretemp, k10temp, amdgpu, nvme ...),
``<type><n>_label`` names a channel. Units: ``temp*_input`` millidegree C, ``power*_input`` and
``power*_average`` microwatt, ``energy*_input`` microjoule. This covers CPUs, AMD GPUs and many NPUs.

RAPL (``<root>/class/powercap/intel-rapl:*``; AMD Zen uses the same driver): ``energy_uj`` is a
cumulative microjoule counter that wraps at ``max_energy_range_uj``; ``name`` is the domain (package-0,
core, dram, psys).
The raw counter goes out as ``energy_joules``; ``power_watts`` is derived from successive readings with the
wraparound handled (absent on the first reading). Since Linux 5.10 ``energy_uj`` is readable by root only.

The tree is discovered once and re-scanned every ``RESCAN_SECONDS`` (hot-plug, modules loaded later), so a
collection costs one small read per channel.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from microdc.agent.collectors.base import STATUS_OK, CollectorResult, degraded, unavailable
from microdc.agent.counters import CounterRate

log = logging.getLogger(__name__)

_CHANNEL = re.compile(r"^(temp|power|energy)(\d+)_(input|average)$")
# (channel type, attribute) -> metric key and scale to base units
_HWMON_METRICS: dict[tuple[str, str], tuple[str, float]] = {
    ("temp", "input"): ("temperature_celsius", 1e-3),
    ("power", "input"): ("power_watts", 1e-6),
    ("power", "average"): ("power_watts", 1e-6),
    ("energy", "input"): ("energy_joules", 1e-6),
}


@dataclass(frozen=True)
class _HwmonReading:
    chip: str
    name: str
    metric: str
    path: str  # str, not Path: os.open on a str skips pathlib's conversion on every read
    scale: float


@dataclass(frozen=True)
class _RaplZone:
    chip: str
    name: str
    energy_path: str
    range_uj: float | None


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None


def _read_number(path: str) -> float:
    """Raises OSError (missing, EACCES, or ENODATA/EIO from a sensor that is switched off) or ValueError.
    Plain os.open/os.read: a third of the CPU of open().read() for these tiny files."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return float(os.read(fd, 64))
    finally:
        os.close(fd)


class SysfsCollector:
    name = "sysfs"
    simulated = False
    RESCAN_SECONDS = 300.0

    def __init__(self, root: str | Path = "/sys") -> None:
        self.root = Path(root)
        self.status = unavailable("not scanned yet")
        self._hwmon: list[_HwmonReading] = []
        self._rapl: list[_RaplZone] = []
        self._scanned_at: float | None = None
        self._rates = CounterRate()
        self._rapl_denied = False

    def close(self) -> None:
        pass

    # -- discovery -------------------------------------------------------------------------------

    def scan(self) -> None:
        self._hwmon = self._scan_hwmon()
        self._rapl = self._scan_rapl()

    def _scan_hwmon(self) -> list[_HwmonReading]:
        base = self.root / "class" / "hwmon"
        try:
            chip_dirs = sorted(p for p in base.iterdir() if p.name.startswith("hwmon"))
        except OSError:
            return []
        chips: list[tuple[Path, str]] = []
        for d in chip_dirs:
            name = _read_text(d / "name")
            if name:
                chips.append((d, name))
        counts: dict[str, int] = {}
        for _, name in chips:
            counts[name] = counts.get(name, 0) + 1
        readings: list[_HwmonReading] = []
        for d, name in chips:
            # Several chips of one driver (two coretemp sockets, several nvme or amdgpu): tell them apart by
            # the underlying device (stable across boots), unlike the hwmonN number.
            chip = name if counts[name] == 1 else f"{name}-{self._device_id(d)}"
            readings.extend(self._chip_readings(d, chip))
        return readings

    @staticmethod
    def _device_id(chip_dir: Path) -> str:
        device = chip_dir / "device"
        try:
            return device.resolve(strict=True).name if device.exists() else chip_dir.name
        except OSError:
            return chip_dir.name

    @staticmethod
    def _chip_readings(chip_dir: Path, chip: str) -> list[_HwmonReading]:
        try:
            files = sorted(p.name for p in chip_dir.iterdir())
        except OSError:
            return []
        present = set(files)
        found: dict[tuple[str, str], _HwmonReading] = {}  # (sensor name, metric) -> reading
        for fname in files:
            m = _CHANNEL.match(fname)
            if not m:
                continue
            ctype, num, attr = m.groups()
            if attr == "average" and f"{ctype}{num}_input" in present:
                continue  # instantaneous power wins over the averaged one
            metric, scale = _HWMON_METRICS[(ctype, attr)]
            channel = f"{ctype}{num}"
            label = _read_text(chip_dir / f"{channel}_label") if f"{channel}_label" in present else None
            name = label or channel
            if (name, metric) in found:  # two channels with one label: keep both, named apart
                name = f"{name} ({channel})"
            found[(name, metric)] = _HwmonReading(chip, name, metric, str(chip_dir / fname), scale)
        return list(found.values())

    def _scan_rapl(self) -> list[_RaplZone]:
        base = self.root / "class" / "powercap"
        try:
            zone_dirs = sorted(p for p in base.glob("intel-rapl:*") if p.is_dir())
        except OSError:
            return []
        zones: list[_RaplZone] = []
        for d in zone_dirs:
            if not (d / "energy_uj").exists():
                continue
            range_text = _read_text(d / "max_energy_range_uj")
            try:
                range_uj = float(range_text) if range_text else None
            except ValueError:
                range_uj = None
            zones.append(_RaplZone(d.name, _read_text(d / "name") or d.name, str(d / "energy_uj"), range_uj))
        return zones

    # -- collection ------------------------------------------------------------------------------

    def collect(self, now: float) -> CollectorResult:
        if self._scanned_at is None or not (0 <= now - self._scanned_at < self.RESCAN_SECONDS):
            self.scan()
            self._scanned_at = now
        sensors: dict[tuple[str, str, str], dict[str, Any]] = {}

        def metrics_of(source: str, chip: str, name: str) -> dict[str, Any]:
            key = (source, chip, name)
            if key not in sensors:
                sensors[key] = {"source": source, "chip": chip, "name": name, "simulated": False,
                                "metrics": {}}
            return sensors[key]["metrics"]

        for r in self._hwmon:
            try:
                value = _read_number(r.path) * r.scale
            except (OSError, ValueError):
                continue  # sensor switched off or gone: leave it out this time
            metrics_of("hwmon", r.chip, r.name)[r.metric] = value

        denied = False
        for z in self._rapl:
            try:
                uj = _read_number(z.energy_path)
            except PermissionError:
                denied = True
                continue
            except (OSError, ValueError):
                continue
            metrics = metrics_of("rapl", z.chip, z.name)
            metrics["energy_joules"] = uj / 1e6
            watts = self._rates.update(("rapl", z.chip), now, uj, z.range_uj)
            if watts is not None:
                metrics["power_watts"] = watts / 1e6
        self._update_status(denied)
        return CollectorResult(sensors=[s for s in sensors.values() if s["metrics"]])

    def _update_status(self, rapl_denied: bool) -> None:
        if rapl_denied:
            reason = "RAPL energy_uj not readable (permission denied; root only since Linux 5.10)"
            if not self._rapl_denied:
                log.warning("sysfs: %s; CPU package energy will be missing", reason)
            self._rapl_denied = True
            self.status = degraded(reason)
        elif not self._hwmon and not self._rapl:
            self.status = unavailable(f"no hwmon sensors or RAPL zones under {self.root}/class")
        else:
            self._rapl_denied = False
            self.status = STATUS_OK
