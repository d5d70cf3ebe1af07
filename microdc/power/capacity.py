"""The room's limits and how close the site runs to them: each breaker, PDU, UPS, cooling unit and the utility
feed with its rated capacity, the limit for continuous load, the measured load, the headroom, and the worst
case (every accelerator behind it at its enforced limit plus the node overhead measured now).

Who stands behind what: a PDU feeds the nodes whose power meter it is (a breaker channel, the nodes on that
channel or on outlets below it; a channel that names no node counts every node of the PDU, the safe side),
else its rack's nodes; a UPS, a cooling unit and a feed meter serve their rack, or the whole site when they
name no rack; the site's contracted feed limit covers every node and is measured at the facility input meters.
Breakers are derated for continuous load (MICRODC_CONTINUOUS_LOAD_DERATING, 80% by default, as electrical
codes ask); UPS, cooling and feed ratings are limits as they stand.
"""

import datetime
from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.utils import timezone

from microdc.nodes.models import Accelerator, FacilityMeter, Node, Site
from microdc.telemetry.models import MODEL_SERVER_KEY_PREFIX, Source
from microdc.telemetry.selectors import stale_after

STALE_FACTOR = 3  # a meter reading older than three poll intervals is not a measurement of now


@dataclass
class Capacity:
    key: str
    site_id: int
    meter_id: int | None
    name: str
    kind: str  # breaker, ups, feed, cooling, site_feed
    quantity: str  # current_amperes, power_watts, heat_removed_watts
    unit: str  # A or W
    rated: float
    limit: float  # the rating derated for continuous load
    measured: float | None = None
    worst_case: float | None = None
    volts: float | None = None
    node_ids: list[int] = field(default_factory=list)
    accelerator_ids: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def headroom(self) -> float | None:
        return None if self.measured is None else self.limit - self.measured

    @property
    def worst_case_headroom(self) -> float | None:
        return None if self.worst_case is None else self.limit - self.worst_case

    def watts(self, amount: float | None) -> float | None:
        """An amount in this capacity's unit as watts (current times the circuit's voltage)."""
        if amount is None or self.unit == "W":
            return amount
        return amount * self.volts if self.volts else None

    def as_dict(self) -> dict:
        return {"key": self.key, "site": self.site_id, "meter": self.meter_id, "name": self.name,
                "kind": self.kind, "quantity": self.quantity, "unit": self.unit, "rated": self.rated,
                "limit": self.limit, "measured": self.measured, "headroom": self.headroom,
                "worst_case": self.worst_case, "worst_case_headroom": self.worst_case_headroom,
                "volts": self.volts, "nodes": self.node_ids, "accelerators": self.accelerator_ids,
                "notes": self.notes}


@dataclass
class NodeLoad:
    node: Node
    gpu_power: float = 0.0
    gpu_limits: float = 0.0
    accelerator_ids: list[int] = field(default_factory=list)
    measured: float | None = None  # the node's own power meter channel, when it has one and it is fresh

    @property
    def overhead(self) -> float:
        """What the node draws besides its accelerators (CPU, memory, fans, PSU losses), measured now."""
        return max(0.0, self.measured - self.gpu_power) if self.measured is not None else 0.0

    @property
    def worst_case(self) -> float:
        return self.gpu_limits + self.overhead


class SitePower:
    """The site's fresh meter-channel values and node loads, read once (capacities and policies share it)."""

    def __init__(self, site: Site, now: datetime.datetime):
        self.meters = list(FacilityMeter.objects.live().filter(site=site, enabled=True))
        meter_ids = {m.pk: m for m in self.meters}
        self.channels: dict[int, dict[str, dict]] = defaultdict(dict)
        self.states: dict[int, dict[str, dict]] = defaultdict(dict)  # the device's own ok/warning/critical
        for source in Source.objects.filter(meter_id__in=meter_ids).only("meter_id", "sensor", "last_ts",
                                                                        "last_values", "last_attributes"):
            meter = meter_ids[source.meter_id]
            window = max(stale_after(), datetime.timedelta(seconds=STALE_FACTOR * meter.poll_interval_seconds))
            if source.last_ts is not None and source.last_ts >= now - window:
                self.channels[meter.pk][source.sensor] = source.last_values
                self.states[meter.pk][source.sensor] = source.last_attributes.get("states", {})
        self.nodes: dict[int, NodeLoad] = {}
        for node in Node.objects.live().filter(rack__site=site).exclude(status=Node.Status.DECOMMISSIONED):
            self.nodes[node.pk] = NodeLoad(node)
        cutoff = now - stale_after()
        gpu_sources = {s.accelerator_id: s for s in Source.objects.filter(
            accelerator__node_id__in=self.nodes, accelerator__retired_at__isnull=True, last_ts__gte=cutoff)
            .exclude(key__startswith=MODEL_SERVER_KEY_PREFIX).only("accelerator_id", "last_values")}
        for accelerator in Accelerator.objects.live().filter(node_id__in=self.nodes):
            load = self.nodes[accelerator.node_id]
            load.accelerator_ids.append(accelerator.pk)
            values = gpu_sources[accelerator.pk].last_values if accelerator.pk in gpu_sources else {}
            load.gpu_power += values.get("power_watts", 0.0)
            load.gpu_limits += values.get("power_limit_watts") or accelerator.power_limit_watts or 0.0
        for load in self.nodes.values():
            node = load.node
            if node.power_meter_id:
                load.measured = self.channels.get(node.power_meter_id, {}).get(node.power_meter_channel,
                                                                              {}).get("power_watts")

    def value(self, meter: FacilityMeter, channel: str, quantity: str) -> float | None:
        return self.channels.get(meter.pk, {}).get(channel, {}).get(quantity)

    def sum_over_channels(self, meter: FacilityMeter, quantity: str) -> float | None:
        values = [v[quantity] for v in self.channels.get(meter.pk, {}).values() if quantity in v]
        return sum(values) if values else None


