"""Store runner events in batches and stream them to the job's websocket group after each batch commits."""

import datetime

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.utils import timezone

from .models import Job, JobEvent

MAX_STDOUT = 20_000


def _created(event: dict) -> datetime.datetime:
    raw = event.get("created")
    try:
        value = datetime.datetime.fromisoformat(raw) if raw else None
    except ValueError:
        value = None
    if value is None:
        return timezone.now()
    return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)


def _row(job: Job, event: dict) -> JobEvent:
    data = event.get("event_data") or {}
    return JobEvent(job=job, counter=int(event.get("counter", 0)), event=str(event.get("event", ""))[:64],
                    host=str(data.get("host") or data.get("remote_addr") or "")[:253],
                    task=str(data.get("task") or "")[:500], stdout=str(event.get("stdout") or "")[:MAX_STDOUT],
                    created=_created(event), data={k: data[k] for k in ("play", "role", "task_action", "res")
                                                   if k in data})


def publish(job: Job, rows: list[JobEvent]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    group = f"job.{job.pk}"
    async_to_sync(layer.group_send)(group, {"type": "live.update", "group": group, "data": {
        "status": job.status,
        "events": [{"counter": r.counter, "event": r.event, "host": r.host or None, "stdout": r.stdout,
                    "created": r.created.isoformat()} for r in rows]}})


def store_events(job: Job, events: list[dict]) -> None:
    """One insert per batch (the runner wrapper batches them), then the live stream after commit."""
    rows = [_row(job, event) for event in events]
    with transaction.atomic():
        JobEvent.objects.bulk_create(rows)
        transaction.on_commit(lambda: publish(job, rows))


def publish_status(job: Job) -> None:
    transaction.on_commit(lambda: publish(job, []))
