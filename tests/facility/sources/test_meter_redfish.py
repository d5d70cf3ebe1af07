"""Redfish source against sushy-static (PyPI sushy-tools) serving the DMTF PDU and CDU mockups.

The mockups' readings disagree across resources (the PDU's Metrics differ from its PDUPower sensor),
so each reading is checked against the JSON file of the resource it comes from, read here.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest

from microdc.facility.sources import MeterError, Reading, get_source

pytestmark = pytest.mark.integration

PDU = "/redfish/v1/PowerEquipment/RackPDUs/1"
CDU = "/redfish/v1/ThermalEquipment/CDUs/1"
KWH = 3.6e6
CREDENTIALS = {"username": "u", "password": "p"}  # sushy-static ignores them; basic auth is still sent


def load(root: Path, path: str) -> dict:
    return json.loads((root / path.removeprefix("/redfish/v1/") / "index.json").read_text())


def by(readings: list[Reading]) -> dict[tuple[str, str], Reading]:
    table = {(r.quantity, r.channel): r for r in readings}
    assert len(table) == len(readings), "two readings share a quantity and channel"
    return table


def read(peer, settings: dict, secret: dict | None = None, timeout: float = 5.0) -> list[Reading]:
    settings = {"scheme": "http", **settings}
    return get_source("redfish").read(peer.host, peer.port, settings, secret or {"username": "u", "password": "p"},
                                      timeout)


@pytest.fixture(scope="module")
def pdu_mockup(redfish_fixtures: Path) -> Path:
    return redfish_fixtures / "public-pdu"


@pytest.fixture(scope="module")
def cdu_mockup(redfish_fixtures: Path) -> Path:
    return redfish_fixtures / "public-cooling-unit"


@pytest.fixture(scope="module")
def pdu_peer(sushy_static, pdu_mockup):
    return sushy_static(pdu_mockup)


@pytest.fixture(scope="module")
def cdu_peer(sushy_static, cdu_mockup):
    return sushy_static(cdu_mockup)


def test_rack_pdu_metrics_are_the_pdu_total_in_base_units(pdu_peer, pdu_mockup):
    metrics = load(pdu_mockup, f"{PDU}/Metrics")
    readings = by(read(pdu_peer, {"resource": PDU, "parts": ["metrics"]}))

    assert readings[("power_watts", "")].value == metrics["PowerWatts"]["Reading"]
    assert readings[("apparent_power_volt_amperes", "")].value == metrics["PowerWatts"]["ApparentVA"]
    assert readings[("energy_joules", "")].value == metrics["EnergykWh"]["Reading"] * KWH
    assert readings[("temperature_celsius", "")].value == metrics["TemperatureCelsius"]["Reading"]
    assert set(readings) == {("power_watts", ""), ("apparent_power_volt_amperes", ""), ("energy_joules", ""),
                             ("temperature_celsius", "")}


def test_rack_pdu_mains_give_every_phase(pdu_peer, pdu_mockup):
    mains = load(pdu_mockup, f"{PDU}/Mains/AC1")
    readings = by(read(pdu_peer, {"resource": PDU, "parts": ["mains"]}))

    names = {"Line1ToLine2": "L1-L2", "Line2ToLine3": "L2-L3", "Line3ToLine1": "L3-L1",
             "Line1ToNeutral": "L1-N", "Line2ToNeutral": "L2-N", "Line3ToNeutral": "L3-N",
             "Line1": "L1", "Line2": "L2", "Line3": "L3", "Neutral": "N"}
    for line, excerpt in mains["PolyPhasePowerWatts"].items():
        assert readings[("power_watts", f"mains.AC1.{names[line]}")].value == excerpt["Reading"]
        assert readings[("apparent_power_volt_amperes", f"mains.AC1.{names[line]}")].value == excerpt["ApparentVA"]
    for line, excerpt in mains["PolyPhaseVoltage"].items():
        assert readings[("voltage_volts", f"mains.AC1.{names[line]}")].value == excerpt["Reading"]
    for line, excerpt in mains["PolyPhaseCurrentAmps"].items():
        assert readings[("current_amperes", f"mains.AC1.{names[line]}")].value == excerpt["Reading"]
    assert readings[("frequency_hertz", "mains.AC1")].value == mains["FrequencyHz"]["Reading"]


def test_rack_pdu_branches_and_outlets_each_match_their_own_file(pdu_peer, pdu_mockup):
    readings = by(read(pdu_peer, {"resource": PDU, "parts": ["branches", "outlets"]}))

    for member in load(pdu_mockup, f"{PDU}/Branches")["Members"]:
        branch = load(pdu_mockup, member["@odata.id"])
        channel = f"branch.{branch['Id']}"
        assert readings[("power_watts", channel)].value == branch["PowerWatts"]["Reading"]
        assert readings[("energy_joules", channel)].value == branch["EnergykWh"]["Reading"] * KWH
        assert readings[("current_amperes", channel)].value == branch["CurrentAmps"]["Reading"]
    outlets = [load(pdu_mockup, m["@odata.id"]) for m in load(pdu_mockup, f"{PDU}/Outlets")["Members"]]
    reporting = [outlet for outlet in outlets if "PowerWatts" in outlet]
    assert reporting, "the mockup has metered outlets"
    for outlet in reporting:
        channel = f"outlet.{outlet['Id']}"
        assert readings[("power_watts", channel)].value == outlet["PowerWatts"]["Reading"]
        assert readings[("energy_joules", channel)].value == outlet["EnergykWh"]["Reading"] * KWH
        assert readings[("voltage_volts", channel)].value == outlet["Voltage"]["Reading"]
    for outlet in outlets:
        if "PowerWatts" not in outlet:
            assert not [key for key in readings if key[1] == f"outlet.{outlet['Id']}"]
    # Some outlets report nothing, so a sum over outlets would understate the PDU output: none is given.
    assert ("power_watts", "outlets") not in readings


def test_cooling_unit_coolant_pumps_leaks_and_environment(cdu_peer, cdu_mockup):
    readings = by(read(cdu_peer, {"resource": CDU}))

    for loop in ("Primary", "Secondary"):
        for member in load(cdu_mockup, f"{CDU}/{loop}CoolantConnectors")["Members"]:
            connector = load(cdu_mockup, member["@odata.id"])
            channel = f"{loop.lower()}.{connector['Id']}"
            assert readings[("flow_liters_per_minute", channel)].value == connector["FlowLitersPerMinute"]["Reading"]
            assert readings[("heat_removed_watts", channel)].value == pytest.approx(
                connector["HeatRemovedkW"]["Reading"] * 1000, rel=1e-12)
            for side in ("Supply", "Return", "Delta"):
                assert (readings[("temperature_celsius", f"{channel}.{side.lower()}")].value
                        == connector[f"{side}TemperatureCelsius"]["Reading"])
                assert (readings[("pressure_pascals", f"{channel}.{side.lower()}")].value
                        == connector[f"{side}PressurekPa"]["Reading"] * 1000)
    health = {"OK": "ok", "Warning": "warning", "Critical": "critical"}
    for member in load(cdu_mockup, f"{CDU}/Pumps")["Members"]:
        pump = load(cdu_mockup, member["@odata.id"])
        reading = readings[("load_ratio", f"pump.{pump['Id']}")]
        assert reading.value == pytest.approx(pump["PumpSpeedPercent"]["Reading"] / 100, rel=1e-12)
        assert reading.state == health[pump["Status"]["Health"]]
    assert readings[("load_ratio", "pump.2")].state == "critical"  # the mockup's failed pump
    for group in load(cdu_mockup, f"{CDU}/LeakDetection")["LeakDetectorGroups"]:
        for detector in group["Detectors"]:
            name = detector["DataSourceUri"].rsplit("/", 1)[-1]
            leak = readings[("leak_detected", f"leak.{name}")]
            assert leak.value == (0.0 if detector["DetectorState"] == "OK" else 1.0)
            assert leak.state == health[detector["DetectorState"]]
    environment = load(cdu_mockup, f"{CDU}/EnvironmentMetrics")
    assert readings[("temperature_celsius", "")].value == environment["TemperatureCelsius"]["Reading"]
    assert readings[("humidity_ratio", "")].value == environment["HumidityPercent"]["Reading"] / 100


def test_chassis_sensors_follow_reading_type_not_units(pdu_peer, pdu_mockup):
    readings = by(read(pdu_peer, {"resource": "/redfish/v1/Chassis/PDU/Sensors"}))
    factors = {"Power": ("power_watts", 1), "EnergykWh": ("energy_joules", KWH), "Voltage": ("voltage_volts", 1),
               "Current": ("current_amperes", 1), "Frequency": ("frequency_hertz", 1),
               "Temperature": ("temperature_celsius", 1), "Humidity": ("humidity_ratio", 0.01)}
    checked = 0
    for member in load(pdu_mockup, "/redfish/v1/Chassis/PDU/Sensors")["Members"]:
        sensor = load(pdu_mockup, member["@odata.id"])
        quantity, factor = factors[sensor["ReadingType"]]
        # Channels come from the URI: the mockup gives several sensors the same Id.
        channel = f"sensor.{member['@odata.id'].rsplit('/', 1)[-1]}"
        assert readings[(quantity, channel)].value == pytest.approx(sensor["Reading"] * factor, rel=1e-12)
        checked += 1
    assert checked == len([key for key in readings if key[0] != "apparent_power_volt_amperes"])


def test_cdu_chassis_reads_environment_and_sensors_by_links(cdu_peer, cdu_mockup):
    readings = by(read(cdu_peer, {"resource": "/redfish/v1/Chassis/CDU"}))
    flow = load(cdu_mockup, "/redfish/v1/Chassis/CDU/Sensors/PrimaryFlow")
    heat = load(cdu_mockup, "/redfish/v1/Chassis/CDU/Sensors/PrimaryHeatLoad")
    pressure = load(cdu_mockup, "/redfish/v1/Chassis/CDU/Sensors/PrimarySupplyPressure")
    assert readings[("flow_liters_per_minute", "sensor.PrimaryFlow")].value == flow["Reading"]
    assert readings[("heat_removed_watts", "sensor.PrimaryHeatLoad")].value == pytest.approx(heat["Reading"] * 1000)
    # This file's @odata.id wrongly says PrimaryHeatLoad; the channel follows the link we read it from.
    secondary = load(cdu_mockup, "/redfish/v1/Chassis/CDU/Sensors/SecondaryHeatLoad")
    assert readings[("heat_removed_watts", "sensor.SecondaryHeatLoad")].value == pytest.approx(
        secondary["Reading"] * 1000)
    assert readings[("pressure_pascals", "sensor.PrimarySupplyPressure")].value == pressure["Reading"] * 1000
    environment = load(cdu_mockup, "/redfish/v1/Chassis/CDU/EnvironmentMetrics")
    assert readings[("temperature_celsius", "")].value == environment["TemperatureCelsius"]["Reading"]


# --- chassis power: a small mockup of our own, also served by sushy-static ---------------------------------


def write_tree(root: Path, resources: dict[str, dict]) -> Path:
    for path, document in resources.items():
        folder = root / path.removeprefix("/redfish/v1").strip("/")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "index.json").write_text(json.dumps({"@odata.id": path, **document}))
    return root


@pytest.fixture(scope="module")
def chassis_mockup(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("chassis-mockup")
    return write_tree(root, {
        "/redfish/v1": {"@odata.type": "#ServiceRoot.v1_5_0.ServiceRoot",
                        "Chassis": {"@odata.id": "/redfish/v1/Chassis"}},
        # A BMC that only serves the deprecated Power resource.
        "/redfish/v1/Chassis/Legacy": {"@odata.type": "#Chassis.v1_10_0.Chassis", "Id": "Legacy",
                                       "Power": {"@odata.id": "/redfish/v1/Chassis/Legacy/Power"}},
        "/redfish/v1/Chassis/Legacy/Power": {
            "@odata.type": "#Power.v1_7_1.Power",
            "PowerControl": [{"MemberId": "0", "PowerConsumedWatts": 412.5, "Status": {"Health": "OK"}},
                             {"MemberId": "CPU", "PowerConsumedWatts": 180.25}],
            "PowerSupplies": [{"MemberId": "0", "PowerInputWatts": 230.5, "LastPowerOutputWatts": 205.0,
                               "LineInputVoltage": 231.0, "Status": {"Health": "Warning"}}],
        },
        # A newer BMC: EnvironmentMetrics for the chassis, PowerSubsystem for its supplies.
        "/redfish/v1/Chassis/Modern": {
            "@odata.type": "#Chassis.v1_25_0.Chassis", "Id": "Modern",
            "EnvironmentMetrics": {"@odata.id": "/redfish/v1/Chassis/Modern/EnvironmentMetrics"},
            "PowerSubsystem": {"@odata.id": "/redfish/v1/Chassis/Modern/PowerSubsystem"},
            "Power": {"@odata.id": "/redfish/v1/Chassis/Modern/Power"},
        },
        "/redfish/v1/Chassis/Modern/EnvironmentMetrics": {
            "@odata.type": "#EnvironmentMetrics.v1_3_0.EnvironmentMetrics",
            "PowerWatts": {"Reading": 1375.0}, "EnergykWh": {"Reading": 2.5}, "TemperatureCelsius": {"Reading": 27.5},
        },
        "/redfish/v1/Chassis/Modern/PowerSubsystem": {
            "@odata.type": "#PowerSubsystem.v1_1_0.PowerSubsystem",
            "PowerSupplies": {"@odata.id": "/redfish/v1/Chassis/Modern/PowerSubsystem/PowerSupplies"},
        },
        "/redfish/v1/Chassis/Modern/PowerSubsystem/PowerSupplies": {
            "@odata.type": "#PowerSupplyCollection.PowerSupplyCollection",
            "Members": [{"@odata.id": "/redfish/v1/Chassis/Modern/PowerSubsystem/PowerSupplies/PSU1"},
                        {"@odata.id": "/redfish/v1/Chassis/Modern/PowerSubsystem/PowerSupplies/PSU2"}],
        },
        **{f"/redfish/v1/Chassis/Modern/PowerSubsystem/PowerSupplies/PSU{n}": {
            "@odata.type": "#PowerSupply.v1_5_0.PowerSupply", "Id": f"PSU{n}", "Status": {"Health": "OK"},
            "Metrics": {"@odata.id": f"/redfish/v1/Chassis/Modern/PowerSubsystem/PowerSupplies/PSU{n}/Metrics"},
        } for n in (1, 2)},
        **{f"/redfish/v1/Chassis/Modern/PowerSubsystem/PowerSupplies/PSU{n}/Metrics": {
            "@odata.type": "#PowerSupplyMetrics.v1_0_0.PowerSupplyMetrics",
            "InputPowerWatts": {"Reading": 700.0 + n}, "OutputPowerWatts": {"Reading": 650.0 + n},
            "InputVoltage": {"Reading": 230.0}, "EnergykWh": {"Reading": 10.0 * n},
        } for n in (1, 2)},
        "/redfish/v1/Chassis/Modern/Power": {"@odata.type": "#Power.v1_7_1.Power",
                                             "PowerControl": [{"MemberId": "0", "PowerConsumedWatts": 999.0}]},
    })


@pytest.fixture(scope="module")
def chassis_peer(sushy_static, chassis_mockup):
    return sushy_static(chassis_mockup)


def test_deprecated_power_resource_gives_power_control_and_supplies(chassis_peer, chassis_mockup):
    power = load(chassis_mockup, "/redfish/v1/Chassis/Legacy/Power")
    readings = by(read(chassis_peer, {"resource": "/redfish/v1/Chassis/Legacy"}))
    assert readings[("power_watts", "")].value == power["PowerControl"][0]["PowerConsumedWatts"]
    assert readings[("power_watts", "power_control.CPU")].value == power["PowerControl"][1]["PowerConsumedWatts"]
    supply = readings[("power_watts", "psu.0.input")]
    assert supply.value == power["PowerSupplies"][0]["PowerInputWatts"]
    assert supply.state == "warning"
    assert readings[("voltage_volts", "psu.0.input")].value == power["PowerSupplies"][0]["LineInputVoltage"]


def test_modern_chassis_prefers_environment_metrics_and_power_subsystem(chassis_peer, chassis_mockup):
    environment = load(chassis_mockup, "/redfish/v1/Chassis/Modern/EnvironmentMetrics")
    readings = by(read(chassis_peer, {"resource": "/redfish/v1/Chassis/Modern"}))
    assert readings[("power_watts", "")].value == environment["PowerWatts"]["Reading"]
    assert readings[("energy_joules", "")].value == environment["EnergykWh"]["Reading"] * KWH
    for n in (1, 2):
        metrics = load(chassis_mockup, f"/redfish/v1/Chassis/Modern/PowerSubsystem/PowerSupplies/PSU{n}/Metrics")
        assert readings[("power_watts", f"psu.PSU{n}.input")].value == metrics["InputPowerWatts"]["Reading"]
        assert readings[("power_watts", f"psu.PSU{n}.output")].value == metrics["OutputPowerWatts"]["Reading"]
        assert readings[("energy_joules", f"psu.PSU{n}")].value == metrics["EnergykWh"]["Reading"] * KWH
    # The deprecated Power resource is not read when PowerSubsystem exists.
    assert not [key for key in readings if key[1].startswith("power_control")]


def test_power_subsystem_alone_sums_supply_inputs(chassis_peer, chassis_mockup):
    readings = by(read(chassis_peer, {"resource": "/redfish/v1/Chassis/Modern/PowerSubsystem"}))
    inputs = [load(chassis_mockup, f"/redfish/v1/Chassis/Modern/PowerSubsystem/PowerSupplies/PSU{n}/Metrics")
              ["InputPowerWatts"]["Reading"] for n in (1, 2)]
    assert readings[("power_watts", "")].value == sum(inputs)


# --- transport: HTTPS, errors ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_peer(sushy_static, pdu_mockup, tmp_path_factory):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "simulated-bmc.invalid")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
                   .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    return sushy_static(pdu_mockup, folder / "cert.pem", folder / "key.pem")


def test_https_with_verification_off_reads_the_pdu(tls_peer, pdu_mockup):
    metrics = load(pdu_mockup, f"{PDU}/Metrics")
    readings = by(get_source("redfish").read(
        tls_peer.host, tls_peer.port, {"resource": PDU, "parts": ["metrics"], "verify_tls": False},
        {"username": "u", "password": "p"}, 5))
    assert readings[("power_watts", "")].value == metrics["PowerWatts"]["Reading"]


def test_https_with_an_untrusted_certificate_fails_clearly(tls_peer):
    with pytest.raises(MeterError, match=r"TLS certificate of 127\.0\.0\.1:\d+ not trusted.*verify_tls"):
        get_source("redfish").read(tls_peer.host, tls_peer.port, {"resource": PDU}, CREDENTIALS, 5)


def test_https_against_plain_http_says_so(pdu_peer):
    with pytest.raises(MeterError, match=r"TLS handshake with 127\.0\.0\.1:\d+ failed"):
        get_source("redfish").read(pdu_peer.host, pdu_peer.port, {"resource": PDU}, CREDENTIALS, 5)


def test_missing_resource_is_an_http_404_naming_the_url(pdu_peer):
    with pytest.raises(MeterError, match=r"HTTP 404 from http://127\.0\.0\.1:\d+/redfish/v1/PowerEquipment/RackPDUs/9"):
        read(pdu_peer, {"resource": "/redfish/v1/PowerEquipment/RackPDUs/9"})


def test_kind_that_does_not_match_the_resource_is_refused(cdu_peer):
    with pytest.raises(MeterError, match=r"CoolingUnit.*not a pdu resource"):
        read(cdu_peer, {"resource": CDU, "kind": "pdu"})


def test_resource_that_is_not_a_meter_is_refused(pdu_peer):
    with pytest.raises(MeterError, match=r"AccountService.*expected a PowerDistribution"):
        read(pdu_peer, {"resource": "/redfish/v1/AccountService"})
