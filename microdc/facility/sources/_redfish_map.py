"""Turn Redfish resources into readings: PDUs, cooling units, chassis power and sensors.

Only the entry resource's path comes from the settings; everything else is reached by following the
``@odata.id`` links the service publishes. Values are converted to base units here (kWh -> J, kPa ->
Pa, kW -> W, percent -> ratio). A property that is absent or ``null`` gives no reading: Redfish
services leave out what they cannot measure.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

from .base import MeterError, Reading

Fetch = Callable[[str], dict]

KWH_TO_JOULES = 3.6e6
PARTS = {
    "pdu": ("metrics", "mains", "branches", "outlets"),
    "cdu": ("environment", "primary", "secondary", "pumps", "leak"),
    "chassis": ("environment", "power", "sensors"),
    "power": ("power",),
    "environment": ("environment",),
    "sensors": ("sensors",),
    "sensor": ("sensors",),
}
KINDS = tuple(PARTS)

# @odata.type prefix -> kind, for kind "auto"
_TYPE_KINDS = {
    "#PowerDistribution.": "pdu",
    "#CoolingUnit.": "cdu",
    "#Chassis.": "chassis",
    "#Power.": "power",
    "#PowerSubsystem.": "power",
    "#EnvironmentMetrics.": "environment",
    "#SensorCollection.": "sensors",
    "#Sensor.": "sensor",
}
_HEALTH = {"OK": "ok", "Warning": "warning", "Critical": "critical"}
# Sensor.ReadingType -> (quantity, factor to the base unit). ReadingType fixes the unit in the schema,
# so it is trusted over ReadingUnits (some services mislabel units, e.g. "kW" on an EnergykWh sensor).
_SENSOR_TYPES = {
    "Power": ("power_watts", 1.0),
    "EnergykWh": ("energy_joules", KWH_TO_JOULES),
    "EnergyWh": ("energy_joules", 3600.0),
    "EnergyJoules": ("energy_joules", 1.0),
    "Voltage": ("voltage_volts", 1.0),
    "Current": ("current_amperes", 1.0),
    "Frequency": ("frequency_hertz", 1.0),
    "Temperature": ("temperature_celsius", 1.0),
    "Humidity": ("humidity_ratio", 0.01),
    "LiquidFlowLPM": ("flow_liters_per_minute", 1.0),
    "LiquidFlow": ("flow_liters_per_minute", 60.0),  # L/s in the older schema
    "PressurekPa": ("pressure_pascals", 1000.0),
    "PressurePa": ("pressure_pascals", 1.0),
    "Pressure": ("pressure_pascals", 1.0),
    "Heat": ("heat_removed_watts", 1000.0),  # kW
}


def detect_kind(resource: dict, path: str) -> str:
    odata_type = str(resource.get("@odata.type", ""))
    for prefix, kind in _TYPE_KINDS.items():
        if odata_type.startswith(prefix):
            return kind
    raise MeterError(
        f"{path} is a {odata_type or 'resource without @odata.type'}; expected a PowerDistribution (PDU), "
        "CoolingUnit (CDU), Chassis, Power, EnvironmentMetrics, SensorCollection or Sensor"
    )


def read_resource(fetch: Fetch, resource: dict, kind: str, parts: tuple[str, ...]) -> list[Reading]:
    readers: dict[str, Callable[[Fetch, dict, tuple[str, ...]], list[Reading]]] = {
        "pdu": _pdu,
        "cdu": _cdu,
        "chassis": _chassis,
        "power": lambda fetch, res, _parts: _power(fetch, res, set()),
        "environment": lambda _fetch, res, _parts: _environment(res, ""),
        "sensors": lambda fetch, res, _parts: _sensor_collection(fetch, res),
        "sensor": lambda _fetch, res, _parts: _sensor(res),
    }
    return readers[kind](fetch, resource, parts)


# --- helpers -------------------------------------------------------------------------------------


def health(resource: dict) -> str:
    status = resource.get("Status") or {}
    return _HEALTH.get(str(status.get("Health")), "ok")


def link(resource: dict, name: str) -> str | None:
    target = resource.get(name)
    if isinstance(target, dict) and isinstance(target.get("@odata.id"), str):
        return target["@odata.id"]
    return None


def members(fetch: Fetch, collection_path: str | None) -> Iterator[dict]:
    """The member resources of the collection at ``collection_path`` (nothing when there is no link)."""
    if collection_path:
        yield from expand(fetch, fetch(collection_path))


def expand(fetch: Fetch, collection: dict) -> Iterator[dict]:
    """A collection's members, fetching those the service gave only as links."""
    for member in collection.get("Members") or []:
        if not isinstance(member, dict):
            continue
        if set(member) <= {"@odata.id"} and isinstance(member.get("@odata.id"), str):
            yield fetch(member["@odata.id"])
        else:
            yield member


