"""Ingest of a node agent's telemetry batch: validate all of it, then store all of it, or nothing."""

import datetime
import logging
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from microdc.core import audit
from microdc.nodes.models import Accelerator, Node

from . import live
from .batch import BatchError, ParsedBatch, parse_batch
from .limits import check_metric_names, check_new_sensors, lock_node, reported_names
from .models import AgentState, ReceivedBatch, Source
from .store import Reading, sources_by_key, store
from .wire import decode_batch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    duplicate: bool
    registered: tuple[str, ...] = ()


def accelerator_source_key(accelerator_id: int) -> str:
    return f"accelerator/{accelerator_id}"


def sensor_source_key(node_id: int, sensor_key: str) -> str:
    return f"node/{node_id}/{sensor_key}"


def ingest_batch(node: Node, payload, now: datetime.datetime | None = None) -> IngestResult:
    """Store one batch from `node`'s agent: a ParsedBatch, the request body (bytes) or the JSON it holds,
    decoded. Raises BatchError (nothing stored) when any part is wrong, ValueError when the bytes are not JSON."""
    now = now or timezone.now()
    if isinstance(payload, ParsedBatch):
        batch = payload
    else:
        batch = decode_batch(payload, now) if isinstance(payload, bytes) else parse_batch(payload, now)
    if batch.node is not None and batch.node != node.hostname:
        raise BatchError("node", f"this token belongs to node {node.hostname}, not {batch.node!r}")
    with transaction.atomic():
        if not _first_receipt(batch, node, now):
            return IngestResult(accepted=0, duplicate=True)
        accelerators, registered = _resolve_accelerators(node, batch)
        readings = _readings(node, batch, accelerators)
        store(readings)
        _count(node, batch, now)
        transaction.on_commit(lambda: live.node_updated(node.pk))
    return IngestResult(accepted=len(batch.samples), duplicate=False, registered=tuple(registered))


def _first_receipt(batch: ParsedBatch, node: Node, now: datetime.datetime) -> bool:
    """Record the batch id; False when it was stored before (a re-send). One statement, no savepoint."""
    table = connection.ops.quote_name(ReceivedBatch._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (batch_id, node_id, received) VALUES (%s, %s, %s) "  # noqa: S608 - names from the model
            "ON CONFLICT (batch_id) DO NOTHING",
            [ReceivedBatch._meta.get_field("batch_id").get_db_prep_value(batch.batch_id, connection),
             node.pk, connection.ops.adapt_datetimefield_value(now)],
        )
        return cursor.rowcount == 1


def _resolve_accelerators(node: Node, batch: ParsedBatch) -> tuple[dict[str, Accelerator], list[str]]:
    """The node's accelerators by UUID; ones it reports for the first time are registered."""
    reported = {}
    for i, sample in enumerate(batch.samples):
        for j, device in enumerate(sample.devices):
            reported.setdefault(device.uuid, (device, f"samples[{i}].devices[{j}].uuid"))
    # No select_related, no ordering: the query runs for every batch, and the node is read only to refuse one.
    known = {a.uuid: a for a in Accelerator.objects.filter(uuid__in=list(reported)).order_by()}
    for uuid, accelerator in known.items():
        if accelerator.node_id != node.pk:
            raise BatchError(reported[uuid][1], f"{uuid} belongs to node {accelerator.node.hostname}")
    registered = []
    by_index = None
    for uuid, (device, where) in reported.items():
        if uuid in known:
            continue
        if by_index is None:
            by_index = {a.index: a for a in node.accelerators.all()}
        slot = by_index.get(device.index)
        if slot is not None and slot.uuid in reported:
            raise BatchError(where, f"index {device.index} is {slot.uuid}, which this batch reports too")
        known[uuid] = by_index[device.index] = _register(node, device, slot)
        registered.append(uuid)
    return known, registered


def _register(node: Node, device, slot: Accelerator | None) -> Accelerator:
    fields = {"uuid": device.uuid, "kind": device.kind, "vendor": device.vendor or "unknown",
              "model": device.name or "unknown", "simulated": device.simulated}
    if "memory_total_bytes" in device.metrics:
        fields["memory_bytes"] = int(device.metrics["memory_total_bytes"])
    if "power_limit_watts" in device.metrics:
        fields["power_limit_watts"] = device.metrics["power_limit_watts"]
    if slot is None:
        accelerator = Accelerator.objects.create(node=node, index=device.index, **fields)
        audit.record(actor=None, source="system", action="create", instance=accelerator,
                     changes={name: {"old": None, "new": value} for name, value in fields.items()})
        log.info("registered %s %s on %s", device.kind, device.uuid, node.hostname)
        return accelerator
    # The card in this slot was replaced (or registered by hand without a UUID): the slot keeps its history.
    changes = {name: {"old": getattr(slot, name), "new": value} for name, value in fields.items()
               if getattr(slot, name) != value}
    for name, value in fields.items():
        setattr(slot, name, value)
    slot.save()
    audit.record(actor=None, source="system", action="update", instance=slot, changes=changes)
    log.warning("accelerator %s on %s is now %s", slot.index, node.hostname, device.uuid)
    return slot


