"""What the dashboard shows, read in a few queries and shaped as plain JSON-ready dicts.

The same dicts fill the server-rendered page and the live websocket messages, so a value looks the same
whether it came with the page or a second later over the socket. Node views come in three sizes:
``full`` (node page: every value and sensor), ``rack`` (tiles: the measures a tile can show, rack air
sensors) and ``site`` (overview: up/down and power).
"""

import datetime
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import Prefetch
from django.utils import timezone

from microdc.nodes.models import Accelerator, FacilityMeter, Node, Rack, Site
from microdc.telemetry.models import AgentState, Source
from microdc.telemetry.selectors import stale_after

# What a rack tile can be coloured by, plus the limit that scales power.
TILE_METRICS = ("temperature_celsius", "power_watts", "utilization_ratio", "power_limit_watts")
# Node or meter sensors that measure rack air: "ipmi//Inlet Temp", "sensor.inlet", "outlet.3.exhaust" ...
AIR_SENSOR = re.compile(r"(inlet|intake|outlet|exhaust)", re.IGNORECASE)


def iso(value: datetime.datetime | None) -> str | None:
    return value.isoformat() if value else None


def stale_cutoff(now: datetime.datetime | None = None) -> datetime.datetime:
    return (now or timezone.now()) - stale_after()


def agent_state(node: Node) -> AgentState | None:
    # A reverse one-to-one without a row raises instead of giving None, even after select_related.
    try:
        return node.agent_state
    except AgentState.DoesNotExist:
        return None


def node_is_up(node: Node, cutoff: datetime.datetime) -> bool:
    """Up: the node's agent pushed within the stale timeout (the rule of microdc_node_up)."""
    state = agent_state(node)
    return bool(state and state.last_seen and state.last_seen >= cutoff)


def air_position(sensor: str) -> str | None:
    match = AIR_SENSOR.search(sensor)
    if not match:
        return None
    return "inlet" if match.group(1).lower() in {"inlet", "intake"} else "outlet"


def _accelerator_view(accelerator: Accelerator, source: Source | None, cutoff, level: str) -> dict:
    values = dict(source.last_values) if source else {}
    if level != "full":
        values = {name: values[name] for name in TILE_METRICS if name in values}
    attributes = source.last_attributes if source else {}
    return {
        "id": accelerator.pk,
        "index": accelerator.index,
        "kind": accelerator.kind,
        "model": accelerator.model,
        "uuid": accelerator.uuid or "",
        "simulated": accelerator.simulated or bool(source and source.simulated),
        "ts": iso(source.last_ts) if source else None,
        "stale": source is None or source.last_ts is None or source.last_ts < cutoff,
        "values": values,
        "throttle_reasons": list(attributes.get("throttle_reasons", [])),
        "mig_mode": attributes.get("mig_mode", ""),
    }


def node_view(node: Node, accelerators: Iterable[Accelerator], sources: Iterable[Source], cutoff,
              level: str = "full") -> dict:
    """One node for the page or a websocket message. `sources` are the node's own (not meters')."""
    by_accelerator: dict[int, Source] = {}
    sensors: list[Source] = []
    for source in sources:
        if source.accelerator_id is not None:
            by_accelerator[source.accelerator_id] = source
        elif source.sensor:
            sensors.append(source)
    state = agent_state(node)
    up = node_is_up(node, cutoff)
    view = {
        "id": node.pk,
        "hostname": node.hostname,
        "status": node.status,
        "rack": node.rack_id,
        "position_u": node.position_u,
        "height_u": node.height_u,
        "simulated": node.simulated,
        "up": up,
        "last_seen": iso(state.last_seen) if state else None,
    }
    accelerator_views = [_accelerator_view(a, by_accelerator.get(a.pk), cutoff, level) for a in accelerators]
    fresh_power = [a["values"]["power_watts"] for a in accelerator_views
                   if not a["stale"] and "power_watts" in a["values"]]
    view["power_watts"] = sum(fresh_power) if fresh_power else None
    view["accelerator_count"] = len(accelerator_views)
    if level == "site":
        return view
    view["accelerators"] = accelerator_views
    if level == "full":
        view["agent_version"] = state.agent_version if state else ""
        view["last_error"] = state.last_error if state else ""
        view["sensors"] = [{"sensor": s.sensor, "ts": iso(s.last_ts), "stale": s.last_ts is None or s.last_ts < cutoff,
                            "simulated": s.simulated, "values": s.last_values} for s in sensors]
    else:
        view["air"] = [{"sensor": s.sensor, "position": air_position(s.sensor), "ts": iso(s.last_ts),
                        "value": s.last_values.get("temperature_celsius")}
                       for s in sensors if air_position(s.sensor) and "temperature_celsius" in s.last_values]
    return view


