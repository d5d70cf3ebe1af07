"""Sums of the usage ledger over a window, in SQL: whole UTC days from day rows, whole hours from hour rows, the
ragged edges from minute rows (telemetry.energy.window_ranges, the split the rollup readers use), grouped by
deployment and node.

A 30-day window of 100 deployments is about 2,900 day rows and up to 4,600 hour rows (instead of 72,000 hour
rows); the database sums them, Python sees one row per deployment and node.
"""

from collections import defaultdict

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Count, Q, Sum

from microdc.telemetry.energy import window_ranges
from microdc.telemetry.rollups import ceil_time, floor_time

from .models import UsageBucket
from .windows import Window

ADDITIVE = ("gpu_joules", "gpu_idle_joules", "node_joules", "operational_grams_at_pue1", "requests",
            "failed_requests", "prompt_tokens", "generation_tokens")
COVERAGE = ("gpu_coverage", "node_coverage", "server_coverage")  # seconds of the bucket, like Rollup.coverage


def ledger_ranges(start, end) -> list[tuple[int, object, object]]:
    """[(resolution, from, to)] tiling [start, end): whole UTC days from day rows, then whole hours from hour
    rows, the ragged edges from minute rows."""
    first_day, last_day = ceil_time(start, UsageBucket.DAY), floor_time(end, UsageBucket.DAY)
    if first_day >= last_day:
        return window_ranges(start, end)
    return [*window_ranges(start, first_day), (UsageBucket.DAY, first_day, last_day), *window_ranges(last_day, end)]


def rows_in(window: Window, deployments=None):
    """The ledger rows that tile the window exactly once."""
    tiles = Q(pk__in=[])
    for resolution, begin, until in ledger_ranges(window.start, window.end):
        if begin < until:
            tiles |= Q(resolution=resolution, start__gte=begin, start__lt=until)
    rows = UsageBucket.objects.filter(tiles)
    return rows if deployments is None else rows.filter(deployment__in=deployments)


def sums_by_node(rows) -> dict[tuple[int, int], dict]:
    """(deployment, node) -> sums of the additive figures and coverage, the count of rows without carbon
    intensity, and how many rows had each count at all (a Sum over only nulls is None: unknown)."""
    # Annotations may not share a field's name.
    aggregates = {f"sum_{name}": Sum(name) for name in (*ADDITIVE, *COVERAGE)}
    aggregates["sum_rows"] = Count("pk")
    aggregates["sum_no_intensity"] = Count("pk", filter=Q(operational_grams_at_pue1__isnull=True))
    result = {}
    for entry in rows.values("deployment_id", "node_id").annotate(**aggregates).order_by():
        key = entry.pop("deployment_id"), entry.pop("node_id")
        result[key] = {name.removeprefix("sum_"): value for name, value in entry.items()}
    return result


def rules_by_node(rows) -> dict[tuple[int, int], set[str]]:
    result = defaultdict(set)
    for deployment, node, rules in rows.values_list("deployment_id", "node_id", "rules").distinct().order_by():
        result[deployment, node].update(rules or ())
    return result


def latency_sums(rows) -> dict[int, dict[str, float]]:
    """deployment -> {histogram key: summed increase}, the JSON keys summed by the database."""
    try:
        inner, params = rows.exclude(latency={}).values("deployment_id", "latency").order_by().query.sql_with_params()
    except EmptyResultSet:  # no deployments asked about
        return {}
    if connection.vendor == "postgresql":
        expand, value = "jsonb_each_text(r.latency)", "CAST(j.value AS double precision)"
    else:
        expand, value = "json_each(r.latency)", "j.value"
    # Constants and the ORM's own SQL; every value travels in params.
    sql = (f"SELECT r.deployment_id, j.key, SUM({value}) FROM ({inner}) r, {expand} j "  # noqa: S608
           "GROUP BY r.deployment_id, j.key")
    result = defaultdict(dict)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for deployment, key, total in cursor.fetchall():
            result[deployment][key] = total
    return result
