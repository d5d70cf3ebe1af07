"""SNMP meters (v2c and v3 with USM): UPSs by RFC 1628 UPS-MIB, APC rPDU2 and Raritan PDU2 PDUs,
and any device through a user-defined OID map.

Settings (JSON, no secrets):

``profile`` (required): ``ups_mib``, ``apc_rpdu2``, ``raritan_pdu2`` or ``custom``.
``version`` (default ``"2c"``): ``2c`` or ``3``.
``pdu_index`` (apc_rpdu2, default 1): the rPDU2 device index (1 = host PDU, 2.. = daisy-chained guests).
``pdu_id``, ``inlet_id`` (raritan_pdu2, default 1 and 1).
``oids`` (required for ``custom``, optional extras for the others): a list of
    ``{"oid": "1.3.6.1.4.1.x.y.0", "quantity": "power_watts", "scale": 1.0, "channel": "",
    "type": "gauge" | "counter"}``; the reading is ``value * scale`` in the quantity's base unit
    (e.g. scale 3600 for a Wh counter as ``energy_joules``). ``type: counter`` (Counter32/64, a
    cumulative total) is only allowed for cumulative quantities (``energy_joules``,
    ``water_cubic_meters``); a Counter32 wraps at 2^32, which the consumer sees as a reset.
``retries`` (default 1, 0-5): resends after a lost datagram; the read's timeout is shared by all tries.
SNMPv3 only: ``username`` (required), ``security_level`` (``authPriv`` default, ``authNoPriv``,
    ``noAuthNoPriv``), ``auth_protocol`` (``SHA`` default, ``SHA224``, ``SHA256``, ``SHA384``,
    ``SHA512``, ``MD5``), ``priv_protocol`` (``AES`` default, ``AES192``, ``AES256``, ``DES``,
    ``3DES``), ``context`` (context name, default empty).

Secret: ``community`` (v2c; default ``public``), ``auth_key`` and ``priv_key`` (v3 passphrases, at
least 8 characters, as the security level requires).

Readings and channels:

* ups_mib: ``input`` / ``output`` power (sum over lines), ``input.L<n>`` / ``output.L<n>`` per-line
  power, voltage, current (input frequency per line); ``output`` load (the most loaded line) and
  frequency; ``battery`` charge, runtime, temperature (state warning when the battery is low,
  critical when depleted); ``on_battery`` (state warning, critical when also low).
* apc_rpdu2: ``""`` power, energy, apparent power (state from the device load state);
  ``L<n>`` per-phase current, voltage, power.
* raritan_pdu2: ``""`` inlet power, apparent power, energy, current, voltage, frequency.
* oids: the channel given in each entry.
"""

from __future__ import annotations

from ._aio import LoopCache, run_sync
from ._fields import Fields, channel, secret_string
from ._snmp_client import AUTH_PROTOCOLS, PRIV_PROTOCOLS, SnmpClient, SnmpTarget, waiting_for
from ._snmp_profiles import PROFILES, read_oid_map
from .base import CUMULATIVE_QUANTITIES, MeterError, Reading, SettingsError, begin_read, check_readings

DEFAULT_PORT = 161


