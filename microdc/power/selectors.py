"""Read side of power limits: what each node's agent is asked to apply, and desired versus enforced per
accelerator with the reason they differ."""

from django.db import connection

from microdc.nodes.models import Accelerator
from microdc.telemetry.models import Source

from .models import PowerLimit


def desired_for_node(node_id: int) -> dict[str, float | None]:
    """{uuid: watts or None (the device's default)} for the node's accelerators the appliance has capped
    (ever); the agent leaves every other device alone. Sent in the reply to each telemetry push."""
    # Plain SQL: it runs on every push, and the ORM spent longer compiling this join than the database ran it.
    limit, accelerator = PowerLimit._meta, Accelerator._meta
    q = connection.ops.quote_name

    def column(meta, name):
        return f"{q(meta.db_table)}.{q(meta.get_field(name).column)}"

    sql = (f"SELECT {column(accelerator, 'uuid')}, {column(limit, 'operator_watts')}, "  # noqa: S608 - model names
           f"{column(limit, 'policy_watts')} FROM {q(limit.db_table)} INNER JOIN {q(accelerator.db_table)} "
           f"ON {column(limit, 'accelerator')} = {column(accelerator, 'id')} "
           f"WHERE {column(accelerator, 'node')} = %s AND {column(accelerator, 'retired_at')} IS NULL "
           f"AND {column(accelerator, 'uuid')} <> ''")
    with connection.cursor() as cursor:
        cursor.execute(sql, [node_id])
        return {uuid: _lower(operator, policy) for uuid, operator, policy in cursor.fetchall()}


def _lower(*caps: float | None) -> float | None:
    present = [c for c in caps if c is not None]
    return min(present) if present else None


def _reported(accelerator: Accelerator) -> tuple[dict, dict]:
    source = Source.objects.filter(accelerator=accelerator).only("last_values", "last_attributes").first()
    return (source.last_values, source.last_attributes) if source is not None else ({}, {})


def constraints_of(accelerator: Accelerator) -> tuple[float | None, float | None, float | None]:
    """(min, max, default) watts as the device's agent last reported them; None where never reported."""
    values, _ = _reported(accelerator)
    return (values.get("power_limit_min_watts"), values.get("power_limit_max_watts"),
            values.get("power_limit_default_watts"))


def limit_view(accelerator: Accelerator) -> dict:
    limit = PowerLimit.objects.filter(accelerator=accelerator).first()
    values, attributes = _reported(accelerator)
    desired = limit.desired_watts if limit else None
    enforced = values.get("power_limit_watts")
    outcome = attributes.get("power_limit") or {}
    return {
        "accelerator": accelerator.pk,
        "uuid": accelerator.uuid,
        "managed": limit is not None,
        "desired_watts": desired,
        "operator_watts": limit.operator_watts if limit else None,
        "policy_watts": limit.policy_watts if limit else None,
        "policy": limit.policy if limit else "",
        "enforced_watts": enforced,
        "min_watts": values.get("power_limit_min_watts"),
        "max_watts": values.get("power_limit_max_watts"),
        "default_watts": values.get("power_limit_default_watts"),
        "agent_status": outcome.get("status"),
        "agent_detail": outcome.get("detail", ""),
        "differs_because": _why_different(limit, desired, enforced, values, outcome),
    }


def _why_different(limit, desired, enforced, values, outcome) -> str:
    if limit is None or enforced is None:
        return ""
    target = desired if desired is not None else values.get("power_limit_default_watts")
    if target is None or abs(enforced - target) < 0.5:
        return ""
    if outcome.get("desired_watts") == desired and outcome.get("status") not in (None, "applied"):
        return outcome.get("detail") or outcome["status"]
    if outcome.get("status") == "applied" and outcome.get("desired_watts") == desired and enforced < target:
        return "another limit in force is lower (the board's, the driver's or a thermal one)"
    return "not applied yet: the node's agent takes it with the answer to its next push"
