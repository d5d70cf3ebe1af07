"""What the metric names in samples mean: counters vs gauges, units, and their Prometheus names."""

import re

METRIC_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def is_counter(metric: str) -> bool:
    """Cumulative counters: energy (NVML mJ since driver load, RAPL, meter kWh) and *_total counts."""
    return metric.endswith("_joules") or metric.endswith("_total") or metric == "water_cubic_meters"


def is_power(metric: str) -> bool:
    return metric.endswith("_watts") and not metric.endswith("limit_watts")


def unit_of(metric: str) -> str:
    for suffix, unit in (("_watts", "W"), ("_joules", "J"), ("_celsius", "°C"), ("_ratio", "ratio"),
                         ("_bytes", "B"), ("_hertz", "Hz"), ("_bytes_per_second", "B/s"), ("_total", "count"),
                         ("_volts", "V"), ("_amperes", "A"), ("_seconds", "s")):
        if metric.endswith(suffix):
            return unit
    return ""