def accelerator_extremes(view: dict) -> dict:
    """The hottest GPU and the mean utilization of a node view's fresh accelerators (None when none)."""
    fresh = [a["values"] for a in view.get("accelerators", ()) if not a["stale"]]
    temperatures = [v["temperature_celsius"] for v in fresh if "temperature_celsius" in v]
    busy = [v["utilization_ratio"] for v in fresh if "utilization_ratio" in v]
    return {"hottest": max(temperatures) if temperatures else None,
            "busy": sum(busy) / len(busy) if busy else None}


def meter_stale_after(meter: FacilityMeter) -> datetime.timedelta:
    # A meter polled every few minutes is not stale between two polls.
    return max(stale_after(), datetime.timedelta(seconds=3 * meter.poll_interval_seconds))


def power_channel(meter: FacilityMeter, channels: Iterable[str]) -> str | None:
    """The channel whose power stands for the meter at its PUE boundary: its ``boundary_channel`` ("" is the
    device's own total), the same one the PUE service reads; None when the meter has not reported it."""
    wanted = getattr(meter, "boundary_channel", "") or ""
    return wanted if wanted in set(channels) else None


def reading_state(attributes: dict) -> str:
    """Worst state of a channel's latest readings; the poller keeps non-ok ones as {"states": {quantity: s}}."""
    states = set((attributes.get("states") or {}).values())
    if "state" in attributes:
        states.add(attributes["state"])
    for state in ("critical", "warning"):
        if state in states:
            return state
    return "ok"


def meter_view(meter: FacilityMeter, sources: Iterable[Source], now: datetime.datetime) -> dict:
    cutoff = now - meter_stale_after(meter)
    channels = {}
    latest = None
    for source in sorted(sources, key=lambda s: s.sensor):
        channels[source.sensor] = {
            "ts": iso(source.last_ts),
            "stale": source.last_ts is None or source.last_ts < cutoff,
            "state": reading_state(source.last_attributes),
            "values": source.last_values,
        }
        if source.last_ts and (latest is None or source.last_ts > latest):
            latest = source.last_ts
    channel = power_channel(meter, [name for name, c in channels.items() if "power_watts" in c["values"]])
    power = None
    if channel is not None and not channels[channel]["stale"]:
        power = channels[channel]["values"]["power_watts"]
    return {
        "id": meter.pk,
        "name": meter.name,
        "site": meter.site_id,
        "rack": meter.rack_id,
        "kind": meter.kind,
        "kind_label": meter.get_kind_display(),
        "boundary": meter.boundary,
        "boundary_label": meter.get_boundary_display(),
        "it_measurement_point": meter.it_measurement_point,
        "boundary_channel": getattr(meter, "boundary_channel", ""),
        "protocol": meter.protocol,
        "protocol_label": meter.get_protocol_display(),
        "address": f"{meter.host}:{meter.port}" if meter.host and meter.port else meter.host,
        "enabled": meter.enabled,
        "simulated": meter.simulated,
        "poll_interval_seconds": meter.poll_interval_seconds,
        "ts": iso(latest),
        "stale": latest is None or latest < cutoff,
        "channels": channels,
        "power_channel": channel,
        "power_watts": power,
    }


@dataclass
class SiteState:
    """A site's inventory and latest telemetry, loaded once per page or summary."""

    site: Site
    now: datetime.datetime
    cutoff: datetime.datetime
    racks: list[Rack] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    node_sources: dict[int, list[Source]] = field(default_factory=dict)
    meters: list[FacilityMeter] = field(default_factory=list)
    meter_sources: dict[int, list[Source]] = field(default_factory=dict)

    def node_views(self, level: str) -> list[dict]:
        return [node_view(n, n.accelerators.all(), self.node_sources.get(n.pk, ()), self.cutoff, level)
                for n in self.nodes]

    def meter_views(self) -> list[dict]:
        return [meter_view(m, self.meter_sources.get(m.pk, ()), self.now) for m in self.meters]


# Only what the views read: last_values of a busy site's sources are the bulk of each row.
SOURCE_FIELDS = ("id", "node_id", "accelerator_id", "meter_id", "sensor", "simulated", "last_ts", "last_values",
                 "last_attributes")


def nodes_with_telemetry(nodes_qs) -> tuple[list[Node], dict[int, list[Source]]]:
    """Nodes (rack, agent state, accelerators) and their own sources: three queries whatever the count."""
    nodes = list(nodes_qs.select_related("rack", "agent_state")
                 .prefetch_related(Prefetch("accelerators", queryset=Accelerator.objects.live().order_by("index"))))
    sources: dict[int, list[Source]] = defaultdict(list)
    if nodes:
        rows = (Source.objects.filter(node_id__in=[n.pk for n in nodes], meter__isnull=True)
                .exclude(accelerator__retired_at__isnull=False).only(*SOURCE_FIELDS))
        for source in rows:
            sources[source.node_id].append(source)
    return nodes, sources


