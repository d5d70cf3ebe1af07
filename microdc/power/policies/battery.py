"""On battery: when a UPS runs on battery and its reported runtime falls below MICRODC_BATTERY_MIN_RUNTIME_SECONDS,
cap the accelerators it feeds to the load that keeps the runtime there; release every such cap when mains returns.

Runtime is taken as inversely proportional to load (the UPS's own estimate at the present load, scaled): real
batteries give back more than proportionally at lower loads (Peukert), so this errs on the side of runtime."""

import datetime

from django.conf import settings

from microdc.nodes.models import FacilityMeter

from ..candidates import candidates
from ..capacity import SitePower, served_nodes
from ..models import PolicyCap, PolicyEvent
from ..shedding import plan_shed
from .common import act, release_all, settled, state_of

POLICY = PolicyCap.Policy.BATTERY


def _reading(power: SitePower, meter: FacilityMeter, quantity: str, prefer: str = "") -> float | None:
    value = power.value(meter, prefer, quantity)
    if value is not None:
        return value
    values = [v[quantity] for v in power.channels.get(meter.pk, {}).values() if quantity in v]
    return min(values) if values else None


def run(site_id: int, power: SitePower, now: datetime.datetime) -> list[PolicyEvent]:
    events = []
    floor = settings.MICRODC_BATTERY_MIN_RUNTIME_SECONDS
    for meter in power.meters:
        if meter.kind != FacilityMeter.Kind.UPS:
            continue
        key = f"meter/{meter.pk}/battery"
        state = state_of(POLICY, key)
        on_battery = _reading(power, meter, "on_battery")
        if on_battery is None:
            continue  # not read: keep what holds until the UPS answers again
        if not on_battery:
            event = release_all(POLICY, key, site_id, f"{meter.name}: mains back, caps released", now, state)
        else:
            runtime = _reading(power, meter, "battery_runtime_seconds")
            load = _reading(power, meter, "power_watts", prefer="output")
            if runtime is None or not load or runtime >= floor or not settled(state, now):
                continue
            shed = load * (1 - runtime / floor)
            loads = served_nodes(power, meter)
            plan = plan_shed(candidates(a for n in loads for a in n.accelerator_ids), shed)
            event = act(POLICY, key, site_id, PolicyEvent.Action.LOWERED, plan,
                        f"{meter.name} on battery: {runtime / 60:.1f} min left at {load:.0f} W, keeping "
                        f"{floor / 60:.0f} min: shedding {shed:.0f} W", now, state, runtime, floor, "s")
        if event is not None:
            events.append(event)
    return events
