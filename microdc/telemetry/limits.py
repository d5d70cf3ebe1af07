"""Bounds on what one node's agent may create: sensor sources per node, metric names per source.

Checked before any source is created, so a batch beyond a bound is refused whole (BatchError, a 400) and the
node's existing sources keep working.
"""

from django.conf import settings

from microdc.nodes.models import Node

from .batch import BatchError, ParsedBatch
from .models import MODEL_SERVER_KEY_PREFIX, Source


def reported_names(batch: ParsedBatch) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Metric names across the batch, by device UUID and by sensor key."""
    by_uuid: dict[str, set[str]] = {}
    by_sensor: dict[str, set[str]] = {}
    for sample in batch.samples:
        for device in sample.devices:
            by_uuid.setdefault(device.uuid, set()).update(device.metrics)
        for sensor in sample.sensors:
            by_sensor.setdefault(sensor.key, set()).update(sensor.metrics)
    return by_uuid, by_sensor


def check_metric_names(batch: ParsedBatch, entry: str, ident: str, names: set[str], held: list[str]) -> set[str]:
    """The names `ident` (a device UUID or a sensor key) reports for the first time; BatchError when these and
    the ones it `held` before are more than MICRODC_MAX_METRICS_PER_SOURCE."""
    new = names.difference(held)
    limit = settings.MICRODC_MAX_METRICS_PER_SOURCE
    if new and len(held) + len(new) > limit:
        raise BatchError(_first_with(batch, entry, ident, new),
                         f"{ident} would report {len(held) + len(new)} metric names, more than "
                         f"MICRODC_MAX_METRICS_PER_SOURCE={limit}")
    return new


def lock_node(node: Node) -> None:
    """Take the node's row lock for the rest of the transaction, so that its concurrent batches that add sources
    or metric names count one after the other (one lock per node, always the same, so never a deadlock)."""
    list(Node.objects.select_for_update().filter(pk=node.pk).values_list("pk"))


def check_new_sensors(node: Node, batch: ParsedBatch, new_keys: list[str]) -> None:
    """BatchError when the node's sensor sources and the `new_keys` (sensor keys) are more than
    MICRODC_MAX_SENSORS_PER_NODE. The caller holds lock_node."""
    # The appliance's own model-server sources on the node are not the agent's to count against.
    held = (Source.objects.filter(node=node, accelerator__isnull=True, meter__isnull=True)
            .exclude(key__startswith=MODEL_SERVER_KEY_PREFIX).count())
    limit = settings.MICRODC_MAX_SENSORS_PER_NODE
    if held + len(new_keys) > limit:
        raise BatchError(_first_with(batch, "sensors", new_keys[limit - held] if held < limit else new_keys[0]),
                         f"node {node.hostname} would have {held + len(new_keys)} sensor sources, more than "
                         f"MICRODC_MAX_SENSORS_PER_NODE={limit}")


def _first_with(batch: ParsedBatch, entry: str, ident: str, names: set[str] | None = None) -> str:
    """Where the batch first reports `ident` (with one of `names`, when given): the field to name in the error."""
    for i, sample in enumerate(batch.samples):
        for j, item in enumerate(getattr(sample, entry)):
            if (item.uuid if entry == "devices" else item.key) == ident and (names is None
                                                                            or not names.isdisjoint(item.metrics)):
                return f"samples[{i}].{entry}[{j}]" + ("" if names is None else ".metrics")
    return "samples"