def _readings(node: Node, batch: ParsedBatch, accelerators: dict[str, Accelerator]) -> list[Reading]:
    names_by_uuid, names_by_sensor = reported_names(batch)
    wanted = {}
    # Source key -> (entry kind, device UUID or sensor key, metric names in this batch).
    reported: dict[str, tuple[str, str, set[str]]] = {}
    for uuid, accelerator in accelerators.items():
        key = accelerator_source_key(accelerator.pk)
        names = names_by_uuid[uuid]
        wanted[key] = {"node": node, "accelerator": accelerator, "simulated": accelerator.simulated,
                       "metric_names": sorted(names)}
        reported[key] = ("devices", uuid, names)
    sensor_keys = {sensor.key: sensor.simulated for sample in batch.samples for sensor in sample.sensors}
    for sensor, simulated in sensor_keys.items():
        key = sensor_source_key(node.pk, sensor)
        names = names_by_sensor[sensor]
        wanted[key] = {"node": node, "sensor": sensor, "simulated": simulated, "metric_names": sorted(names)}
        reported[key] = ("sensors", sensor, names)
    grown: dict[int, list[str]] = {}

    def within_limits(found: dict[str, Source], missing: list[str]) -> None:
        held = {key: source.metric_names for key, source in found.items()}
        growing = [key for key, source in found.items() if not reported[key][2].issubset(source.metric_names)]
        new_sensors = [reported[key][1] for key in missing if reported[key][0] == "sensors"]
        if growing or new_sensors:  # rare: a node's first batches, an agent upgrade
            lock_node(node)
            held |= dict(Source.objects.filter(key__in=growing).values_list("key", "metric_names"))
        for key, (entry, ident, names) in reported.items():
            if check_metric_names(batch, entry, ident, names, held.get(key, [])) and key in found:
                grown[found[key].pk] = sorted(names.union(held[key]))
        if new_sensors:
            check_new_sensors(node, batch, new_sensors)

    sources = sources_by_key(wanted, before_create=within_limits)
    for pk, names in grown.items():  # rare: a source's first batch after an agent upgrade
        Source.objects.filter(pk=pk).update(metric_names=names)
    by_uuid = {uuid: sources[accelerator_source_key(a.pk)] for uuid, a in accelerators.items()}
    by_sensor = {key: sources[sensor_source_key(node.pk, key)] for key in sensor_keys}
    readings = []
    append = readings.append
    for sample in batch.samples:
        ts = sample.ts
        for device in sample.devices:
            append(Reading(by_uuid[device.uuid], ts, device.metrics, device.attributes))
        for sensor in sample.sensors:
            append(Reading(by_sensor[sensor.key], ts, sensor.metrics))
    return readings


def _count(node: Node, batch: ParsedBatch, now: datetime.datetime) -> None:
    # One plain statement: the ORM's update costs more to compile than to run, for every batch.
    meta, ops = AgentState._meta, connection.ops
    column = {name: ops.quote_name(meta.get_field(name).column) for name in (
        "last_seen", "agent_version", "batches_total", "samples_total", "last_error", "node")}
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {ops.quote_name(meta.db_table)} SET {column['last_seen']} = %s, "  # noqa: S608 - model names
            f"{column['agent_version']} = %s, {column['batches_total']} = {column['batches_total']} + 1, "
            f"{column['samples_total']} = {column['samples_total']} + %s, {column['last_error']} = '' "
            f"WHERE {column['node']} = %s",
            [ops.adapt_datetimefield_value(now), batch.agent_version, len(batch.samples), node.pk])
        updated = cursor.rowcount
    if not updated:
        AgentState.objects.create(node=node, last_seen=now, agent_version=batch.agent_version, batches_total=1,
                                  samples_total=len(batch.samples))


def record_rejection(node: Node, error: str) -> None:
    """Count a rejected batch against its node, outside the failed transaction."""
    updated = AgentState.objects.filter(node=node).update(rejected_total=F("rejected_total") + 1,
                                                          last_error=error[:1000])
    if not updated:
        AgentState.objects.get_or_create(node=node, defaults={"rejected_total": 1, "last_error": error[:1000]})
