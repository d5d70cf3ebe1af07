"""The fastest way each database takes many raw sample rows: COPY on PostgreSQL, executemany elsewhere.

Ingest writes thousands of rows a second; building a model instance per row (ORM bulk_create) costs more
than the insert itself.
"""

from collections.abc import Sequence

import msgspec
from django.db import connection

from .models import Sample

_TABLE = Sample._meta.db_table
_COLUMNS = ("node_id", "meter_id", "ts", "values")
# JSON of these dicts of numbers and strings, about four times faster than json.dumps (compact, and floats
# written shortest round-trip as repr does).
_encode = msgspec.json.Encoder().encode


def insert_samples(rows: Sequence[tuple[int | None, int | None, object, dict]]) -> None:
    """Insert (node_id, meter_id, ts, values) rows in the caller's transaction."""
    if not rows:
        return
    quote = connection.ops.quote_name
    columns = ", ".join(quote(c) for c in _COLUMNS)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.copy(f"COPY {quote(_TABLE)} ({columns}) FROM STDIN") as copy:
                for node_id, meter_id, ts, values in rows:
                    copy.write_row((node_id, meter_id, ts, _encode(values).decode()))
        else:
            adapt = connection.ops.adapt_datetimefield_value
            cursor.executemany(
                f"INSERT INTO {quote(_TABLE)} ({columns}) VALUES (%s, %s, %s, %s)",  # noqa: S608 - model names
                [(node_id, meter_id, adapt(ts), _encode(values).decode()) for node_id, meter_id, ts, values in rows],
            )


def update_latest(marks) -> None:
    """Move each source's latest values and rollup mark forward, in one statement (PostgreSQL: one round trip).

    marks: (source, earliest sample ts, latest sample ts, its values, its attributes) per source. The values
    replace the stored ones only when newer, and the dirty mark only when earlier, decided in SQL against
    the current row, so concurrent writers never keep a later mark or older values.
    """
    quote = connection.ops.quote_name
    table = quote(marks[0][0]._meta.db_table)
    adapt = connection.ops.adapt_datetimefield_value
    def dumps(value) -> str:
        return _encode(value).decode()

    rows = sorted((source.pk, adapt(earliest), adapt(ts), dumps(values), dumps(attributes))
                  for source, earliest, ts, values, attributes in marks)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            values = ", ".join(["(%s::bigint, %s::timestamptz, %s::timestamptz, %s::jsonb, %s::jsonb)"] * len(rows))
            newer = "s.last_ts IS NULL OR v.last_ts >= s.last_ts"
            cursor.execute(
                f"UPDATE {table} AS s SET "  # noqa: S608 - model names
                f"last_values = CASE WHEN {newer} THEN v.last_values ELSE s.last_values END, "
                f"last_attributes = CASE WHEN {newer} THEN v.last_attributes ELSE s.last_attributes END, "
                "last_ts = GREATEST(s.last_ts, v.last_ts), dirty_since = LEAST(s.dirty_since, v.earliest) "
                f"FROM (VALUES {values}) AS v(id, earliest, last_ts, last_values, last_attributes) WHERE s.id = v.id",
                [value for row in rows for value in row],
            )
        else:
            # Every SET expression sees the row as it was, so each CASE tests the stored last_ts.
            last_ts, dirty = quote("last_ts"), quote("dirty_since")
            newer = f"{last_ts} IS NULL OR {last_ts} <= %s"
            cursor.executemany(
                f"UPDATE {table} SET "  # noqa: S608 - model names
                f"{quote('last_values')} = CASE WHEN {newer} THEN %s ELSE {quote('last_values')} END, "
                f"{quote('last_attributes')} = CASE WHEN {newer} THEN %s ELSE {quote('last_attributes')} END, "
                f"{last_ts} = CASE WHEN {newer} THEN %s ELSE {last_ts} END, "
                f"{dirty} = CASE WHEN {dirty} IS NULL OR {dirty} > %s THEN %s ELSE {dirty} END "
                f"WHERE {quote('id')} = %s",
                [(ts, values, ts, attributes, ts, ts, earliest, earliest, pk)
                 for pk, earliest, ts, values, attributes in rows],
            )
