"""Write readings into the telemetry store: raw rows, each source's latest values, and what to roll up.

Shared by node ingest and facility meter polling. Callers hold the transaction.
"""

import datetime
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from .bulk import insert_samples, update_latest
from .models import Source


class Reading(NamedTuple):
    """Everything one source reported at one instant."""

    source: Source
    ts: datetime.datetime
    values: dict[str, float]
    attributes: dict[str, Any] = {}  # shared default: never mutated


def sources_by_key(wanted: dict[str, dict[str, Any]],
                   before_create: Callable[[dict[str, Source], list[str]], None] | None = None) -> dict[str, Source]:
    """Fetch sources by key, creating the missing ones from `wanted[key]` (their fields).

    `before_create(found, missing_keys)` may refuse (raise) before anything is created."""
    found = {s.key: s for s in Source.objects.filter(key__in=list(wanted))}
    if before_create is not None:
        before_create(found, [key for key in wanted if key not in found])
    missing = [Source(key=key, **fields) for key, fields in wanted.items() if key not in found]
    if missing:
        # ignore_conflicts: a concurrent request may create the same source; fetch whatever won.
        Source.objects.bulk_create(missing, ignore_conflicts=True)
        found |= {s.key: s for s in Source.objects.filter(key__in=[s.key for s in missing])}
    return found


def store(readings: Iterable[Reading]) -> int:
    """Insert the readings (one row per reporter and instant), move each source's latest values forward, and
    mark what needs rolling up. Returns the number of rows written."""
    rows: dict[tuple, dict[str, dict]] = {}
    keys: dict[int, str] = {}  # by Python identity: model hashing costs more than the rest of the loop
    touched: list[Source] = []
    for source, ts, values, attributes in readings:
        key = keys.get(id(source))
        if key is None:
            key = keys[id(source)] = str(source.id)
            touched.append(source)
        rows.setdefault((source.node_id if source.meter_id is None else None, source.meter_id, ts), {})[key] = values
        # A backfilled (older) sample must not replace a newer latest value.
        if source.last_ts is None or ts >= source.last_ts:
            source.last_ts = ts
            source.last_values = values
            source.last_attributes = attributes
        if source.dirty_since is None or ts < source.dirty_since:
            source.dirty_since = ts
    if not rows:
        return 0
    insert_samples([(node_id, meter_id, ts, values) for (node_id, meter_id, ts), values in rows.items()])
    update_latest(touched)
    return len(rows)
