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

    The rows stay locked (PostgreSQL) until the caller's transaction ends, taken in id order so that two
    batches of one reporter at once queue behind each other instead of deadlocking in the update.
    `before_create(found, missing_keys)` may refuse (raise) before anything is created.
    """
    # The latest values are only written here, never read: not decoding their JSON halves the query's cost.
    found = {s.key: s for s in Source.objects.filter(key__in=list(wanted)).order_by("pk").select_for_update()
             .defer("last_values", "last_attributes")}
    if before_create is not None:
        before_create(found, [key for key in wanted if key not in found])
    missing = [Source(key=key, **fields) for key, fields in wanted.items() if key not in found]
    if missing:
        # ignore_conflicts: a concurrent request may create the same source; fetch whatever won.
        Source.objects.bulk_create(missing, ignore_conflicts=True)
        found |= {s.key: s for s in Source.objects.filter(key__in=[s.key for s in missing]).order_by("pk")
                  .select_for_update()}
    return found


def store(readings: Iterable[Reading]) -> int:
    """Insert the readings (one row per reporter and instant), move each source's latest values forward, and
    mark what needs rolling up. Returns the number of rows written."""
    rows: dict[tuple, dict[str, dict]] = {}
    # By Python identity (model hashing costs more than the rest of the loop): [source, earliest ts, latest,
    # its row's reporter, its key in the row]; the model's field descriptors are read once per source.
    marks: dict[int, list] = {}
    for reading in readings:
        source, ts, values, attributes = reading
        mark = marks.get(id(source))
        if mark is None:
            meter_id = source.meter_id
            mark = marks[id(source)] = [source, ts, reading, (source.node_id if meter_id is None else None, meter_id),
                                        str(source.id)]
        elif ts < mark[1]:
            mark[1] = ts
        if ts >= mark[2].ts:
            mark[2] = reading
        reporter = mark[3]
        rows.setdefault((reporter[0], reporter[1], ts), {})[mark[4]] = values
    if not rows:
        return 0
    insert_samples([(node_id, meter_id, ts, values) for (node_id, meter_id, ts), values in rows.items()])
    # The database keeps the later latest values and the earlier dirty mark of this batch and whatever a
    # concurrent writer stored (bulk.update_latest); the in-memory sources only learn this batch's.
    update_latest([(source, earliest, latest.ts, latest.values, latest.attributes)
                   for source, earliest, latest, _, _ in marks.values()])
    for source, _, latest, _, _ in marks.values():
        if source.last_ts is None or latest.ts >= source.last_ts:
            source.last_ts, source.last_values, source.last_attributes = latest.ts, latest.values, latest.attributes
    return len(rows)
