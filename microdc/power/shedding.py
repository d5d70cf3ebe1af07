"""Which caps to lower to shed so many watts, and which to raise when headroom returns: pure planning, no I/O.

Lowest-priority deployments give first (accelerators no deployment holds before any), the hungriest first
within a priority; highest priorities get power back first. A cap never goes below the device's minimum nor
above its default."""

from dataclasses import dataclass

IDLE_PRIORITY = -1000  # an accelerator no deployment holds: nothing is served by its power


@dataclass(frozen=True)
class Candidate:
    accelerator_id: int
    power: float  # drawing now, W
    cap: float  # its desired limit now (its default when uncapped), W
    minimum: float
    default: float
    priority: int = IDLE_PRIORITY


def plan_shed(candidates: list[Candidate], watts: float) -> dict[int, float]:
    """New caps that cut the draw by at least `watts` where the devices allow it (each capped at what it
    draws now minus its share, never below its minimum)."""
    caps: dict[int, float] = {}
    remaining = watts
    for c in sorted(candidates, key=lambda c: (c.priority, -c.power)):
        if remaining <= 0:
            break
        target = max(c.minimum, min(c.cap, c.power - remaining))
        if target >= c.cap:
            continue  # already at its minimum
        caps[c.accelerator_id] = round(target, 1)
        remaining -= max(0.0, c.power - target)
    return caps


def plan_raise(candidates: list[Candidate], watts: float, step_ratio: float) -> dict[int, float | None]:
    """Caps raised by one step each (step_ratio of the device's range), highest priority first, while the
    added worst case stays within `watts`; a cap reaching the default is released (None)."""
    caps: dict[int, float | None] = {}
    budget = watts
    for c in sorted(candidates, key=lambda c: (-c.priority, c.power)):
        if c.cap >= c.default:
            continue
        step = max(1.0, step_ratio * (c.default - c.minimum))
        target = min(c.default, c.cap + step, c.cap + budget)
        if target <= c.cap:
            break
        budget -= target - c.cap
        caps[c.accelerator_id] = None if target >= c.default else round(target, 1)
    return caps
