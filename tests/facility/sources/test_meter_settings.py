"""Settings validation: defaults are filled in, and every mistake names the field it is about.

(Parameters are called ``given``, not ``settings``: pytest-django's ``settings`` fixture is autoused.)
"""

from __future__ import annotations

import pytest

from microdc.facility.sources import PROTOCOLS, QUANTITIES, MeterSource, SettingsError, get_source


def invalid(protocol: str, settings: dict, secret: dict | None = None) -> SettingsError:
    with pytest.raises(SettingsError) as caught:
        get_source(protocol).validate_settings(settings, secret or {})
    return caught.value


def test_every_protocol_has_a_source_implementing_the_interface():
    for protocol in PROTOCOLS:
        source = get_source(protocol)
        assert isinstance(source, MeterSource)
        assert source.protocol == protocol
    with pytest.raises(ValueError, match="unknown meter protocol 'bacnet'"):
        get_source("bacnet")


def test_redfish_defaults_and_normalisation():
    settings = get_source("redfish").validate_settings(
        {"resource": "/redfish/v1/PowerEquipment/RackPDUs/1/"}, {"username": "admin", "password": "x"})
    assert settings == {
        "resource": "/redfish/v1/PowerEquipment/RackPDUs/1", "kind": "auto",
        "parts": ["metrics", "mains", "branches", "outlets", "environment", "primary", "secondary", "pumps",
                  "leak", "power", "sensors"],
        "scheme": "https", "verify_tls": True, "auth": "basic",
    }


@pytest.mark.parametrize(("given", "secret", "field"), [
    ({}, {}, "resource"),
    ({"resource": "PowerEquipment/RackPDUs/1"}, {}, "resource"),
    ({"resource": "/redfish/v1/Chassis/1", "kind": "rack"}, {}, "kind"),
    ({"resource": "/redfish/v1/Chassis/1", "kind": "pdu", "parts": ["pumps"]}, {}, "parts"),
    ({"resource": "/redfish/v1/Chassis/1", "verify_tls": "no"}, {}, "verify_tls"),
    ({"resource": "/redfish/v1/Chassis/1", "verify_ssl": False}, {}, "verify_ssl"),
    ({"resource": "/redfish/v1/Chassis/1", "auth": "basic"}, {"username": "admin"}, "secret.password"),
])
def test_redfish_errors_name_the_field(given, secret, field):
    assert invalid("redfish", given, secret).field == field


def test_redfish_without_auth_needs_no_secret():
    settings = get_source("redfish").validate_settings({"resource": "/redfish/v1/Chassis/1", "auth": "none"}, {})
    assert settings["auth"] == "none"


@pytest.mark.parametrize(("given", "secret", "field"), [
    ({}, {}, "profile"),
    ({"profile": "ups"}, {}, "profile"),
    ({"profile": "ups_mib", "version": "1"}, {}, "version"),
    ({"profile": "ups_mib", "version": "3"}, {}, "username"),
    ({"profile": "ups_mib", "version": "3", "username": "u"}, {"priv_key": "12345678"}, "secret.auth_key"),
    ({"profile": "ups_mib", "version": "3", "username": "u"}, {"auth_key": "short", "priv_key": "12345678"},
     "secret.auth_key"),
    ({"profile": "ups_mib", "version": "3", "username": "u", "auth_protocol": "SHA1"}, {}, "auth_protocol"),
    ({"profile": "custom"}, {}, "oids"),
    ({"profile": "custom", "oids": [{"oid": "1.3.6.x", "quantity": "power_watts"}]}, {}, "oids[0].oid"),
    ({"profile": "custom", "oids": [{"oid": "1.3.6.1", "quantity": "kilowatts"}]}, {}, "oids[0].quantity"),
    ({"profile": "custom", "oids": [{"oid": "1.3.6.1", "quantity": "power_watts", "scale": 0}]}, {},
     "oids[0].scale"),
    ({"profile": "custom", "oids": [{"oid": "1.3.6.1", "quantity": "energy_joules"}]}, {}, "oids[0].type"),
    ({"profile": "custom", "oids": [{"oid": "1.3.6.1", "quantity": "power_watts", "type": "counter"}]}, {},
     "oids[0].type"),
    ({"profile": "apc_rpdu2", "pdu_index": 0}, {}, "pdu_index"),
    ({"profile": "ups_mib", "pdu_index": 1}, {}, "pdu_index"),
    ({"profile": "ups_mib", "retries": 9}, {}, "retries"),
])
def test_snmp_errors_name_the_field(given, secret, field):
    assert invalid("snmp", given, secret).field == field


