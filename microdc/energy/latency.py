"""Latency quantiles and means from histogram bucket increases summed over a window.

Buckets are the canonical counters of energy.scrape (`e2e_latency_le_0p3_total`, ..., `..._le_inf_total`);
the quantile is interpolated linearly inside the bucket the rank falls in, as PromQL's histogram_quantile
does, so the API agrees with what Prometheus would say over the same increases.
"""

import math

HISTOGRAMS = {"latency_seconds": ("e2e_latency", "e2e_latency_seconds"),
              "ttft_seconds": ("ttft", "ttft_seconds")}


def _name(key: str) -> str:
    return key.removesuffix("_total")


def _bound(text: str) -> float | None:
    if text == "inf":
        return math.inf
    try:
        return float(text.replace("p", "."))
    except ValueError:
        return None


def buckets(sums: dict[str, float], prefix: str) -> list[tuple[float, float]]:
    """[(upper bound, cumulative count)] sorted by bound, from the `<prefix>_le_<le>` increases."""
    marker = f"{prefix}_le_"
    found = []
    for key, value in sums.items():
        name = _name(key)
        if name.startswith(marker) and (bound := _bound(name[len(marker):])) is not None:
            found.append((bound, value))
    return sorted(found)


def histogram_quantile(q: float, found: list[tuple[float, float]]) -> float | None:
    """PromQL's bucketQuantile: None where Prometheus answers NaN (no +Inf bucket, no observations)."""
    if len(found) < 2 or found[-1][0] != math.inf:
        return None
    counts, running = [], 0.0
    for _, count in found:
        running = max(running, count)  # a bucket below its predecessor (reset noise) is raised to it
        counts.append(running)
    observations = counts[-1]
    if observations <= 0:
        return None
    rank = q * observations
    index = next(i for i, count in enumerate(counts) if count >= rank)
    if index == len(found) - 1:
        return found[-2][0]
    upper = found[index][0]
    if index == 0 and upper <= 0:
        return upper
    lower, below = (found[index - 1][0], counts[index - 1]) if index else (0.0, 0.0)
    in_bucket = counts[index] - below
    return lower + (upper - lower) * ((rank - below) / in_bucket) if in_bucket else upper


def summary(sums: dict[str, float], prefix: str, seconds_prefix: str) -> dict[str, float | None]:
    """{"p50", "p95", "mean"} of one histogram; None where the runtime does not give it."""
    found = buckets(sums, prefix)
    named = {_name(k): v for k, v in sums.items()}
    total, count = named.get(f"{seconds_prefix}_sum"), named.get(f"{seconds_prefix}_count")
    return {"p50": histogram_quantile(0.5, found), "p95": histogram_quantile(0.95, found),
            "mean": total / count if total is not None and count else None}


def latency_figures(sums: dict[str, float]) -> dict[str, dict[str, float | None]]:
    return {field: summary(sums, prefix, seconds) for field, (prefix, seconds) in HISTOGRAMS.items()}
