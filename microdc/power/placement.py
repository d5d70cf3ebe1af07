"""Placing a deployment by headroom: `count` free accelerators of a kind on a node whose every limit (breaker,
PDU, UPS, cooling unit, feed) can take them running at their power limit, chosen by the site's preferences.

Free: not held by a running deployment (an open reservation) nor named by another live deployment's current
revision. Headroom: each limit behind the node must absorb what the chosen accelerators would add, from what
they draw now up to their enforced limit. Preferences (MICRODC_PLACEMENT_PREFERENCES, in order):
- ``circuit``: the least loaded circuit (the largest share of headroom left on the node's tightest limit);
- ``cool``: the coolest rack (its meters' temperatures, else its accelerators');
- ``pack``: the node left with the fewest free accelerators, so idle nodes stay idle.
The choice and the reasons are recorded on the revision; nothing that fits is a PlacementError naming, per
node, the limit that stops it.
"""

import datetime
from dataclasses import dataclass, field
from statistics import mean

from django.conf import settings
from django.utils import timezone

from microdc.energy.models import Reservation
from microdc.nodes.models import Accelerator, Node, Site
from microdc.provisioning.models import Deployment, DeploymentRevision
from microdc.telemetry.models import MODEL_SERVER_KEY_PREFIX, Source
from microdc.telemetry.selectors import stale_after

from .capacity import Capacity, SitePower, site_capacities


class PlacementError(ValueError):
    pass


@dataclass
class _Option:
    node: Node
    indices: list[int]
    added_watts: float
    free_left: int
    tightest: float  # the smallest share of headroom left on any limit behind the node, after placing
    rack_temperature: float | None
    limits: list[str] = field(default_factory=list)

    def key(self, order: tuple[str, ...]) -> tuple:
        parts = {"circuit": -self.tightest, "cool": self.rack_temperature if self.rack_temperature is not None
                 else float("inf"), "pack": self.free_left}
        return (*(parts[p] for p in order), self.node.hostname)


def preferences() -> tuple[str, ...]:
    return tuple(p.strip() for p in settings.MICRODC_PLACEMENT_PREFERENCES.split(",") if p.strip())


def _taken(exclude: Deployment | None) -> set[int]:
    """Accelerators held now or named by another live deployment's current revision."""
    held = set(Reservation.objects.filter(end__isnull=True, accelerator__isnull=False)
               .exclude(deployment=exclude).values_list("accelerator_id", flat=True))
    live = (Deployment.objects.exclude(status__in=[Deployment.Status.REMOVED, Deployment.Status.REMOVING])
            .exclude(pk=exclude.pk if exclude else None).exclude(current_revision__isnull=True))
    for revision in DeploymentRevision.objects.filter(pk__in=live.values("current_revision")).prefetch_related("nodes"):
        for node in revision.nodes.all():
            held.update(Accelerator.objects.live().filter(node=node, index__in=revision.accelerators)
                        .values_list("pk", flat=True))
    return held


def _fresh_values(accelerator_ids: list[int], now: datetime.datetime) -> dict[int, dict]:
    return {s.accelerator_id: s.last_values for s in Source.objects.filter(
        accelerator_id__in=accelerator_ids, last_ts__gte=now - stale_after())
        .exclude(key__startswith=MODEL_SERVER_KEY_PREFIX).only("accelerator_id", "last_values")}


def _rack_temperatures(power: SitePower, nodes: list[Node], accelerators: list[Accelerator],
                       values: dict[int, dict]) -> dict[int, float]:
    """Per rack: its meters' temperatures, else its accelerators'."""
    rack_of = {n.pk: n.rack_id for n in nodes}
    gpu: dict[int, list[float]] = {}
    for a in accelerators:
        if "temperature_celsius" in values.get(a.pk, {}):
            gpu.setdefault(rack_of[a.node_id], []).append(values[a.pk]["temperature_celsius"])
    out = {}
    for rack in set(rack_of.values()):
        air = [v["temperature_celsius"] for m in power.meters if m.rack_id == rack
               for v in power.channels.get(m.pk, {}).values() if "temperature_celsius" in v]
        if air or gpu.get(rack):
            out[rack] = mean(air or gpu[rack])
    return out


