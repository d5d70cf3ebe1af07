"""Simulated GPUs for the demo and tests: physically plausible, deterministic from (seed, node, index, time).

Model, per GPU:
- utilization u(t): bursts of inference load (20 s bursts busy or idle, jitter every 2 s, busy share
  swelling over the hour); constant within each 2 s slot, so everything below has a closed form;
- power P = idle + (peak_demand - idle) * u**a, capped at the power limit (peak demand exceeds the limit,
  so a full load runs at the cap with ``sw_power_cap``); the limit takes desired caps like NVML's, within
  [min, default], from the moment they are applied. Under a cap the SM clock falls to where the board's power
  fits: power at relative clock r is a static share (leakage, HBM) plus a linear and a cubic dynamic share
  (``power_share``), so throughput (proportional to the clock) falls slower than power at first and faster
  near the bottom, which gives energy per unit of work a real minimum. ``speed_of(uuid)`` tells an
  in-process simulated model server how fast its GPU runs now;
- temperature: first-order lag toward ambient + R_th * P with time constant tau (30-60 s),
  T(t+dt) = T_ss + (T - T_ss) * exp(-dt/tau), exact for piecewise-constant power; HBM likewise, slower;
- energy counter = exact integral of P over time (sum of P * dt per slot), monotonic;
- memory used = loaded model + KV cache growing with load.

The state only depends on the first collection time and the current time, not on how often ``collect``
is called. Every device is labelled ``simulated: true`` and has a ``GPU-SIM-...`` UUID.

Model-server processes (``processes``): GPU index -> [(systemd unit, sm utilization of that process at t)].
A GPU with processes and no ``utilization`` function runs at min(1, sum of its processes); each (GPU, unit)
is reported as an ``nvml-process`` sensor like the NVML collector's, evaluated at the same slot start as
the GPU so the parts add up to the whole. Entries naming one unit twice are summed (capped at 1), as NVML
pids of one unit are.
"""

from __future__ import annotations

import hashlib
import math
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from microdc.agent.collectors.base import STATUS_OK, CollectorResult
from microdc.agent.power_limits import APPLIED, OUT_OF_RANGE, Attempts, Desired, LimitOutcome

# Board power at relative SM clock r, as a share of its full-clock power: static + linear + cubic parts.
STATIC_SHARE, LINEAR_SHARE, CUBIC_SHARE = 0.2, 0.2, 0.6
SLOT_SECONDS = 2.0
BURST_SECONDS = 20.0
SWELL_SECONDS = 3600.0
GIB = 2**30
_MASK64 = (1 << 64) - 1

UtilizationFn = Callable[[int, float], float]  # (gpu index, slot start time) -> ratio 0..1
ProcessFn = Callable[[float], float]  # slot start time -> sm utilization ratio 0..1 of one process
Processes = dict[int, list[tuple[str, ProcessFn]]]  # gpu index -> [(systemd unit, utilization)]
PROCESS_SOURCE = "nvml-process"


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def _unit(key: int, stream: int, n: int) -> float:
    """Deterministic uniform [0, 1) for (gpu key, stream, n), random access in O(1)."""
    return _splitmix64(key ^ _splitmix64((stream << 48) ^ (n & ((1 << 48) - 1)))) / 2.0**64


def slot_start(t: float) -> float:
    return math.floor(t / SLOT_SECONDS) * SLOT_SECONDS


def _ratio(value: float) -> float:
    return min(1.0, max(0.0, float(value)))


def power_share(r: float) -> float:
    return STATIC_SHARE + LINEAR_SHARE * r + CUBIC_SHARE * r**3


def clock_under(share: float) -> float:
    """The relative clock at which the board draws `share` of its full-clock power (0 below the static part)."""
    if share >= 1.0:
        return 1.0
    low, high = 0.0, 1.0
    for _ in range(40):  # power_share is increasing: bisection to well below a MHz
        mid = (low + high) / 2
        low, high = (mid, high) if power_share(mid) < share else (low, mid)
    return low


_GPUS: weakref.WeakValueDictionary[str, SimulatedGpu] = weakref.WeakValueDictionary()


def speed_of(uuid: str) -> float:
    """How fast a simulated GPU of this process runs now, relative to full clock under no cap (1 if unknown)."""
    gpu = _GPUS.get(uuid)
    return gpu.speed if gpu is not None else 1.0


def gpu_key(seed: int, node: str, index: int) -> bytes:
    return hashlib.blake2b(f"{seed}/{node}/{index}".encode(), digest_size=16).digest()


def simulated_uuid(seed: int, node: str, index: int) -> str:
    h = gpu_key(seed, node, index).hex()
    return f"GPU-SIM-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