def key(resource: dict) -> str:
    """A resource's name for channels: the last segment of its URI, which is unique where Ids are not
    always (the DMTF PDU mockup has several sensors with Id "CurrentA1")."""
    uri = resource.get("@odata.id")
    if isinstance(uri, str) and uri.strip("/"):
        return uri.rstrip("/").rsplit("/", 1)[-1]
    return str(resource.get("Id", ""))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None  # absent, null, or the NaN / Infinity some services emit for "no reading"
    return float(value)


def _excerpt(resource: dict, name: str, field: str = "Reading") -> float | None:
    """``resource[name][field]`` as a number: Redfish wraps most readings in an excerpt object."""
    excerpt = resource.get(name)
    if not isinstance(excerpt, dict):
        return None
    return _number(excerpt.get(field))


def _join(prefix: str, suffix: str) -> str:
    return f"{prefix}.{suffix}" if prefix and suffix else prefix or suffix


def _line(name: str) -> str:
    """Redfish phase names to channel suffixes: Line1ToNeutral -> L1-N, Line2ToLine3 -> L2-L3, Neutral -> N."""
    if name == "Neutral":
        return "N"
    return name.replace("ToNeutral", "-N").replace("To", "-").replace("Line", "L")


class _Out:
    """Collects readings, skipping absent values and applying the unit factor."""

    def __init__(self) -> None:
        self.readings: list[Reading] = []

    def add(self, quantity: str, value: float | None, channel: str, state: str = "ok", factor: float = 1.0) -> None:
        if value is not None:
            self.readings.append(Reading(quantity, value * factor, channel, state))


# --- electrical: PDUs and their circuits -----------------------------------------------------------


def _pdu(fetch: Fetch, pdu: dict, parts: tuple[str, ...]) -> list[Reading]:
    out = _Out()
    if "metrics" in parts and (metrics_path := link(pdu, "Metrics")):
        _electrical(out, fetch(metrics_path), "", health(pdu))
    if "mains" in parts:
        for circuit in members(fetch, link(pdu, "Mains")):
            _electrical(out, circuit, f"mains.{key(circuit)}", health(circuit))
    if "branches" in parts:
        for circuit in members(fetch, link(pdu, "Branches")):
            _electrical(out, circuit, f"branch.{key(circuit)}", health(circuit))
    if "outlets" in parts:
        outlets = list(members(fetch, link(pdu, "Outlets")))
        for outlet in outlets:
            _electrical(out, outlet, f"outlet.{key(outlet)}", health(outlet))
        _outlet_totals(out, outlets)
    return out.readings


def _electrical(out: _Out, resource: dict, channel: str, state: str) -> None:
    """PowerDistributionMetrics, Circuit and Outlet share these property names."""
    out.add("power_watts", _excerpt(resource, "PowerWatts"), channel, state)
    out.add("apparent_power_volt_amperes", _excerpt(resource, "PowerWatts", "ApparentVA"), channel, state)
    out.add("energy_joules", _excerpt(resource, "EnergykWh"), channel, state, KWH_TO_JOULES)
    out.add("current_amperes", _excerpt(resource, "CurrentAmps"), channel, state)
    out.add("voltage_volts", _excerpt(resource, "Voltage"), channel, state)
    out.add("frequency_hertz", _excerpt(resource, "FrequencyHz"), channel, state)
    out.add("temperature_celsius", _excerpt(resource, "TemperatureCelsius"), channel, state)
    out.add("humidity_ratio", _excerpt(resource, "HumidityPercent"), channel, state, 0.01)
    for group, quantity, factor in (
        ("PolyPhasePowerWatts", "power_watts", 1.0),
        ("PolyPhaseEnergykWh", "energy_joules", KWH_TO_JOULES),
        ("PolyPhaseCurrentAmps", "current_amperes", 1.0),
        ("PolyPhaseVoltage", "voltage_volts", 1.0),
    ):
        phases = resource.get(group)
        if not isinstance(phases, dict):
            continue
        for name, excerpt in phases.items():
            if isinstance(excerpt, dict):
                line_channel = _join(channel, _line(name))
                out.add(quantity, _number(excerpt.get("Reading")), line_channel, state, factor)
                if quantity == "power_watts":
                    out.add("apparent_power_volt_amperes", _number(excerpt.get("ApparentVA")), line_channel, state)


