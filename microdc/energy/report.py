"""What a deployment's energy bought over a window: requests, tokens, joules from the GPU to the utility meter,
grams of CO2e per request and per 1,000 tokens (the Green Software Foundation's SCI: (O + M) per R), latency,
and whether the figures are complete, with the reasons and the attribution rules used.

Everything comes from the usage ledger (energy.ledger) summed in SQL; facility energy and operational carbon
take the site's PUE over the same window (ISO/IEC 30134-2, facility.pue.pue_between), once per site.
"""

import dataclasses
import datetime
from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Count, Q

from microdc.facility.pue import COMPLETE_COVERAGE, pue_between
from microdc.nodes.models import Accelerator, Node
from microdc.provisioning.models import Deployment, Runtime

from .embodied import Embodied, embodied_by_deployment
from .latency import latency_figures
from .ledger_sums import latency_sums, rows_in, rules_by_node, sums_by_node
from .models import ModelServer, Reservation
from .windows import Window, resolve

JOULES_PER_WH = 3600.0
# Runtimes whose metrics have no request counter: their requests are unknown, never zero.
NO_REQUEST_COUNTER = {Runtime.LLAMACPP}
REPORT_RULES = ["facility: node energy x the site's PUE over the same window (ISO/IEC 30134-2)",
                "carbon: location-based (SCI), operational = PUE x node energy x each bucket's intensity",
                "sci: R = successful requests; all reserved hardware counted, idle included"]
LEVELS = ("gpu", "node", "facility")


@dataclass
class DeploymentEnergy:
    deployment: dict
    model: str
    nodes: list[str]
    accelerators: list[dict]
    simulated: bool
    window: str | None
    start: datetime.datetime
    end: datetime.datetime
    requests: float | None = None
    failed_requests: float | None = None
    prompt_tokens: float | None = None
    generation_tokens: float | None = None
    tokens: float | None = None
    energy_joules: dict = field(default_factory=lambda: dict.fromkeys(LEVELS))
    gpu_idle_joules: float | None = None
    idle_share: float | None = None
    pue: float | None = None
    joules_per_request: dict = field(default_factory=dict)
    joules_per_generated_token: dict = field(default_factory=dict)
    joules_per_token: dict = field(default_factory=dict)
    wh_per_1k_tokens: dict = field(default_factory=dict)
    carbon_grams: dict = field(default_factory=dict)
    grams_per_request: dict = field(default_factory=dict)
    grams_per_1k_tokens: dict = field(default_factory=dict)
    latency_seconds: dict | None = field(default_factory=dict)  # None: not computed (the pilot table)
    ttft_seconds: dict | None = field(default_factory=dict)
    complete: bool = False
    reasons: list[str] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)


def deployment_energy(deployment: Deployment, window: str | None = None, start=None, end=None,
                      now=None) -> DeploymentEnergy:
    return deployment_energy_over(deployment, resolve(window, start, end, now))


def deployment_energy_over(deployment: Deployment, w: Window) -> DeploymentEnergy:
    return _report([deployment], w)[0]


def pilot_table(window: str | None = "24h", start=None, end=None, now=None) -> list[DeploymentEnergy]:
    return pilot_table_over(resolve(None if start or end else window, start, end, now))


def pilot_table_over(w: Window) -> list[DeploymentEnergy]:
    """Every deployment that is not removed, and every removed one that held hardware in the window."""
    ran = Reservation.objects.filter(_overlapping(w)).values("deployment_id")
    deployments = Deployment.objects.filter(~Q(status=Deployment.Status.REMOVED) | Q(pk__in=ran))
    # Latency quantiles need every bucket's histogram, which costs ten times the rest over 30 days: the
    # table leaves them out (null) and each deployment's own report gives them.
    return _report(list(deployments.select_related("current_revision").order_by("name", "pk")), w, latency=False)


def as_dict(result: DeploymentEnergy) -> dict:
    data = dataclasses.asdict(result)
    data["start"], data["end"] = result.start.isoformat(), result.end.isoformat()
    return data


def _overlapping(w: Window) -> Q:
    return Q(start__lt=w.end) & (Q(end__isnull=True) | Q(end__gt=w.start))


def _held_seconds(reservations: list[Reservation], w: Window) -> dict[tuple[int, int], float]:
    """(deployment, node) -> seconds of the window the deployment held anything there (intervals merged)."""
    spans = defaultdict(list)
    for r in reservations:
        spans[r.deployment_id, r.node_id].append((max(r.start, w.start), min(r.end or w.end, w.end)))
    held = {}
    for key, intervals in spans.items():
        total, reach = 0.0, None
        for begin, until in sorted(intervals):
            if reach is not None and begin < reach:
                begin = reach
            if until > begin:
                total += (until - begin).total_seconds()
                reach = until
        held[key] = total
    return held


