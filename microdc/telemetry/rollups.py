"""Roll raw samples up into 1-minute and 1-hour buckets, and prune what retention lets go.

Counters (energy) become increases per bucket with counter resets handled; power is integrated over time
(joules) where consecutive samples are close enough. An interval between two samples is shared among the
buckets it spans in proportion to time, so a window's energy is right even when it cuts an interval.
Intervals longer than the maximum gap count for nothing and leave the bucket's coverage short: a window
with a gap is reported as incomplete, never filled in.
"""

import datetime
from collections import defaultdict

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .metrics_catalog import is_counter, is_power
from .models import ReceivedBatch, Rollup, Sample, Source

UTC = datetime.UTC


def floor_time(ts: datetime.datetime, seconds: int) -> datetime.datetime:
    epoch = int(ts.timestamp())
    return datetime.datetime.fromtimestamp(epoch - epoch % seconds, UTC)


def ceil_time(ts: datetime.datetime, seconds: int) -> datetime.datetime:
    floored = floor_time(ts, seconds)
    return floored if floored == ts else floored + datetime.timedelta(seconds=seconds)


def max_gap() -> float:
    return float(settings.MICRODC_TELEMETRY_MAX_GAP_SECONDS)


class _Bucket:
    __slots__ = ("coverage", "stats")

    def __init__(self):
        self.coverage = 0.0
        self.stats: dict[str, dict] = {}


def _spread(buckets, t0: datetime.datetime, t1: datetime.datetime, apply) -> None:
    """Call apply(bucket, fraction) for each minute bucket the interval (t0, t1] overlaps."""
    total = (t1 - t0).total_seconds()
    start = floor_time(t0, Rollup.MINUTE)
    while start < t1:
        end = start + datetime.timedelta(seconds=Rollup.MINUTE)
        overlap = (min(end, t1) - max(start, t0)).total_seconds()
        if overlap > 0:
            bucket = buckets[start]
            apply(bucket, overlap / total, overlap)
        start = end


def _minute_buckets(rows, prev) -> dict[datetime.datetime, _Bucket]:
    buckets: dict[datetime.datetime, _Bucket] = defaultdict(_Bucket)
    gap = max_gap()
    for ts, values in rows:
        bucket = buckets[floor_time(ts, Rollup.MINUTE)]
        for metric, value in values.items():
            if is_counter(metric):
                bucket.stats.setdefault(metric, {"delta": 0.0})["last"] = value
            else:
                stat = bucket.stats.get(metric)
                if stat is None:
                    bucket.stats[metric] = {"n": 1, "min": value, "max": value, "sum": value}
                else:
                    stat["n"] += 1
                    stat["min"] = min(stat["min"], value)
                    stat["max"] = max(stat["max"], value)
                    stat["sum"] += value
        if prev is not None:
            prev_ts, prev_values = prev
            seconds = (ts - prev_ts).total_seconds()
            if 0 < seconds <= gap:
                _add_interval(buckets, prev_ts, prev_values, ts, values, seconds)
        prev = (ts, values)
    return buckets


def _add_interval(buckets, t0, v0, t1, v1, seconds) -> None:
    amounts = {}
    for metric, value in v1.items():
        before = v0.get(metric)
        if before is None:
            continue
        if is_counter(metric):
            increase = value - before
            # A counter that went down was reset (driver reload, meter replaced): it counted up from zero.
            amounts[(metric, "delta")] = increase if increase >= 0 else value
        elif is_power(metric):
            amounts[(metric, "integral")] = (value + before) / 2 * seconds

    def apply(bucket, fraction, overlap):
        bucket.coverage += overlap
        for (metric, key), amount in amounts.items():
            stat = bucket.stats.setdefault(metric, {"delta": 0.0} if key == "delta" else {})
            stat[key] = stat.get(key, 0.0) + amount * fraction

    _spread(buckets, t0, t1, apply)


def _merge_into_hour(hour: _Bucket, minute: Rollup) -> None:
    hour.coverage += minute.coverage
    for metric, stat in minute.stats.items():
        into = hour.stats.get(metric)
        if into is None:
            hour.stats[metric] = dict(stat)
            continue
        for key, value in stat.items():
            if key in ("sum", "n", "delta", "integral"):
                into[key] = into.get(key, 0) + value
            elif key == "min":
                into["min"] = min(into.get("min", value), value)
            elif key == "max":
                into["max"] = max(into.get("max", value), value)
            elif key == "last":
                into["last"] = value


