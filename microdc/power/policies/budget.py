"""Budget: keep every limit of the room (breaker, UPS rating, cooling capacity, contracted feed) under its
derated value by capping the accelerators behind it, lowest priority first, and give the power back step by
step once the load has stayed well under it."""

import datetime

from django.conf import settings

from ..candidates import candidates
from ..capacity import Capacity
from ..models import PolicyCap, PolicyEvent
from ..policy_caps import caps_of
from ..shedding import plan_raise, plan_shed
from .common import act, settled, state_of

POLICY = PolicyCap.Policy.BUDGET


def run(capacities: list[Capacity], now: datetime.datetime) -> list[PolicyEvent]:
    events = []
    margin = settings.MICRODC_POWER_BUDGET_MARGIN
    for capacity in capacities:
        if capacity.measured is None:
            continue  # no fresh reading: never act on a guess
        state = state_of(POLICY, capacity.key)
        held = caps_of(POLICY, capacity.key)
        target = capacity.limit * (1 - margin)
        words = f"{capacity.name}: {capacity.measured:.1f} {capacity.unit} of {capacity.limit:.1f} {capacity.unit}"
        if capacity.measured > capacity.limit:
            state.calm_since = None
            shed = capacity.watts(capacity.measured - target)
            if shed is None or not settled(state, now):
                state.save()
                continue
            plan = plan_shed(candidates(capacity.accelerator_ids), shed)
            event = act(POLICY, capacity.key, capacity.site_id, PolicyEvent.Action.LOWERED, plan,
                        f"{words}: over the limit, shedding {shed:.0f} W", now, state, capacity.measured,
                        capacity.limit, capacity.unit)
        elif held and capacity.measured <= capacity.limit * (1 - 2 * margin):
            state.calm_since = state.calm_since or now
            calm = (now - state.calm_since).total_seconds() >= settings.MICRODC_POWER_RAISE_HOLD_SECONDS
            room = capacity.watts(target - capacity.measured)
            if not calm or room is None or not settled(state, now):
                state.save()
                continue
            plan = plan_raise(candidates(held, caps=held), room, settings.MICRODC_POWER_RAISE_STEP_RATIO)
            action = PolicyEvent.Action.RELEASED if plan and all(v is None for v in plan.values()) and \
                len(plan) == len(held) else PolicyEvent.Action.RAISED
            event = act(POLICY, capacity.key, capacity.site_id, action, plan,
                        f"{words}: headroom back, raising caps", now, state, capacity.measured, capacity.limit,
                        capacity.unit)
        else:
            # Between the bands (or nothing held): hold still; a raise needs a calm stretch from scratch.
            if state.calm_since is not None:
                state.calm_since = None
                state.save()
            continue
        if event is not None:
            events.append(event)
    return events
