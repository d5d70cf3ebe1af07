"""The websocket messages for changed nodes and meters: one message per group, whatever the number of changes.

A node's change goes to ``node.<id>`` (everything), ``rack.<id>`` (tile measures) and ``site.<id>`` (up/down,
power); a meter's to ``site.<id>`` and, for a rack's meter (PDU), ``rack.<id>``. Data is keyed by id under
``nodes`` / ``meters``, so several changes merge into one message and a browser merges them the same way.
Everything is plain JSON types: the Redis layer carries messages as msgpack.
"""

from collections import defaultdict

from django.utils import timezone

from microdc.nodes.models import FacilityMeter, Node

from .selectors import meter_view, meters_with_readings, node_view, nodes_with_telemetry, stale_cutoff
from .summary import meter_brief


def _put(groups: dict[str, dict], group: str, section: str, key: int, value: dict) -> None:
    groups[group].setdefault(section, {})[str(key)] = value


def build_messages(changed: list[tuple[str, int]]) -> list[tuple[str, dict]]:
    """[(group, data)] for the changed ("node", id) and ("meter", id) pairs (a few queries for any number)."""
    groups: dict[str, dict] = defaultdict(dict)
    node_ids = [ident for kind, ident in changed if kind == "node"]
    meter_ids = [ident for kind, ident in changed if kind == "meter"]
    if node_ids:
        cutoff = stale_cutoff()
        nodes, sources = nodes_with_telemetry(Node.objects.filter(pk__in=node_ids))
        for node in nodes:
            accelerators = node.accelerators.all()
            own = sources.get(node.pk, ())
            for group, level in ((f"node.{node.pk}", "full"), (f"rack.{node.rack_id}", "rack"),
                                 (f"site.{node.rack.site_id}", "site")):
                _put(groups, group, "nodes", node.pk, node_view(node, accelerators, own, cutoff, level))
    if meter_ids:
        now = timezone.now()
        meters, sources = meters_with_readings(FacilityMeter.objects.filter(pk__in=meter_ids))
        for meter in meters:
            view = meter_view(meter, sources.get(meter.pk, ()), now)
            _put(groups, f"site.{meter.site_id}", "meters", meter.pk, meter_brief(view))
            if meter.rack_id is not None:
                _put(groups, f"rack.{meter.rack_id}", "meters", meter.pk, view)
    return list(groups.items())