def _upsert(source: Source, resolution: int, buckets: dict[datetime.datetime, _Bucket]) -> None:
    Rollup.objects.bulk_create(
        [Rollup(source=source, resolution=resolution, start=start, coverage=min(b.coverage, resolution),
                stats=b.stats) for start, b in buckets.items()],
        update_conflicts=True, unique_fields=["source", "resolution", "start"], update_fields=["coverage", "stats"],
        batch_size=1000,
    )


def _reporter_samples(source: Source):
    if source.meter_id is not None:
        return Sample.objects.filter(meter_id=source.meter_id)
    return Sample.objects.filter(node_id=source.node_id)


def _roll_up(source: Source, since: datetime.datetime, rows: list[tuple]) -> int:
    """Recompute the buckets that samples at or after `since` change, from the reporter's rows (ts, values)
    which reach back at least one gap before `since`."""
    key = str(source.pk)
    mine = [(ts, values[key]) for ts, values in rows if key in values]
    # The interval ending in the first new sample starts at the sample before it: recompute from there.
    before = [ts for ts, _ in mine if ts < since]
    start = floor_time(before[-1] if before else since, Rollup.MINUTE)
    seed = next((row for row in reversed(mine) if row[0] < start), None)
    mine = [row for row in mine if row[0] >= start]
    if not mine:
        return 0
    minutes = {begin: b for begin, b in _minute_buckets(mine, seed).items() if begin >= start}
    with transaction.atomic():
        _upsert(source, Rollup.MINUTE, minutes)
        first_hour = floor_time(min(minutes), Rollup.HOUR)
        last_hour = floor_time(max(minutes), Rollup.HOUR) + datetime.timedelta(hours=1)
        hours: dict[datetime.datetime, _Bucket] = defaultdict(_Bucket)
        for minute in Rollup.objects.filter(source=source, resolution=Rollup.MINUTE, start__gte=first_hour,
                                            start__lt=last_hour).order_by("start"):
            _merge_into_hour(hours[floor_time(minute.start, Rollup.HOUR)], minute)
        _upsert(source, Rollup.HOUR, hours)
    return len(minutes)


def roll_up_dirty(limit: int = 1000, sources=None) -> int:
    """Roll up every source with new samples (of `sources`, a queryset, when given), reading each reporter's
    samples once. Safe to run in several workers at once. Returns the number of sources rolled up."""
    claimed: dict[tuple, list[tuple[Source, datetime.datetime]]] = defaultdict(list)
    candidates = Source.objects.all() if sources is None else sources
    for source in candidates.filter(dirty_since__isnull=False).order_by("dirty_since")[:limit]:
        since = source.dirty_since
        # Claim first: samples that arrive while we compute mark the source dirty again for the next run.
        if Source.objects.filter(pk=source.pk, dirty_since=since).update(dirty_since=None):
            claimed[(source.node_id, source.meter_id)].append((source, since))
    for group in claimed.values():
        earliest = min(since for _, since in group)
        # Reach back far enough to find the sample before `since` and the one before its minute.
        reach = datetime.timedelta(seconds=max_gap() + 2 * Rollup.MINUTE)
        rows = list(_reporter_samples(group[0][0]).filter(ts__gte=earliest - reach).order_by("ts")
                    .values_list("ts", "values"))
        for source, since in group:
            _roll_up(source, since, rows)
    return sum(len(group) for group in claimed.values())


def prune(now: datetime.datetime | None = None) -> dict[str, int]:
    """Delete what is past retention: raw samples (once rolled up), minute and hour rollups, batch ids."""
    now = now or timezone.now()
    hours = datetime.timedelta(hours=1)
    days = datetime.timedelta(days=1)
    raw_cutoff = now - settings.MICRODC_RAW_RETENTION_HOURS * hours
    # Samples not rolled up yet stay, whatever their age.
    dirty = Source.objects.filter(dirty_since__lt=raw_cutoff)
    old = Sample.objects.filter(ts__lt=raw_cutoff)
    deleted = {
        "samples": old.exclude(node__in=dirty.filter(meter__isnull=True).values("node"))
                      .exclude(meter__in=dirty.filter(meter__isnull=False).values("meter")).delete()[0],
        "minute_rollups": Rollup.objects.filter(
            resolution=Rollup.MINUTE, start__lt=now - settings.MICRODC_ROLLUP_MINUTE_RETENTION_DAYS * days
        ).delete()[0],
        "hour_rollups": Rollup.objects.filter(
            resolution=Rollup.HOUR, start__lt=now - settings.MICRODC_ROLLUP_HOUR_RETENTION_DAYS * days
        ).delete()[0],
        # Agents re-send within their spool's lifetime; a week of batch ids covers any realistic outage.
        "batch_ids": ReceivedBatch.objects.filter(received__lt=now - 7 * days).delete()[0],
    }
    return deleted
