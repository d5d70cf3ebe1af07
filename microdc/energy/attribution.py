"""One node's minutes, attributed: what each deployment holding its hardware used, and what nobody held.

Rules (the issue's "Attribute the energy"), per minute m:
- each accelerator's energy goes to the deployments holding it in m (energy.gpu_shares); nobody: unallocated;
- a deployment whose server served no request in m (for a runtime without request counters: generated no
  token) used its GPU energy idly (gpu_idle_joules);
- node overhead: a whole-node measurement minus the node's GPUs (never below 0), or RAPL (CPU and memory)
  as it is; shared by the share of the node's accelerators each deployment holds, the rest unallocated; a
  node without accelerators shares it evenly among its deployments; no measurement: node energy = GPU energy.
"""

import datetime
from collections import defaultdict
from dataclasses import dataclass

from . import gpu_shares
from .carbon_factor import JOULES_PER_KWH, SiteCarbon
from .models import UnallocatedBucket, UsageBucket
from .node_energy import WHOLE_NODE, NodeMinutes

MINUTE = datetime.timedelta(minutes=1)
NO_MEASUREMENT = "node:no-measurement"
SHARED_EVENLY_NO_ACCELERATORS = "node:no-accelerators-shared-evenly"
POWER_INTEGRATED = "gpu:power-integrated"
COUNTERS = {"requests": "requests_total", "failed_requests": "failed_requests_total",
            "prompt_tokens": "prompt_tokens_total", "generation_tokens": "generation_tokens_total"}
LATENCY_PREFIXES = ("e2e_latency_", "ttft_")


@dataclass(frozen=True)
class Holding:
    deployment: int
    deployment_name: str
    accelerator: int | None
    start: datetime.datetime
    end: datetime.datetime | None

    def holds(self, minute: datetime.datetime) -> bool:
        return self.start < minute + MINUTE and (self.end is None or self.end > minute)


def _served(increases: dict[str, float]) -> float | None:
    """Requests served in the minute (succeeded and failed), or generated tokens where the runtime counts no
    requests; None: the server reported neither."""
    if "requests_total" in increases or "failed_requests_total" in increases:
        return increases.get("requests_total", 0.0) + increases.get("failed_requests_total", 0.0)
    return increases.get("generation_tokens_total")


def _server_fields(data: NodeMinutes, deployment: int, minute) -> tuple[dict, float | None]:
    coverage, increases = data.servers.get(deployment, {}).get(minute, (0.0, {}))
    fields = {name: increases.get(metric) for name, metric in COUNTERS.items()}
    fields["latency"] = {name: value for name, value in increases.items() if name.startswith(LATENCY_PREFIXES)}
    fields["server_coverage"] = coverage
    return fields, _served(increases) if coverage else None


def attribute_minute(data: NodeMinutes, minute: datetime.datetime, holdings: list[Holding],
                     carbon: SiteCarbon) -> tuple[list[UsageBucket], UnallocatedBucket | None]:
    node_id = data.node.pk
    holding = [h for h in holdings if h.holds(minute)]
    names = {h.deployment: h.deployment_name for h in holding}
    deployments = sorted(names)
    gpu = defaultdict(float)
    share = defaultdict(float)  # of the node's accelerators
    gpu_coverage: dict[int, float] = {}
    rules: dict[int, set[str]] = defaultdict(set)
    accelerators = sorted(data.gpus)
    count = len(accelerators)
    unheld_gpu = unheld_share = gpu_total = 0.0
    for accelerator in accelerators:
        series = data.gpus[accelerator]
        joules = series.joules.get(minute, 0.0)
        gpu_total += joules
        holders = sorted({h.deployment for h in holding if h.accelerator == accelerator})
        if not holders:
            unheld_gpu += joules
            unheld_share += 1 / count
            continue
        uuid = data.accelerator_uuids.get(accelerator, "")
        utilization = {d: data.process_utilization.get((uuid, names[d]), {}).get(minute) for d in holders}
        fractions, rule = gpu_shares.split(holders, utilization)
        for deployment, fraction in fractions.items():
            gpu[deployment] += joules * fraction
            share[deployment] += fraction / count
            rules[deployment].add(rule)
            covered = series.coverage.get(minute, 0.0)
            gpu_coverage[deployment] = min(gpu_coverage.get(deployment, covered), covered)

    measured = data.measured.joules.get(minute, 0.0)
    node_coverage = data.measured.coverage.get(minute, 0.0)
    if data.measurement is None:
        overhead = 0.0
    elif data.measurement in WHOLE_NODE:
        overhead = max(0.0, measured - gpu_total)
    else:
        overhead = measured
    node_extra = defaultdict(float)
    unheld_node = unheld_gpu
    if count:
        for deployment in deployments:
            node_extra[deployment] = overhead * share[deployment]
        unheld_node += overhead * unheld_share
    elif deployments:
        for deployment in deployments:
            node_extra[deployment] = overhead / len(deployments)
            rules[deployment].add(SHARED_EVENLY_NO_ACCELERATORS)
    else:
        unheld_node += overhead

    factor = carbon.effective(minute)
    rows = []
    for deployment in deployments:
        fields, served = _server_fields(data, deployment, minute)
        node_joules = gpu[deployment] + node_extra[deployment]
        used = set(rules[deployment])
        used.add(NO_MEASUREMENT if data.measurement is None else f"node:{data.measurement}")
        if data.power_integrated and gpu[deployment]:
            used.add(POWER_INTEGRATED)
        rows.append(UsageBucket(
            deployment_id=deployment, node_id=node_id, resolution=UsageBucket.MINUTE, start=minute,
            gpu_joules=gpu[deployment], gpu_idle_joules=gpu[deployment] if served == 0 else 0.0,
            node_joules=node_joules,
            operational_grams_at_pue1=None if factor is None else node_joules / JOULES_PER_KWH * factor,
            # A deployment holding no accelerator has no GPU energy to miss.
            gpu_coverage=gpu_coverage.get(deployment, 60.0),
            node_coverage=node_coverage if data.measurement is not None else 0.0,
            rules=sorted(used), **fields))
    unallocated = None
    if unheld_node or unheld_gpu:
        unallocated = UnallocatedBucket(node_id=node_id, resolution=UsageBucket.MINUTE, start=minute,
                                        gpu_joules=unheld_gpu, node_joules=unheld_node)
    return rows, unallocated
