"""The collector interface: every source of readings (NVML, sysfs, simulator) looks the same to the agent.

A device is an accelerator (``kind``, ``index``, ``uuid`` ...); a sensor is a host-level reading
(hwmon channel, RAPL zone). Both carry ``metrics`` in base units (watts, joules, celsius, ratio 0..1,
bytes, hertz). A metric that is unknown is left out of the dict, never sent as null or zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

STATUS_OK = "ok"


def unavailable(reason: str) -> str:
    """Status text of a collector that produces nothing, with the reason an operator can act on."""
    return f"unavailable: {reason}"


def degraded(reason: str) -> str:
    """Status text of a collector that works but misses part of its readings."""
    return f"degraded: {reason}"


@dataclass
class CollectorResult:
    devices: list[dict[str, Any]] = field(default_factory=list)
    sensors: list[dict[str, Any]] = field(default_factory=list)


@runtime_checkable
class Collector(Protocol):
    """One source of readings. ``collect(now)`` takes the wall-clock time (epoch seconds) of the sample so
    that counters, rates and the simulator can be stepped deterministically in tests."""

    name: str
    simulated: bool
    status: str

    def collect(self, now: float) -> CollectorResult: ...

    def close(self) -> None: ...
