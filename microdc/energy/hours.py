"""Hour and day rows of the ledger. An hour row sums the hour's minute rows (the current partial hour too), plus
the facility level at the hour's PUE (ISO/IEC 30134-2, energy over the same hour), null where that PUE is
incomplete; a day row (UTC) sums the day's hour rows, so long windows read a few rows per deployment."""

import datetime
from collections import defaultdict

from microdc.facility.pue import pue_between
from microdc.nodes.models import Node, Site
from microdc.telemetry.rollups import floor_time

from .models import UnallocatedBucket, UsageBucket

HOUR = datetime.timedelta(hours=1)
DAY = datetime.timedelta(days=1)
DAY_SECONDS = UsageBucket.DAY
SUMMED = ("gpu_joules", "gpu_idle_joules", "node_joules", "gpu_coverage", "node_coverage", "server_coverage")
SUMMED_OR_NULL = ("requests", "failed_requests", "prompt_tokens", "generation_tokens")  # null: all were null
UNKNOWN_IF_ANY_UNKNOWN = ("operational_grams_at_pue1", "facility_joules", "operational_grams")


class PueCache:
    """The site's PUE per hour, computed once per ledger run."""

    def __init__(self, now: datetime.datetime):
        self.until = floor_time(now, 60)  # the current minute is not over: PUE up to its start
        self.values: dict[tuple[int, datetime.datetime], float | None] = {}

    def of(self, site: Site, hour: datetime.datetime) -> float | None:
        key = (site.pk, hour)
        if key not in self.values:
            end = min(hour + HOUR, self.until)
            result = pue_between(site, hour, end) if end > hour else None
            self.values[key] = result.pue if result is not None and result.complete else None
        return self.values[key]


def _add_nullable(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else a + b


def _add_or_unknown(a: float | None, b: float | None) -> float | None:
    """A sum that is only as known as its least known part."""
    return None if a is None or b is None else a + b


def summed(children: list[UsageBucket], resolution: int, start: datetime.datetime) -> UsageBucket:
    """One row of `resolution` from the rows of the next finer one (minutes into an hour, hours into a day)."""
    first = children[0]
    row = UsageBucket(deployment_id=first.deployment_id, node_id=first.node_id, resolution=resolution,
                      start=start, latency={}, rules=[], operational_grams_at_pue1=0.0, facility_joules=0.0,
                      operational_grams=0.0)
    rules: set[str] = set()
    for child in children:
        for name in SUMMED:
            setattr(row, name, getattr(row, name) + getattr(child, name))
        for name in SUMMED_OR_NULL:
            setattr(row, name, _add_nullable(getattr(row, name), getattr(child, name)))
        for name in UNKNOWN_IF_ANY_UNKNOWN:
            setattr(row, name, _add_or_unknown(getattr(row, name), getattr(child, name)))
        for name, value in child.latency.items():
            row.latency[name] = row.latency.get(name, 0.0) + value
        rules.update(child.rules)
    row.rules = sorted(rules)
    return row


def _hour_row(minutes: list[UsageBucket], hour: datetime.datetime, pue: float | None) -> UsageBucket:
    row = summed(minutes, UsageBucket.HOUR, hour)
    row.facility_joules = None if pue is None else row.node_joules * pue
    grams = row.operational_grams_at_pue1
    row.operational_grams = None if pue is None or grams is None else grams * pue
    return row


def rebuild(node: Node, site: Site, start: datetime.datetime, end: datetime.datetime, pue: PueCache) -> int:
    """Recompute the node's hour rows of the hours [start, end) touch from its minute rows, then the day rows
    of those days from the hour rows. The caller holds the transaction. Returns the number of hour rows
    written."""
    first, last = floor_time(start, 3600), floor_time(end - datetime.timedelta(microseconds=1), 3600) + HOUR
    written = _roll_into(node, UsageBucket.MINUTE, UsageBucket.HOUR, first, last,
                         lambda minutes, hour: _hour_row(minutes, hour, pue.of(site, hour)))
    rebuild_days(node, first, last)
    return written


def rebuild_days(node: Node, start: datetime.datetime, end: datetime.datetime) -> None:
    """Recompute the node's day rows of the UTC days [start, end) touch from its hour rows."""
    first = floor_time(start, DAY_SECONDS)
    last = floor_time(end - datetime.timedelta(microseconds=1), DAY_SECONDS) + DAY
    _roll_into(node, UsageBucket.HOUR, UsageBucket.DAY, first, last,
               lambda hours, day: summed(hours, UsageBucket.DAY, day))


def _roll_into(node: Node, finer: int, coarser: int, first: datetime.datetime, last: datetime.datetime,
               make_row) -> int:
    """Replace the node's `coarser` rows in [first, last) (whole buckets) by `make_row(children, start)` of
    each deployment's `finer` rows, and its unallocated rows by their sums. Returns the usage rows written."""
    grouped: dict[tuple[int, datetime.datetime], list[UsageBucket]] = defaultdict(list)
    for child in UsageBucket.objects.filter(node=node, resolution=finer, start__gte=first,
                                            start__lt=last).order_by("start"):
        grouped[(child.deployment_id, floor_time(child.start, coarser))].append(child)
    rows = [make_row(children, bucket) for (_, bucket), children in grouped.items()]
    UsageBucket.objects.filter(node=node, resolution=coarser, start__gte=first, start__lt=last).delete()
    UsageBucket.objects.bulk_create(rows, batch_size=1000)

    unallocated: dict[datetime.datetime, UnallocatedBucket] = {}
    for child in UnallocatedBucket.objects.filter(node=node, resolution=finer, start__gte=first, start__lt=last):
        bucket = floor_time(child.start, coarser)
        row = unallocated.setdefault(bucket, UnallocatedBucket(node=node, resolution=coarser, start=bucket))
        row.gpu_joules += child.gpu_joules
        row.node_joules += child.node_joules
    UnallocatedBucket.objects.filter(node=node, resolution=coarser, start__gte=first, start__lt=last).delete()
    UnallocatedBucket.objects.bulk_create(list(unallocated.values()), batch_size=1000)
    return len(rows)
