"""One read of everything the rules look at, in a few queries whatever the site's size: nodes and their
agents, accelerators and their latest telemetry, meters with their poll state and channels. PUE and deployment
figures are computed only when an enabled rule asks, once per window per cycle."""

import datetime
from collections import defaultdict
from functools import cached_property
from typing import NamedTuple

from django.conf import settings

from microdc.facility.health import meter_status
from microdc.nodes.models import Accelerator, FacilityMeter, Node, Site
from microdc.telemetry.models import MODEL_SERVER_KEY_PREFIX, AgentState, Source

from . import links


class Reading(NamedTuple):
    """A source's latest values, as the rules read them (plain tuples: thousands per cycle)."""

    owner_id: int | None  # node (sensors), accelerator (GPUs) or meter (channels)
    sensor: str
    last_ts: datetime.datetime | None
    last_values: dict
    last_attributes: dict


class Gpu(NamedTuple):
    pk: int
    node_id: int
    index: int
    uuid: str
    kind: str
    simulated: bool


class Snapshot:
    def __init__(self, now: datetime.datetime):
        self.now = now
        self.stale_cutoff = now - datetime.timedelta(seconds=settings.MICRODC_TELEMETRY_STALE_SECONDS)
        self.sites = {s.pk: s for s in Site.objects.all()}
        self.nodes = {n.pk: n for n in Node.objects.live().exclude(status=Node.Status.DECOMMISSIONED)
                      .select_related("rack")}
        self.agents = {a.node_id: a for a in AgentState.objects.filter(node_id__in=self.nodes)}
        self.accelerators = [Gpu(*row) for row in Accelerator.objects.live().filter(node_id__in=self.nodes)
                             .order_by("node_id", "index").values_list("pk", "node_id", "index", "uuid", "kind",
                                                                       "simulated")]
        self.gpu_sources: dict[int, Reading] = {}
        self.sensor_sources: dict[int, list[Reading]] = defaultdict(list)
        for node_id, accelerator_id, *reading in (
                Source.objects.filter(node_id__in=self.nodes).exclude(key__startswith=MODEL_SERVER_KEY_PREFIX)
                .values_list("node_id", "accelerator_id", "sensor", "last_ts", "last_values", "last_attributes")):
            if accelerator_id is not None:
                self.gpu_sources[accelerator_id] = Reading(accelerator_id, *reading)
            else:
                self.sensor_sources[node_id].append(Reading(node_id, *reading))
        self.meters = list(FacilityMeter.objects.live().filter(enabled=True).select_related("state", "rack"))
        self.meter_sources: dict[int, list[Reading]] = defaultdict(list)
        for row in (Source.objects.filter(meter_id__in=[m.pk for m in self.meters])
                    .values_list("meter_id", "sensor", "last_ts", "last_values", "last_attributes")):
            self.meter_sources[row[0]].append(Reading(*row))
        self._memo: dict = {}
        self._pue: dict[tuple[int, str], object] = {}
        self._deployments: dict[str, list] = {}

    def memo(self, key: str, build):
        """What several rules derive from the same rows (the things' labels), built once per cycle."""
        if key not in self._memo:
            self._memo[key] = build()
        return self._memo[key]

    def node_url(self, node_id: int) -> str:
        return self.node_urls[node_id]

    @cached_property
    def node_urls(self) -> dict[int, str]:
        return {pk: links.node(pk) for pk in self.nodes}

    def node_up(self, node_id: int) -> bool:
        agent = self.agents.get(node_id)
        return bool(agent and agent.last_seen and agent.last_seen >= self.stale_cutoff)

    def fresh(self, source: Reading | None, cutoff: datetime.datetime | None = None) -> bool:
        return source is not None and source.last_ts is not None and source.last_ts >= (cutoff or self.stale_cutoff)

    def meter_cutoff(self, meter: FacilityMeter) -> datetime.datetime:
        # A meter polled every few minutes is not stale between two polls.
        return min(self.stale_cutoff, self.now - datetime.timedelta(seconds=3 * meter.poll_interval_seconds))

    def meter_health(self, meter: FacilityMeter) -> dict:
        return meter_status(meter, self.now)

    def pue(self, site: Site, window: str):
        from microdc.facility.pue import settled_site_pue

        key = (site.pk, window)
        if key not in self._pue:
            self._pue[key] = settled_site_pue(site, window, now=self.now)
        return self._pue[key]

    def deployments(self, window: str) -> list:
        from microdc.energy.report import pilot_table

        if window not in self._deployments:
            self._deployments[window] = pilot_table(window, now=self.now)
        return self._deployments[window]

    @cached_property
    def site_of_node(self) -> dict[int, Site]:
        return {pk: self.sites[n.rack.site_id] for pk, n in self.nodes.items()}
