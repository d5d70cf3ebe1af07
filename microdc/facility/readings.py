"""Store meter readings in the telemetry store: one source per meter channel, values by quantity."""

import datetime

from django.db import transaction

from microdc.nodes.models import FacilityMeter
from microdc.telemetry import live
from microdc.telemetry.batch import MAX_MAGNITUDE, finite_number
from microdc.telemetry.store import Reading, sources_by_key, store

from .sources.base import Reading as MeterReading


def meter_source_key(meter_id: int, channel: str) -> str:
    return f"meter/{meter_id}/{channel}"


def store_meter_readings(meter: FacilityMeter, ts: datetime.datetime, readings: list[MeterReading]) -> int:
    """Group readings by channel and store them as one collection of the meter at `ts`.

    A value the telemetry store must not hold (NaN, infinite, beyond MAX_MAGNITUDE: a device's garbage or a
    scale factor gone wrong) is left out, and its quantity says why, as node telemetry is refused at ingest."""
    channels: dict[str, dict[str, float]] = {}
    attributes: dict[str, dict[str, dict[str, str]]] = {}
    for reading in readings:
        state, reason = reading.state, reading.reason
        if finite_number(reading.value):
            channels.setdefault(reading.channel, {})[reading.quantity] = float(reading.value)
        else:
            channels.setdefault(reading.channel, {})
            state, reason = "warning", f"the meter reported {reading.value!r:.40}, not a finite number of " \
                                       f"magnitude at most {MAX_MAGNITUDE:g}; left out"
        if state != "ok":
            attributes.setdefault(reading.channel, {}).setdefault("states", {})[reading.quantity] = state
        if reason:
            attributes.setdefault(reading.channel, {}).setdefault("reasons", {})[reading.quantity] = reason
    if not channels:
        return 0
    with transaction.atomic():
        sources = sources_by_key({meter_source_key(meter.pk, channel): {"meter": meter, "sensor": channel,
                                                                         "simulated": meter.simulated}
                                  for channel in channels})
        rows = store([Reading(sources[meter_source_key(meter.pk, channel)], ts, values,
                              attributes.get(channel, {}))
                      for channel, values in channels.items()])
        transaction.on_commit(lambda: live.meter_updated(meter.pk))
    return rows