def _per(amount, count, scale=1.0):
    return amount / count * scale if amount is not None and count else None


def _add(a, b):
    return None if a is None or b is None else a + b


class _Context:
    """What every row of one report shares: the ledger sums, reservations, sites' PUE, model servers."""

    def __init__(self, deployments: list[Deployment], w: Window, latency: bool = True):
        ids = [d.pk for d in deployments]
        self.window = w
        self.reservations = list(Reservation.objects.filter(_overlapping(w), deployment__in=ids)
                                 .select_related("node", "accelerator"))
        rows = rows_in(w, ids)
        self.sums, self.rules = sums_by_node(rows), rules_by_node(rows)
        self.latency = latency_sums(rows) if latency else None
        node_ids = {r.node_id for r in self.reservations} | {node for _, node in self.sums}
        self.nodes = {n.pk: n for n in Node.objects.filter(pk__in=node_ids).select_related("rack__site")}
        counts = (Accelerator.objects.filter(node__in=node_ids, retired_at__isnull=True)
                  .values("node_id").annotate(n=Count("pk")).order_by())
        self.embodied = embodied_by_deployment(self.reservations, w, {c["node_id"]: c["n"] for c in counts})
        self.held = _held_seconds(self.reservations, w)
        sites = {n.rack.site for n in self.nodes.values()}
        self.pue = {s.pk: pue_between(s, w.start, w.end, window=w.label or "") for s in sites}
        self.servers = defaultdict(list)
        for server in ModelServer.objects.filter(deployment__in=ids).select_related("node"):
            self.servers[server.deployment_id].append(server)


def _report(deployments: list[Deployment], w: Window, latency: bool = True) -> list[DeploymentEnergy]:
    if not deployments:
        return []
    context = _Context(deployments, w, latency)
    return [_one(d, context) for d in deployments]


def _describe(deployment: Deployment, context: _Context) -> DeploymentEnergy:
    mine = [r for r in context.reservations if r.deployment_id == deployment.pk]
    accelerators = {r.accelerator_id: r for r in mine if r.accelerator_id is not None}
    servers = context.servers[deployment.pk]
    model = next((s.model_name for s in servers if s.model_name), "")
    if not model and deployment.current_revision:
        model = deployment.current_revision.artifact.rstrip("/").rsplit("/", 1)[-1]
    node_ids = {r.node_id for r in mine} | {node for (dep, node) in context.sums if dep == deployment.pk}
    nodes = [context.nodes[n] for n in node_ids]
    return DeploymentEnergy(
        deployment={"id": deployment.pk, "name": deployment.name, "runtime": deployment.runtime,
                    "status": deployment.status},
        model=model, nodes=sorted(n.hostname for n in nodes),
        accelerators=sorted(({"node": r.node.hostname, "index": r.accelerator.index, "uuid": r.accelerator.uuid,
                              "model": r.accelerator.model, "simulated": r.accelerator.simulated}
                             for r in accelerators.values()), key=lambda a: (a["node"], a["index"])),
        simulated=any(n.simulated for n in nodes) or any(r.accelerator.simulated for r in accelerators.values()),
        window=context.window.label, start=context.window.start, end=context.window.end)


