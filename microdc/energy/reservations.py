"""Which hardware each deployment holds: Reservation rows follow the healthy deployments' current revisions.

A reservation opens when a healthy deployment's revision takes an accelerator (or, taking none, runs on a
node) and closes when that stops; the ledger attributes each accelerator's energy to whoever holds it.
"""

import datetime

from django.db import transaction
from django.utils import timezone

from microdc.provisioning.models import Deployment
from microdc.telemetry.models import Source
from microdc.telemetry.rollups import floor_time, mark_derived_dirty

from .models import Reservation

Holding = tuple[int, int, int | None]  # (deployment, node, accelerator or None)


def wanted_holdings() -> set[Holding]:
    """What the healthy deployments' current revisions hold now: nodes x accelerator indices."""
    wanted: set[Holding] = set()
    deployments = (Deployment.objects.filter(status=Deployment.Status.HEALTHY, current_revision__isnull=False)
                   .select_related("current_revision")
                   .prefetch_related("current_revision__nodes__accelerators"))
    for deployment in deployments:
        revision = deployment.current_revision
        indices = list(revision.accelerators or [])
        for node in revision.nodes.all():
            if not indices:
                wanted.add((deployment.pk, node.pk, None))
                continue
            by_index = {a.index: a.pk for a in node.accelerators.all() if a.retired_at is None}
            wanted.update((deployment.pk, node.pk, by_index[i]) for i in indices if i in by_index)
    return wanted


def sync_reservations(now: datetime.datetime | None = None) -> int:
    """Open and close Reservation rows so the open ones are what the deployments hold at `now`; the nodes
    whose holders changed are marked for the ledger from that minute. Returns the number of rows changed."""
    now = now or timezone.now()
    wanted = wanted_holdings()
    with transaction.atomic():
        open_rows = {(r.deployment_id, r.node_id, r.accelerator_id): r
                     for r in Reservation.objects.filter(end__isnull=True).select_for_update()}
        closing = [r.pk for key, r in open_rows.items() if key not in wanted]
        opening = [Reservation(deployment_id=d, node_id=n, accelerator_id=a, start=now)
                   for d, n, a in sorted(wanted - set(open_rows), key=str)]
        Reservation.objects.filter(pk__in=closing).update(end=now)
        Reservation.objects.bulk_create(opening)
        nodes = {key[1] for key, r in open_rows.items() if r.pk in closing} | {r.node_id for r in opening}
        if nodes:
            mark_derived_dirty(Source.objects.filter(node_id__in=nodes), floor_time(now, 60))
    return len(closing) + len(opening)
