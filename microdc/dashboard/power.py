"""The power app as the pages show it: desired and enforced limits on a node's page, the room's limits and the
policies' timeline on the facility page, a rack's own limits, a deployment's cap sweeps."""

from microdc.nodes.models import Accelerator, Node, Site
from microdc.power.capacity import site_capacities
from microdc.power.models import CapSweep, PolicyEvent, PowerLimitChange
from microdc.power.selectors import limit_view

TIMELINE_ROWS = 20
CHANGE_ROWS = 10


def node_limits(node: Node) -> dict:
    accelerators = list(Accelerator.objects.live().filter(node=node).order_by("index"))
    return {"by_accelerator": {a.pk: limit_view(a) for a in accelerators},
            "changes": list(PowerLimitChange.objects.filter(accelerator__node=node).select_related("accelerator")
                            .order_by("-at", "-id")[:CHANGE_ROWS])}


def capacities(site: Site) -> list[dict]:
    return [c.as_dict() for c in site_capacities(site)]


def rack_capacities(all_capacities: list[dict], meter_racks: dict[int, int]) -> dict[int, list[dict]]:
    """A rack's own limits: those of the meters that belong to it (its PDUs' breakers, its cooling unit)."""
    out: dict[int, list[dict]] = {}
    for capacity in all_capacities:
        rack = meter_racks.get(capacity["meter"])
        if rack is not None:
            out.setdefault(rack, []).append(capacity)
    return out


def timeline(site: Site) -> list[PolicyEvent]:
    return list(PolicyEvent.objects.filter(site=site).order_by("-at", "-id")[:TIMELINE_ROWS])


def sweeps(deployment) -> list[dict]:
    """The deployment's sweeps, newest first, each with its curve as SVG points (cap W -> J per token)."""
    out = []
    for sweep in CapSweep.objects.filter(deployment=deployment).order_by("-created")[:3]:
        measured = [r for r in sweep.results if r.get("joules_per_token") is not None]
        points = ""
        if len(measured) >= 2:
            caps = [r["cap_watts"] for r in measured]
            jpt = [r["joules_per_token"] for r in measured]
            low, high = min(jpt), max(jpt)
            span_cap, span_j = (max(caps) - min(caps)) or 1.0, (high - low) or 1.0
            points = " ".join(f"{10 + 280 * (c - min(caps)) / span_cap:.1f},{110 - 100 * (j - low) / span_j:.1f}"
                              for c, j in sorted(zip(caps, jpt, strict=True)))
        out.append({"sweep": sweep, "points": points})
    return out
