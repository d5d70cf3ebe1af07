"""One read of everything the rules look at, in a few queries whatever the site's size: nodes and their
agents, accelerators and their latest telemetry, meters with their poll state and channels. PUE and deployment
figures are computed only when an enabled rule asks, once per window per cycle."""

import datetime
from collections import defaultdict
from functools import cached_property

from django.conf import settings
from django.urls import reverse

from microdc.facility.health import meter_status
from microdc.nodes.models import Accelerator, FacilityMeter, Node, Site
from microdc.telemetry.models import MODEL_SERVER_KEY_PREFIX, AgentState, Source


class Snapshot:
    def __init__(self, now: datetime.datetime):
        self.now = now
        self.stale_cutoff = now - datetime.timedelta(seconds=settings.MICRODC_TELEMETRY_STALE_SECONDS)
        self.sites = {s.pk: s for s in Site.objects.all()}
        self.nodes = {n.pk: n for n in Node.objects.live().exclude(status=Node.Status.DECOMMISSIONED)
                      .select_related("rack")}
        self.agents = {a.node_id: a for a in AgentState.objects.filter(node_id__in=self.nodes)}
        self.accelerators = [a for a in Accelerator.objects.live().order_by("node_id", "index")
                             if a.node_id in self.nodes]
        self.gpu_sources: dict[int, Source] = {}
        self.sensor_sources: dict[int, list[Source]] = defaultdict(list)
        for source in (Source.objects.filter(node_id__in=self.nodes).exclude(key__startswith=MODEL_SERVER_KEY_PREFIX)
                       .only("node_id", "accelerator_id", "sensor", "last_ts", "last_values", "last_attributes",
                             "simulated")):
            if source.accelerator_id is not None:
                self.gpu_sources[source.accelerator_id] = source
            else:
                self.sensor_sources[source.node_id].append(source)
        self.meters = list(FacilityMeter.objects.live().filter(enabled=True).select_related("state", "rack"))
        self.meter_sources: dict[int, list[Source]] = defaultdict(list)
        for source in (Source.objects.filter(meter_id__in=[m.pk for m in self.meters])
                       .only("meter_id", "sensor", "last_ts", "last_values", "last_attributes")):
            self.meter_sources[source.meter_id].append(source)
        self._pue: dict[tuple[int, str], object] = {}
        self._deployments: dict[str, list] = {}

    def node_url(self, node_id: int) -> str:
        return self.node_urls[node_id]

    @cached_property
    def node_urls(self) -> dict[int, str]:
        prefix = reverse("dashboard:node", args=[0]).removesuffix("0/")
        return {pk: f"{prefix}{pk}/" for pk in self.nodes}

    def node_up(self, node_id: int) -> bool:
        agent = self.agents.get(node_id)
        return bool(agent and agent.last_seen and agent.last_seen >= self.stale_cutoff)

    def fresh(self, source: Source | None, cutoff: datetime.datetime | None = None) -> bool:
        return source is not None and source.last_ts is not None and source.last_ts >= (cutoff or self.stale_cutoff)

    def meter_cutoff(self, meter: FacilityMeter) -> datetime.datetime:
        # A meter polled every few minutes is not stale between two polls.
        return min(self.stale_cutoff, self.now - datetime.timedelta(seconds=3 * meter.poll_interval_seconds))

    def meter_health(self, meter: FacilityMeter) -> dict:
        return meter_status(meter, self.now)

    def pue(self, site: Site, window: str):
        from microdc.facility.pue import site_pue

        key = (site.pk, window)
        if key not in self._pue:
            self._pue[key] = site_pue(site, window, now=self.now)
        return self._pue[key]

    def deployments(self, window: str) -> list:
        from microdc.energy.report import pilot_table

        if window not in self._deployments:
            self._deployments[window] = pilot_table(window, now=self.now)
        return self._deployments[window]

    @cached_property
    def site_of_node(self) -> dict[int, Site]:
        return {pk: self.sites[n.rack.site_id] for pk, n in self.nodes.items()}
