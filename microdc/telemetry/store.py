"""Write readings into the telemetry store: raw rows, each source's latest values, and what to roll up.

Shared by node ingest and facility meter polling. Callers hold the transaction.
"""

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .bulk import insert_samples, update_latest
from .models import Source


@dataclass(slots=True)
class Reading:
    """Everything one source reported at one instant."""

    source: Source
    ts: datetime.datetime
    values: dict[str, float]
    attributes: dict[str, Any] = field(default_factory=dict)


def sources_by_key(wanted: dict[str, dict[str, Any]]) -> dict[str, Source]:
    """Fetch sources by key, creating the missing ones from `wanted[key]` (their fields)."""
    found = {s.key: s for s in Source.objects.filter(key__in=list(wanted))}
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
    touched: dict[int, Source] = {}
    for reading in readings:
        source = reading.source
        rows.setdefault((source.node_id if source.meter_id is None else None, source.meter_id, reading.ts),
                        {})[str(source.pk)] = reading.values
        touched[source.pk] = source
        # A backfilled (older) sample must not replace a newer latest value.
        if source.last_ts is None or reading.ts >= source.last_ts:
            source.last_ts = reading.ts
            source.last_values = reading.values
            source.last_attributes = reading.attributes
        if source.dirty_since is None or reading.ts < source.dirty_since:
            source.dirty_since = reading.ts
    if not rows:
        return 0
    insert_samples([(node_id, meter_id, ts, values) for (node_id, meter_id, ts), values in rows.items()])
    update_latest(list(touched.values()))
    return len(rows)