def _outlet_totals(out: _Out, outlets: list[dict]) -> None:
    """Channel "outlets": the PDU's output (sum over outlets), for metering IT load at PDU outputs.

    Only given when every outlet reports the value; a partial sum would understate the IT load.
    """
    if not outlets:
        return
    for name, quantity, factor in (("PowerWatts", "power_watts", 1.0), ("EnergykWh", "energy_joules", KWH_TO_JOULES)):
        values = [_excerpt(outlet, name) for outlet in outlets]
        if all(value is not None for value in values):
            out.add(quantity, sum(values), "outlets", factor=factor)  # type: ignore[arg-type]


# --- cooling units ----------------------------------------------------------------------------------


def _cdu(fetch: Fetch, cdu: dict, parts: tuple[str, ...]) -> list[Reading]:
    out = _Out()
    if "environment" in parts and (path := link(cdu, "EnvironmentMetrics")):
        out.readings += _environment(fetch(path), "")
    for loop in ("primary", "secondary"):
        if loop in parts:
            for connector in members(fetch, link(cdu, f"{loop.capitalize()}CoolantConnectors")):
                _coolant_connector(out, connector, f"{loop}.{key(connector)}")
    if "pumps" in parts:
        for pump in members(fetch, link(cdu, "Pumps")):
            out.add("load_ratio", _excerpt(pump, "PumpSpeedPercent"), f"pump.{key(pump)}", health(pump), 0.01)
    if "leak" in parts and (path := link(cdu, "LeakDetection")):
        _leak_detection(out, fetch, fetch(path))
    return out.readings


def _coolant_connector(out: _Out, connector: dict, channel: str) -> None:
    state = health(connector)
    out.add("flow_liters_per_minute", _excerpt(connector, "FlowLitersPerMinute"), channel, state)
    out.add("heat_removed_watts", _excerpt(connector, "HeatRemovedkW"), channel, state, 1000.0)
    for side in ("Supply", "Return", "Delta"):
        where = f"{channel}.{side.lower()}"
        out.add("temperature_celsius", _excerpt(connector, f"{side}TemperatureCelsius"), where, state)
        out.add("pressure_pascals", _excerpt(connector, f"{side}PressurekPa"), where, state, 1000.0)


def _leak_detection(out: _Out, fetch: Fetch, detection: dict) -> None:
    """Leak detectors as 0/1 readings; the detector's own state is the alarm state."""
    found = False
    for group in detection.get("LeakDetectorGroups") or []:
        for detector in (group or {}).get("Detectors") or []:
            source = str(detector.get("DataSourceUri") or "")
            name = source.rstrip("/").rsplit("/", 1)[-1] if source else str(detector.get("DeviceName", ""))
            found |= _leak(out, detector.get("DetectorState"), f"leak.{name}")
    if not found:
        for detector in members(fetch, link(detection, "LeakDetectors")):
            _leak(out, detector.get("DetectorState"), f"leak.{key(detector)}")


def _leak(out: _Out, detector_state: Any, channel: str) -> bool:
    if detector_state not in _HEALTH:
        return False  # "Absent" or unknown: the detector reports nothing
    out.add("leak_detected", 0.0 if detector_state == "OK" else 1.0, channel, _HEALTH[detector_state])
    return True


# --- chassis: EnvironmentMetrics, PowerSubsystem, deprecated Power, Sensors ---------------------------


