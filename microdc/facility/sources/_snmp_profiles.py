"""What to ask an SNMP agent and how to turn the answers into readings, per MIB.

OIDs and units (checked against the MIB texts):

* UPS-MIB, RFC 1628, ``1.3.6.1.2.1.33``: input table ``upsInputEntry`` (.1.3.3.1) columns
  frequency (0.1 Hz), voltage (V), current (0.1 A), true power (W) per input line; output table
  ``upsOutputEntry`` (.1.4.4.1) voltage (V), current (0.1 A), power (W), percent load per output line.
  Power is per line, so the UPS's input and output power are the sums over lines. The MIB has no
  energy counter: energy must come from integrating power.
* APC PowerNet-MIB rPDU2, ``1.3.6.1.4.1.318.1.1.26``: ``rPDU2DeviceStatusEntry`` (.4.3.1) load state,
  power (hundredths of kW), energy (tenths of kWh), apparent power (hundredths of kVA);
  ``rPDU2PhaseStatusEntry`` (.6.3.1) module, number, load state, current (tenths of A), voltage (V),
  power (hundredths of kW). A value of -1 means the model does not measure it.
* Raritan PDU2-MIB, ``1.3.6.1.4.1.13742.6``: ``measurementsInletSensorValue`` (.5.2.3.1.4) and
  ``inletSensorDecimalDigits`` (.3.3.4.1.7), both indexed by pduId.inletId.sensorType; the value is
  ``raw / 10**digits``. Sensor types: rmsCurrent(1), rmsVoltage(4), activePower(5), apparentPower(6),
  activeEnergy(8, Wh), frequency(23).
"""

from __future__ import annotations

import dataclasses

from ._snmp_client import SnmpClient, missing, number
from .base import MeterError, Reading

UPS = "1.3.6.1.2.1.33.1"
UPS_BATTERY_STATUS = f"{UPS}.2.1.0"
UPS_MINUTES_REMAINING = f"{UPS}.2.3.0"
UPS_CHARGE_REMAINING = f"{UPS}.2.4.0"
UPS_BATTERY_TEMPERATURE = f"{UPS}.2.7.0"
UPS_INPUT_NUM_LINES = f"{UPS}.3.2.0"
UPS_INPUT_ENTRY = f"{UPS}.3.3.1"
UPS_OUTPUT_SOURCE = f"{UPS}.4.1.0"
UPS_OUTPUT_FREQUENCY = f"{UPS}.4.2.0"
UPS_OUTPUT_NUM_LINES = f"{UPS}.4.3.0"
UPS_OUTPUT_ENTRY = f"{UPS}.4.4.1"
UPS_OUTPUT_SOURCE_BATTERY = 5
MAX_UPS_LINES = 9
UPS_BATTERY_STATES = {1: "ok", 2: "ok", 3: "warning", 4: "critical"}  # unknown, normal, low, depleted

APC_DEVICE_STATUS = "1.3.6.1.4.1.318.1.1.26.4.3.1"
APC_PHASE_STATUS = "1.3.6.1.4.1.318.1.1.26.6.3.1"
APC_LOAD_STATES = {1: "warning", 2: "ok", 3: "warning", 4: "critical"}  # lowLoad, normal, nearOverload, overload

RARITAN_INLET_VALUE = "1.3.6.1.4.1.13742.6.5.2.3.1.4"
RARITAN_INLET_DIGITS = "1.3.6.1.4.1.13742.6.3.3.4.1.7"
# sensorType -> (quantity, factor after decimal scaling)
RARITAN_SENSORS = {
    1: ("current_amperes", 1.0),
    4: ("voltage_volts", 1.0),
    5: ("power_watts", 1.0),
    6: ("apparent_power_volt_amperes", 1.0),
    8: ("energy_joules", 3600.0),
    23: ("frequency_hertz", 1.0),
}


def _require(values: dict[str, object], oid: str, label: str, hint: str) -> float:
    value = values.get(oid)
    absent = missing(value) if value is not None else "noSuchObject"
    if absent:
        raise MeterError(f"SNMP error: {absent} for {oid} ({label}): {hint}")
    return number(value, oid)


def _optional(values: dict[str, object], oid: str) -> float | None:
    value = values.get(oid)
    if value is None or missing(value):
        return None
    return number(value, oid)


