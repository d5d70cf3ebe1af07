"""What an admin-defined rule may compare, per scope: the names the appliance really stores or computes.

A GPU or node metric is one the agents report (the NVML and sysfs collectors' names, and any seen in the
telemetry store since); a meter metric is one of the facility quantities; site and deployment metrics are the
figures the appliance computes (PUE; energy and errors per deployment)."""

from microdc.facility.sources.base import QUANTITIES
from microdc.telemetry.models import MODEL_SERVER_KEY_PREFIX, Source

# The NVML collector's per-device metrics (microdc.agent.collectors.nvml), in base units.
GPU_METRICS = frozenset({
    "power_watts", "energy_joules", "power_limit_watts", "temperature_celsius", "memory_temperature_celsius",
    "utilization_ratio", "memory_utilization_ratio", "memory_used_bytes", "memory_total_bytes",
    "sm_clock_hertz", "memory_clock_hertz", "fan_speed_ratio", "pcie_tx_bytes_per_second",
    "pcie_rx_bytes_per_second", "ecc_corrected_errors_total", "ecc_uncorrected_errors_total",
    "ecc_corrected_errors_aggregate_total", "ecc_uncorrected_errors_aggregate_total",
})
# hwmon and RAPL channels (microdc.agent.collectors.sysfs), plus the agent's silence.
NODE_METRICS = frozenset({"temperature_celsius", "power_watts", "energy_joules", "agent_silent_seconds"})
SITE_METRICS = frozenset({"pue_ratio"})
# Per deployment over the rule's window (microdc.energy.report): energy per generated token and per request
# at the facility level, carbon per 1,000 tokens (SCI), and the share of requests that failed.
DEPLOYMENT_METRICS = frozenset({"joules_per_generated_token", "joules_per_request", "grams_per_1k_tokens",
                                "error_ratio"})


def _seen(scope: str) -> set[str]:
    sources = Source.objects.exclude(key__startswith=MODEL_SERVER_KEY_PREFIX)
    if scope == "gpu":
        sources = sources.filter(accelerator__isnull=False)
    elif scope == "node":
        sources = sources.filter(node__isnull=False, accelerator__isnull=True)
    else:
        sources = sources.filter(meter__isnull=False)
    names: set[str] = set()
    for metric_names in sources.values_list("metric_names", flat=True):
        names.update(metric_names or ())
    return names


def known_metrics(scope: str) -> frozenset[str]:
    """Every metric name a rule of `scope` may use (ValueError for an unknown scope)."""
    if scope == "gpu":
        return GPU_METRICS | _seen(scope)
    if scope == "node":
        return NODE_METRICS | _seen(scope)
    if scope == "meter":
        return QUANTITIES | _seen(scope)
    if scope == "site":
        return SITE_METRICS
    if scope == "deployment":
        return DEPLOYMENT_METRICS
    raise ValueError(f"unknown scope {scope!r}")
