"""Modbus TCP meters: SunSpec meters found by their 'SunS' marker, or a user-defined register map.

Settings (JSON, no secrets; Modbus TCP has no authentication):

``mode`` (default ``"sunspec"``): ``sunspec`` or ``registers``.
``unit_id`` (default 1, 0-255): the Modbus unit (device) id; behind a gateway, the meter's address.
sunspec:
    ``base_address`` (default: scan 40000, 40001, 0, 1, 50000, 50001): where the 'SunS' marker is,
    as a 0-based protocol address. ``model`` (default: the first meter model found): a model id
    (201-204 int + scale factor, 211-214 float) when the device holds several.
registers:
    ``registers``: a list of ``{"address": 30000, "type": "float32", "word_order": "big", "scale": 1.0,
    "quantity": "power_watts", "channel": "", "table": "holding"}``. ``address`` is the 0-based protocol
    address (register 40001 in 1-based documentation is address 0 of the holding table). ``type`` is
    one of int16, uint16, int32, uint32, float32, int64, uint64, float64; ``word_order`` ``big``
    (most significant word first) or ``little``; ``table`` ``holding`` (function 3) or ``input``
    (function 4). The reading is ``value * scale`` in the quantity's base unit (e.g. 3600 for Wh,
    3.6e6 for kWh as ``energy_joules``).

Readings and channels (sunspec): ``""`` total power, apparent power, current, average L-N voltage,
frequency and imported energy (``TotWhImp``); ``export`` exported energy; ``L1``..``L3`` per-phase
power, apparent power, current and imported energy; ``L1-N``.. and ``L1-L2``.. voltages, ``L-L`` the
average line-to-line voltage. Points the meter does not implement are left out.
"""

from __future__ import annotations

import math

from ._aio import LoopCache, run_sync
from ._fields import Fields, channel
from ._registers import TYPES, RegisterReader, decode
from ._sunspec import METER_MODELS, read_sunspec
from .base import MeterError, Reading, SettingsError, begin_read, check_readings

DEFAULT_PORT = 502
MAX_GAP = 16  # registers skipped rather than split into a second request


class ModbusSource:
    protocol = "modbus"

    def validate_settings(self, settings: dict, secret: dict) -> dict:
        fields = Fields(settings)
        normalised: dict = {
            "mode": fields.choice("mode", ("sunspec", "registers"), "sunspec"),
            "unit_id": fields.integer("unit_id", 1, minimum=0, maximum=255),
        }
        if normalised["mode"] == "sunspec":
            normalised["base_address"] = fields.integer("base_address", None, minimum=0, maximum=65534)
            model = fields.integer("model", None, minimum=1, maximum=65534)
            if model is not None and model not in METER_MODELS:
                raise SettingsError("model", "must be a SunSpec meter model: 201-204 or 211-214")
            normalised["model"] = model
        else:
            entries = fields.objects("registers", max_items=200)
            if not entries:
                raise SettingsError("registers", "needs at least one register")
            normalised["registers"] = [_register(entry) for entry in entries]
        fields.done()
        if secret:
            raise SettingsError(f"secret.{sorted(secret)[0]}", "Modbus TCP has no credentials; leave the secret empty")
        return normalised

    def read(self, host: str, port: int | None, settings: dict, secret: dict, timeout: float) -> list[Reading]:
        deadline, settings = begin_read(self, settings, secret, timeout)
        port = port or DEFAULT_PORT

        async def read_device(_cache: LoopCache) -> list[Reading]:
            async with RegisterReader(host, port, settings["unit_id"], deadline) as reader:
                if settings["mode"] == "sunspec":
                    return await read_sunspec(reader, settings["base_address"], settings["model"])
                return await _read_map(reader, settings["registers"])

        doing = f"waiting for a Modbus TCP answer from {host}:{port} (is it a Modbus TCP server? is the unit id right?)"
        readings = run_sync(read_device, deadline, doing)
        if not readings:
            where = f"{host}:{port} unit {settings['unit_id']}"
            raise MeterError(f"the SunSpec meter at {where} implements no readable point")
        return check_readings(readings)


def _register(fields: Fields) -> dict:
    entry = {
        "address": fields.integer("address", minimum=0, maximum=65535),
        "type": fields.choice("type", tuple(TYPES), "uint16"),
        "word_order": fields.choice("word_order", ("big", "little"), "big"),
        "scale": fields.number("scale", 1.0, nonzero=True),
        "quantity": fields.quantity(),
        "channel": channel(fields),
        "table": fields.choice("table", ("holding", "input"), "holding"),
    }
    if entry["address"] + TYPES[entry["type"]][0] > 65536:
        raise SettingsError(fields.name("address"), "the value runs past the last register (65535)")
    fields.done()
    return entry


async def _read_map(reader: RegisterReader, entries: list[dict]) -> list[Reading]:
    """Read the map in as few requests as possible: nearby registers of one table share a request."""
    spans: list[tuple[str, int, int]] = []  # table, first address, last address
    for entry in sorted(entries, key=lambda e: (e["table"], e["address"])):
        first, last = entry["address"], entry["address"] + TYPES[entry["type"]][0] - 1
        if spans and spans[-1][0] == entry["table"] and first - spans[-1][2] <= MAX_GAP and last - spans[-1][1] < 125:
            table, start, end = spans[-1]
            spans[-1] = (table, start, max(end, last))
        else:
            spans.append((entry["table"], first, last))
    words: dict[tuple[str, int], int] = {}
    for table, start, end in spans:
        for offset, word in enumerate(await reader.read(start, end - start + 1, table)):
            words[(table, start + offset)] = word
    readings = []
    for entry in entries:
        count = TYPES[entry["type"]][0]
        registers = [words[(entry["table"], entry["address"] + i)] for i in range(count)]
        value = decode(registers, entry["type"], entry["word_order"])
        if not math.isfinite(value):  # NaN is how float meters mark a value they do not have
            raise MeterError(f"register {entry['address']} ({entry['quantity']}) holds {value}: the meter has no value")
        readings.append(Reading(entry["quantity"], value * entry["scale"], entry["channel"]))
    return readings
