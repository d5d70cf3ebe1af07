"""Energy (and other counter increases) of a source over a time window, read from the rollups.

Whole hours come from the hour rollups and the ragged edges from the minute rollups, so a 30-day window
reads about 800 rows, not 43,200. Coverage says how much of the window the samples really cover.
"""

import datetime
from dataclasses import dataclass

from .models import Rollup, Source
from .rollups import ceil_time, floor_time


@dataclass(frozen=True)
class WindowAmount:
    total: float
    coverage_seconds: float
    method: str  # "counter" (energy counter increases) or "integral" (power integrated over time)
    buckets: tuple[tuple[datetime.datetime, float], ...]  # (bucket start, amount), for time-varying factors


def window_ranges(start, end, split_at=()):
    """[(resolution, from, to)] covering [start, end): whole hours as hour rollups, except hours in which a
    time-varying factor changes (`split_at`), which are read per minute."""
    first_hour, last_hour = ceil_time(start, Rollup.HOUR), floor_time(end, Rollup.HOUR)
    if first_hour >= last_hour:
        return [(Rollup.MINUTE, start, end)]
    hour = datetime.timedelta(hours=1)
    split_hours = {floor_time(t, Rollup.HOUR) for t in split_at if first_hour <= t < last_hour and
                   floor_time(t, Rollup.HOUR) != t}
    ranges = [(Rollup.MINUTE, start, first_hour)]
    cursor = first_hour
    for split in sorted(split_hours):
        ranges += [(Rollup.HOUR, cursor, split), (Rollup.MINUTE, split, split + hour)]
        cursor = split + hour
    return [*ranges, (Rollup.HOUR, cursor, last_hour), (Rollup.MINUTE, last_hour, end)]


def energy_method(source: Source, counter: str = "energy_joules",
                  gauge: str | None = "power_watts") -> tuple[str, str, str]:
    """(method, metric, stat key) for a source's energy: its counter's increases where it reports one, else
    the time integral of its power."""
    if counter in (source.last_values or {}) or gauge is None:
        return "counter", counter, "delta"
    return "integral", gauge, "integral"


def amount_between(source: Source, start: datetime.datetime, end: datetime.datetime,
                   counter: str = "energy_joules", gauge: str | None = "power_watts",
                   split_at=()) -> WindowAmount:
    """Increase of `counter` over [start, end) where the source reports it, else the time integral of `gauge`.

    `start` and `end` should fall on minute boundaries (rollups are per minute at the finest). Buckets
    never straddle a time in `split_at` (when a factor such as carbon intensity changes)."""
    method, metric, key = energy_method(source, counter, gauge)
    total = coverage = 0.0
    buckets = []
    for resolution, begin, until in window_ranges(start, end, split_at):
        if begin >= until:
            continue
        rows = Rollup.objects.filter(source=source, resolution=resolution, start__gte=begin, start__lt=until)
        for bucket_start, bucket_coverage, stats in rows.values_list("start", "coverage", "stats"):
            amount = stats.get(metric, {}).get(key, 0.0)
            total += amount
            coverage += bucket_coverage
            buckets.append((bucket_start, amount))
    return WindowAmount(total, coverage, method, tuple(buckets))
