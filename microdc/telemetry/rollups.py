"""Roll raw samples up into 1-minute and 1-hour buckets, and prune what retention lets go.

Counters (energy) become increases per bucket with counter resets handled; power is integrated over time
(joules) where consecutive samples are close enough. An interval between two samples is shared among the
buckets it spans in proportion to time, so a window's energy is right even when it cuts an interval.
Intervals longer than the maximum gap count for nothing and leave the bucket's coverage short: a window
with a gap is reported as incomplete, never filled in.
"""

import datetime
import logging
import time
from collections import defaultdict

from django.conf import settings
from django.db import OperationalError, transaction
from django.db.models import F, Value
from django.utils import timezone

from . import rollup_claims
from .metrics_catalog import is_counter, is_power
from .models import ReceivedBatch, Rollup, Sample, Source

UTC = datetime.UTC
log = logging.getLogger(__name__)


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


ROUNDING_DIP = 0.999  # a counter read at least this share of its last value has not been reset


def _add_interval(buckets, t0, v0, t1, v1, seconds) -> None:
    amounts = {}
    for metric, value in v1.items():
        before = v0.get(metric)
        if before is None:
            continue
        if is_counter(metric):
            increase = value - before
            if increase >= 0:
                amounts[(metric, "delta")] = increase
            elif value >= before * ROUNDING_DIP:
                # A hair below the last value is the device's or the protocol's rounding (a Wh register read
                # after a float): no energy, and no reset, which would count the whole counter again.
                amounts[(metric, "delta")] = 0.0
            else:
                # A counter that went down was reset (driver reload, meter replaced): it counted up from zero.
                amounts[(metric, "delta")] = value
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


def _upsert(resolution: int, buckets: list[tuple[int, datetime.datetime, _Bucket]]) -> None:
    """Write (source id, start, bucket) rows of one resolution in one statement (per thousand)."""
    Rollup.objects.bulk_create(
        [Rollup(source_id=source_id, resolution=resolution, start=start, coverage=min(b.coverage, resolution),
                stats=b.stats) for source_id, start, b in buckets],
        update_conflicts=True, unique_fields=["source", "resolution", "start"], update_fields=["coverage", "stats"],
        batch_size=1000,
    )


def _reporter_samples(source: Source):
    if source.meter_id is not None:
        return Sample.objects.filter(meter_id=source.meter_id)
    return Sample.objects.filter(node_id=source.node_id)


def _minutes(source: Source, since: datetime.datetime, rows: list[tuple]) -> dict[datetime.datetime, _Bucket]:
    """The minute buckets that samples at or after `since` change, from the reporter's rows (ts, values) which
    reach back at least one gap before `since`."""
    key = str(source.pk)
    mine = [(ts, values[key]) for ts, values in rows if key in values]
    # The interval ending in the first new sample starts at the sample before it: recompute from there.
    before = [ts for ts, _ in mine if ts < since]
    start = floor_time(before[-1] if before else since, Rollup.MINUTE)
    seed = next((row for row in reversed(mine) if row[0] < start), None)
    mine = [row for row in mine if row[0] >= start]
    if not mine:
        return {}
    return {begin: b for begin, b in _minute_buckets(mine, seed).items() if begin >= start}


def _write(plans: list[tuple[Source, dict[datetime.datetime, _Bucket]]]) -> None:
    """Store the sources' new minute buckets and recompute the hours they fall in, with one statement of each
    kind for all of them. The caller holds the transaction."""
    plans = [(source, minutes) for source, minutes in plans if minutes]
    if not plans:
        return
    _upsert(Rollup.MINUTE, [(source.pk, start, b) for source, minutes in plans for start, b in minutes.items()])
    by_since: dict[datetime.datetime, list[int]] = defaultdict(list)
    for source, minutes in plans:  # one reporter's sources share their first minute: one statement
        by_since[min(minutes)].append(source.pk)
    for since, pks in by_since.items():
        mark_derived_dirty(Source.objects.filter(pk__in=pks), since)
    spans = {source.pk: (floor_time(min(minutes), Rollup.HOUR),
                         floor_time(max(minutes), Rollup.HOUR) + datetime.timedelta(hours=1))
             for source, minutes in plans}
    hours: dict[tuple[int, datetime.datetime], _Bucket] = defaultdict(_Bucket)
    for minute in Rollup.objects.filter(source_id__in=list(spans), resolution=Rollup.MINUTE,
                                        start__gte=min(first for first, _ in spans.values()),
                                        start__lt=max(last for _, last in spans.values())).order_by("source_id",
                                                                                                     "start"):
        first, last = spans[minute.source_id]
        if first <= minute.start < last:
            _merge_into_hour(hours[(minute.source_id, floor_time(minute.start, Rollup.HOUR))], minute)
    _upsert(Rollup.HOUR, [(source_id, start, b) for (source_id, start), b in hours.items()])


def _roll_up(source: Source, since: datetime.datetime, rows: list[tuple]) -> int:
    """Recompute one source's buckets from `since` on (see _minutes). The caller holds the transaction."""
    minutes = _minutes(source, since, rows)
    _write([(source, minutes)])
    return len(minutes)


def mark_derived_dirty(sources, since: datetime.datetime) -> None:
    """Tell what is derived from these sources' rollups to recompute from `since` on: the mark only ever moves
    earlier, decided in SQL against the stored value, so concurrent writers never lose an earlier mark."""
    sources.update(derived_dirty_since=rollup_claims.earliest(F("derived_dirty_since"), Value(since)))


