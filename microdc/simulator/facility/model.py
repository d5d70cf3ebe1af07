"""The physics behind the simulated facility: IT load, losses, cooling, and exact energy counters.

Power flows utility -> UPS -> rack PDUs -> IT equipment, with cooling and other loads beside the UPS:

* IT power per rack comes from the caller (``it_power_fn``), or a plausible daily profile.
* Each rack PDU loses a little at idle plus a share of what it delivers.
* The UPS loses a fixed share of its rating (no-load loss) plus a share of its output.
* Cooling removes the heat of IT and losses with a coefficient of performance that falls as the
  outside air warms (a daily sinusoid), plus fixed pump and fan power.
* The utility feed carries UPS input + cooling + other (lighting, controls), less what an on-site solar
  array (``solar_peak_watts``, default none) supplies; the array's output is all consumed on site.

Energy counters are the integral of these powers over wall-clock time, advanced in steps of at most
one second with the midpoint rule, so energy over any window agrees with the power the peers report.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

# A total, or per rack: a total (shared over its outlets by fixed weights) or each outlet's watts.
ItPowerFn = Callable[[float], "float | Mapping[str, float | Sequence[float]]"]

WATER_SPECIFIC_HEAT = 4180.0  # J/(kg K); 1 L of water is about 1 kg
SECONDARY_DELTA_T = 8.0  # K the CDU's pump control holds across the IT loop
LIQUID_HEAT_FRACTION = 0.75  # share of IT heat taken by the liquid loop (the rest goes to room air)


def default_it_power(now: float) -> float:
    """About 11 kW of GPUs that are busier in the afternoon, with minute-scale wobble. Deterministic."""
    day = 2 * math.pi * (now % 86400) / 86400
    return 9000.0 + 2500.0 * math.sin(day - math.pi / 2) + 600.0 * math.sin(2 * math.pi * now / 600) + 250.0 * math.sin(
        2 * math.pi * now / 97
    )


def outside_temperature(now: float, mean: float = 18.0, swing: float = 8.0) -> float:
    """Outside air: coolest around 03:00 UTC, warmest around 15:00 UTC."""
    return mean + swing * math.sin(2 * math.pi * ((now % 86400) / 86400 - 9 / 24))


def solar_power(now: float, peak_watts: float) -> float:
    """A clear-sky day from 06:00 to 18:00 UTC (sine, highest at noon), dimmed by each day's clouds."""
    if peak_watts <= 0:
        return 0.0
    hours = (now % 86400) / 3600
    if not 6.0 < hours < 18.0:
        return 0.0
    day = int(now // 86400)
    clouds = 0.55 + 0.45 * abs(math.sin(day * 2.39996))  # deterministic, varies day to day
    return peak_watts * clouds * math.sin(math.pi * (hours - 6.0) / 12.0)


@dataclass(frozen=True)
class Powers:
    """Instantaneous powers in watts."""

    outside_temperature_c: float
    rack_outlets: dict[str, list[float]]  # IT power per outlet of each rack's PDU
    rack_pdu_input: dict[str, float]
    ups_output: float
    ups_input: float
    cooling: float
    other: float
    utility: float
    heat_to_liquid: float
    solar: float = 0.0

    @property
    def it(self) -> float:
        return sum(sum(outlets) for outlets in self.rack_outlets.values())


@dataclass(frozen=True)
class Snapshot:
    time: float
    powers: Powers
    energy_joules: dict[str, float]  # counter name -> joules since the simulated meters were installed
    ups_rating_watts: float
    cdu: dict[str, float] = field(default_factory=dict)


@dataclass
class FacilityModel:
    racks: Sequence[str] = ("A01", "A02")
    it_power_fn: ItPowerFn = default_it_power
    outlets_per_pdu: int = 4
    ups_rating_watts: float = 40000.0
    ups_fixed_loss_fraction: float = 0.02  # of rating, lost even at no load
    ups_proportional_loss: float = 0.03  # of output
    pdu_idle_watts: float = 15.0
    pdu_proportional_loss: float = 0.015
    cooling_fixed_watts: float = 300.0  # pumps and fans
    other_watts: float = 150.0
    solar_peak_watts: float = 0.0
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._last = self.clock()
        # Meters are not new: start counters at a plausible installed total (and never at 0, which
        # SunSpec reserves for "not accumulated").
        self._energy: dict[str, float] = {}
        for name in self._counter_names():
            self._energy[name] = 3.6e9 + 1.0e8 * (len(self._energy) + 1)

    def _counter_names(self) -> list[str]:
        names = ["utility", "ups_input", "ups_output", "cooling"]
        for rack in self.racks:
            names.append(f"pdu.{rack}")
            names += [f"outlet.{rack}.{index}" for index in range(1, self.outlets_per_pdu + 1)]
        return [*names, "solar"]

    def powers(self, now: float) -> Powers:
        raw = self.it_power_fn(now)
        if not isinstance(raw, Mapping):
            raw = dict.fromkeys(self.racks, max(0.0, float(raw)) / len(self.racks))
        rack_outlets, rack_pdu_input, rack_it = {}, {}, {}
        for position, rack in enumerate(self.racks):
            value = raw.get(rack, 0.0)
            if isinstance(value, Sequence):  # each outlet's own load (the demo's nodes)
                outlets = [max(0.0, float(w)) for w in value][:self.outlets_per_pdu]
                rack_outlets[rack] = outlets + [0.0] * (self.outlets_per_pdu - len(outlets))
            else:
                # Uneven outlet shares, as real servers differ.
                weights = [1.0 + 0.15 * math.sin(position + index) for index in range(self.outlets_per_pdu)]
                total = sum(weights)
                rack_outlets[rack] = [max(0.0, float(value)) * weight / total for weight in weights]
            rack_it[rack] = sum(rack_outlets[rack])
            rack_pdu_input[rack] = rack_it[rack] * (1 + self.pdu_proportional_loss) + self.pdu_idle_watts
        ups_output = sum(rack_pdu_input.values())
        ups_input = ups_output * (1 + self.ups_proportional_loss) + self.ups_fixed_loss_fraction * self.ups_rating_watts
        it = sum(rack_it.values())
        heat = ups_input + self.other_watts  # everything the room dissipates
        outside = outside_temperature(now)
        cop = min(7.0, max(2.5, 7.0 - 0.15 * (outside - 10.0)))
        cooling = self.cooling_fixed_watts + heat / cop
        load = ups_input + cooling + self.other_watts
        solar = min(load, solar_power(now, self.solar_peak_watts))
        return Powers(
            outside_temperature_c=outside,
            rack_outlets=rack_outlets,
            rack_pdu_input=rack_pdu_input,
            ups_output=ups_output,
            ups_input=ups_input,
            cooling=cooling,
            other=self.other_watts,
            utility=load - solar,
            heat_to_liquid=LIQUID_HEAT_FRACTION * it,
            solar=solar,
        )

    def _counter_powers(self, powers: Powers) -> dict[str, float]:
        values = {
            "utility": powers.utility,
            "ups_input": powers.ups_input,
            "ups_output": powers.ups_output,
            "cooling": powers.cooling,
            "solar": powers.solar,
        }
        for rack, outlets in powers.rack_outlets.items():
            values[f"pdu.{rack}"] = powers.rack_pdu_input[rack]
            for index, watts in enumerate(outlets, start=1):
                values[f"outlet.{rack}.{index}"] = watts
        return values

    def resume(self, energy: Mapping[str, float], at: float) -> None:
        """Continue counters a previous run (or the demo's backfill) left at `energy` at time `at`, so the
        meters never appear to reset; the time since `at` is integrated on the next snapshot."""
        with self._lock:
            for name, joules in energy.items():
                if name in self._energy:
                    self._energy[name] = float(joules)
            self._last = min(self._last, at)

    def snapshot(self) -> Snapshot:
        """Advance the counters to now and return a consistent view of every value."""
        with self._lock:
            now = max(self.clock(), self._last)  # a clock step backwards must not run counters backwards
            while self._last < now:
                step = min(1.0, now - self._last)
                middle = self._counter_powers(self.powers(self._last + step / 2))
                for name, watts in middle.items():
                    self._energy[name] += watts * step
                self._last += step
            powers = self.powers(now)
            energy = dict(self._energy)
        return Snapshot(now, powers, energy, self.ups_rating_watts, _cdu_state(powers))


def _cdu_state(powers: Powers) -> dict[str, float]:
    """Coolant loops: the pump holds a fixed temperature rise across the IT loop."""
    heat = powers.heat_to_liquid
    flow_lpm = min(120.0, max(5.0, heat / (WATER_SPECIFIC_HEAT * SECONDARY_DELTA_T) * 60.0))
    secondary_supply = 30.0
    secondary_delta = heat / (WATER_SPECIFIC_HEAT * flow_lpm / 60.0)
    primary_supply = 16.0 + 0.3 * max(0.0, powers.outside_temperature_c - 16.0)
    primary_flow = flow_lpm * 1.2
    primary_delta = heat / (WATER_SPECIFIC_HEAT * primary_flow / 60.0)
    return {
        "heat_removed_watts": heat,
        "secondary_flow_lpm": flow_lpm,
        "secondary_supply_c": secondary_supply,
        "secondary_return_c": secondary_supply + secondary_delta,
        "secondary_delta_c": secondary_delta,
        "primary_flow_lpm": primary_flow,
        "primary_supply_c": primary_supply,
        "primary_return_c": primary_supply + primary_delta,
        "primary_delta_c": primary_delta,
        "pump_speed_ratio": min(1.0, flow_lpm / 120.0 + 0.2),
        "ambient_c": 24.0 + 0.1 * (powers.outside_temperature_c - 18.0),
        "humidity_ratio": 0.42,
    }
