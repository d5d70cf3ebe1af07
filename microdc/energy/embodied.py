"""Embodied carbon (SCI's M) of the hardware a deployment holds, amortised over the time it holds it.

Each accelerator's kgCO2e is spread evenly over its expected life; the node's over its own, and a
deployment carries the node's share by the accelerators it holds there (a deployment on a node without
accelerators, the node shared evenly among the deployments on it).
"""

from collections import defaultdict
from dataclasses import dataclass, field

from .models import Reservation
from .windows import Window

SECONDS_PER_YEAR = 365.25 * 86400


@dataclass
class Embodied:
    grams: float = 0.0
    counted: int = 0  # hardware items whose inventory gives embodied carbon
    missing: set[str] = field(default_factory=set)  # those it does not


def grams_per_second(item) -> float | None:
    if item.embodied_kgco2e is None or not item.expected_life_years:
        return None
    return item.embodied_kgco2e * 1000.0 / (item.expected_life_years * SECONDS_PER_YEAR)


def _overlap(reservation: Reservation, window: Window) -> float:
    start = max(reservation.start, window.start)
    end = min(reservation.end or window.end, window.end)
    return max((end - start).total_seconds(), 0.0)


def _node_share(r: Reservation, accelerator_counts: dict[int, int], sharing: dict[int, set]) -> float:
    held = accelerator_counts.get(r.node_id, 0)
    if r.accelerator_id is not None:
        return 1.0 / held if held else 0.0
    return 0.0 if held else 1.0 / len(sharing[r.node_id])


def embodied_by_deployment(reservations: list[Reservation], window: Window,
                           accelerator_counts: dict[int, int]) -> dict[int, Embodied]:
    """`reservations` overlap the window (node and accelerator loaded); `accelerator_counts`: node -> count."""
    result: dict[int, Embodied] = defaultdict(Embodied)
    sharing = defaultdict(set)  # node without accelerators -> deployments on it
    for r in reservations:
        if r.accelerator_id is None:
            sharing[r.node_id].add(r.deployment_id)
    for r in reservations:
        seconds = _overlap(r, window)
        entry = result[r.deployment_id]
        parts = [(r.node, f"node {r.node.hostname}", _node_share(r, accelerator_counts, sharing))]
        if r.accelerator_id:
            parts.append((r.accelerator, f"{r.node.hostname} accelerator {r.accelerator.index}", 1.0))
        for item, name, share in parts:
            if not share:
                continue
            rate = grams_per_second(item)
            if rate is None:
                entry.missing.add(name)
            else:
                entry.grams += rate * seconds * share
                entry.counted += 1
    return result
