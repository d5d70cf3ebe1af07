"""What the policies share: their hysteresis memory per limit and the event each action leaves."""

import datetime

from django.conf import settings

from ..models import PolicyEvent, PolicyState
from ..policy_caps import caps_of, set_policy_caps


def state_of(policy: str, key: str) -> PolicyState:
    return PolicyState.objects.get_or_create(policy=policy, key=key)[0]


def settled(state: PolicyState, now: datetime.datetime) -> bool:
    """Long enough since the last action on this limit for its effect to show in the readings."""
    return state.last_action_at is None or \
        (now - state.last_action_at).total_seconds() >= settings.MICRODC_POWER_SETTLE_SECONDS


def act(policy: str, key: str, site_id: int, action: str, caps: dict, summary: str, now: datetime.datetime,
        state: PolicyState, measured: float | None = None, limit: float | None = None,
        unit: str = "") -> PolicyEvent | None:
    """Apply caps (None drops the policy's cap) and record the event; nothing when no desired limit moved."""
    moved = set_policy_caps(policy, key, caps, summary, now)
    state.last_action_at = now
    state.save()
    if not moved:
        return None
    return PolicyEvent.objects.create(at=now, policy=policy, key=key, site_id=site_id, action=action,
                                      summary=summary[:500], measured=measured, limit=limit, unit=unit,
                                      changes=moved)


def release_all(policy: str, key: str, site_id: int, summary: str, now: datetime.datetime,
                state: PolicyState) -> PolicyEvent | None:
    held = caps_of(policy, key)
    if not held:
        return None
    return act(policy, key, site_id, PolicyEvent.Action.RELEASED, dict.fromkeys(held), summary, now, state)
