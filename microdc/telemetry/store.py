"""Write samples into the telemetry store: raw rows, each source's latest values, and what to roll up.

Shared by node ingest and facility meter polling. Callers hold the transaction.
"""

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .models import Sample, Source


@dataclass(slots=True)
class Reading:
    """Everything a source reported at one instant."""

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
    """Insert the readings, move each source's latest values forward, and mark what needs rolling up."""
    rows = []
    touched: dict[int, Source] = {}
    for reading in readings:
        rows.append(Sample(source_id=reading.source.pk, ts=reading.ts, values=reading.values))
        source = reading.source
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
    Sample.objects.bulk_create(rows, batch_size=2000)
    Source.objects.bulk_update(
        list(touched.values()), ["last_ts", "last_values", "last_attributes", "dirty_since"], batch_size=500
    )
    return len(rows)
