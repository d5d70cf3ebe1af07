"""Facility meter conditions, per channel: UPS on battery, runtime and charge, PDU load, breaker current against
its rating, cooling supply temperature and coolant flow, leaks, the device's own warning or critical state; per
meter: unreadable. Admin rules compare any quantity of any channel."""

from collections.abc import Iterator

from microdc.nodes.models import FacilityMeter

from ..models import AlertRule, Severity
from ..snapshot import Snapshot
from .base import Observation, clean, facility_url, number

Kind = FacilityMeter.Kind
COOLING_KINDS = {Kind.COOLING_UNIT, Kind.CHILLER}
# Quantities whose own rules speak for them: a meter_state alert for them would say the same thing twice.
OWN_RULES = {"leak_detected", "on_battery", "battery_runtime_seconds", "battery_charge_ratio", "load_ratio"}
STATE_LEVEL = {"warning": 1.0, "critical": 2.0}


def _labels(snapshot: Snapshot, meter: FacilityMeter, channel: str = "") -> dict[str, str]:
    return clean({"site": snapshot.sites[meter.site_id].slug, "rack": meter.rack.name if meter.rack else "",
                  "meter": meter.name, "kind": meter.kind, "channel": channel,
                  "simulated": "true" if meter.simulated else ""})


def _channels(snapshot: Snapshot, kinds=None) -> Iterator[tuple]:
    """(meter, channel, values or None when stale, attributes, labels, words); built once per cycle."""
    every = snapshot.memo("meter", lambda: list(_build(snapshot)))
    return iter(every) if kinds is None else (c for c in every if c[0].kind in kinds)


def _build(snapshot: Snapshot) -> Iterator[tuple]:
    for meter in snapshot.meters:
        cutoff = snapshot.meter_cutoff(meter)
        for source in snapshot.meter_sources.get(meter.pk, ()):
            values = source.last_values if snapshot.fresh(source, cutoff) else None
            yield (meter, source.sensor, values, source.last_attributes, _labels(snapshot, meter, source.sensor),
                   f"{meter.name} {source.sensor}".strip())


def _quantity(quantity: str, unit: str, words_of, kinds=None, channel_filter=None):
    def condition(rule: AlertRule, snapshot: Snapshot) -> Iterator[Observation]:
        for meter, channel, values, _, labels, where in _channels(snapshot, kinds):
            if channel_filter and not channel_filter(channel):
                continue
            if values is None:
                yield Observation(labels, None, f"{where}: no fresh reading", facility_url(),
                                  meter.site_id)
            elif quantity in values:
                value = values[quantity]
                yield Observation(labels, value, f"{where}: {words_of(value, rule)}", facility_url(),
                                  meter.site_id)
    return condition


on_battery = _quantity("on_battery", "", lambda v, r: "UPS on battery" if v else "UPS on mains")
runtime = _quantity("battery_runtime_seconds", "s",
                    lambda v, r: f"battery runtime {v / 60:.1f} min (alarm under {r.threshold / 60:.0f} min)")
charge = _quantity("battery_charge_ratio", "", lambda v, r: f"battery charge {v:.0%} (alarm under {r.threshold:.0%})")
pdu_load = _quantity("load_ratio", "", lambda v, r: f"load {v:.0%} of capacity (alarm at {r.threshold:.0%})",
                     kinds={Kind.PDU, Kind.UPS})
supply = _quantity("temperature_celsius", "°C",
                   lambda v, r: f"supply at {v:.1f} °C (alarm above {r.threshold:g} °C)", kinds=COOLING_KINDS,
                   channel_filter=lambda channel: channel.endswith("supply"))
flow = _quantity("flow_liters_per_minute", "L/min",
                 lambda v, r: f"coolant flow {v:.1f} L/min (alarm under {r.threshold:g})", kinds=COOLING_KINDS)
leak = _quantity("leak_detected", "", lambda v, r: "leak detected" if v else "dry")


def breaker(rule: AlertRule, snapshot: Snapshot) -> Iterator[Observation]:
    """Current as a share of the channel's breaker rating, where the inventory knows the rating."""
    for meter, channel, values, _, labels, where in _channels(snapshot):
        rating = (meter.breaker_ratings_amperes or {}).get(channel)
        if not rating:
            continue
        amperes = values.get("current_amperes") if values is not None else None
        ratio = amperes / rating if amperes is not None else None
        yield Observation(labels, ratio, f"{where}: {number(amperes, 'A')} on a {rating:g} A breaker "
                                         f"(alarm at {rule.threshold:.0%})", facility_url(),
                          meter.site_id)


def device_state(rule: AlertRule, snapshot: Snapshot) -> Iterator[Observation]:
    for meter, _, values, attributes, labels, where in _channels(snapshot):
        if values is None:
            continue  # a stale channel's old state says nothing about now; meter_unreadable speaks
        states = {q: s for q, s in (attributes.get("states") or {}).items() if q not in OWN_RULES}
        worst = max((STATE_LEVEL.get(s, 0.0) for s in states.values()), default=0.0)
        bad = sorted(q for q, s in states.items() if s in STATE_LEVEL)
        severity = Severity.CRITICAL if worst >= 2 else Severity.WARNING
        reasons = attributes.get("reasons") or {}
        detail = "; ".join(f"{q}: {reasons[q]}" for q in bad if q in reasons)[:200]
        yield Observation(labels, worst, f"{where} reports {'critical' if worst >= 2 else 'warning'}: "
                                         f"{', '.join(bad)}{' (' + detail + ')' if detail else ''}" if bad else
                          f"{where} reports ok", facility_url(), meter.site_id, severity=severity)


def unreadable(rule: AlertRule, snapshot: Snapshot) -> Iterator[Observation]:
    for meter in snapshot.meters:
        health = snapshot.meter_health(meter)
        why = health["last_error"] or ("no reading for three poll intervals" if health["stale"] else "")
        yield Observation(_labels(snapshot, meter), 0.0 if health["healthy"] else 1.0,
                          f"{meter.name} cannot be read: {why[:200]}" if not health["healthy"] else
                          f"{meter.name} read", facility_url(), meter.site_id)


def metric(rule: AlertRule, snapshot: Snapshot) -> Iterator[Observation]:
    for meter, _, values, _attributes, labels, where in _channels(snapshot):
        if values is None:
            yield Observation(labels, None, f"{where}: no fresh reading", facility_url(), meter.site_id)
        elif rule.metric in values:
            yield Observation(labels, values[rule.metric], f"{where} {rule.metric} {number(values[rule.metric])}",
                              facility_url(), meter.site_id)


BUILTIN = {"ups_on_battery": on_battery, "ups_runtime_low": runtime, "ups_charge_low": charge,
           "pdu_load_high": pdu_load, "breaker_current_high": breaker, "cooling_supply_temperature_high": supply,
           "coolant_flow_low": flow, "leak_detected": leak, "meter_state": device_state, "meter_unreadable": unreadable}