@dataclass(frozen=True)
class GpuModel:
    """Board constants, H100 SXM5 80GB-like."""

    name: str = "Simulated H100 80GB HBM3"
    power_limit_watts: float = 700.0  # the default (and highest) limit
    min_power_limit_watts: float = 200.0
    idle_watts: float = 70.0
    peak_demand_watts: float = 760.0
    power_exponent: float = 1.4
    r_th_celsius_per_watt: float = 0.07
    hbm_offset_celsius: float = 3.0
    hbm_r_th_celsius_per_watt: float = 0.06
    slowdown_celsius: float = 87.0
    memory_total_bytes: int = 81559 * 2**20
    max_sm_mhz: float = 1980.0
    idle_sm_mhz: float = 345.0
    memory_mhz: float = 2619.0


class SimulatedGpu:
    def __init__(self, index: int, seed: int, node: str, model: GpuModel,
                 utilization: UtilizationFn | None = None) -> None:
        self.index = index
        self.model = model
        self.uuid = simulated_uuid(seed, node, index)
        self.key = int.from_bytes(gpu_key(seed, node, index)[:8], "big")
        k = self.key
        # per-board spread: inlet temperature, cooling quality, thermal time constant, loaded model size
        self.ambient_celsius = 22.0 + 8.0 * _unit(k, 10, 0)
        self.r_th = model.r_th_celsius_per_watt * (0.9 + 0.3 * _unit(k, 11, 0))
        self.tau_seconds = 30.0 + 30.0 * _unit(k, 12, 0)
        self.hbm_tau_seconds = self.tau_seconds * 1.5
        self.model_bytes = int((24 + 40 * _unit(k, 13, 0)) * GIB)
        self.swell_phase = 2 * math.pi * _unit(k, 14, 0)
        uptime = 86400.0 * (1 + 19 * _unit(k, 15, 0))  # energy counter counts since "driver load"
        self._utilization = utilization or self._default_utilization
        self._t: float | None = None
        self.energy_joules = uptime * 250.0
        self.limit_watts = model.power_limit_watts
        self.speed = 1.0  # relative clock at the last reading
        _GPUS[self.uuid] = self
        self.temperature_celsius = 0.0
        self.hbm_temperature_celsius = 0.0

    # -- physics ---------------------------------------------------------------------------------

    def _default_utilization(self, index: int, t: float) -> float:
        k = self.key
        burst = math.floor(t / BURST_SECONDS)
        slot = math.floor(t / SLOT_SECONDS)
        swell = math.sin(2 * math.pi * burst * BURST_SECONDS / SWELL_SECONDS + self.swell_phase)
        busy_share = 0.45 + 0.3 * swell
        if _unit(k, 1, burst) < busy_share:
            return 0.55 + 0.45 * _unit(k, 2, slot)  # serving a burst of requests
        return 0.06 * _unit(k, 3, slot) if _unit(k, 4, slot) < 0.3 else 0.0  # idle, the odd small request

    def utilization_at(self, t: float) -> float:
        return _ratio(self._utilization(self.index, slot_start(t)))

    def demand_watts(self, u: float) -> float:
        m = self.model
        return m.idle_watts + (m.peak_demand_watts - m.idle_watts) * u**m.power_exponent

    def power_watts(self, u: float) -> float:
        return min(self.limit_watts, self.demand_watts(u))

    def set_limit(self, watts: float | None, t: float) -> LimitOutcome:
        """As NVML does: within [min, default], effective from `t` (the past is integrated at the old one)."""
        m = self.model
        target = m.power_limit_watts if watts is None else watts
        if not m.min_power_limit_watts <= target <= m.power_limit_watts:
            return LimitOutcome(watts, OUT_OF_RANGE, f"{target:g} W is outside the device's "
                                                     f"{m.min_power_limit_watts:g}-{m.power_limit_watts:g} W")
        self.advance(t)
        self.limit_watts = float(target)
        return LimitOutcome(watts, APPLIED)

    def _steady(self, p: float) -> tuple[float, float]:
        m = self.model
        return (self.ambient_celsius + self.r_th * p,
                self.ambient_celsius + m.hbm_offset_celsius + m.hbm_r_th_celsius_per_watt * p)

    def advance(self, t: float) -> None:
        """Integrate energy and temperatures from the last step up to ``t`` (exact per slot)."""
        if self._t is None:
            self._t = t
            self.temperature_celsius, self.hbm_temperature_celsius = self._steady(
                self.power_watts(self.utilization_at(t)))
            return
        while self._t < t:
            slot_end = (math.floor(self._t / SLOT_SECONDS) + 1) * SLOT_SECONDS
            end = min(slot_end, t)
            dt = end - self._t
            p = self.power_watts(self.utilization_at(self._t))
            self.energy_joules += p * dt
            t_ss, hbm_ss = self._steady(p)
            decay = math.exp(-dt / self.tau_seconds)
            hbm_decay = math.exp(-dt / self.hbm_tau_seconds)
            self.temperature_celsius = t_ss + (self.temperature_celsius - t_ss) * decay
            self.hbm_temperature_celsius = hbm_ss + (self.hbm_temperature_celsius - hbm_ss) * hbm_decay
            self._t = end
        # a wall clock stepping back leaves the state where it is: counters never run backwards

    # -- reading ---------------------------------------------------------------------------------

    def read(self, t: float) -> dict[str, Any]:
        self.advance(t)
        m = self.model
        u = self.utilization_at(t)
        demand = self.demand_watts(u)
        power = self.power_watts(u)
        reasons: list[str] = []
        if u < 0.02:
            sm_mhz = m.idle_sm_mhz
            reasons.append("gpu_idle")
        else:
            sm_mhz = m.max_sm_mhz
            if demand > self.limit_watts:  # clocks drop until power fits under the cap
                sm_mhz *= clock_under(self.limit_watts / demand)
                reasons.append("sw_power_cap")
        if self.temperature_celsius >= m.slowdown_celsius:
            sm_mhz *= 0.85
            reasons.append("sw_thermal_slowdown")
        self.speed = 1.0 if u < 0.02 else sm_mhz / m.max_sm_mhz
        kv_cache = u * (0.92 * m.memory_total_bytes - self.model_bytes)
        k = self.key
        slot = math.floor(t / SLOT_SECONDS)
        return {
            "kind": "gpu",
            "index": self.index,
            "uuid": self.uuid,
            "name": m.name,
            "vendor": "nvidia",
            "simulated": True,
            "metrics": {
                "power_watts": round(power, 3),
                "energy_joules": round(self.energy_joules, 3),
                "power_limit_watts": self.limit_watts,
                "power_limit_min_watts": m.min_power_limit_watts,
                "power_limit_max_watts": m.power_limit_watts,
                "power_limit_default_watts": m.power_limit_watts,
                "temperature_celsius": round(self.temperature_celsius, 2),
                "memory_temperature_celsius": round(self.hbm_temperature_celsius, 2),
                "utilization_ratio": round(u, 4),
                "memory_utilization_ratio": round(min(1.0, 0.7 * u + 0.05 * u * _unit(k, 5, slot)), 4),
                "memory_used_bytes": int(self.model_bytes + kv_cache),
                "memory_total_bytes": m.memory_total_bytes,
                "sm_clock_hertz": round(sm_mhz) * 1e6,
                "memory_clock_hertz": m.memory_mhz * 1e6,
                "ecc_corrected_errors_total": 0,
                "ecc_uncorrected_errors_total": 0,
                "ecc_corrected_errors_aggregate_total": 0,
                "ecc_uncorrected_errors_aggregate_total": 0,
                "pcie_tx_bytes_per_second": float(round(2e6 + u * 150e6 * (0.8 + 0.4 * _unit(k, 6, slot)))),
                "pcie_rx_bytes_per_second": float(round(5e6 + u * 400e6 * (0.8 + 0.4 * _unit(k, 7, slot)))),
            },
            "throttle_reasons": reasons,
            "mig_mode": "disabled",
        }


