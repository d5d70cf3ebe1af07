"""SNMP source against Debian's snmpd (apt: snmpd) serving UPS-MIB, APC rPDU2, Raritan PDU2 and custom
objects through ``override`` lines, over v2c and v3 (authPriv, SHA/AES).

Every expected value is computed here from the raw objects snmpd serves, with the MIB's units.
"""

from __future__ import annotations

import time

import pytest

from microdc.facility.sources import MeterError, Reading, get_source

pytestmark = pytest.mark.integration

UPS = "1.3.6.1.2.1.33.1"
APC_DEVICE = "1.3.6.1.4.1.318.1.1.26.4.3.1"
APC_PHASE = "1.3.6.1.4.1.318.1.1.26.6.3.1"
RARITAN_VALUE = "1.3.6.1.4.1.13742.6.5.2.3.1.4.1.1"
RARITAN_DIGITS = "1.3.6.1.4.1.13742.6.3.3.4.1.7.1.1"
CUSTOM = "1.3.6.1.4.1.99999.7"

UPS_INPUT_POWER = {1: 1234, 2: 1111, 3: 1302}  # W per line
UPS_INPUT_CURRENT = {1: 54, 2: 48, 3: 57}  # 0.1 A
UPS_OUTPUT_POWER = {1: 1001, 2: 1049, 3: 990}
UPS_OUTPUT_LOAD = {1: 41, 2: 44, 3: 40}  # percent
APC_PHASES = {  # row -> (module, phase number, load state, current 0.1 A, voltage V, power 0.01 kW)
    1: (1, 1, 2, 88, 230, 201),
    2: (1, 2, 3, 91, 231, 210),
    3: (1, 3, 2, 85, 229, 195),
    4: (2, 1, 2, 10, 230, 22),  # a guest PDU daisy-chained behind ours: not ours to report
}
RARITAN = {1: (12345, 3), 4: (231, 0), 5: (4567, 0), 6: (4700, 0), 8: (123456789, 0), 23: (499, 1)}


def objects(output_source: int = 3, battery_status: int = 2) -> dict[str, tuple[str, object]]:
    table: dict[str, tuple[str, object]] = {
        "1.3.6.1.2.1.1.1.0": ("octet_str", "microdc test agent"),
        f"{UPS}.2.1.0": ("integer", battery_status),
        f"{UPS}.2.3.0": ("integer", 42),
        f"{UPS}.2.4.0": ("integer", 97),
        f"{UPS}.2.7.0": ("integer", 27),
        f"{UPS}.3.2.0": ("integer", 3),
        f"{UPS}.4.1.0": ("integer", output_source),
        f"{UPS}.4.2.0": ("integer", 501),
        f"{UPS}.4.3.0": ("integer", 3),
        f"{APC_DEVICE}.2.1": ("integer", 1),
        f"{APC_DEVICE}.4.1": ("integer", 2),
        f"{APC_DEVICE}.5.1": ("integer", 613),
        f"{APC_DEVICE}.9.1": ("integer", 12345),
        f"{APC_DEVICE}.16.1": ("integer", 650),
        f"{CUSTOM}.1.0": ("uinteger", 4321),
        f"{CUSTOM}.2.0": ("counter", 987654),
        f"{CUSTOM}.3.0": ("octet_str", "21.5"),
    }
    for line in (1, 2, 3):
        table[f"{UPS}.3.3.1.2.{line}"] = ("integer", 499)
        table[f"{UPS}.3.3.1.3.{line}"] = ("integer", 229 + line)
        table[f"{UPS}.3.3.1.4.{line}"] = ("integer", UPS_INPUT_CURRENT[line])
        table[f"{UPS}.3.3.1.5.{line}"] = ("integer", UPS_INPUT_POWER[line])
        table[f"{UPS}.4.4.1.2.{line}"] = ("integer", 230)
        table[f"{UPS}.4.4.1.3.{line}"] = ("integer", 44)
        table[f"{UPS}.4.4.1.4.{line}"] = ("integer", UPS_OUTPUT_POWER[line])
        table[f"{UPS}.4.4.1.5.{line}"] = ("integer", UPS_OUTPUT_LOAD[line])
    for row, values in APC_PHASES.items():
        for column, value in zip((2, 3, 4, 5, 6, 7), values, strict=True):
            table[f"{APC_PHASE}.{column}.{row}"] = ("integer", value)
    for sensor, (value, digits) in RARITAN.items():
        table[f"{RARITAN_VALUE}.{sensor}"] = ("uinteger", value)
        table[f"{RARITAN_DIGITS}.{sensor}"] = ("uinteger", digits)
    return table


@pytest.fixture(scope="module")
def agent(start_snmpd):
    return start_snmpd(objects())