def _with_poll_state(meters_qs):
    # The facility app keeps each meter's polling health in a one-to-one "state"; join it when it exists so
    # the health of every meter costs no query of its own.
    try:
        FacilityMeter._meta.get_field("state")
    except Exception:
        return meters_qs
    return meters_qs.select_related("state")


def meters_with_readings(meters_qs) -> tuple[list[FacilityMeter], dict[int, list[Source]]]:
    meters = list(_with_poll_state(meters_qs))
    sources: dict[int, list[Source]] = defaultdict(list)
    if meters:
        for source in Source.objects.filter(meter_id__in=[m.pk for m in meters]).only(*SOURCE_FIELDS):
            sources[source.meter_id].append(source)
    return meters, sources


def load_site(site: Site, *, racks: Iterable[int] | None = None) -> SiteState:
    """The site (or some of its racks) with nodes, accelerators, latest values and meters: six queries."""
    now = timezone.now()
    state = SiteState(site=site, now=now, cutoff=stale_cutoff(now))
    rack_qs = Rack.objects.filter(site=site)
    node_qs = Node.objects.live().filter(rack__site=site).exclude(status=Node.Status.DECOMMISSIONED)
    meter_qs = FacilityMeter.objects.live().filter(site=site).select_related("rack")
    if racks is not None:
        rack_ids = list(racks)
        rack_qs = rack_qs.filter(pk__in=rack_ids)
        node_qs = node_qs.filter(rack_id__in=rack_ids)
        meter_qs = meter_qs.filter(rack_id__in=rack_ids)
    state.racks = list(rack_qs)
    state.nodes, state.node_sources = nodes_with_telemetry(node_qs.order_by("rack_id", "-position_u"))
    state.meters, state.meter_sources = meters_with_readings(meter_qs)
    return state


def node_counts(node_views: Iterable[dict]) -> dict[str, int]:
    """Up / down among nodes in service, and how many are out of service on purpose."""
    counts = {"up": 0, "down": 0, "maintenance": 0, "offline": 0, "total": 0}
    for view in node_views:
        counts["total"] += 1
        if view["status"] == Node.Status.ACTIVE:
            counts["up" if view["up"] else "down"] += 1
        elif view["status"] in counts:
            counts[view["status"]] += 1
    return counts


def _sum_boundary(meter_views: list[dict], boundary: str) -> dict:
    meters = [m for m in meter_views if m["boundary"] == boundary]
    reporting = [m["power_watts"] for m in meters if m["power_watts"] is not None]
    return {"watts": sum(reporting) if meters and len(reporting) == len(meters) else None,
            "meters": len(meters), "reporting": len(reporting),
            "partial_watts": sum(reporting) if reporting else None}


def site_power(meter_views: list[dict], node_views: list[dict]) -> dict:
    """Power now: the sum of each boundary's meters (None unless every one of them is fresh), and the GPUs'
    own power from the agents. These are instantaneous readings for the eye; PUE comes from energy."""
    node_power = [v["power_watts"] for v in node_views if v["power_watts"] is not None]
    power = {
        "facility": _sum_boundary(meter_views, FacilityMeter.Boundary.FACILITY_INPUT),
        "it": _sum_boundary(meter_views, FacilityMeter.Boundary.IT_LOAD),
        "cooling": _sum_boundary(meter_views, FacilityMeter.Boundary.COOLING),
        "other": _sum_boundary(meter_views, FacilityMeter.Boundary.OTHER),
        "accelerators": {"watts": sum(node_power) if node_power else None, "nodes": len(node_power)},
    }
    power["it_source"] = "meters" if power["it"]["meters"] else "node_telemetry"
    return power


def rack_meters(meter_views: list[dict]) -> dict[int, list[dict]]:
    by_rack: dict[int, list[dict]] = defaultdict(list)
    for view in meter_views:
        if view["rack"] is not None:
            by_rack[view["rack"]].append(view)
    return by_rack


def rack_air(rack_meter_views: list[dict], node_views: list[dict]) -> dict[str, list[dict]]:
    """Inlet and outlet temperatures of a rack from meter channels and node sensors that name them."""
    air: dict[str, list[dict]] = {"inlet": [], "outlet": []}
    for meter in rack_meter_views:
        for channel, reading in meter["channels"].items():
            position = air_position(channel)
            if position and "temperature_celsius" in reading["values"]:
                air[position].append({"label": f"{meter['name']} {channel}", "ts": reading["ts"],
                                      "value": reading["values"]["temperature_celsius"]})
    for node in node_views:
        for sensor in node.get("air", ()):
            air[sensor["position"]].append({"label": f"{node['hostname']} {sensor['sensor']}", "ts": sensor["ts"],
                                            "value": sensor["value"]})
    return air
