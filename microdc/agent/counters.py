"""Rates from cumulative counters (RAPL energy_uj and the like), with wraparound and resets handled."""

from __future__ import annotations

from collections.abc import Hashable


class CounterRate:
    """Per-key rate of a monotonic counter between successive readings.

    A reading below the previous one is a wraparound when the counter declares its range (RAPL's
    ``max_energy_range_uj``: it counts 0..range then starts again at 0), else a reset (reboot, driver
    reload) and yields no rate. A gap longer than one full wrap period cannot be detected; RAPL wraps after
    tens of minutes at full load, far longer than a collection interval.
    """

    def __init__(self) -> None:
        self._last: dict[Hashable, tuple[float, float]] = {}

    def update(
        self, key: Hashable, now: float, value: float, wrap_range: float | None = None
    ) -> float | None:
        """Record ``value`` at ``now``; return units per second since the previous reading, or None."""
        previous = self._last.get(key)
        self._last[key] = (now, value)
        if previous is None:
            return None
        then, before = previous
        dt = now - then
        if dt <= 0:  # same instant, or the wall clock stepped back
            return None
        delta = value - before
        if delta < 0:
            if not wrap_range or before > wrap_range:
                return None
            delta += wrap_range
        return delta / dt
