"""The usage ledger for Prometheus: per-deployment counters, so PromQL can take any ratio
(rate(energy) / rate(tokens) is J/token over the range asked for).

Each counter is the sum of the ledger's hour rows (the current, partial hour included), summed in SQL at
scrape time. Deployment names come back after a removal (a new deployment may take a removed one's name), so
every series also carries `deployment_id`: a new deployment never continues an old one's counter. Removed
deployments leave /metrics, as retired nodes do. A count the runtime does not report is absent, never 0.
"""

import datetime
from collections.abc import Iterator

from django.db.models import Q, Sum
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from microdc.nodes.models import Accelerator
from microdc.provisioning.models import Deployment
from microdc.telemetry.prometheus import SkippedValues

from .embodied import embodied_by_deployment
from .models import Reservation, UsageBucket
from .windows import Window

LABELS = ["deployment", "deployment_id", "node"]
# family, help, extra label, {label value: ledger field}
NODE_FAMILIES = [
    ("microdc_deployment_requests", "Requests a deployment's model server answered on a node", "outcome",
     {"success": "requests", "failure": "failed_requests"}),
    ("microdc_deployment_tokens", "Tokens a deployment's model server processed on a node", "kind",
     {"prompt": "prompt_tokens", "generation": "generation_tokens"}),
    ("microdc_deployment_energy_joules", "Energy attributed to a deployment on a node (gpu, node, facility)", "level",
     {"gpu": "gpu_joules", "node": "node_joules", "facility": "facility_joules"}),
]


class EnergyCollector(Collector):
    def __init__(self, skipped: SkippedValues):
        self.skipped = skipped

    def collect(self) -> Iterator:
        live = Deployment.objects.exclude(status=Deployment.Status.REMOVED)
        names = dict(live.values_list("pk", "name"))
        fields = {field for *_, columns in NODE_FAMILIES for field in columns.values()} | {"operational_grams"}
        rows = (UsageBucket.objects.filter(resolution=UsageBucket.HOUR, deployment__in=live)
                .values("deployment_id", "node__hostname", "node__simulated")
                .annotate(**{f"sum_{f}": Sum(f) for f in fields}).order_by("deployment_id", "node__hostname"))
        families = [(CounterMetricFamily(name, text, labels=[*LABELS, extra]), extra, columns)
                    for name, text, extra, columns in NODE_FAMILIES]
        operational: dict[int, float] = {}
        simulated: set[int] = set()
        for row in rows:
            deployment = row["deployment_id"]
            labels = {"deployment": names[deployment], "deployment_id": str(deployment),
                      "node": row["node__hostname"]} | ({"simulated": "true"} if row["node__simulated"] else {})
            if row["node__simulated"]:
                simulated.add(deployment)
            for family, extra, columns in families:
                for value, field in columns.items():
                    self._add(family, labels | {extra: value}, row[f"sum_{field}"])
            if row["sum_operational_grams"] is not None:
                operational[deployment] = operational.get(deployment, 0.0) + row["sum_operational_grams"]
        yield from (family for family, *_ in families)
        yield self._carbon(names, operational, simulated, live)

    def _add(self, family, labels: dict, value) -> None:
        if value is None:
            return
        value = self.skipped.renderable(family.name, value)
        if value is not None:
            family.add_sample(family.name + "_total", labels, value)

    def _carbon(self, names, operational, simulated, live) -> CounterMetricFamily:
        carbon = CounterMetricFamily("microdc_deployment_carbon_grams",
                                     "Carbon of a deployment, gCO2e: operational (location-based, at the hour's "
                                     "PUE) and embodied (amortised over the time held)",
                                     labels=["deployment", "deployment_id", "kind"])
        embodied = _embodied_so_far(live)
        for deployment, name in sorted(names.items(), key=lambda item: (item[1], item[0])):
            labels = {"deployment": name, "deployment_id": str(deployment)}
            labels |= {"simulated": "true"} if deployment in simulated else {}
            self._add(carbon, labels | {"kind": "operational"}, operational.get(deployment))
            held = embodied.get(deployment)
            self._add(carbon, labels | {"kind": "embodied"}, held.grams if held and held.counted else None)
        return carbon


def _embodied_so_far(live):
    reservations = list(Reservation.objects.filter(deployment__in=live).select_related("node", "accelerator"))
    if not reservations:
        return {}
    now = timezone.now().replace(microsecond=0)
    since = min(r.start for r in reservations) - datetime.timedelta(seconds=1)
    counts = {}
    for node_id in Accelerator.objects.filter(Q(node__in={r.node_id for r in reservations}),
                                              retired_at__isnull=True).values_list("node_id", flat=True):
        counts[node_id] = counts.get(node_id, 0) + 1
    return embodied_by_deployment(reservations, Window(None, since, now), counts)
