"""SunSpec meters over Modbus: find the device map, walk its model chain, decode meter models.

A SunSpec device starts its map with the marker 'SunS' (0x5375 0x6E53) at one of a few well-known
base addresses, followed by a chain of models, each ``[model id, length, ...length registers]``,
ending with id 0xFFFF. Meter models (register offsets below count from the model id register, as
in the SunSpec model definitions ``model_20x.json`` / ``model_21x.json``):

* 201-204 (single, split, wye, delta phase): int16 values with a sunssf scale-factor register each
  group shares (value * 10**sf); energies are acc32 with ``TotWh_SF``. 0x8000 means "not
  implemented" for int16 and sunssf; an acc32 of 0 means "not accumulated".
* 211-214: the same points as float32 (no scale factors); NaN means "not implemented".

Where a model was found is cached per device, so a poll after the first costs one request.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ._registers import ModbusExceptionResponse, RegisterReader, decode
from .base import MeterError, Reading

MARKER = [0x5375, 0x6E53]
BASE_ADDRESSES = (40000, 40001, 0, 1, 50000, 50001)
END_OF_MAP = 0xFFFF
INT_MODELS = (201, 202, 203, 204)
FLOAT_MODELS = (211, 212, 213, 214)
METER_MODELS = INT_MODELS + FLOAT_MODELS
MAX_MODELS = 64
NOT_IMPLEMENTED_INT16 = 0x8000

# point -> (offset in the int model, offset in the float model, scale-factor offset in the int model)
_POINTS = {
    "A": (2, 2, 6), "AphA": (3, 4, 6), "AphB": (4, 6, 6), "AphC": (5, 8, 6),
    "PhV": (7, 10, 15), "PhVphA": (8, 12, 15), "PhVphB": (9, 14, 15), "PhVphC": (10, 16, 15),
    "PPV": (11, 18, 15), "PhVphAB": (12, 20, 15), "PhVphBC": (13, 22, 15), "PhVphCA": (14, 24, 15),
    "Hz": (16, 26, 17),
    "W": (18, 28, 22), "WphA": (19, 30, 22), "WphB": (20, 32, 22), "WphC": (21, 34, 22),
    "VA": (23, 36, 27), "VAphA": (24, 38, 27), "VAphB": (25, 40, 27), "VAphC": (26, 42, 27),
}
_ENERGY = {  # acc32 in the int models, float32 in the float models; Wh
    "TotWhExp": (38, 60), "TotWhImp": (46, 68), "TotWhImpPhA": (48, 70), "TotWhImpPhB": (50, 72),
    "TotWhImpPhC": (52, 74),
}
_TOT_WH_SF = 54
_NEEDED = {"int": 55, "float": 76}  # registers to read from the model id to cover every point above

# point -> (quantity, channel)
_READINGS = {
    "W": ("power_watts", ""), "WphA": ("power_watts", "L1"), "WphB": ("power_watts", "L2"),
    "WphC": ("power_watts", "L3"),
    "VA": ("apparent_power_volt_amperes", ""), "VAphA": ("apparent_power_volt_amperes", "L1"),
    "VAphB": ("apparent_power_volt_amperes", "L2"), "VAphC": ("apparent_power_volt_amperes", "L3"),
    "A": ("current_amperes", ""), "AphA": ("current_amperes", "L1"), "AphB": ("current_amperes", "L2"),
    "AphC": ("current_amperes", "L3"),
    "PhV": ("voltage_volts", ""), "PhVphA": ("voltage_volts", "L1-N"), "PhVphB": ("voltage_volts", "L2-N"),
    "PhVphC": ("voltage_volts", "L3-N"), "PPV": ("voltage_volts", "L-L"), "PhVphAB": ("voltage_volts", "L1-L2"),
    "PhVphBC": ("voltage_volts", "L2-L3"), "PhVphCA": ("voltage_volts", "L3-L1"),
    "Hz": ("frequency_hertz", ""),
    "TotWhImp": ("energy_joules", ""), "TotWhExp": ("energy_joules", "export"),
    "TotWhImpPhA": ("energy_joules", "L1"), "TotWhImpPhB": ("energy_joules", "L2"),
    "TotWhImpPhC": ("energy_joules", "L3"),
}


@dataclass(frozen=True)
class Location:
    base: int
    address: int  # of the model id register
    model_id: int
    length: int


_locations: dict[tuple, Location] = {}


async def read_sunspec(reader: RegisterReader, base_address: int | None, model: int | None) -> list[Reading]:
    key = (reader.host, reader.port, reader.unit_id, base_address, model)
    location = _locations.get(key)
    if location is not None:
        registers = await reader.read(location.address, _span(location))
        if registers[0] == location.model_id and registers[1] == location.length:
            return _decode_model(location.model_id, registers)
        _locations.pop(key, None)  # the device's map changed (firmware update): find it again
    location = await _locate(reader, base_address, model)
    _locations[key] = location
    return _decode_model(location.model_id, await reader.read(location.address, _span(location)))


def _span(location: Location) -> int:
    kind = "int" if location.model_id in INT_MODELS else "float"
    return min(location.length + 2, _NEEDED[kind])


async def _locate(reader: RegisterReader, base_address: int | None, model: int | None) -> Location:
    bases = (base_address,) if base_address is not None else BASE_ADDRESSES
    refusals: list[ModbusExceptionResponse] = []
    for base in bases:
        try:
            marker = await reader.read(base, 2)
        except ModbusExceptionResponse as refusal:
            refusals.append(refusal)
            continue  # no registers there: try the next well-known base
        if marker == MARKER:
            break
    else:
        if len(refusals) == len(bases) and all(refusal.code not in (2, 3) for refusal in refusals):
            raise refusals[-1]  # the unit refuses everything (unknown unit id, gateway error): say that
        tried = "/".join(str(base) for base in bases)
        raise MeterError(f"not a SunSpec device: no 'SunS' marker at {tried} (unit {reader.unit_id} at {reader.where})")

    address, found = base + 2, []
    for _ in range(MAX_MODELS):
        model_id, length = await reader.read(address, 2)
        if model_id == END_OF_MAP or length == 0:
            break
        found.append(model_id)
        if model_id == model or (model is None and model_id in METER_MODELS):
            return Location(base, address, model_id, length)
        address += 2 + length
    wanted = f"model {model}" if model is not None else "meter model (201-204, 211-214)"
    raise MeterError(
        f"SunSpec device at {reader.where} unit {reader.unit_id} has no {wanted}; its models: "
        f"{', '.join(map(str, found)) or 'none'}"
    )


def _decode_model(model_id: int, registers: list[int]) -> list[Reading]:
    values: dict[str, float] = {}
    if model_id in INT_MODELS:
        for point, (offset, _float_offset, sf_offset) in _POINTS.items():
            values[point] = _scaled(registers, offset, sf_offset)
        for point, (offset, _float_offset) in _ENERGY.items():
            values[point] = _acc32(registers, offset, _TOT_WH_SF)
    elif model_id in FLOAT_MODELS:
        for point, (_int_offset, offset, _sf) in _POINTS.items():
            values[point] = _float(registers, offset)
        for point, (_int_offset, offset) in _ENERGY.items():
            values[point] = _float(registers, offset)
    else:
        raise MeterError(f"SunSpec model {model_id} is not a meter model (201-204, 211-214)")
    readings = []
    for point, (quantity, channel) in _READINGS.items():
        value = values.get(point)
        if value is None:
            continue
        readings.append(Reading(quantity, value * 3600.0 if quantity == "energy_joules" else value, channel))
    return readings


def _int16(raw: int) -> int:
    return raw - 0x10000 if raw & 0x8000 else raw


def _scaled(registers: list[int], offset: int, sf_offset: int) -> float | None:
    if offset >= len(registers) or sf_offset >= len(registers):
        return None
    raw, sf = registers[offset], registers[sf_offset]
    if raw == NOT_IMPLEMENTED_INT16 or sf == NOT_IMPLEMENTED_INT16:
        return None
    return _apply_sf(_int16(raw), _int16(sf))


def _apply_sf(raw: int, sf: int) -> float:
    # Divide for negative scale factors: 12345 / 10 is exactly 1234.5, 12345 * 0.1 is not.
    return raw / 10**-sf if sf < 0 else float(raw * 10**sf)


def _acc32(registers: list[int], offset: int, sf_offset: int) -> float | None:
    if offset + 1 >= len(registers) or sf_offset >= len(registers):
        return None
    raw, sf = (registers[offset] << 16) | registers[offset + 1], registers[sf_offset]
    if raw == 0 or sf == NOT_IMPLEMENTED_INT16:
        return None
    return _apply_sf(raw, _int16(sf))


def _float(registers: list[int], offset: int) -> float | None:
    if offset + 1 >= len(registers):
        return None
    value = decode(registers[offset : offset + 2], "float32")
    return value if math.isfinite(value) else None  # NaN: not implemented (SunSpec); infinities: no value