def test_snmp_v3_defaults():
    settings = get_source("snmp").validate_settings(
        {"profile": "ups_mib", "version": "3", "username": "monitor"},
        {"auth_key": "authpassphrase", "priv_key": "privpassphrase"})
    assert settings == {"profile": "ups_mib", "version": "3", "retries": 1, "oids": [], "username": "monitor",
                        "security_level": "authPriv", "auth_protocol": "SHA", "priv_protocol": "AES", "context": ""}


@pytest.mark.parametrize(("given", "secret", "field"), [
    ({"mode": "tcp"}, {}, "mode"),
    ({"unit_id": 300}, {}, "unit_id"),
    ({"model": 101}, {}, "model"),
    ({"mode": "registers"}, {}, "registers"),
    ({"mode": "registers", "registers": []}, {}, "registers"),
    ({"mode": "registers", "registers": [{"address": -1, "quantity": "power_watts"}]}, {}, "registers[0].address"),
    ({"mode": "registers", "registers": [{"address": 1, "type": "float16", "quantity": "power_watts"}]}, {},
     "registers[0].type"),
    ({"mode": "registers", "registers": [{"address": 1, "word_order": "middle", "quantity": "power_watts"}]}, {},
     "registers[0].word_order"),
    ({"mode": "registers", "registers": [{"address": 65535, "type": "uint32", "quantity": "power_watts"}]}, {},
     "registers[0].address"),
    ({"mode": "registers", "registers": [{"address": 1, "quantity": "power_watts", "table": "coil"}]}, {},
     "registers[0].table"),
    ({}, {"password": "x"}, "secret.password"),
])
def test_modbus_errors_name_the_field(given, secret, field):
    assert invalid("modbus", given, secret).field == field


def test_modbus_defaults():
    assert get_source("modbus").validate_settings({}, {}) == {
        "mode": "sunspec", "unit_id": 1, "base_address": None, "model": None}


@pytest.mark.parametrize(("given", "secret", "field"), [
    ({}, {}, "queries"),
    ({"queries": []}, {}, "queries"),
    ({"queries": [{"quantity": "power_watts"}]}, {}, "queries[0].query"),
    ({"queries": [{"query": "up", "quantity": "watts"}]}, {}, "queries[0].quantity"),
    ({"queries": [{"query": "up", "quantity": "power_watts", "label": "x"}]}, {}, "queries[0].label"),
    ({"queries": [{"query": "up", "quantity": "power_watts"}], "path_prefix": "prometheus"}, {}, "path_prefix"),
    ({"queries": [{"query": "up", "quantity": "power_watts"}]}, {"username": "u"}, "secret.password"),
    ({"queries": [{"query": "up", "quantity": "power_watts"}]}, {"bearer_token": "t", "username": "u",
                                                                  "password": "p"}, "secret.bearer_token"),
])
def test_promql_errors_name_the_field(given, secret, field):
    assert invalid("promql", given, secret).field == field


def test_settings_error_message_starts_with_the_field():
    error = invalid("modbus", {"unit_id": "one"})
    assert str(error) == "unit_id: must be a whole number"
    assert isinstance(error, ValueError)


def test_quantities_are_the_documented_base_unit_names():
    assert {"power_watts", "energy_joules", "leak_detected", "on_battery", "water_cubic_meters"} <= QUANTITIES
    assert all(name == name.lower() for name in QUANTITIES)
