"""The demo's simulated facility: every peer is readable through the real meter sources, values hang
together physically, energy counters only grow, and everything says it is simulated."""

from __future__ import annotations

import time

import httpx
import pytest
from pymodbus.client import ModbusTcpClient

from microdc.facility.sources import MeterError, Reading, get_source
from microdc.simulator.facility import start_simulated_facility
from microdc.simulator.facility.model import FacilityModel

pytestmark = pytest.mark.integration

IT_WATTS = {"A01": 5000.0, "A02": 7000.0}


@pytest.fixture(scope="module")
def facility():
    with start_simulated_facility(lambda _now: IT_WATTS, racks=("A01", "A02")) as running:
        yield running


def read(endpoint, **overrides) -> dict[tuple[str, str], Reading]:
    settings = {**endpoint.settings, **overrides}
    readings = get_source(endpoint.protocol).read(endpoint.host, endpoint.port, settings, endpoint.secret, 5.0)
    return {(r.quantity, r.channel): r for r in readings}


def test_demo_meters_are_all_there_with_the_seeded_names(facility):
    names = [endpoint.name for endpoint in facility.endpoints]
    assert names == ["Utility feed", "UPS", "PDU A01", "PDU A02", "Cooling unit"]
    assert {e.protocol for e in facility.endpoints} == {"modbus", "snmp", "redfish"}
    assert all(e.simulated and e.host == "127.0.0.1" for e in facility.endpoints)


def test_every_endpoint_is_readable_and_gives_its_boundary_power(facility):
    for endpoint in facility.endpoints + facility.extra_endpoints:
        readings = read(endpoint)
        assert readings[("power_watts", endpoint.channel)].value > 0, endpoint.name


def test_power_flows_add_up_from_it_load_to_the_utility_feed(facility):
    utility = read(facility.endpoint("Utility feed"))[("power_watts", "")].value
    ups = read(facility.endpoint("UPS"))
    pdus = {rack: read(facility.endpoint(f"PDU {rack}")) for rack in IT_WATTS}
    cooling = read(facility.endpoint("Cooling unit"))[("power_watts", "")].value

    for rack, watts in IT_WATTS.items():
        assert pdus[rack][("power_watts", "outlets")].value == pytest.approx(watts, abs=0.01)  # IT at PDU outputs
        assert pdus[rack][("power_watts", "")].value > watts  # PDU input includes its losses
    it = sum(IT_WATTS.values())
    pdu_inputs = sum(pdu[("power_watts", "")].value for pdu in pdus.values())
    # The UPS reports whole watts per line (three lines).
    assert ups[("power_watts", "output")].value == pytest.approx(pdu_inputs, abs=2)
    assert ups[("power_watts", "input")].value > ups[("power_watts", "output")].value
    assert utility > ups[("power_watts", "input")].value + cooling * 0.99
    assert utility > it
    assert 1.1 < utility / it < 2.0  # a plausible PUE


def test_energy_counters_are_monotonic_and_track_power(facility):
    endpoints = {"Utility feed": "", "PDU A01": "outlets", "Cooling unit": ""}
    first = {name: read(facility.endpoint(name))[("energy_joules", ch)].value for name, ch in endpoints.items()}
    started = time.monotonic()
    time.sleep(1.5)
    second = {name: read(facility.endpoint(name)) for name in endpoints}
    elapsed = time.monotonic() - started
    for name, channel in endpoints.items():
        gained = second[name][("energy_joules", channel)].value - first[name]
        power = second[name][("power_watts", channel)].value
        assert gained > 0, name
        # Energy over the interval is power times time (the reads themselves take a little of it).
        assert gained == pytest.approx(power * elapsed, rel=0.25), name


def test_model_energy_is_the_exact_integral_of_power():
    start = 1_000_000.0
    clock = [start]
    model = FacilityModel(racks=("R",), it_power_fn=lambda now: 1000.0 + (now - start), clock=lambda: clock[0])
    before = model.snapshot().energy_joules
    clock[0] += 10.5
    after = model.snapshot().energy_joules
    outlets = [f"outlet.R.{index}" for index in range(1, 5)]
    # IT power rises linearly from 1000 W, so over 10.5 s the outlets deliver 1000*10.5 + 10.5**2/2 J.
    assert sum(after[name] - before[name] for name in outlets) == pytest.approx(1000 * 10.5 + 10.5**2 / 2, rel=1e-9)
    clock[0] -= 5  # a clock stepping back must not run the counters backwards
    assert model.snapshot().energy_joules == after


def test_cooling_unit_reports_thermal_values(facility):
    readings = read(facility.endpoint("Cooling unit"))
    heat = readings[("heat_removed_watts", "secondary.1")].value
    assert heat == pytest.approx(0.75 * sum(IT_WATTS.values()), rel=1e-3)
    assert readings[("temperature_celsius", "secondary.1.return")].value > readings[
        ("temperature_celsius", "secondary.1.supply")].value
    assert readings[("flow_liters_per_minute", "secondary.1")].value > 0
    assert readings[("leak_detected", "leak.Tray")] == Reading("leak_detected", 0.0, "leak.Tray", "ok")


def test_redfish_session_is_created_and_deleted(facility):
    endpoint = facility.endpoint("PDU A01")
    base = f"http://{endpoint.host}:{endpoint.port}/redfish/v1"
    auth = (endpoint.secret["username"], endpoint.secret["password"])
    read(endpoint)
    sessions = httpx.get(f"{base}/SessionService/Sessions", auth=auth).json()
    assert sessions["Members"] == []  # the source logged out after reading


def test_redfish_wrong_password_is_an_authentication_error(facility):
    endpoint = facility.endpoint("PDU A01")
    for auth in ("session", "basic"):
        with pytest.raises(MeterError, match=r"HTTP 401 from .*authentication failed"):
            get_source("redfish").read(endpoint.host, endpoint.port, {**endpoint.settings, "auth": auth},
                                       {"username": "admin", "password": "wrong"}, 5.0)


def test_every_peer_says_it_is_simulated(facility):
    pdu = facility.endpoint("PDU A01")
    auth = (pdu.secret["username"], pdu.secret["password"])
    document = httpx.get(f"http://{pdu.host}:{pdu.port}{pdu.settings['resource']}", auth=auth).json()
    assert document["Manufacturer"] == "microdc simulator"
    ups = facility.endpoint("UPS")
    description = {"profile": "custom", "oids": [{"oid": "1.3.6.1.2.1.1.1.0", "quantity": "load_ratio"}]}
    with pytest.raises(MeterError, match="is the string 'microdc simulated UPS"):
        get_source("snmp").read(ups.host, ups.port, {**ups.settings, **description}, ups.secret, 5.0)
    utility = facility.endpoint("Utility feed")
    client = ModbusTcpClient(utility.host, port=utility.port, timeout=5)
    try:
        assert client.connect()
        manufacturer = client.read_holding_registers(40004, count=16, device_id=1)  # model 1 "Mn"
    finally:
        client.close()
    text = b"".join(word.to_bytes(2, "big") for word in manufacturer.registers).rstrip(b"\0").decode()
    assert text == "microdc simulator"
