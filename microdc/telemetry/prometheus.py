"""The Prometheus view of the site, computed at scrape time from the latest values in the database.

Nothing is kept in process memory, so any number of web processes answer alike. Series of a node whose
agent has gone silent past the stale timeout are left out (never frozen at their last value), and
microdc_node_up says 0 for it.
"""

from collections import Counter
from collections.abc import Iterator

from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from microdc.nodes.models import Node

from .metrics_catalog import is_counter
from .models import MODEL_SERVER_KEY_PREFIX, AgentState, Source
from .selectors import stale_after

GPU_LABELS = ["site", "rack", "node", "gpu", "uuid", "model"]
SENSOR_LABELS = ["site", "rack", "node", "source", "chip", "sensor"]
NODE_LABELS = ["site", "rack", "node"]

# Help text for the GPU metrics of the public contract; others get a generic line.
GPU_HELP = {
    "power_watts": "Accelerator power draw",
    "energy_joules": "Accelerator energy consumed since its driver loaded (counter)",
    "temperature_celsius": "Accelerator core temperature",
    "utilization_ratio": "Accelerator compute utilization (0-1)",
    "memory_used_bytes": "Accelerator memory in use",
    "power_limit_watts": "Accelerator enforced power limit",
}


class SkippedValues:
    """Stored values one scrape leaves out because they cannot be rendered, counted by family and reason.

    Ingest refuses such values; these come from rows stored before it did, so one source never fails the scrape.
    """

    def __init__(self):
        self.counts: Counter[tuple[str, str]] = Counter()

    def renderable(self, family: str, value) -> float | None:
        """`value` as a finite float, or None (counted against `family`)."""
        kind = type(value)
        if kind is float:
            if value - value == 0.0:  # false for inf and NaN
                return value
            reason = "non_finite"
        elif kind is int:
            try:
                return float(value)
            except OverflowError:
                reason = "out_of_range"
        else:
            reason = "not_a_number"
        self.counts[family, reason] += 1
        return None

    def family(self) -> GaugeMetricFamily:
        skipped = GaugeMetricFamily("microdc_metrics_skipped_values",
                                    "Stored values left out of this scrape because they cannot be rendered",
                                    labels=["family", "reason"])
        for (family, reason), count in sorted(self.counts.items()):
            skipped.add_metric([family, reason], float(count))
        return skipped


class MetricFamilies:
    """Metric families created on first use, keyed by name, with per-sample label sets."""

    def __init__(self, prefix: str, labels: list[str], help_text: dict[str, str], skipped: SkippedValues):
        self.prefix, self.labels, self.help_text, self.skipped = prefix, labels, help_text, skipped
        self.families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {}

    def add(self, metric: str, label_values: list[str], value: float, simulated: bool) -> None:
        value = self.skipped.renderable(f"{self.prefix}_{metric}", value)
        if value is None:
            return
        family = self.families.get(metric)
        labels = self.labels + ["simulated"] if simulated else self.labels
        if family is None:
            help_text = self.help_text.get(metric, metric.replace("_", " "))
            if is_counter(metric):
                name = f"{self.prefix}_{metric.removesuffix('_total')}"
                family = CounterMetricFamily(name, help_text, labels=self.labels)
            else:
                family = GaugeMetricFamily(f"{self.prefix}_{metric}", help_text, labels=self.labels)
            self.families[metric] = family
        if simulated:
            label_values = [*label_values, "true"]
        name = family.name + "_total" if isinstance(family, CounterMetricFamily) else family.name
        family.add_sample(name, dict(zip(labels, label_values, strict=True)), value)


class MicrodcCollector(Collector):
    def __init__(self, skipped: SkippedValues):
        self.skipped = skipped

    def collect(self) -> Iterator:
        now = timezone.now()
        cutoff = now - stale_after()
        gpus = MetricFamilies("microdc_gpu", GPU_LABELS, GPU_HELP, self.skipped)
        sensors = MetricFamilies("microdc_node_sensor", SENSOR_LABELS, {}, self.skipped)
        throttle = GaugeMetricFamily("microdc_gpu_clock_event_active",
                                     "Clock-event (throttle) reason active on the accelerator (1)",
                                     labels=[*GPU_LABELS, "reason"])
        # Retired nodes and accelerators keep their history but leave /metrics.
        # Model-server counters (keys "model/...", energy.scrape) reach /metrics per deployment, from the ledger.
        rows = (Source.objects.filter(node__isnull=False, node__retired_at__isnull=True, last_ts__gte=cutoff)
                .exclude(accelerator__retired_at__isnull=False).exclude(key__startswith=MODEL_SERVER_KEY_PREFIX)
                .values_list("node__rack__site__slug", "node__rack__name", "node__hostname",
                             "accelerator__index", "accelerator__uuid", "accelerator__model", "sensor",
                             "simulated", "last_values", "last_attributes"))
        for site, rack, host, index, uuid, model, sensor, simulated, values, attributes in rows:
            if index is not None:
                labels = [site, rack, host, str(index), uuid or "", model]
                for metric, value in values.items():
                    gpus.add(metric, labels, value, simulated)
                for reason in attributes.get("throttle_reasons", ()):
                    throttle.add_metric([*labels, reason], 1.0)
            else:
                source, chip, name = (sensor.split("/", 2) + ["", ""])[:3]
                for metric, value in values.items():
                    sensors.add(metric, [site, rack, host, source, chip, name], value, simulated)
        yield from gpus.families.values()
        yield from sensors.families.values()
        yield throttle
        yield from _node_families(now, cutoff)


def _node_families(now, cutoff):
    up = GaugeMetricFamily("microdc_node_up", "1 if the node's agent pushed telemetry recently", labels=NODE_LABELS)
    age = GaugeMetricFamily("microdc_node_last_seen_age_seconds", "Seconds since the node's agent last pushed",
                            labels=NODE_LABELS)
    batches = CounterMetricFamily("microdc_telemetry_batches", "Telemetry batches stored", labels=NODE_LABELS)
    samples = CounterMetricFamily("microdc_telemetry_samples", "Telemetry samples stored", labels=NODE_LABELS)
    rejected = CounterMetricFamily("microdc_telemetry_rejected_batches", "Telemetry batches refused as invalid",
                                   labels=NODE_LABELS)
    states = {s.node_id: s for s in AgentState.objects.all()}
    nodes = (Node.objects.live().exclude(status=Node.Status.DECOMMISSIONED)
             .values_list("pk", "rack__site__slug", "rack__name", "hostname"))
    for pk, site, rack, host in nodes:
        labels = [site, rack, host]
        state = states.get(pk)
        seen = state.last_seen if state else None
        up.add_metric(labels, 1.0 if seen and seen >= cutoff else 0.0)
        if seen:
            age.add_metric(labels, (now - seen).total_seconds())
        if state:
            batches.add_metric(labels, state.batches_total)
            samples.add_metric(labels, state.samples_total)
            rejected.add_metric(labels, state.rejected_total)
    yield from (up, age, batches, samples, rejected)
