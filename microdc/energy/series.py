"""Time series of one deployment for charts, read from the usage ledger (UsageBucket rows).

One point per bucket, the deployment's rows on all its nodes summed: minute rows for the last hour, hour rows
for 24 h and 30 d. A bucket knows its GPU and node energy and its operational carbon at PUE 1; the PUE is a
window figure that the report applies, so the carbon line is "operational, at PUE 1" and says so.
Unknown stays None: a runtime without token counts has no J/token point, never a zero one.
"""

import datetime
from dataclasses import dataclass, field

from django.db.models import Count
from django.utils import timezone

from .models import UsageBucket

WINDOWS = {
    "1h": (datetime.timedelta(hours=1), UsageBucket.MINUTE),
    "24h": (datetime.timedelta(hours=24), UsageBucket.HOUR),
    "30d": (datetime.timedelta(days=30), UsageBucket.HOUR),
}
# Summed over a deployment's nodes; a None on any node leaves the bucket's sum unknown.
ADDITIVE = ("gpu_joules", "node_joules", "operational_grams_at_pue1", "requests", "prompt_tokens",
            "generation_tokens")
LATENCY_SUM, LATENCY_COUNT = "e2e_latency_seconds_sum_total", "e2e_latency_seconds_count_total"
# name: (chart title, unit, [(line label, function of a bucket)])
MEASURES = {
    "joules_per_token": ("Energy per token", "J/token", [
        ("GPU", lambda b: b.per("gpu_joules", b.tokens)), ("Node", lambda b: b.per("node_joules", b.tokens))]),
    "grams_per_1k_tokens": ("Operational carbon per 1,000 tokens (at PUE 1)", "g/1k tokens", [
        ("Operational, PUE 1", lambda b: b.per("operational_grams_at_pue1", b.tokens, 1000.0))]),
    "tokens_per_second": ("Tokens per second", "tokens/s", [("Tokens", lambda b: b.rate(b.tokens))]),
    "requests_per_second": ("Requests per second", "req/s", [("Requests", lambda b: b.rate(b.sums["requests"]))]),
    "latency": ("Mean request latency", "s", [("Mean latency", lambda b: b.mean_latency())]),
    "gpu_power": ("GPU power", "W", [("GPU", lambda b: b.rate(b.sums["gpu_joules"]))]),
}
NOTES = {
    "grams_per_1k_tokens": "Operational carbon of the node energy at PUE 1: a bucket knows no PUE of its own "
                           "(the figures above apply the window's PUE, and add embodied carbon).",
    "gpu_power": "Mean GPU power of the bucket: its GPU energy over its length.",
}


class SeriesError(ValueError):
    pass


@dataclass
class Bucket:
    """A deployment's rows of one bucket start, summed over its nodes."""

    start: datetime.datetime
    seconds: float
    sums: dict = field(default_factory=dict)
    latency: dict = field(default_factory=dict)

    def add(self, row: UsageBucket) -> None:
        for name in ADDITIVE:
            value = getattr(row, name)
            if name not in self.sums:
                self.sums[name] = value
            elif self.sums[name] is not None:
                self.sums[name] = None if value is None else self.sums[name] + value
        for name in (LATENCY_SUM, LATENCY_COUNT):
            value = (row.latency or {}).get(name)
            self.latency[name] = None if value is None or self.latency.get(name, 0) is None \
                else self.latency.get(name, 0) + value

    @property
    def tokens(self) -> float | None:
        prompt, generated = self.sums["prompt_tokens"], self.sums["generation_tokens"]
        return None if prompt is None or generated is None else prompt + generated

    def per(self, name: str, denominator: float | None, scale: float = 1.0) -> float | None:
        value = self.sums[name]
        if value is None or not denominator:
            return None
        return value / denominator * scale

    def rate(self, value: float | None) -> float | None:
        return None if value is None or self.seconds <= 0 else value / self.seconds

    def mean_latency(self) -> float | None:
        total, count = self.latency.get(LATENCY_SUM), self.latency.get(LATENCY_COUNT)
        return None if total is None or not count else total / count


def _open_hour_seconds(deployment_id: int, hour: datetime.datetime) -> float:
    """Length the ledger covers of an hour still running: its minute rows (the hour row is their sum)."""
    minutes = (UsageBucket.objects.filter(deployment_id=deployment_id, resolution=UsageBucket.MINUTE,
                                          start__gte=hour, start__lt=hour + datetime.timedelta(hours=1))
               .values("node_id").annotate(n=Count("id")).values_list("n", flat=True))
    return 60.0 * max(minutes, default=0)


def buckets(deployment_id: int, window: str, now: datetime.datetime | None = None) -> list[Bucket]:
    """The deployment's buckets over `window`, oldest first."""
    if window not in WINDOWS:
        raise SeriesError(f"window must be one of {', '.join(WINDOWS)}, not {window!r}")
    now = now or timezone.now()
    span, resolution = WINDOWS[window]
    rows = (UsageBucket.objects.filter(deployment_id=deployment_id, resolution=resolution,
                                       start__gt=now - span - datetime.timedelta(seconds=resolution),
                                       start__lte=now)
            .only("start", "latency", *ADDITIVE).order_by("start"))
    by_start: dict[datetime.datetime, Bucket] = {}
    for row in rows:
        bucket = by_start.get(row.start)
        if bucket is None:
            seconds = min(float(resolution), (now - row.start).total_seconds())
            if resolution == UsageBucket.HOUR and seconds < resolution:
                seconds = _open_hour_seconds(deployment_id, row.start)
            bucket = by_start[row.start] = Bucket(row.start, seconds)
        bucket.add(row)
    return list(by_start.values())


def deployment_series(deployment_id: int, window: str, now: datetime.datetime | None = None) -> dict:
    """Every measure of the deployment over `window`: {"t": [epoch s], "measures": {name: {title, unit,
    series: [{label, values}], note}}} (values None where unknown)."""
    now = now or timezone.now()
    found = buckets(deployment_id, window, now)
    span, resolution = WINDOWS[window]
    measures = {}
    for name, (title, unit, lines) in MEASURES.items():
        measures[name] = {"title": title, "unit": unit, "note": NOTES.get(name, ""),
                          "series": [{"label": label, "values": [_round(fn(b)) for b in found]}
                                     for label, fn in lines]}
    return {"window": window, "resolution": "1m" if resolution == UsageBucket.MINUTE else "1h",
            "start": int((now - span).timestamp()), "end": int(now.timestamp()),
            "t": [int(b.start.timestamp()) for b in found], "measures": measures}


def chart(deployment_id: int, measure: str, window: str, now: datetime.datetime | None = None) -> dict:
    """One measure in the dashboard's chart shape (microdc.dashboard.charts): t, series, unit, window."""
    if measure not in MEASURES:
        raise SeriesError(f"measure must be one of {', '.join(MEASURES)}, not {measure!r}")
    data = deployment_series(deployment_id, window, now)
    picked = data.pop("measures")[measure]
    return {**data, "metric": measure, **picked}


def _round(value: float | None) -> float | None:
    # Six significant digits: a J/token of 0.000412 keeps its digits, a 30-day power its watts.
    return None if value is None else float(f"{value:.6g}")
