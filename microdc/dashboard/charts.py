"""Chart data in uPlot's shape: one time axis (epoch seconds) and one value column per series.

Short windows read raw samples; longer ones the 1-minute and 1-hour rollups the worker keeps (mean per bucket).
One query per chart, whatever the number of series.
"""

import datetime
from collections import defaultdict
from collections.abc import Iterable

from django.utils import timezone

from microdc.telemetry.metrics_catalog import is_counter, unit_of
from microdc.telemetry.models import Rollup, Sample

RAW = 0
WINDOWS = {
    "15m": (datetime.timedelta(minutes=15), RAW),
    "1h": (datetime.timedelta(hours=1), Rollup.MINUTE),
    "24h": (datetime.timedelta(hours=24), Rollup.MINUTE),
    "30d": (datetime.timedelta(days=30), Rollup.HOUR),
}
RESOLUTION_NAMES = {RAW: "raw", Rollup.MINUTE: "1m", Rollup.HOUR: "1h"}


class ChartError(ValueError):
    pass


def check(metric: str, window: str) -> tuple[datetime.datetime, datetime.datetime, int]:
    if window not in WINDOWS:
        raise ChartError(f"window must be one of {', '.join(WINDOWS)}, not {window!r}")
    if is_counter(metric):
        raise ChartError(f"{metric} is a counter; chart a gauge such as power_watts or temperature_celsius")
    span, resolution = WINDOWS[window]
    end = timezone.now()
    return end - span, end, resolution


def _mean(stat: dict | None) -> float | None:
    if not stat or not stat.get("n"):
        return None
    return stat["sum"] / stat["n"]


def rollup_columns(source_ids: list[int], metric: str, resolution: int, start, end) -> dict[int, dict[int, float]]:
    """{epoch second: {source id: mean}} of the sources' buckets in [start, end)."""
    points: dict[int, dict[int, float]] = defaultdict(dict)
    if not source_ids:
        return points
    rows = (Rollup.objects.filter(source_id__in=source_ids, resolution=resolution, start__gte=start, start__lt=end)
            .values_list("source_id", "start", "stats").iterator(chunk_size=5000))
    for source_id, bucket, stats in rows:
        value = _mean(stats.get(metric))
        if value is not None:
            points[int(bucket.timestamp())][source_id] = value
    return points


def raw_columns(reporter: dict, source_ids: list[int], metric: str, start, end) -> dict[int, dict[int, float]]:
    """Same shape from raw samples of one reporter (``{"node_id": n}`` or ``{"meter_id": m}``)."""
    points: dict[int, dict[int, float]] = defaultdict(dict)
    if not source_ids:
        return points
    keys = {str(s): s for s in source_ids}
    rows = (Sample.objects.filter(**reporter, ts__gte=start, ts__lt=end).order_by("ts")
            .values_list("ts", "values").iterator(chunk_size=2000))
    for ts, values in rows:
        for key, source_id in keys.items():
            value = values.get(key, {}).get(metric)
            if value is not None:
                points[int(ts.timestamp())][source_id] = value
    return points


def columns(points: dict[int, dict[int, float]], series: list[tuple[str, list[int]]]) -> tuple[list, list[dict]]:
    """uPlot columns: each series is the sum of its sources at each time (None where none reported)."""
    times = sorted(points)
    out = []
    for label, ids in series:
        values = []
        for t in times:
            present = [points[t][i] for i in ids if i in points[t]]
            values.append(round(sum(present), 3) if present else None)
        out.append({"label": label, "values": values})
    return times, out


def chart(metric: str, window: str, series: list[tuple[str, list[int]]], reporter: dict | None = None) -> dict:
    """Chart of `metric` over `window`: one line per (label, source ids), each the sum of its sources.

    Raw windows need `reporter` (the node or meter whose samples hold the sources)."""
    start, end, resolution = check(metric, window)
    all_ids = sorted({i for _, ids in series for i in ids})
    if resolution == RAW:
        if reporter is None:
            raise ChartError(f"window {window} needs a single node or meter")
        points = raw_columns(reporter, all_ids, metric, start, end)
    else:
        points = rollup_columns(all_ids, metric, resolution, start, end)
    times, lines = columns(points, series)
    return {"metric": metric, "unit": unit_of(metric), "window": window,
            "resolution": RESOLUTION_NAMES[resolution], "start": int(start.timestamp()), "end": int(end.timestamp()),
            "t": times, "series": lines}


def labelled(items: Iterable[tuple[str, int]]) -> list[tuple[str, list[int]]]:
    return [(label, [source_id]) for label, source_id in items]
