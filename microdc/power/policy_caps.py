"""Writing policy caps: each policy's cap per (limit, accelerator) is kept; an accelerator's policy cap is the
lowest of them, and every change of the resulting desired limit is recorded as the policy's, then audited."""

import datetime

from django.db import transaction

from microdc.core import audit

from .models import PolicyCap, PowerLimit, PowerLimitChange

Caps = dict[int, float | None]  # accelerator id -> the policy's cap for this limit (None: none any more)


def set_policy_caps(policy: str, key: str, caps: Caps, reason: str, now: datetime.datetime) -> list[dict]:
    """Set (or drop, with None) one policy's caps for one limit; returns [{accelerator, before, after}] of the
    desired limits that moved."""
    if not caps:
        return []
    moved = []
    with transaction.atomic():
        for accelerator_id, watts in caps.items():
            if watts is None:
                PolicyCap.objects.filter(policy=policy, key=key, accelerator_id=accelerator_id).delete()
            else:
                PolicyCap.objects.update_or_create(policy=policy, key=key, accelerator_id=accelerator_id,
                                                   defaults={"watts": watts, "since": now})
        for accelerator_id in caps:
            change = _recompute(accelerator_id, reason, now)
            if change is not None:
                moved.append(change)
    return moved


def _recompute(accelerator_id: int, reason: str, now: datetime.datetime) -> dict | None:
    lowest = PolicyCap.objects.filter(accelerator_id=accelerator_id).order_by("watts").first()
    limit = PowerLimit.objects.select_for_update().filter(accelerator_id=accelerator_id).first()
    if limit is None:
        if lowest is None:
            return None
        limit = PowerLimit(accelerator_id=accelerator_id)
    before = limit.desired_watts
    limit.policy_watts = lowest.watts if lowest else None
    limit.policy = lowest.policy if lowest else ""
    limit.updated = now
    limit.save()
    after = limit.desired_watts
    if before == after:
        return None
    actor_name = f"policy:{limit.policy or (lowest.policy if lowest else 'released')}"
    PowerLimitChange.objects.create(accelerator_id=accelerator_id, at=now, actor_name=actor_name,
                                    policy=limit.policy, reason=reason[:300], before_watts=before, after_watts=after)
    audit.record(actor=None, source="system", action="update", instance=limit,
                 changes={"desired_watts": {"old": before, "new": after}, "policy": {"old": None, "new": limit.policy}})
    return {"accelerator": accelerator_id, "before": before, "after": after}


def caps_of(policy: str, key: str) -> dict[int, float]:
    return dict(PolicyCap.objects.filter(policy=policy, key=key).values_list("accelerator_id", "watts"))