def _check_limits(capacities: list[Capacity], node: Node, added_watts: float) -> tuple[float, list[str], str]:
    """(tightest share left, words per limit, why it does not fit or "")."""
    tightest, words = 1.0, []
    for capacity in capacities:
        if node.pk not in capacity.node_ids:
            continue
        if capacity.measured is None:
            return 0.0, words, f"{capacity.name} has no fresh reading"
        added = added_watts if capacity.unit == "W" else (added_watts / capacity.volts if capacity.volts else None)
        if added is None:
            return 0.0, words, f"{capacity.name}: no voltage known to turn watts into amperes"
        left = capacity.headroom - added
        words.append(f"{capacity.name}: {capacity.headroom:.1f} {capacity.unit} headroom, "
                     f"{added:.1f} {capacity.unit} needed")
        if left < 0:
            return 0.0, words, (f"{capacity.name} has {max(0.0, capacity.headroom):.1f} {capacity.unit} of headroom, "
                                f"{added:.1f} {capacity.unit} needed")
        tightest = min(tightest, left / capacity.limit)
    return tightest, words, ""


def place(count: int, kind: str = Accelerator.Kind.GPU, exclude: Deployment | None = None,
          now: datetime.datetime | None = None) -> dict:
    """Choose a node and `count` of its free accelerators; returns {"node", "accelerators", "record"} where
    record is what the revision keeps (the request, the choice, every candidate and why)."""
    now = now or timezone.now()
    order = preferences()
    taken = _taken(exclude)
    options, refusals = [], []
    for site in Site.objects.all():
        power = SitePower(site, now)
        capacities = site_capacities(site, now, readings=power)
        nodes = [load.node for load in power.nodes.values() if load.node.status == Node.Status.ACTIVE]
        accelerators = list(Accelerator.objects.live().filter(node__in=nodes, kind=kind).order_by("index"))
        values = _fresh_values([a.pk for a in accelerators], now)
        temperatures = _rack_temperatures(power, nodes, accelerators, values)
        for node in nodes:
            free = [a for a in accelerators if a.node_id == node.pk and a.pk not in taken]
            if len(free) < count:
                refusals.append(f"{node.hostname}: {len(free)} free {kind} of {count} needed")
                continue
            chosen = free[:count]
            added = sum(max(0.0, (values.get(a.pk, {}).get("power_limit_watts") or a.power_limit_watts or 0.0)
                            - values.get(a.pk, {}).get("power_watts", 0.0)) for a in chosen)
            tightest, words, why = _check_limits(capacities, node, added)
            if why:
                refusals.append(f"{node.hostname}: {why}")
                continue
            options.append(_Option(node, [a.index for a in chosen], added, len(free) - count, tightest,
                                   temperatures.get(node.rack_id), words))
    if not options:
        raise PlacementError(f"cannot place {count} {kind}: " + ("; ".join(refusals) or "no active node"))
    options.sort(key=lambda o: o.key(order))
    best = options[0]
    record = {"request": {"count": count, "kind": kind}, "preferences": list(order),
              "node": best.node.hostname, "accelerators": best.indices,
              "reasons": [f"adds up to {best.added_watts:.0f} W at the accelerators' limits", *best.limits],
              "candidates": [{"node": o.node.hostname, "free_left": o.free_left,
                              "tightest_headroom_share": round(o.tightest, 3),
                              "rack_temperature_celsius": o.rack_temperature} for o in options],
              "refused": refusals, "at": now.isoformat()}
    return {"node": best.node, "accelerators": best.indices, "record": record}
