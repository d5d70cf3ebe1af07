"""The one interface every facility meter source implements, and what it hands back.

A source is a stateless, synchronous object: the poller calls ``read`` from a worker thread with the
meter's host, port, settings and secret, and gets a list of :class:`Reading` in base units, or a
:class:`MeterError` whose message is the reason shown to the operator. Nothing here touches Django.

Channels name where on the device a value was measured. By convention the empty channel ``""`` is the
device's own total (the value that stands for the whole meter); a UPS has no single total and reports
``"input"`` and ``"output"`` instead. Per-phase values use ``L1``..``L3`` (``L1-N``, ``L1-L2`` for
voltages and line powers), circuits ``mains.<id>``, ``branch.<id>``, ``outlet.<id>``, cooling loops
``primary.<id>.supply`` and so on; each source's module docstring lists its channels.
"""

from __future__ import annotations

import importlib
import math
import time
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

# Canonical quantities, always in base SI units. Cumulative ones are counters (they only grow, except
# across a device reset, which the consumer must detect); everything else is an instantaneous gauge.
QUANTITIES: frozenset[str] = frozenset(
    {
        "power_watts",
        "energy_joules",
        "apparent_power_volt_amperes",
        "voltage_volts",
        "current_amperes",
        "frequency_hertz",
        "temperature_celsius",
        "humidity_ratio",
        "load_ratio",
        "battery_charge_ratio",
        "battery_runtime_seconds",
        "flow_liters_per_minute",
        "heat_removed_watts",
        "pressure_pascals",
        "water_cubic_meters",
        "leak_detected",
        "on_battery",
    }
)
CUMULATIVE_QUANTITIES: frozenset[str] = frozenset({"energy_joules", "water_cubic_meters"})
STATES: tuple[str, ...] = ("ok", "warning", "critical")

PROTOCOLS: list[str] = ["redfish", "snmp", "modbus", "promql"]

# protocol -> "module:attribute", imported on first use so that importing the interface stays cheap
# and a missing optional library only breaks the protocol that needs it.
_SOURCES = {
    "redfish": "microdc.facility.sources.redfish:RedfishSource",
    "snmp": "microdc.facility.sources.snmp:SnmpSource",
    "modbus": "microdc.facility.sources.modbus:ModbusSource",
    "promql": "microdc.facility.sources.promql:PromqlSource",
}


@dataclass(frozen=True)
class Reading:
    """One measured value in base units (see ``QUANTITIES``)."""

    quantity: str
    value: float
    channel: str = ""
    state: str = "ok"  # "ok" | "warning" | "critical": alarms such as a leak or a UPS on battery
    reason: str = ""  # why the state is not "ok" where the value alone does not say (an object the device lacks)


class MeterError(Exception):
    """The meter could not be read. ``str(error)`` is the human reason the UI shows."""


class SettingsError(ValueError):
    """A meter setting is invalid. ``field`` names it (``"registers[2].type"``, ``"secret.password"``)."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}")


@runtime_checkable
class MeterSource(Protocol):
    protocol: str

    def validate_settings(self, settings: dict, secret: dict) -> dict:
        """Check settings and secret; return the settings normalised (defaults filled in).

        Raises :class:`SettingsError` naming the offending field.
        """
        ...

    def read(self, host: str, port: int | None, settings: dict, secret: dict, timeout: float) -> list[Reading]:
        """Read the meter once, within ``timeout`` seconds in total, or raise :class:`MeterError`."""
        ...


def get_source(protocol: str) -> MeterSource:
    """The source for a protocol name (one of ``PROTOCOLS``)."""
    try:
        target = _SOURCES[protocol]
    except KeyError:
        raise ValueError(f"unknown meter protocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}") from None
    module_name, attribute = target.split(":")
    return getattr(importlib.import_module(module_name), attribute)()


class Deadline:
    """A total time budget shared by every network step of one read.

    Each step asks for the time left; when none is left the read fails with a reason that says
    what it was doing, so a slow meter can never hold a poller thread longer than its timeout.
    """

    def __init__(self, timeout: float):
        if not timeout > 0:
            raise MeterError(f"timeout must be positive, got {timeout!r}")
        self.timeout = float(timeout)
        self._end = time.monotonic() + self.timeout

    def left(self) -> float:
        return self._end - time.monotonic()

    def remaining(self, doing: str) -> float:
        left = self.left()
        if left <= 0:
            raise MeterError(f"timeout after {self.timeout:g} s {doing}")
        return left

    def expired_error(self, doing: str) -> MeterError:
        return MeterError(f"timeout after {self.timeout:g} s {doing}")


def begin_read(source: MeterSource, settings: dict, secret: dict, timeout: float) -> tuple[Deadline, dict]:
    """The start every read shares: its time budget, and the settings checked (a bad one is a MeterError)."""
    deadline = Deadline(timeout)
    try:
        return deadline, source.validate_settings(settings, secret)
    except SettingsError as error:
        raise MeterError(f"invalid settings: {error}") from None


def check_readings(readings: list[Reading]) -> list[Reading]:
    """Guard the contract on the way out: canonical quantity, known state, finite value."""
    for reading in readings:
        if reading.quantity not in QUANTITIES or reading.state not in STATES:
            raise AssertionError(f"source bug: {reading!r} uses an unknown quantity or state")
        if not math.isfinite(reading.value):
            channel = f" ({reading.channel})" if reading.channel else ""
            raise MeterError(f"the meter reported {reading.value} for {reading.quantity}{channel}")
    return readings