def roll_up_dirty(limit: int = 1000, sources=None, now: datetime.datetime | None = None) -> int:
    """Roll up every source with new samples (of `sources`, a queryset, when given), reading each reporter's
    samples once. Safe to run in several processes at once: each source is claimed by one runner
    (rollup_claims). A source that fails is put back with backoff and the others go on. Returns the number
    of sources rolled up."""
    now = now or timezone.now()
    try:
        claimed = rollup_claims.claim(sources, limit, now)
    except OperationalError as exc:  # "database is locked": this run does nothing, the marks stay
        log.warning("rollup run skipped: %s", exc)
        return 0
    groups: dict[tuple, list[Source]] = defaultdict(list)
    for source in claimed:
        groups[(source.node_id, source.meter_id)].append(source)
    settled: set[int] = set()
    rolled_up = 0
    try:
        for group in groups.values():
            rolled_up += _roll_up_group(group, now, settled)
    finally:
        # Whatever stopped the run, what it did not get to goes back to the next one.
        for source in claimed:
            if source.pk not in settled:
                rollup_claims.release(source)
    return rolled_up


def roll_up_pending(limit: int = 1000, budget_seconds: float = 20.0) -> int:
    """The periodic job: runs of up to `limit` sources, one after another, until a run rolls up fewer or
    `budget_seconds` are spent; what is left waits for the next turn. A site with more sources than one run
    takes (125 nodes of 8 GPUs and their sensors) is never a whole turn behind. Returns the sources rolled up."""
    started = time.monotonic()
    total = 0
    while True:
        done = roll_up_dirty(limit)
        total += done
        if done < limit or time.monotonic() - started >= budget_seconds:
            return total


def _roll_up_group(group: list[Source], now: datetime.datetime, settled: set[int]) -> int:
    """Roll up one reporter's claimed sources from one read of its samples."""
    earliest = min(source.rollup_claimed_since for source in group)
    try:
        with transaction.atomic():
            rows = list(_reporter_samples(group[0]).filter(ts__gte=earliest - _reach()).order_by("ts")
                        .values_list("ts", "values"))
    except Exception as exc:
        for source in group:
            _failed(source, exc, now)
            settled.add(source.pk)
        return 0
    if len(group) > 1:
        # The whole group in one transaction, one statement of each kind (a node's GPUs: eight times fewer).
        # Should anything fail, the group goes again source by source below, so the others are rolled up and
        # only the failing one backs off.
        try:
            with transaction.atomic():
                # The group's rows locked first, in id order as ingest locks them (store.sources_by_key): the
                # statements below touch several at once, in whatever order, and must not deadlock a writer.
                list(Source.objects.filter(pk__in=[source.pk for source in group]).order_by("pk")
                     .select_for_update().values_list("pk", flat=True))
                _write([(source, _minutes(source, source.rollup_claimed_since, rows)) for source in group])
                rollup_claims.finish_all(group)
        except Exception:  # noqa: BLE001, S110 - source by source says which and why
            pass
        else:
            settled.update(source.pk for source in group)
            return len(group)
    rolled_up = 0
    for source in group:
        try:
            # The buckets and the end of the claim together: a failure or a lost claim writes neither.
            with transaction.atomic():
                _roll_up(source, source.rollup_claimed_since, rows)
                rollup_claims.finish(source)
        except rollup_claims.ClaimLost as exc:
            log.warning("rollup of source %s (%s) discarded: %s", source.pk, source.key, exc)
        except Exception as exc:
            _failed(source, exc, now)
        else:
            rolled_up += 1
        settled.add(source.pk)
    return rolled_up


def _failed(source: Source, exc: Exception, now: datetime.datetime) -> None:
    error = f"{type(exc).__name__}: {exc}"
    retry_at = rollup_claims.fail(source, error, now)
    log.warning("rollup of source %s (%s) failed %d time(s) in a row, next attempt at %s: %s", source.pk,
                source.key, source.rollup_failures + 1, retry_at.isoformat(), error,
                exc_info=not isinstance(exc, OperationalError))


def _reach() -> datetime.timedelta:
    """How far before a source's first new sample its rollup reads: the sample before it, and the minute
    that sample starts in."""
    return datetime.timedelta(seconds=max_gap() + 2 * Rollup.MINUTE)


def prune(now: datetime.datetime | None = None) -> dict[str, int]:
    """Delete what is past retention: raw samples (only what is rolled up), minute and hour rollups, batch ids."""
    now = now or timezone.now()
    hours = datetime.timedelta(hours=1)
    days = datetime.timedelta(days=1)
    deleted = {
        "samples": _prune_samples(now - settings.MICRODC_RAW_RETENTION_HOURS * hours),
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


def _prune_samples(cutoff: datetime.datetime) -> int:
    """Delete raw samples older than `cutoff`, but of a reporter with a source not rolled up (dirty, claimed
    or failing) only those older than what that rollup will read."""
    bounds: dict[tuple[str, int], datetime.datetime] = {}
    pending = (Source.objects.annotate(pending=rollup_claims.pending_since())
               .filter(pending__lt=cutoff + _reach()).values_list("node_id", "meter_id", "pending"))
    for node_id, meter_id, since in pending:
        reporter = ("meter", meter_id) if meter_id is not None else ("node", node_id)
        bound = since - _reach()
        bounds[reporter] = min(bounds.get(reporter, bound), bound)
    old = Sample.objects.filter(ts__lt=cutoff)
    held = {kind: [pk for k, pk in bounds if k == kind] for kind in ("node", "meter")}
    deleted = (old.exclude(node__in=held["node"], meter__isnull=True).exclude(meter__in=held["meter"])
               .delete()[0])
    for (kind, pk), bound in bounds.items():
        rows = old.filter(meter_id=pk) if kind == "meter" else old.filter(node_id=pk, meter__isnull=True)
        deleted += rows.filter(ts__lt=bound).delete()[0]
    return deleted