class SnmpSource:
    protocol = "snmp"

    def validate_settings(self, settings: dict, secret: dict) -> dict:
        fields = Fields(settings)
        secret = secret or {}
        normalised: dict = {
            "profile": fields.choice("profile", ("ups_mib", "apc_rpdu2", "raritan_pdu2", "custom")),
            "version": fields.choice("version", ("2c", "3"), "2c"),
            "retries": fields.integer("retries", 1, minimum=0, maximum=5),
        }
        if normalised["profile"] == "apc_rpdu2":
            normalised["pdu_index"] = fields.integer("pdu_index", 1, minimum=1, maximum=256)
        if normalised["profile"] == "raritan_pdu2":
            normalised["pdu_id"] = fields.integer("pdu_id", 1, minimum=0, maximum=256)
            normalised["inlet_id"] = fields.integer("inlet_id", 1, minimum=1, maximum=64)
        normalised["oids"] = [_oid_entry(entry) for entry in fields.objects("oids", [], max_items=200)]
        if normalised["profile"] == "custom" and not normalised["oids"]:
            raise SettingsError("oids", "the custom profile needs at least one OID")
        if normalised["version"] == "3":
            normalised["username"] = fields.string("username", max_length=32)
            level = fields.choice("security_level", ("authPriv", "authNoPriv", "noAuthNoPriv"), "authPriv")
            normalised["security_level"] = level
            normalised["auth_protocol"] = fields.choice("auth_protocol", tuple(AUTH_PROTOCOLS), "SHA")
            normalised["priv_protocol"] = fields.choice("priv_protocol", tuple(PRIV_PROTOCOLS), "AES")
            normalised["context"] = fields.string("context", "", allow_empty=True, max_length=32)
            for key, needed in (("auth_key", level != "noAuthNoPriv"), ("priv_key", level == "authPriv")):
                value = secret_string(secret, key, required=needed)
                if needed and value is not None and len(value) < 8:
                    raise SettingsError(f"secret.{key}", "must be at least 8 characters (USM passphrase)")
        else:
            secret_string(secret, "community", required=False)
        fields.done()
        return normalised

    def read(self, host: str, port: int | None, settings: dict, secret: dict, timeout: float) -> list[Reading]:
        deadline, settings = begin_read(self, settings, secret, timeout)
        secret = secret or {}
        target = SnmpTarget(
            host=host,
            port=port or DEFAULT_PORT,
            version=settings["version"],
            community=secret.get("community") or "public",
            username=settings.get("username", ""),
            security_level=settings.get("security_level", "authPriv"),
            auth_protocol=settings.get("auth_protocol", "SHA"),
            priv_protocol=settings.get("priv_protocol", "AES"),
            auth_key=secret.get("auth_key"),
            priv_key=secret.get("priv_key"),
            context=settings.get("context", ""),
            retries=settings["retries"],
        )

        async def read_agent(cache: LoopCache) -> list[Reading]:
            client = SnmpClient(target, deadline, cache)
            readings: list[Reading] = []
            if settings["profile"] in PROFILES:
                readings += await PROFILES[settings["profile"]](client, settings)
            readings += await read_oid_map(client, settings["oids"])
            return readings

        readings = run_sync(read_agent, deadline, waiting_for(target))
        if not readings:
            raise MeterError(f"the SNMP agent at {target.where} gave no readings for profile {settings['profile']}")
        return check_readings(readings)


def _oid_entry(fields: Fields) -> dict:
    oid = fields.string("oid", max_length=200).lstrip(".")
    parts = oid.split(".")
    if len(parts) < 2 or not all(part.isdigit() for part in parts):
        example = "1.3.6.1.4.1.318.1.1.26.4.3.1.5.1"
        raise SettingsError(fields.name("oid"), f"must be a numeric OID such as {example}, got {oid!r}")
    entry = {
        "oid": oid,
        "quantity": fields.quantity(),
        "scale": fields.number("scale", 1.0, nonzero=True),
        "channel": channel(fields),
        "type": fields.choice("type", ("gauge", "counter"), "gauge"),
    }
    if entry["type"] == "counter" and entry["quantity"] not in CUMULATIVE_QUANTITIES:
        cumulative = ", ".join(sorted(CUMULATIVE_QUANTITIES))
        raise SettingsError(fields.name("type"), f"a counter must measure a cumulative quantity ({cumulative})")
    if entry["quantity"] in CUMULATIVE_QUANTITIES and entry["type"] != "counter":
        raise SettingsError(fields.name("type"), f"{entry['quantity']} is cumulative: set type to counter")
    fields.done()
    return entry
