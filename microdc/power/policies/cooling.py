"""Cooling alarm: a cooling unit whose supply is too warm, whose coolant flow is too low, or which reports a
critical state caps the accelerators of the racks it serves to MICRODC_COOLING_CAP_RATIO of their default;
the caps go once the unit has been healthy for the raise hold time."""

import datetime

from django.conf import settings

from microdc.nodes.models import FacilityMeter

from ..candidates import candidates
from ..capacity import SitePower, served_nodes
from ..models import PolicyCap, PolicyEvent
from .common import act, release_all, settled, state_of

POLICY = PolicyCap.Policy.COOLING


def alarm_of(power: SitePower, meter: FacilityMeter) -> str | None:
    """Why the unit is in alarm, or None."""
    channels = power.channels.get(meter.pk, {})
    for channel, values in sorted(channels.items()):
        where = f"{meter.name} {channel}".strip()
        supply = values.get("temperature_celsius")
        if channel.endswith("supply") and supply is not None and supply > settings.MICRODC_COOLING_SUPPLY_MAX_CELSIUS:
            return f"{where} at {supply:.1f} °C (limit {settings.MICRODC_COOLING_SUPPLY_MAX_CELSIUS:g} °C)"
        flow = values.get("flow_liters_per_minute")
        if flow is not None and flow < settings.MICRODC_COOLING_MIN_FLOW_LPM:
            return f"{where} coolant flow {flow:.1f} L/min (minimum {settings.MICRODC_COOLING_MIN_FLOW_LPM:g})"
    for channel, states in sorted(power.states.get(meter.pk, {}).items()):
        critical = sorted(q for q, s in states.items() if s == "critical")
        if critical:
            return f"{meter.name} {channel} reports critical: {', '.join(critical)}".replace("  ", " ")
    return None


def run(site_id: int, power: SitePower, now: datetime.datetime) -> list[PolicyEvent]:
    events = []
    for meter in power.meters:
        if meter.kind != FacilityMeter.Kind.COOLING_UNIT or not power.channels.get(meter.pk):
            continue
        key = f"meter/{meter.pk}/cooling"
        state = state_of(POLICY, key)
        why = alarm_of(power, meter)
        if why is None:
            state.calm_since = state.calm_since or now
            if (now - state.calm_since).total_seconds() < settings.MICRODC_POWER_RAISE_HOLD_SECONDS:
                state.save()
                continue
            event = release_all(POLICY, key, site_id, f"{meter.name} healthy again: caps released", now, state)
        else:
            state.calm_since = None
            if not settled(state, now):
                state.save()
                continue
            ratio = settings.MICRODC_COOLING_CAP_RATIO
            caps = {c.accelerator_id: round(max(c.minimum, ratio * c.default), 1)
                    for c in candidates(a for n in served_nodes(power, meter) for a in n.accelerator_ids)}
            event = act(POLICY, key, site_id, PolicyEvent.Action.LOWERED, caps,
                        f"cooling alarm: {why}: racks served capped to {ratio:.0%} of default", now, state)
        if event is not None:
            events.append(event)
    return events
