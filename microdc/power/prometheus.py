"""/metrics for power caps: the desired limit of every capped accelerator, beside the enforced one
(microdc_gpu_power_limit_watts, from the agent), with the same labels so PromQL can compare them."""

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from microdc.telemetry.prometheus import GPU_LABELS

from .models import PowerLimit


class PowerCollector(Collector):
    def collect(self) -> Iterator:
        desired = GaugeMetricFamily("microdc_gpu_power_limit_desired_watts",
                                    "Power limit the appliance asks the accelerator to enforce (operator or policy "
                                    "cap; absent: the device's default)", labels=GPU_LABELS)
        rows = (PowerLimit.objects.filter(accelerator__retired_at__isnull=True,
                                          accelerator__node__retired_at__isnull=True)
                .values_list("accelerator__node__rack__site__slug", "accelerator__node__rack__name",
                             "accelerator__node__hostname", "accelerator__index", "accelerator__uuid",
                             "accelerator__model", "accelerator__simulated", "operator_watts", "policy_watts"))
        for site, rack, host, index, uuid, model, is_simulated, operator, policy in rows:
            caps = [w for w in (operator, policy) if w is not None]
            if not caps:
                continue
            labels = dict(zip(GPU_LABELS, [site, rack, host, str(index), uuid or "", model], strict=True))
            if is_simulated:
                labels["simulated"] = "true"  # as on every series of a simulated device
            desired.add_sample(desired.name, labels, min(caps))
        yield desired