def _environment(metrics: dict, channel: str) -> list[Reading]:
    out = _Out()
    out.add("power_watts", _excerpt(metrics, "PowerWatts"), channel)
    out.add("apparent_power_volt_amperes", _excerpt(metrics, "PowerWatts", "ApparentVA"), channel)
    out.add("energy_joules", _excerpt(metrics, "EnergykWh"), channel, factor=KWH_TO_JOULES)
    out.add("temperature_celsius", _excerpt(metrics, "TemperatureCelsius"), channel)
    out.add("humidity_ratio", _excerpt(metrics, "HumidityPercent"), channel, factor=0.01)
    return out.readings


def _chassis(fetch: Fetch, chassis: dict, parts: tuple[str, ...]) -> list[Reading]:
    readings: list[Reading] = []
    if "environment" in parts and (path := link(chassis, "EnvironmentMetrics")):
        readings += _environment(fetch(path), "")
    if "power" in parts:
        have = {(r.quantity, r.channel) for r in readings}
        if (path := link(chassis, "PowerSubsystem")) or (path := link(chassis, "Power")):
            readings += _power(fetch, fetch(path), have)
    if "sensors" in parts and (path := link(chassis, "Sensors")):
        readings += _sensor_collection(fetch, fetch(path))
    return readings


def _power(fetch: Fetch, resource: dict, have: set[tuple[str, str]]) -> list[Reading]:
    """A PowerSubsystem or a legacy Power resource. ``have`` holds totals already read elsewhere."""
    out = _Out()
    if str(resource.get("@odata.type", "")).startswith("#PowerSubsystem."):
        inputs = []
        for supply in members(fetch, link(resource, "PowerSupplies")):
            channel, state = f"psu.{key(supply)}", health(supply)
            metrics = fetch(path) if (path := link(supply, "Metrics")) else {}
            inputs.append(_excerpt(metrics, "InputPowerWatts"))
            out.add("power_watts", inputs[-1], f"{channel}.input", state)
            out.add("power_watts", _excerpt(metrics, "OutputPowerWatts"), f"{channel}.output", state)
            out.add("energy_joules", _excerpt(metrics, "EnergykWh"), channel, state, KWH_TO_JOULES)
            out.add("voltage_volts", _excerpt(metrics, "InputVoltage"), f"{channel}.input", state)
            out.add("current_amperes", _excerpt(metrics, "InputCurrentAmps"), f"{channel}.input", state)
            out.add("frequency_hertz", _excerpt(metrics, "FrequencyHz"), f"{channel}.input", state)
            out.add("temperature_celsius", _excerpt(metrics, "TemperatureCelsius"), channel, state)
        if inputs and all(value is not None for value in inputs) and ("power_watts", "") not in have:
            out.add("power_watts", sum(inputs), "")  # type: ignore[arg-type]
        return out.readings
    # Legacy Power: PowerControl[0] is the chassis total by convention of every published mockup.
    for index, control in enumerate(resource.get("PowerControl") or []):
        watts = _number((control or {}).get("PowerConsumedWatts"))
        member = str(control.get("MemberId", index))
        out.add("power_watts", watts, f"power_control.{member}", health(control))
        if index == 0 and ("power_watts", "") not in have:
            out.add("power_watts", watts, "", health(control))
    for index, supply in enumerate(resource.get("PowerSupplies") or []):
        channel, state = f"psu.{supply.get('MemberId', index)}", health(supply)
        out.add("power_watts", _number(supply.get("PowerInputWatts")), f"{channel}.input", state)
        out.add("power_watts", _number(supply.get("LastPowerOutputWatts")), f"{channel}.output", state)
        out.add("voltage_volts", _number(supply.get("LineInputVoltage")), f"{channel}.input", state)
    return out.readings


def _sensor_collection(fetch: Fetch, collection: dict) -> list[Reading]:
    readings: list[Reading] = []
    for sensor in expand(fetch, collection):
        readings += _sensor(sensor)
    return readings


def _sensor(sensor: dict) -> list[Reading]:
    mapping = _SENSOR_TYPES.get(str(sensor.get("ReadingType")))
    status = sensor.get("Status") or {}
    if mapping is None or status.get("State") == "Absent":
        return []
    quantity, factor = mapping
    out = _Out()
    channel, state = f"sensor.{key(sensor)}", health(sensor)
    out.add(quantity, _number(sensor.get("Reading")), channel, state, factor)
    if quantity == "power_watts":
        out.add("apparent_power_volt_amperes", _number(sensor.get("ApparentVA")), channel, state)
    return out.readings
