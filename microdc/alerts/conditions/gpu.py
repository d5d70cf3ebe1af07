"""Accelerator conditions: temperature, slowdown, ECC, a GPU gone; and any GPU metric for admin rules."""

from collections.abc import Iterator

from ..models import AlertRule
from ..snapshot import Snapshot
from .base import Observation, clean, number

# Clock-event reasons that mean trouble (power caps and idle clocks are normal operation).
BAD_THROTTLE = frozenset({"hw_slowdown", "sw_thermal_slowdown", "hw_thermal_slowdown", "hw_power_brake_slowdown"})


def _things(snapshot: Snapshot) -> list[tuple]:
    """(accelerator, its source or None, labels, words, url, site id, node up), once per cycle."""
    return snapshot.memo("gpu", lambda: list(_build(snapshot)))


def _build(snapshot: Snapshot) -> Iterator[tuple]:
    for accelerator in snapshot.accelerators:
        node = snapshot.nodes[accelerator.node_id]
        site = snapshot.site_of_node[node.pk]
        source = snapshot.gpu_sources.get(accelerator.pk)
        labels = clean({"site": site.slug, "rack": node.rack.name, "node": node.hostname,
                        "gpu": accelerator.index, "uuid": accelerator.uuid,
                        "simulated": "true" if accelerator.simulated else ""})
        words = f"{node.hostname} {accelerator.kind.upper()} {accelerator.index}"
        yield (accelerator, source, labels, words, snapshot.node_url(node.pk), site.pk, snapshot.node_up(node.pk))


def _values(snapshot: Snapshot, source) -> dict | None:
    """The latest values, or None when they are not fresh (missing data)."""
    return source.last_values if snapshot.fresh(source) else None


def temperature(rule: AlertRule, snapshot: Snapshot) -> Iterator[Observation]:
    for _, source, labels, words, url, site_id, _ in _things(snapshot):
        values = _values(snapshot, source)
        value = values.get("temperature_celsius") if values is not None else None
        yield Observation(labels, value, f"{words} at {number(value, '°C')} (alarm at {rule.threshold:g} °C)",
                          url, site_id)


def slowdown(rule: AlertRule, snapshot: Snapshot) -> Iterator[Observation]:
    for _, source, labels, words, url, site_id, _ in _things(snapshot):
        if not snapshot.fresh(source) or "throttle_reasons" not in source.last_attributes:
            yield Observation(labels, None, f"{words}: no clock-event reasons", url, site_id)
            continue
        bad = sorted(BAD_THROTTLE.intersection(source.last_attributes["throttle_reasons"]))
        yield Observation(labels, float(len(bad)), f"{words} slowed down: {', '.join(bad) or 'none'}", url, site_id)


def ecc(rule: AlertRule, snapshot: Snapshot) -> Iterator[Observation]:
    for _, source, labels, words, url, site_id, _ in _things(snapshot):
        values = _values(snapshot, source)
        value = values.get("ecc_uncorrected_errors_total") if values is not None else None
        yield Observation(labels, value, f"{words}: {number(value)} uncorrectable memory errors", url, site_id)


def missing(rule: AlertRule, snapshot: Snapshot) -> Iterator[Observation]:
    for accelerator, source, labels, words, url, site_id, up in _things(snapshot):
        if not up:
            yield Observation(labels, None, f"{words}: its node's agent is silent", url, site_id)
            continue
        gone = not snapshot.fresh(source)
        seen = source.last_ts.isoformat(timespec="seconds") if source and source.last_ts else "never"
        yield Observation(labels, 1.0 if gone else 0.0,
                          f"{words} ({accelerator.uuid}) not reported by its agent (last seen {seen})", url, site_id)


def metric(rule: AlertRule, snapshot: Snapshot) -> Iterator[Observation]:
    for _, source, labels, words, url, site_id, _ in _things(snapshot):
        values = _values(snapshot, source)
        value = values.get(rule.metric) if values is not None else None
        yield Observation(labels, value, f"{words} {rule.metric} {number(value)}", url, site_id)


BUILTIN = {"gpu_temperature_high": temperature, "gpu_slowdown": slowdown, "gpu_ecc_uncorrectable": ecc,
           "gpu_missing": missing}
