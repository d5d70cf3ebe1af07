"""Read-side queries over the telemetry store, for the API, /metrics and the dashboard."""

import datetime

from django.conf import settings
from django.utils import timezone

from microdc.nodes.models import Node

from .models import Source


def stale_after() -> datetime.timedelta:
    return datetime.timedelta(seconds=settings.MICRODC_TELEMETRY_STALE_SECONDS)


def node_live_values(node: Node) -> list[dict]:
    """Latest values of each of the node's sources, stale ones flagged."""
    cutoff = timezone.now() - stale_after()
    rows = (Source.objects.filter(node=node, meter__isnull=True)
            .select_related("accelerator")
            .order_by("accelerator__index", "sensor"))
    out = []
    for source in rows:
        accelerator = source.accelerator
        out.append({
            "source": source.key,
            "accelerator": accelerator.pk if accelerator else None,
            "index": accelerator.index if accelerator else None,
            "uuid": accelerator.uuid if accelerator else None,
            "sensor": source.sensor,
            "simulated": source.simulated,
            "ts": source.last_ts.isoformat() if source.last_ts else None,
            "stale": source.last_ts is None or source.last_ts < cutoff,
            "values": source.last_values,
            "attributes": source.last_attributes,
        })
    return out