async def _lines(client: SnmpClient, scalars: dict[str, object], count_oid: str, entry: str) -> list[int]:
    """The table's line numbers: from its line count, or, where the agent lacks that object, its rows."""
    count = _optional(scalars, count_oid)
    if count is not None:
        return list(range(1, min(int(count), MAX_UPS_LINES) + 1))
    rows = await client.walk(entry)
    return sorted({int(oid.rsplit(".", 1)[1]) for oid in rows if not missing(rows[oid])})[:MAX_UPS_LINES]


async def read_ups_mib(client: SnmpClient, settings: dict) -> list[Reading]:
    # Read what the agent has: an object it lacks costs the readings that need it (with the reason on the
    # meter's reading), never the whole read.
    scalars = await client.get([
        UPS_BATTERY_STATUS, UPS_MINUTES_REMAINING, UPS_CHARGE_REMAINING, UPS_BATTERY_TEMPERATURE,
        UPS_INPUT_NUM_LINES, UPS_OUTPUT_SOURCE, UPS_OUTPUT_FREQUENCY, UPS_OUTPUT_NUM_LINES,
    ])
    source = _optional(scalars, UPS_OUTPUT_SOURCE)
    input_lines = await _lines(client, scalars, UPS_INPUT_NUM_LINES, UPS_INPUT_ENTRY)
    output_lines = await _lines(client, scalars, UPS_OUTPUT_NUM_LINES, UPS_OUTPUT_ENTRY)
    rows: list[str] = []
    for line in input_lines:
        rows += [f"{UPS_INPUT_ENTRY}.{column}.{line}" for column in (2, 3, 4, 5)]
    for line in output_lines:
        rows += [f"{UPS_OUTPUT_ENTRY}.{column}.{line}" for column in (2, 3, 4, 5)]
    lines = await client.get(rows) if rows else {}

    battery = int(_optional(scalars, UPS_BATTERY_STATUS) or 1)
    battery_state = UPS_BATTERY_STATES.get(battery, "ok")
    on_battery = source == UPS_OUTPUT_SOURCE_BATTERY
    readings: list[Reading] = []
    add = readings.append

    input_power = []
    for line in input_lines:
        channel = f"input.L{line}"
        for column, quantity, factor in ((2, "frequency_hertz", 0.1), (3, "voltage_volts", 1.0),
                                         (4, "current_amperes", 0.1), (5, "power_watts", 1.0)):
            value = _optional(lines, f"{UPS_INPUT_ENTRY}.{column}.{line}")
            if value is not None:
                add(Reading(quantity, value * factor, channel))
                if column == 5:
                    input_power.append(value)
    if input_power:
        add(Reading("power_watts", sum(input_power), "input"))

    output_power, loads = [], []
    for line in output_lines:
        channel = f"output.L{line}"
        for column, quantity, factor in ((2, "voltage_volts", 1.0), (3, "current_amperes", 0.1),
                                         (4, "power_watts", 1.0), (5, "load_ratio", 0.01)):
            value = _optional(lines, f"{UPS_OUTPUT_ENTRY}.{column}.{line}")
            if value is None:
                continue
            add(Reading(quantity, value * factor, channel))
            if column == 4:
                output_power.append(value)
            elif column == 5:
                loads.append(value * factor)
    if output_power:
        add(Reading("power_watts", sum(output_power), "output"))
    if loads:
        # The UPS is as loaded as its most loaded phase; above 90 % it has no headroom left.
        peak = max(loads)
        add(Reading("load_ratio", peak, "output", "critical" if peak >= 1.0 else "warning" if peak >= 0.9 else "ok"))
    frequency = _optional(scalars, UPS_OUTPUT_FREQUENCY)
    if frequency is not None:
        add(Reading("frequency_hertz", frequency * 0.1, "output"))

    charge = _optional(scalars, UPS_CHARGE_REMAINING)
    if charge is not None:
        add(Reading("battery_charge_ratio", charge / 100.0, "battery", battery_state))
    minutes = _optional(scalars, UPS_MINUTES_REMAINING)
    if minutes is not None:
        add(Reading("battery_runtime_seconds", minutes * 60.0, "battery", battery_state))
    temperature = _optional(scalars, UPS_BATTERY_TEMPERATURE)
    if temperature is not None:
        add(Reading("temperature_celsius", temperature, "battery"))
    if source is None:
        # No upsOutputSource: whether the UPS is on battery is unknown, which is worth a warning, not a guess.
        return _with_warning(readings, "output", f"the agent lacks upsOutputSource ({UPS_OUTPUT_SOURCE}): "
                                                 "whether the UPS is on battery is unknown")
    on_battery_state = ("critical" if battery_state != "ok" else "warning") if on_battery else "ok"
    add(Reading("on_battery", 1.0 if on_battery else 0.0, "", on_battery_state))
    return readings