@pytest.fixture(scope="module")
def agent_on_battery(start_snmpd):
    return start_snmpd(objects(output_source=5, battery_status=3))


def read(agent, settings: dict, secret: dict | None = None, timeout: float = 3.0) -> dict[tuple[str, str], Reading]:
    readings = get_source("snmp").read(agent.host, agent.port, settings, secret or {"community": "public"}, timeout)
    table = {(r.quantity, r.channel): r for r in readings}
    assert len(table) == len(readings)
    return table


def v3(agent, **overrides) -> tuple[dict, dict]:
    settings = {"profile": "ups_mib", "version": "3", "username": agent.v3_user, **overrides}
    return settings, {"auth_key": agent.auth_key, "priv_key": agent.priv_key}


def test_ups_mib_sums_power_over_lines_and_scales_tenths(agent):
    readings = read(agent, {"profile": "ups_mib"})

    assert readings[("power_watts", "input")].value == sum(UPS_INPUT_POWER.values())
    assert readings[("power_watts", "output")].value == sum(UPS_OUTPUT_POWER.values())
    for line in (1, 2, 3):
        assert readings[("power_watts", f"input.L{line}")].value == UPS_INPUT_POWER[line]
        assert readings[("current_amperes", f"input.L{line}")].value == pytest.approx(UPS_INPUT_CURRENT[line] / 10)
        assert readings[("voltage_volts", f"input.L{line}")].value == 229 + line
        assert readings[("frequency_hertz", f"input.L{line}")].value == pytest.approx(49.9)
        assert readings[("load_ratio", f"output.L{line}")].value == pytest.approx(UPS_OUTPUT_LOAD[line] / 100)
    assert readings[("load_ratio", "output")].value == pytest.approx(max(UPS_OUTPUT_LOAD.values()) / 100)
    assert readings[("frequency_hertz", "output")].value == pytest.approx(50.1)
    assert readings[("battery_charge_ratio", "battery")].value == pytest.approx(0.97)
    assert readings[("battery_runtime_seconds", "battery")].value == 42 * 60
    assert readings[("temperature_celsius", "battery")].value == 27
    assert readings[("on_battery", "")].value == 0 and readings[("on_battery", "")].state == "ok"
    # RFC 1628 has no energy counter: none is invented.
    assert not [key for key in readings if key[0] == "energy_joules"]


def test_ups_on_battery_with_low_battery_is_critical(agent_on_battery):
    readings = read(agent_on_battery, {"profile": "ups_mib"})
    assert readings[("on_battery", "")].value == 1
    assert readings[("on_battery", "")].state == "critical"
    assert readings[("battery_charge_ratio", "battery")].state == "warning"


def test_ups_mib_over_snmpv3_auth_priv(agent):
    settings, secret = v3(agent)
    readings = read(agent, settings, secret)
    assert readings[("power_watts", "input")].value == sum(UPS_INPUT_POWER.values())


def test_apc_rpdu2_scales_hundredths_of_kw_and_tenths_of_kwh(agent):
    readings = read(agent, {"profile": "apc_rpdu2", "pdu_index": 1})

    assert readings[("power_watts", "")].value == 613 * 10
    assert readings[("energy_joules", "")].value == 12345 / 10 * 3.6e6
    assert readings[("apparent_power_volt_amperes", "")].value == 650 * 10
    states = {2: "ok", 3: "warning"}
    for module, phase, load_state, current, voltage, power in APC_PHASES.values():
        if module != 1:
            continue
        assert readings[("current_amperes", f"L{phase}")].value == pytest.approx(current / 10)
        assert readings[("voltage_volts", f"L{phase}")].value == voltage
        assert readings[("power_watts", f"L{phase}")].value == power * 10
        assert readings[("power_watts", f"L{phase}")].state == states[load_state]
    assert len([key for key in readings if key[1].startswith("L")]) == 3 * 3  # the guest PDU's phase is left out


def test_raritan_pdu2_divides_by_decimal_digits(agent):
    readings = read(agent, {"profile": "raritan_pdu2", "pdu_id": 1, "inlet_id": 1})
    quantities = {1: "current_amperes", 4: "voltage_volts", 5: "power_watts", 6: "apparent_power_volt_amperes",
                  8: "energy_joules", 23: "frequency_hertz"}
    for sensor, (value, digits) in RARITAN.items():
        expected = value / 10**digits * (3600 if sensor == 8 else 1)
        assert readings[(quantities[sensor], "")].value == pytest.approx(expected, rel=1e-12)