def served_nodes(readings: SitePower, meter: FacilityMeter, channel: str | None = None) -> list[NodeLoad]:
    loads = list(readings.nodes.values())
    if meter.kind == FacilityMeter.Kind.PDU:
        fed = [n for n in loads if n.node.power_meter_id == meter.pk]
        if channel:
            on_channel = [n for n in fed if n.node.power_meter_channel == channel
                          or n.node.power_meter_channel.startswith(channel + ".")]
            fed = on_channel or fed
        if fed:
            return fed
    if meter.rack_id:
        return [n for n in loads if n.node.rack_id == meter.rack_id]
    return [] if meter.kind == FacilityMeter.Kind.PDU else loads


def _fill(capacity: Capacity, loads: list[NodeLoad]) -> Capacity:
    capacity.node_ids = sorted(n.node.pk for n in loads)
    capacity.accelerator_ids = sorted(a for n in loads for a in n.accelerator_ids)
    worst = sum(n.worst_case for n in loads)
    if any(n.measured is None for n in loads) and loads:
        capacity.notes.append("node overhead unmeasured for nodes without a power meter channel: worst case "
                              "counts their accelerators only")
    if capacity.unit == "A":
        capacity.worst_case = worst / capacity.volts if capacity.volts else None
        if not capacity.volts:
            capacity.notes.append("no voltage known (rated_voltage_volts or a voltage reading): worst case unknown")
    else:
        capacity.worst_case = worst  # heat too: what IT equipment draws, it gives off
    return capacity


def site_capacities(site: Site, now: datetime.datetime | None = None,
                    readings: SitePower | None = None) -> list[Capacity]:
    now = now or timezone.now()
    readings = readings or SitePower(site, now)
    derating = settings.MICRODC_CONTINUOUS_LOAD_DERATING
    out: list[Capacity] = []
    for meter in readings.meters:
        for channel, amperes in sorted(meter.breaker_ratings_amperes.items()):
            where = f"{meter.name} {channel}".strip()
            volts = meter.rated_voltage_volts or readings.value(meter, channel, "voltage_volts")
            capacity = Capacity(f"meter/{meter.pk}/{channel}/current", site.pk, meter.pk, f"{where} breaker",
                                "breaker", "current_amperes", "A", amperes, amperes * derating,
                                measured=readings.value(meter, channel, "current_amperes"), volts=volts)
            out.append(_fill(capacity, served_nodes(readings, meter, channel)))
        if meter.rated_power_watts:
            channel = "output" if meter.kind == FacilityMeter.Kind.UPS else meter.boundary_channel
            measured = readings.value(meter, channel, "power_watts")
            if measured is None:
                measured = readings.value(meter, meter.boundary_channel or "", "power_watts")
            kind = "ups" if meter.kind == FacilityMeter.Kind.UPS else "feed"
            out.append(_fill(Capacity(f"meter/{meter.pk}/power", site.pk, meter.pk, f"{meter.name} rating", kind,
                                      "power_watts", "W", meter.rated_power_watts, meter.rated_power_watts,
                                      measured=measured),
                             served_nodes(readings, meter)))
        if meter.rated_heat_removal_watts:
            out.append(_fill(Capacity(f"meter/{meter.pk}/heat", site.pk, meter.pk, f"{meter.name} heat removal",
                                      "cooling", "heat_removed_watts", "W", meter.rated_heat_removal_watts,
                                      meter.rated_heat_removal_watts,
                                      measured=readings.sum_over_channels(meter, "heat_removed_watts")),
                             served_nodes(readings, meter)))
    if site.contracted_power_watts:
        inputs = [m for m in readings.meters if m.boundary == FacilityMeter.Boundary.FACILITY_INPUT]
        measured = [readings.value(m, m.boundary_channel, "power_watts") for m in inputs]
        capacity = Capacity(f"site/{site.pk}/feed", site.pk, None, f"{site.name} contracted feed", "site_feed",
                            "power_watts", "W", site.contracted_power_watts, site.contracted_power_watts,
                            measured=sum(measured) if measured and None not in measured else None)
        if not inputs:
            capacity.notes.append("no facility-input meter: the feed's load is not measured")
        out.append(_fill(capacity, list(readings.nodes.values())))
    return out