def _with_warning(readings: list[Reading], channel: str, reason: str) -> list[Reading]:
    """Put the reason on the channel's first reading (the read's first where the channel has none)."""
    if not readings:
        return readings
    at = next((i for i, r in enumerate(readings) if r.channel == channel), 0)
    target = readings[at]
    state = "warning" if target.state == "ok" else target.state
    readings[at] = dataclasses.replace(target, state=state, reason=reason)
    return readings


async def read_apc_rpdu2(client: SnmpClient, settings: dict) -> list[Reading]:
    index = settings["pdu_index"]
    columns = {"module": 2, "load_state": 4, "power": 5, "energy": 9, "apparent": 16}
    device = await client.get([f"{APC_DEVICE_STATUS}.{column}.{index}" for column in columns.values()])
    oid = {name: f"{APC_DEVICE_STATUS}.{column}.{index}" for name, column in columns.items()}
    hint = f"is this an APC rPDU2 (PowerNet-MIB) with device index {index}?"
    power = _require(device, oid["power"], "rPDU2DeviceStatusPower", hint)
    state = APC_LOAD_STATES.get(int(_optional(device, oid["load_state"]) or 2), "ok")
    readings: list[Reading] = []
    if power >= 0:  # -1: not supported by this model
        readings.append(Reading("power_watts", power * 10.0, "", state))
    energy = _optional(device, oid["energy"])
    if energy is not None and energy >= 0:
        readings.append(Reading("energy_joules", energy * 360_000.0, "", state))
    apparent = _optional(device, oid["apparent"])
    if apparent is not None and apparent >= 0:
        readings.append(Reading("apparent_power_volt_amperes", apparent * 10.0, "", state))

    module = _optional(device, oid["module"])
    table = await client.walk(APC_PHASE_STATUS)
    phases: dict[str, dict[int, float]] = {}
    for name, value in table.items():
        column, row = name[len(APC_PHASE_STATUS) + 1 :].split(".", 1)
        phases.setdefault(row, {})[int(column)] = number(value, name)
    for row in phases.values():
        if module is not None and 2 in row and row[2] != module:
            continue  # a phase of another PDU daisy-chained behind this one
        channel = f"L{int(row.get(3, 0))}"
        phase_state = APC_LOAD_STATES.get(int(row.get(4, 2)), "ok")
        for column, quantity, factor in ((5, "current_amperes", 0.1), (6, "voltage_volts", 1.0),
                                         (7, "power_watts", 10.0)):
            if column in row and row[column] >= 0:
                readings.append(Reading(quantity, row[column] * factor, channel, phase_state))
    return readings


async def read_raritan_pdu2(client: SnmpClient, settings: dict) -> list[Reading]:
    suffix = f"{settings['pdu_id']}.{settings['inlet_id']}"
    oids = []
    for sensor in RARITAN_SENSORS:
        oids += [f"{RARITAN_INLET_VALUE}.{suffix}.{sensor}", f"{RARITAN_INLET_DIGITS}.{suffix}.{sensor}"]
    values = await client.get(oids)
    readings = []
    for sensor, (quantity, factor) in RARITAN_SENSORS.items():
        raw = _optional(values, f"{RARITAN_INLET_VALUE}.{suffix}.{sensor}")
        if raw is None:
            continue  # this PDU has no such inlet sensor
        digits = _optional(values, f"{RARITAN_INLET_DIGITS}.{suffix}.{sensor}") or 0
        readings.append(Reading(quantity, raw / 10 ** int(digits) * factor, ""))
    if not readings:
        raise MeterError(
            f"SNMP error: noSuchObject for {RARITAN_INLET_VALUE}.{suffix}.5 (measurementsInletSensorValue): "
            f"is this a Raritan PDU2-MIB agent with pduId {settings['pdu_id']} and inlet {settings['inlet_id']}?"
        )
    return readings


async def read_oid_map(client: SnmpClient, entries: list[dict]) -> list[Reading]:
    """The user's own OIDs: every one must answer, or the read fails naming the OID."""
    if not entries:
        return []
    values = await client.get([entry["oid"] for entry in entries])
    readings = []
    for entry in entries:
        value = _require(values, entry["oid"], entry["quantity"], "check the OID in the meter's oid map")
        readings.append(Reading(entry["quantity"], value * entry["scale"], entry["channel"]))
    return readings


PROFILES = {
    "ups_mib": read_ups_mib,
    "apc_rpdu2": read_apc_rpdu2,
    "raritan_pdu2": read_raritan_pdu2,
}