def test_custom_oid_map_with_scale_and_numeric_string(agent):
    settings = {"profile": "custom", "oids": [
        {"oid": f"{CUSTOM}.1.0", "quantity": "power_watts", "scale": 0.1, "channel": "feed"},
        {"oid": f".{CUSTOM}.2.0", "quantity": "energy_joules", "scale": 3600, "type": "counter"},
        {"oid": f"{CUSTOM}.3.0", "quantity": "temperature_celsius", "channel": "inlet"},
    ]}
    readings = read(agent, settings)
    assert readings[("power_watts", "feed")].value == pytest.approx(432.1)
    assert readings[("energy_joules", "")].value == 987654 * 3600
    assert readings[("temperature_celsius", "inlet")].value == 21.5


def test_missing_object_is_an_snmp_error_naming_the_oid(agent):
    settings = {"profile": "custom", "oids": [{"oid": f"{CUSTOM}.9.0", "quantity": "power_watts"}]}
    with pytest.raises(MeterError, match=rf"SNMP error: noSuch(Object|Instance) for {CUSTOM}\.9\.0"):
        read(agent, settings)


def test_wrong_v3_authentication_key_is_reported_as_such(agent):
    settings, secret = v3(agent)
    secret["auth_key"] = "not-the-right-key"
    with pytest.raises(MeterError, match="SNMPv3 authentication failed: wrong authentication key"):
        read(agent, settings, secret)


def test_unknown_v3_user_is_reported_as_such(agent):
    settings, secret = v3(agent, username="nobody")
    with pytest.raises(MeterError, match="unknown user name"):
        read(agent, settings, secret)


def test_each_thread_replaces_its_snmp_engine_now_and_then(agent, monkeypatch):
    """pysnmp engines only ever grow their tables; a poller thread swaps its engine after a while."""
    from microdc.facility.sources import _aio, _snmp_client

    monkeypatch.setattr(_snmp_client, "ENGINE_READS", 2)
    engines = []
    for _ in range(5):
        assert read(agent, {"profile": "ups_mib"})[("power_watts", "input")].value == sum(UPS_INPUT_POWER.values())
        engines.append(_aio._local.holder.cache["snmp_engine"])  # this (main) thread's loop cache
    assert len({id(engine) for engine in engines}) >= 2


def test_wrong_community_times_out_within_the_budget_and_says_what_to_check(agent):
    started = time.monotonic()
    with pytest.raises(MeterError, match=r"timeout after 1 s waiting for an SNMP response from 127\.0\.0\.1:\d+ "
                                         r"\(check host, port and community: agents ignore a wrong community\)"):
        read(agent, {"profile": "ups_mib"}, {"community": "wrong"}, timeout=1.0)
    assert time.monotonic() - started < 1.5


@pytest.fixture(scope="module")
def agent_without_output_source(start_snmpd):
    table = objects()
    for absent in (f"{UPS}.4.1.0", f"{UPS}.4.3.0", f"{UPS}.3.2.0"):  # upsOutputSource, upsOutput/InputNumLines
        del table[absent]
    return start_snmpd(table)


def test_ups_lacking_status_objects_reads_what_it_has_with_a_warning_reason(agent_without_output_source):
    readings = read(agent_without_output_source, {"profile": "ups_mib"})

    # The line counts are missing too: the lines come from the tables' rows instead.
    assert readings[("power_watts", "input")].value == sum(UPS_INPUT_POWER.values())
    assert readings[("power_watts", "output.L3")].value == UPS_OUTPUT_POWER[3]
    assert readings[("battery_charge_ratio", "battery")].value == pytest.approx(0.97)
    # Whether it is on battery is unknown: no guessed value, a warning with the reason on the output reading.
    assert not [key for key in readings if key[0] == "on_battery"]
    warned = [r for r in readings.values() if r.reason]
    assert len(warned) == 1 and (warned[0].quantity, warned[0].channel) == ("power_watts", "output")
    assert warned[0].state == "warning"
    assert f"upsOutputSource ({UPS}.4.1.0)" in warned[0].reason


def test_a_meter_reading_keeps_the_warning_reason(agent_without_output_source, site, client_for):
    from microdc.facility.poller import poll_meter
    from microdc.nodes.models import FacilityMeter

    meter = FacilityMeter.objects.create(
        site=site, name="UPS 1", kind="ups", boundary="facility_input", protocol="snmp",
        host=agent_without_output_source.host, port=agent_without_output_source.port,
        settings={"profile": "ups_mib"}, secret={"community": "public"})
    outcome = poll_meter(meter)
    assert outcome.ok and outcome.error == "" and outcome.readings > 10

    body = client_for("viewer").get(f"/api/v1/meters/{meter.pk}/readings/").json()
    assert body["health"]["healthy"] is True, body["health"]
    reasons = {c["channel"]: c["reasons"] for c in body["channels"] if c["reasons"]}
    assert list(reasons) == ["output"] and "upsOutputSource" in reasons["output"]["power_watts"]
