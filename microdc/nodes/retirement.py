"""Taking hardware out: retire what has history (it keeps it), delete what has none, purge only when asked.

Telemetry sources hang off nodes, accelerators and meters with a cascading key, so a plain delete would take
the energy and carbon of every past window with it. Each step writes its audit record in the same
transaction as the change.
"""

from django.db import transaction
from django.utils import timezone

from microdc.core import audit

from .models import Node


def history_size(instance) -> int:
    """How many telemetry sources (each with its raw samples and rollups) hang off the object."""
    return instance.sources.count()


def retire(instance, *, actor, source: str = "api", remote_addr: str | None = None) -> None:
    """Mark the object (and a node's accelerators) retired now; its history stays."""
    now = timezone.now()
    with transaction.atomic():
        type(instance).objects.filter(pk=instance.pk, retired_at__isnull=True).update(retired_at=now)
        changes = {"retired_at": {"old": None, "new": now.isoformat()}}
        if isinstance(instance, Node):
            gone = instance.accelerators.live()
            changes["accelerators_retired"] = {"old": None, "new": sorted(str(a) for a in gone)}
            gone.update(retired_at=now)
        instance.retired_at = now
        audit.record(actor=actor, source=source, action="update", instance=instance, changes=changes,
                     remote_addr=remote_addr)


def delete(instance, *, actor, purge: bool, source: str = "api", remote_addr: str | None = None) -> None:
    """Delete the object; with purge=True its telemetry history goes too, recorded as such in the audit."""
    with transaction.atomic():
        changes = audit.diff(instance, audit.snapshot(instance), {})
        if purge:
            changes["purged_history"] = {"old": f"{history_size(instance)} telemetry sources", "new": None}
        audit.record(actor=actor, source=source, action="delete", instance=instance, changes=changes,
                     remote_addr=remote_addr)
        instance.delete()
