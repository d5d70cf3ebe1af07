"""The demo's simulated facility: a utility meter, a UPS, rack PDUs and a cooling unit that serve
values from one physical model through the real protocols on loopback (Modbus TCP/SunSpec, SNMP,
Redfish), so the demo's PUE comes out of the same meter code as a real site's.

>>> facility = start_simulated_facility()
>>> for endpoint in facility.endpoints: ...   # protocol, host, port, settings, secret per meter
>>> facility.stop()

Run ``python -m microdc.simulator.facility`` to start one from a shell.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .modbus_server import ModbusServer, cooling_meter_map, generation_meter_map, utility_meter_map
from .model import FacilityModel, ItPowerFn, default_it_power
from .redfish_server import RedfishServer
from .snmp_agent import SnmpAgent

__all__ = ["FacilityModel", "SimulatedEndpoint", "SimulatedFacility", "default_it_power", "start_simulated_facility"]

UTILITY_UNIT, COOLING_UNIT, SOLAR_UNIT, FIRST_REPLICA_UNIT = 1, 2, 3, 10


@dataclass(frozen=True)
class SimulatedEndpoint:
    """How to reach one simulated meter, in the terms of a FacilityMeter."""

    name: str
    kind: str  # FacilityMeter.Kind
    boundary: str  # FacilityMeter.Boundary
    protocol: str
    host: str
    port: int
    settings: dict
    secret: dict
    rack: str | None = None
    it_measurement_point: str = ""
    channel: str = ""  # the channel whose power/energy is this meter's boundary value
    simulated: bool = True


@dataclass
class SimulatedFacility:
    model: FacilityModel
    endpoints: list[SimulatedEndpoint]  # the demo site's meters (names match the seeded FacilityMeters)
    extra_endpoints: list[SimulatedEndpoint]  # a Modbus cooling feed meter and benchmark replicas
    _stoppers: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def endpoint(self, name: str) -> SimulatedEndpoint:
        for endpoint in self.endpoints + self.extra_endpoints:
            if endpoint.name == name:
                return endpoint
        raise KeyError(name)

    def stop(self) -> None:
        while self._stoppers:
            self._stoppers.pop()()

    def __enter__(self) -> SimulatedFacility:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_simulated_facility(
    it_power_fn: ItPowerFn | None = None,
    *,
    racks: Sequence[str] = ("A01", "A02"),
    host: str = "127.0.0.1",
    redfish_port: int = 0,
    snmp_port: int = 0,
    modbus_port: int = 0,
    replicas: int = 0,
    clock: Callable[[], float] = time.time,
    solar_peak_watts: float = 0.0,
) -> SimulatedFacility:
    """Start the simulated peers on loopback (ports 0: free ones) and return their endpoints.

    ``it_power_fn(unix_time)`` gives the IT power in watts, either a total (split evenly over the
    racks) or a mapping rack -> watts; by default a plausible daily profile around 11 kW.
    ``replicas`` adds that many copies of the utility meter (Modbus unit ids 10..), the UPS (SNMP
    communities ups-1..) and each rack PDU (Redfish ``<rack>-copy<n>``), for load tests.
    ``solar_peak_watts`` > 0 adds an on-site solar array and its production meter ("Solar array", SunSpec).
    """
    model = FacilityModel(racks=tuple(racks), it_power_fn=it_power_fn or default_it_power, clock=clock,
                          solar_peak_watts=solar_peak_watts)
    redfish_user, redfish_password = "admin", secrets.token_urlsafe(12)
    snmp_user, auth_key, priv_key = "microdc", secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    replica_communities = [f"ups-{n}" for n in range(1, replicas + 1)]
    devices = {UTILITY_UNIT: utility_meter_map(UTILITY_UNIT), COOLING_UNIT: cooling_meter_map(COOLING_UNIT)}
    for number in range(replicas):
        devices[FIRST_REPLICA_UNIT + number] = utility_meter_map(FIRST_REPLICA_UNIT + number)
    if solar_peak_watts > 0:
        devices[SOLAR_UNIT] = generation_meter_map(SOLAR_UNIT)

    facility = SimulatedFacility(model, [], [])
    try:
        redfish = RedfishServer(model, host, redfish_port, redfish_user, redfish_password, replicas)
        redfish.start()
        facility._stoppers.append(redfish.stop)
        snmp = SnmpAgent(model, host, snmp_port, "public", snmp_user, auth_key, priv_key, replica_communities)
        snmp.start()
        facility._stoppers.append(snmp.stop)
        modbus = ModbusServer(model, host, modbus_port, devices)
        modbus.start()
        facility._stoppers.append(modbus.stop)
    except BaseException:
        facility.stop()
        raise

    redfish_secret = {"username": redfish_user, "password": redfish_password}
    redfish_settings = {"scheme": "http", "auth": "session", "verify_tls": False}
    facility.endpoints += [
        SimulatedEndpoint("Utility feed", "utility_feed", "facility_input", "modbus", host, modbus.port,
                          {"mode": "sunspec", "unit_id": UTILITY_UNIT}, {}),
        SimulatedEndpoint("UPS", "ups", "other", "snmp", host, snmp.port,
                          {"profile": "ups_mib", "version": "3", "username": snmp_user},
                          {"auth_key": auth_key, "priv_key": priv_key}, channel="output"),
    ]
    facility.endpoints += [
        SimulatedEndpoint(f"PDU {rack}", "pdu", "it_load", "redfish", host, redfish.port,
                          {**redfish_settings, "resource": f"/redfish/v1/PowerEquipment/RackPDUs/{rack}"},
                          dict(redfish_secret), rack=rack, it_measurement_point="pdu_output", channel="outlets")
        for rack in racks
    ]
    facility.endpoints.append(
        SimulatedEndpoint("Cooling unit", "cooling_unit", "cooling", "redfish", host, redfish.port,
                          {**redfish_settings, "resource": "/redfish/v1/ThermalEquipment/CDUs/1"}, dict(redfish_secret))
    )
    if solar_peak_watts > 0:
        facility.endpoints.append(
            SimulatedEndpoint("Solar array", "generation", "facility_input", "modbus", host, modbus.port,
                              {"mode": "sunspec", "unit_id": SOLAR_UNIT}, {}))
    facility.extra_endpoints.append(
        SimulatedEndpoint("Cooling feed", "cooling_unit", "cooling", "modbus", host, modbus.port,
                          {"mode": "sunspec", "unit_id": COOLING_UNIT}, {})
    )
    for number in range(1, replicas + 1):
        facility.extra_endpoints += [
            SimulatedEndpoint(f"Utility feed copy {number}", "utility_feed", "other", "modbus", host, modbus.port,
                              {"mode": "sunspec", "unit_id": FIRST_REPLICA_UNIT + number - 1}, {}),
            SimulatedEndpoint(f"UPS copy {number}", "ups", "other", "snmp", host, snmp.port,
                              {"profile": "ups_mib", "version": "2c"}, {"community": f"ups-{number}"},
                              channel="output"),
        ]
        facility.extra_endpoints += [
            SimulatedEndpoint(f"PDU {rack} copy {number}", "pdu", "other", "redfish", host, redfish.port,
                              {**redfish_settings, "auth": "basic",
                               "resource": f"/redfish/v1/PowerEquipment/RackPDUs/{rack}-copy{number}"},
                              dict(redfish_secret), channel="outlets")
            for rack in racks
        ]
    return facility