def _process_sum(units: list[tuple[str, ProcessFn]]) -> UtilizationFn:
    def utilization(index: int, t: float) -> float:
        return sum(_ratio(fn(t)) for _, fn in units)  # utilization_at caps the sum at 1

    return utilization


class SimulatedCollector:
    name = "simulated"
    simulated = True

    def __init__(self, gpus: int = 4, seed: int = 0, node: str = "sim-node", model: GpuModel | None = None,
                 utilization: UtilizationFn | None = None, processes: Processes | None = None) -> None:
        self.status = STATUS_OK
        self.processes = dict(processes or {})
        unknown = sorted(set(self.processes) - set(range(gpus)))
        if unknown:
            raise ValueError(f"processes name GPU indices {unknown}, but the simulator has GPUs 0..{gpus - 1}")
        self.gpus = [
            SimulatedGpu(i, seed, node, model or GpuModel(),
                         utilization or (_process_sum(self.processes[i]) if self.processes.get(i) else None))
            for i in range(gpus)
        ]
        self.limits = Attempts()

    def apply_power_limits(self, desired: Desired, now: float) -> None:
        for gpu in self.gpus:
            if gpu.uuid in desired and self.limits.due(gpu.uuid, desired[gpu.uuid], now):
                self.limits.record(gpu.uuid, gpu.set_limit(desired[gpu.uuid], now), now)

    def _process_sensors(self, gpu: SimulatedGpu, t: float) -> list[dict[str, Any]]:
        by_unit: dict[str, float] = {}
        for unit, fn in self.processes.get(gpu.index, []):
            by_unit[unit] = by_unit.get(unit, 0.0) + _ratio(fn(slot_start(t)))
        return [{"source": PROCESS_SOURCE, "chip": gpu.uuid, "name": unit, "simulated": True,
                 "metrics": {"sm_utilization_ratio": round(min(1.0, u), 4)}}
                for unit, u in sorted(by_unit.items())]

    def _device(self, gpu: SimulatedGpu, now: float) -> dict[str, Any]:
        device = gpu.read(now)
        if (limit := self.limits.report(gpu.uuid)) is not None:
            device["power_limit"] = limit
        return device

    def collect(self, now: float) -> CollectorResult:
        return CollectorResult(devices=[self._device(gpu, now) for gpu in self.gpus],
                               sensors=[s for gpu in self.gpus for s in self._process_sensors(gpu, now)])

    def close(self) -> None:
        pass
