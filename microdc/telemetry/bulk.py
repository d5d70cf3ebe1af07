"""The fastest way each database takes many raw sample rows: COPY on PostgreSQL, executemany elsewhere.

Ingest writes thousands of rows a second; building a model instance per row (ORM bulk_create) costs more
than the insert itself.
"""

import json
from collections.abc import Sequence

from django.db import connection

from .models import Sample

_TABLE = Sample._meta.db_table
_COLUMNS = ("node_id", "meter_id", "ts", "values")


def insert_samples(rows: Sequence[tuple[int | None, int | None, object, dict]]) -> None:
    """Insert (node_id, meter_id, ts, values) rows in the caller's transaction."""
    if not rows:
        return
    dumps = json.dumps
    quote = connection.ops.quote_name
    columns = ", ".join(quote(c) for c in _COLUMNS)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.copy(f"COPY {quote(_TABLE)} ({columns}) FROM STDIN") as copy:
                for node_id, meter_id, ts, values in rows:
                    copy.write_row((node_id, meter_id, ts, dumps(values)))
        else:
            adapt = connection.ops.adapt_datetimefield_value
            cursor.executemany(
                f"INSERT INTO {quote(_TABLE)} ({columns}) VALUES (%s, %s, %s, %s)",  # noqa: S608 - model names
                [(node_id, meter_id, adapt(ts), dumps(values)) for node_id, meter_id, ts, values in rows],
            )


def update_latest(sources) -> None:
    """Write each source's latest values and rollup mark in one statement (PostgreSQL: one round trip)."""
    quote = connection.ops.quote_name
    table = quote(sources[0]._meta.db_table)
    adapt = connection.ops.adapt_datetimefield_value
    dumps = json.dumps
    rows = [(s.pk, adapt(s.last_ts), dumps(s.last_values), dumps(s.last_attributes), adapt(s.dirty_since))
            for s in sources]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            values = ", ".join(["(%s::bigint, %s::timestamptz, %s::jsonb, %s::jsonb, %s::timestamptz)"] * len(rows))
            cursor.execute(
                f"UPDATE {table} AS s SET last_ts = v.last_ts, last_values = v.last_values, "  # noqa: S608 - model names
                f"last_attributes = v.last_attributes, dirty_since = v.dirty_since FROM (VALUES {values}) "
                "AS v(id, last_ts, last_values, last_attributes, dirty_since) WHERE s.id = v.id",
                [value for row in rows for value in row],
            )
        else:
            cursor.executemany(
                f"UPDATE {table} SET {quote('last_ts')} = %s, {quote('last_values')} = %s, "  # noqa: S608 - model names
                f"{quote('last_attributes')} = %s, {quote('dirty_since')} = %s WHERE {quote('id')} = %s",
                [(*row[1:], row[0]) for row in rows],
            )
