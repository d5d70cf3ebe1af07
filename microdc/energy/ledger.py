"""The usage ledger: UsageBucket / UnallocatedBucket minute and hour rows that follow the telemetry rollups.

What to recompute comes from the rollups themselves: each rollup that rewrites a minute moves its source's
`derived_dirty_since` to it (telemetry.rollups.mark_derived_dirty), and this module takes those marks and
recomputes from them to now:
- a node's source (accelerator, sensor, process utilization, model server): that node's minutes;
- a meter: the nodes it measures (PDU outlet), every node of its site when it is a facility-input meter
  (the grid share of each minute's carbon changes), else the site's hour rows (the PUE changes);
- a changed carbon-intensity schedule: every node of the site from the first changed day.
Marks are taken in one transaction and put back when a recompute fails; each node is recomputed, read and
written, in one transaction holding the node's row, so two runners never interleave on a node.
"""

import datetime
import logging
from collections import defaultdict

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from microdc.nodes.models import FacilityMeter, Node, Site
from microdc.telemetry.models import Source
from microdc.telemetry.rollups import floor_time, mark_derived_dirty

from . import hours, node_energy
from .attribution import Holding, attribute_minute
from .carbon_factor import SiteCarbon, schedule_changed_since
from .models import Reservation, UnallocatedBucket, UsageBucket

log = logging.getLogger(__name__)
MINUTE = datetime.timedelta(minutes=1)


def take_marks() -> list[tuple[int, int | None, int | None, datetime.datetime]]:
    """(source, node, meter, since) of every source marked since the last run, the marks cleared."""
    with transaction.atomic():
        marks = list(Source.objects.filter(derived_dirty_since__isnull=False).select_for_update(skip_locked=True)
                     .values_list("pk", "node_id", "meter_id", "derived_dirty_since"))
        Source.objects.filter(pk__in=[pk for pk, *_ in marks]).update(derived_dirty_since=None)
    return marks


def _earliest(into: dict, key, since: datetime.datetime) -> None:
    if key not in into or since < into[key]:
        into[key] = since


def _plan(marks, now: datetime.datetime) -> tuple[dict[int, datetime.datetime], dict[int, datetime.datetime]]:
    """Nodes to recompute from when, and sites whose hour rows alone to recompute from when."""
    nodes: dict[int, datetime.datetime] = {}
    site_hours: dict[int, datetime.datetime] = {}
    meter_marks: dict[int, datetime.datetime] = {}
    for _, node_id, meter_id, since in marks:
        if meter_id is not None:
            _earliest(meter_marks, meter_id, since)
        elif node_id is not None:
            _earliest(nodes, node_id, since)
    site_nodes: dict[int, list[int]] = defaultdict(list)
    for pk, site_id in Node.objects.values_list("pk", "rack__site_id"):
        site_nodes[site_id].append(pk)
    metered = defaultdict(list)
    for pk, meter_id in Node.objects.filter(power_meter__in=list(meter_marks)).values_list("pk", "power_meter_id"):
        metered[meter_id].append(pk)
    for meter in FacilityMeter.objects.filter(pk__in=list(meter_marks)):
        since = meter_marks[meter.pk]
        for node_id in metered[meter.pk]:
            _earliest(nodes, node_id, since)
        if meter.boundary == FacilityMeter.Boundary.FACILITY_INPUT:
            for node_id in site_nodes[meter.site_id]:
                _earliest(nodes, node_id, since)
        else:
            _earliest(site_hours, meter.site_id, since)
    retention = now - datetime.timedelta(days=settings.MICRODC_ROLLUP_MINUTE_RETENTION_DAYS)
    for site in Site.objects.filter(pk__in=list(site_nodes)):
        changed = schedule_changed_since(site, retention)
        if changed is not None:
            for node_id in site_nodes[site.pk]:
                _earliest(nodes, node_id, changed)
    return nodes, site_hours


def _holdings(node: Node, start, end) -> list[Holding]:
    rows = (Reservation.objects.filter(node=node, start__lt=end).exclude(end__lte=start)
            .values_list("deployment_id", "deployment__name", "accelerator_id", "start", "end"))
    return [Holding(*row) for row in rows]


def recompute_node(node_id: int, since: datetime.datetime, now: datetime.datetime, pue: hours.PueCache) -> int:
    """Recompute the node's minute rows from `since` up to now, and the hour rows they are in."""
    start = floor_time(since, 60)
    end = floor_time(now, 60) + MINUTE
    with transaction.atomic():
        node = Node.objects.select_for_update().select_related("rack__site").filter(pk=node_id).first()
        if node is None:
            return 0
        data = node_energy.load(node, start, end)
        holdings = _holdings(node, start, end)
        carbon = SiteCarbon(node.rack.site, start, end)
        rows, unallocated = [], []
        for minute in sorted(data.minutes):
            used, unheld = attribute_minute(data, minute, holdings, carbon)
            rows += used
            if unheld is not None:
                unallocated.append(unheld)
        minute_rows = {"node": node, "resolution": UsageBucket.MINUTE, "start__gte": start, "start__lt": end}
        UsageBucket.objects.filter(**minute_rows).delete()
        UnallocatedBucket.objects.filter(**minute_rows).delete()
        UsageBucket.objects.bulk_create(rows, batch_size=1000)
        UnallocatedBucket.objects.bulk_create(unallocated, batch_size=1000)
        hours.rebuild(node, node.rack.site, start, end, pue)
    return len(rows)


def update(now: datetime.datetime | None = None) -> int:
    """Recompute the ledger rows that the telemetry changed since the last run touched. Returns the number of
    minute rows written."""
    now = now or timezone.now()
    marks = take_marks()
    nodes, site_hours = _plan(marks, now)
    pue = hours.PueCache(now)
    written = 0
    for node_id, since in sorted(nodes.items()):
        try:
            written += recompute_node(node_id, since, now, pue)
        except Exception:
            log.exception("energy ledger of node %s from %s failed; it is retried on the next run", node_id, since)
            mark_derived_dirty(Source.objects.filter(node_id=node_id), since)
    for site_id, since in site_hours.items():
        for node in Node.objects.filter(rack__site_id=site_id).select_related("rack__site"):
            if node.pk in nodes and nodes[node.pk] <= since:
                continue  # its hours were rebuilt with its minutes
            try:
                with transaction.atomic():
                    hours.rebuild(node, node.rack.site, since, floor_time(now, 60) + MINUTE, pue)
            except Exception:
                log.exception("energy ledger hours of node %s from %s failed; retried on the next run",
                              node.pk, since)
                mark_derived_dirty(Source.objects.filter(meter__site_id=site_id), since)
    return written


def prune(now: datetime.datetime | None = None) -> dict[str, int]:
    """Delete ledger rows past the rollups' retention: what they were computed from is gone too."""
    now = now or timezone.now()
    days = datetime.timedelta(days=1)
    hour_cutoff = now - settings.MICRODC_ROLLUP_HOUR_RETENTION_DAYS * days
    cutoffs = {UsageBucket.MINUTE: now - settings.MICRODC_ROLLUP_MINUTE_RETENTION_DAYS * days,
               UsageBucket.HOUR: hour_cutoff, UsageBucket.DAY: hour_cutoff}
    deleted = {}
    for model in (UsageBucket, UnallocatedBucket):
        for resolution, cutoff in cutoffs.items():
            name = f"{model._meta.model_name}_{ {60: 'minutes', 3600: 'hours', 86400: 'days'}[resolution]}"
            deleted[name] = model.objects.filter(resolution=resolution, start__lt=cutoff).delete()[0]
    return deleted
