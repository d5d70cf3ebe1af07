"""The cooling picture of a site: per rack inlet/outlet temperatures, coolant supply/return, flow, heat
removed, cooling power, and the alarms (leak, over-temperature, on battery) that meters report as states."""

from microdc.nodes.models import FacilityMeter, Site
from microdc.telemetry.models import Source

from .health import meter_status

COOLING_QUANTITIES = ("temperature_celsius", "flow_liters_per_minute", "heat_removed_watts", "power_watts",
                      "pressure_pascals", "humidity_ratio", "leak_detected", "load_ratio")


def site_cooling(site: Site) -> dict:
    meters = FacilityMeter.objects.live().filter(site=site).select_related("rack", "state")
    sources = Source.objects.filter(meter__site=site).order_by("meter_id", "sensor")
    by_meter: dict[int, list[Source]] = {}
    for source in sources:
        by_meter.setdefault(source.meter_id, []).append(source)
    units, racks, alarms = [], {}, []
    for meter in meters:
        channels = []
        for source in by_meter.get(meter.pk, []):
            states = source.last_attributes.get("states", {})
            for quantity, state in states.items():
                alarms.append({"meter": meter.name, "channel": source.sensor, "quantity": quantity, "state": state,
                               "value": source.last_values.get(quantity), "since": source.last_ts})
            values = {q: v for q, v in source.last_values.items() if q in COOLING_QUANTITIES}
            if values:
                channels.append({"channel": source.sensor, "ts": source.last_ts, "values": values, "states": states})
        if meter.boundary == FacilityMeter.Boundary.COOLING or meter.kind in (FacilityMeter.Kind.COOLING_UNIT,
                                                                              FacilityMeter.Kind.CHILLER):
            units.append({"meter": meter.pk, "name": meter.name, "kind": meter.kind, "simulated": meter.simulated,
                          "health": meter_status(meter), "channels": channels})
        if meter.rack_id:
            rack = racks.setdefault(meter.rack.name, {"rack": meter.rack_id, "temperatures": [], "power_watts": None})
            for channel in channels:
                name = channel["channel"].lower()
                if "temperature_celsius" in channel["values"] and ("inlet" in name or "outlet" in name
                                                                  or "exhaust" in name or "intake" in name):
                    rack["temperatures"].append({"meter": meter.name, "channel": channel["channel"],
                                                 "celsius": channel["values"]["temperature_celsius"]})
            total = next((s for s in by_meter.get(meter.pk, []) if s.sensor == meter.boundary_channel), None)
            if total is not None and "power_watts" in total.last_values:
                rack["power_watts"] = (rack["power_watts"] or 0.0) + total.last_values["power_watts"]
    return {"site": site.pk, "cooling_units": units, "racks": racks,
            "alarms": sorted(alarms, key=lambda a: ("ok", "warning", "critical").index(a["state"]), reverse=True)}