def _one(deployment: Deployment, context: _Context) -> DeploymentEnergy:
    result = _describe(deployment, context)
    reasons, rules = [], set()
    totals = dict.fromkeys(("gpu_joules", "gpu_idle_joules", "node_joules"), 0.0)
    counts = dict.fromkeys(("requests", "failed_requests", "prompt_tokens", "generation_tokens"))
    facility = operational = 0.0
    holds_accelerator = {r.node_id for r in context.reservations
                         if r.deployment_id == deployment.pk and r.accelerator_id is not None}
    for (dep, node_id), sums in sorted(context.sums.items()):
        if dep != deployment.pk:
            continue
        node, node_rules = context.nodes[node_id], context.rules[dep, node_id]
        rules |= node_rules
        for name in totals:
            totals[name] += sums[name] or 0.0
        for name in counts:
            if sums[name] is not None:
                counts[name] = (counts[name] or 0.0) + sums[name]
        pue = context.pue[node.rack.site_id].pue
        facility = None if pue is None or facility is None else facility + (sums["node_joules"] or 0.0) * pue
        grams = None if sums["no_intensity"] else sums["operational_grams_at_pue1"]
        operational = None if pue is None or grams is None or operational is None else operational + grams * pue
        if sums["no_intensity"]:
            reasons.append(f"no carbon intensity for {sums['no_intensity']} ledger buckets on {node.hostname}")
        if any(rule.startswith("node:no-measurement") for rule in node_rules):
            reasons.append(f"node {node.hostname} is not measured: its node energy is its GPUs' only")
    reasons += _coverage_reasons(deployment, context, holds_accelerator)
    reasons += _pue_reasons(result, context)
    reasons += [f"model server on {s.node.hostname} is stale: {s.stale_reason}"
                for s in context.servers[deployment.pk] if s.active and s.stale_reason]
    if counts["requests"] is None and result.nodes:
        reasons.append(f"requests unknown: {Runtime(deployment.runtime).label} exposes no request counter"
                       if deployment.runtime in NO_REQUEST_COUNTER
                       else "requests unknown: the model server reported no request counts in the window")
    if not result.nodes:
        reasons.append("the deployment held no hardware in the window")
    _figures(result, totals, counts, facility, operational, context.embodied.get(deployment.pk, Embodied()))
    if context.latency is None:
        result.latency_seconds = result.ttft_seconds = None
    else:
        figures = latency_figures(context.latency.get(deployment.pk, {}))
        result.latency_seconds, result.ttft_seconds = figures["latency_seconds"], figures["ttft_seconds"]
    result.reasons, result.complete = reasons, not reasons
    result.rules = sorted(rules) + REPORT_RULES + _embodied_rules(context.embodied.get(deployment.pk))
    return result


def _coverage_reasons(deployment: Deployment, context: _Context, holds_accelerator: set[int]) -> list[str]:
    reasons = []
    for (dep, node_id), held in sorted(context.held.items()):
        if dep != deployment.pk or held <= 0:
            continue
        sums = context.sums.get((dep, node_id), {})
        host = context.nodes[node_id].hostname
        checks = [("node energy", "node_coverage"), ("model server counters", "server_coverage")]
        if node_id in holds_accelerator:
            checks.insert(0, ("GPU energy", "gpu_coverage"))
        for what, name in checks:
            share = min((sums.get(name) or 0.0) / held, 1.0)
            if share < COMPLETE_COVERAGE:
                reasons.append(f"{what} on {host} covers {share:.0%} of the time held in the window")
    return reasons


def _pue_reasons(result: DeploymentEnergy, context: _Context) -> list[str]:
    sites = {context.nodes[n].rack.site for n in context.nodes
             if context.nodes[n].hostname in result.nodes}
    return [f"PUE of site {site.slug} is incomplete: {context.pue[site.pk].reason}"
            for site in sorted(sites, key=lambda s: s.slug) if not context.pue[site.pk].complete]


def _embodied_rules(embodied: Embodied | None) -> list[str]:
    if embodied is None:
        return []
    rules = ["embodied: inventory kgCO2e amortised over expected life, node share by accelerators held"]
    if embodied.missing:
        rules.append("embodied: not in the inventory, left out: " + ", ".join(sorted(embodied.missing)))
    return rules


def _figures(result: DeploymentEnergy, totals, counts, facility, operational, embodied: Embodied) -> None:
    result.requests, result.failed_requests = counts["requests"], counts["failed_requests"]
    result.prompt_tokens, result.generation_tokens = counts["prompt_tokens"], counts["generation_tokens"]
    result.tokens = _add(result.prompt_tokens, result.generation_tokens)
    result.energy_joules = {"gpu": totals["gpu_joules"], "node": totals["node_joules"], "facility": facility}
    result.gpu_idle_joules = totals["gpu_idle_joules"]
    result.idle_share = _per(totals["gpu_idle_joules"], totals["gpu_joules"])
    result.pue = _per(facility, totals["node_joules"])
    energy = result.energy_joules
    result.joules_per_request = {k: _per(v, result.requests) for k, v in energy.items()}
    result.joules_per_generated_token = {k: _per(v, result.generation_tokens) for k, v in energy.items()}
    result.joules_per_token = {k: _per(v, result.tokens) for k, v in energy.items()}
    result.wh_per_1k_tokens = {k: _per(v, result.tokens, 1000.0 / JOULES_PER_WH) for k, v in energy.items()}
    embodied_grams = embodied.grams if embodied.counted else None
    carbon = {"operational": operational, "embodied": embodied_grams,
              "total": None if operational is None else operational + (embodied_grams or 0.0)}
    result.carbon_grams = carbon
    result.grams_per_request = {k: _per(v, result.requests) for k, v in carbon.items()}
    result.grams_per_1k_tokens = {k: _per(v, result.tokens, 1000.0) for k, v in carbon.items()}
