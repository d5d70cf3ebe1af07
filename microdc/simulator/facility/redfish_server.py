"""A small Redfish service (stdlib HTTP server in a thread) whose values follow the facility model.

It serves one rack PDU per rack under ``/redfish/v1/PowerEquipment/RackPDUs/<rack>`` (Metrics,
Mains/AC1 with per-phase values, Outlets) and a coolant distribution unit under
``/redfish/v1/ThermalEquipment/CDUs/1``, built fresh from a model snapshot on every request. It
requires HTTP basic auth or a session (POST to ``/redfish/v1/SessionService/Sessions`` for an
``X-Auth-Token``; DELETE the session's URI to log out). Every resource says it is simulated.
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .model import FacilityModel, Snapshot

MANUFACTURER = "microdc simulator"
ROOT = "/redfish/v1"
PHASE_VOLTAGE = 230.0
FREQUENCY = 50.0
J_PER_KWH = 3.6e6


def _ref(path: str) -> dict:
    return {"@odata.id": path}


def _collection(path: str, name: str, odata_type: str, member_paths: list[str]) -> dict:
    return {
        "@odata.id": path,
        "@odata.type": f"#{odata_type}.{odata_type}",
        "Name": name,
        "Members@odata.count": len(member_paths),
        "Members": [_ref(member) for member in member_paths],
    }


def _ok() -> dict:
    return {"State": "Enabled", "Health": "OK"}


class RedfishTree:
    """Builds resources on demand from a snapshot: ``resource(path)`` or None for 404."""

    def __init__(self, model: FacilityModel, replicas: int = 0):
        self.model = model
        # Copies of each rack PDU ("A01-copy1", ...) let one service stand in for many meters (benchmark).
        self.pdus = {rack: rack for rack in model.racks}
        for number in range(1, replicas + 1):
            self.pdus.update({f"{rack}-copy{number}": rack for rack in model.racks})

    def resource(self, path: str, snapshot: Snapshot) -> dict | None:
        path = path.rstrip("/") or "/"
        fixed = {
            ROOT: self._service_root,
            f"{ROOT}/SessionService": self._session_service,
            f"{ROOT}/PowerEquipment": self._power_equipment,
            f"{ROOT}/PowerEquipment/RackPDUs": self._rack_pdus,
            f"{ROOT}/ThermalEquipment": self._thermal_equipment,
            f"{ROOT}/ThermalEquipment/CDUs": self._cdus,
        }
        if path in fixed:
            return fixed[path]()
        pdu_prefix = f"{ROOT}/PowerEquipment/RackPDUs/"
        if path.startswith(pdu_prefix):
            name, _, rest = path[len(pdu_prefix) :].partition("/")
            if name in self.pdus:
                return self._pdu(name, self.pdus[name], rest, snapshot)
        cdu_prefix = f"{ROOT}/ThermalEquipment/CDUs/1"
        if path == cdu_prefix or path.startswith(cdu_prefix + "/"):
            return self._cdu(path[len(cdu_prefix) :].lstrip("/"), snapshot)
        return None

    def _service_root(self) -> dict:
        return {
            "@odata.id": f"{ROOT}/",
            "@odata.type": "#ServiceRoot.v1_17_0.ServiceRoot",
            "Id": "RootService",
            "Name": "microdc simulated facility (not real hardware)",
            "RedfishVersion": "1.20.0",
            "Vendor": MANUFACTURER,
            "Product": "microdc simulated facility",
            "PowerEquipment": _ref(f"{ROOT}/PowerEquipment"),
            "ThermalEquipment": _ref(f"{ROOT}/ThermalEquipment"),
            "SessionService": _ref(f"{ROOT}/SessionService"),
            "Links": {"Sessions": _ref(f"{ROOT}/SessionService/Sessions")},
        }

    def _session_service(self) -> dict:
        return {
            "@odata.id": f"{ROOT}/SessionService",
            "@odata.type": "#SessionService.v1_1_8.SessionService",
            "Id": "SessionService",
            "Name": "Session Service",
            "Sessions": _ref(f"{ROOT}/SessionService/Sessions"),
        }

    def _power_equipment(self) -> dict:
        return {
            "@odata.id": f"{ROOT}/PowerEquipment",
            "@odata.type": "#PowerEquipment.v1_2_0.PowerEquipment",
            "Id": "PowerEquipment",
            "Name": "Simulated power equipment",
            "RackPDUs": _ref(f"{ROOT}/PowerEquipment/RackPDUs"),
        }

    def _rack_pdus(self) -> dict:
        paths = [f"{ROOT}/PowerEquipment/RackPDUs/{name}" for name in self.pdus]
        return _collection(f"{ROOT}/PowerEquipment/RackPDUs", "Rack PDUs", "PowerDistributionCollection", paths)

    def _thermal_equipment(self) -> dict:
        return {
            "@odata.id": f"{ROOT}/ThermalEquipment",
            "@odata.type": "#ThermalEquipment.v1_1_0.ThermalEquipment",
            "Id": "ThermalEquipment",
            "Name": "Simulated thermal equipment",
            "CDUs": _ref(f"{ROOT}/ThermalEquipment/CDUs"),
        }

    def _cdus(self) -> dict:
        return _collection(f"{ROOT}/ThermalEquipment/CDUs", "CDUs", "CoolingUnitCollection",
                           [f"{ROOT}/ThermalEquipment/CDUs/1"])

    # --- rack PDUs -------------------------------------------------------------------------------

    def _pdu(self, name: str, rack: str, rest: str, snapshot: Snapshot) -> dict | None:
        base = f"{ROOT}/PowerEquipment/RackPDUs/{name}"
        powers, energy = snapshot.powers, snapshot.energy_joules
        pdu_input = powers.rack_pdu_input[rack]
        outlets = powers.rack_outlets[rack]
        if rest == "":
            return {
                "@odata.id": base,
                "@odata.type": "#PowerDistribution.v1_6_0.PowerDistribution",
                "Id": name,
                "Name": f"Simulated rack PDU {name}",
                "EquipmentType": "RackPDU",
                "Manufacturer": MANUFACTURER,
                "Model": "Simulated 3-phase rack PDU",
                "SerialNumber": f"SIM-PDU-{name}",
                "Status": _ok(),
                "Mains": _ref(f"{base}/Mains"),
                "Outlets": _ref(f"{base}/Outlets"),
                "Metrics": _ref(f"{base}/Metrics"),
            }
        if rest == "Metrics":
            return {
                "@odata.id": f"{base}/Metrics",
                "@odata.type": "#PowerDistributionMetrics.v1_4_0.PowerDistributionMetrics",
                "Id": "Metrics",
                "Name": f"Simulated rack PDU {name} summary metrics",
                "PowerWatts": {"Reading": round(pdu_input, 3), "ApparentVA": round(pdu_input / 0.98, 3)},
                "EnergykWh": {"Reading": energy[f"pdu.{rack}"] / J_PER_KWH},
            }
        if rest == "Mains":
            return _collection(f"{base}/Mains", "Mains", "CircuitCollection", [f"{base}/Mains/AC1"])
        if rest == "Mains/AC1":
            phase = pdu_input / 3
            return {
                "@odata.id": f"{base}/Mains/AC1",
                "@odata.type": "#Circuit.v1_9_0.Circuit",
                "Id": "AC1",
                "Name": "Mains input",
                "CircuitType": "Mains",
                "PhaseWiringType": "ThreePhase5Wire",
                "Status": _ok(),
                "PowerWatts": {"Reading": round(pdu_input, 3)},
                "EnergykWh": {"Reading": energy[f"pdu.{rack}"] / J_PER_KWH},
                "FrequencyHz": {"Reading": FREQUENCY},
                "PolyPhasePowerWatts": {f"Line{n}ToNeutral": {"Reading": round(phase, 3)} for n in (1, 2, 3)},
                "PolyPhaseVoltage": {f"Line{n}ToNeutral": {"Reading": PHASE_VOLTAGE} for n in (1, 2, 3)},
                "PolyPhaseCurrentAmps": {f"Line{n}": {"Reading": round(phase / PHASE_VOLTAGE, 3)} for n in (1, 2, 3)},
            }
        if rest == "Outlets":
            paths = [f"{base}/Outlets/{index}" for index in range(1, len(outlets) + 1)]
            return _collection(f"{base}/Outlets", "Outlets", "OutletCollection", paths)
        if rest.startswith("Outlets/") and rest[8:].isdigit() and 1 <= int(rest[8:]) <= len(outlets):
            index = int(rest[8:])
            watts = outlets[index - 1]
            return {
                "@odata.id": f"{base}/Outlets/{index}",
                "@odata.type": "#Outlet.v1_4_4.Outlet",
                "Id": str(index),
                "Name": f"Outlet {index}",
                "Status": _ok(),
                "PowerState": "On",
                "PowerWatts": {"Reading": round(watts, 3)},
                "EnergykWh": {"Reading": energy[f"outlet.{rack}.{index}"] / J_PER_KWH},
                "Voltage": {"Reading": PHASE_VOLTAGE},
                "CurrentAmps": {"Reading": round(watts / PHASE_VOLTAGE, 3)},
            }
        return None

    # --- coolant distribution unit ----------------------------------------------------------------

    def _cdu(self, rest: str, snapshot: Snapshot) -> dict | None:
        base = f"{ROOT}/ThermalEquipment/CDUs/1"
        cdu, powers = snapshot.cdu, snapshot.powers
        if rest == "":
            return {
                "@odata.id": base,
                "@odata.type": "#CoolingUnit.v1_5_0.CoolingUnit",
                "Id": "1",
                "Name": "Simulated coolant distribution unit",
                "EquipmentType": "CDU",
                "Manufacturer": MANUFACTURER,
                "Model": "Simulated CDU",
                "Status": _ok(),
                "EnvironmentMetrics": _ref(f"{base}/EnvironmentMetrics"),
                "PrimaryCoolantConnectors": _ref(f"{base}/PrimaryCoolantConnectors"),
                "SecondaryCoolantConnectors": _ref(f"{base}/SecondaryCoolantConnectors"),
                "Pumps": _ref(f"{base}/Pumps"),
                "LeakDetection": _ref(f"{base}/LeakDetection"),
            }
        if rest == "EnvironmentMetrics":
            return {
                "@odata.id": f"{base}/EnvironmentMetrics",
                "@odata.type": "#EnvironmentMetrics.v1_3_0.EnvironmentMetrics",
                "Name": "Simulated CDU environment metrics",
                # The cooling plant's electrical draw: the cooling boundary of the PUE.
                "PowerWatts": {"Reading": round(powers.cooling, 3)},
                "EnergykWh": {"Reading": snapshot.energy_joules["cooling"] / J_PER_KWH},
                "TemperatureCelsius": {"Reading": round(cdu["ambient_c"], 2)},
                "HumidityPercent": {"Reading": round(cdu["humidity_ratio"] * 100, 1)},
            }
        for loop in ("Primary", "Secondary"):
            collection = f"{loop}CoolantConnectors"
            if rest == collection:
                return _collection(f"{base}/{collection}", f"{loop} coolant connectors", "CoolantConnectorCollection",
                                   [f"{base}/{collection}/1"])
            if rest == f"{collection}/1":
                key = loop.lower()
                return {
                    "@odata.id": f"{base}/{collection}/1",
                    "@odata.type": "#CoolantConnector.v1_3_0.CoolantConnector",
                    "Id": "1",
                    "Name": f"{loop} loop",
                    "Status": _ok(),
                    "FlowLitersPerMinute": {"Reading": round(cdu[f"{key}_flow_lpm"], 3)},
                    "SupplyTemperatureCelsius": {"Reading": round(cdu[f"{key}_supply_c"], 3)},
                    "ReturnTemperatureCelsius": {"Reading": round(cdu[f"{key}_return_c"], 3)},
                    "DeltaTemperatureCelsius": {"Reading": round(cdu[f"{key}_delta_c"], 3)},
                    "HeatRemovedkW": {"Reading": round(cdu["heat_removed_watts"] / 1000, 4)},
                }
        if rest == "Pumps":
            return _collection(f"{base}/Pumps", "Pumps", "PumpCollection", [f"{base}/Pumps/1"])
        if rest == "Pumps/1":
            return {
                "@odata.id": f"{base}/Pumps/1",
                "@odata.type": "#Pump.v1_2_0.Pump",
                "Id": "1",
                "Name": "Simulated pump",
                "Status": _ok(),
                "PumpSpeedPercent": {"Reading": round(cdu["pump_speed_ratio"] * 100, 2)},
            }
        if rest == "LeakDetection":
            return {
                "@odata.id": f"{base}/LeakDetection",
                "@odata.type": "#LeakDetection.v1_2_0.LeakDetection",
                "Id": "LeakDetection",
                "Name": "Simulated leak detection",
                "Status": _ok(),
                "LeakDetectorGroups": [{
                    "GroupName": "CDU tray",
                    "Detectors": [{"DeviceName": "Tray moisture", "DetectorState": "OK",
                                   "DataSourceUri": f"{base}/LeakDetection/LeakDetectors/Tray"}],
                }],
            }
        return None


class RedfishServer:
    """Threaded HTTP server for the tree; ``start()`` binds (port 0 picks a free one), ``stop()`` ends it."""

    def __init__(self, model: FacilityModel, host: str, port: int, username: str, password: str, replicas: int = 0):
        self.tree = RedfishTree(model, replicas)
        self.model = model
        self.username, self.password = username, password
        self.sessions: dict[str, str] = {}  # token -> session id
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer((host, port), _handler_class(self))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="sim-redfish", daemon=True)

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def authorised(self, headers: Any) -> bool:
        token = headers.get("X-Auth-Token")
        if token:
            with self.lock:
                return token in self.sessions
        value = headers.get("Authorization", "")
        if not value.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(value[6:]).decode().partition(":")
        except ValueError:
            return False
        return hmac.compare_digest(user, self.username) and hmac.compare_digest(password, self.password)

    def login(self, body: dict) -> tuple[str, str] | None:
        if not (hmac.compare_digest(str(body.get("UserName", "")), self.username)
                and hmac.compare_digest(str(body.get("Password", "")), self.password)):
            return None
        token, session_id = secrets.token_hex(16), secrets.token_hex(4)
        with self.lock:
            self.sessions[token] = session_id
        return token, session_id

    def logout(self, session_id: str) -> bool:
        with self.lock:
            for token, known in list(self.sessions.items()):
                if known == session_id:
                    del self.sessions[token]
                    return True
        return False


def _handler_class(server: RedfishServer) -> type[BaseHTTPRequestHandler]:
    sessions_path = f"{ROOT}/SessionService/Sessions"

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out as two writes; do not wait 40 ms between them
        server_version = "microdc-simulated-redfish/1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass  # quiet: the demo's console is for the appliance

        def _send(self, status: int, document: dict | None = None, headers: dict[str, str] | None = None) -> None:
            body = json.dumps(document).encode() if document is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def _error(self, status: int, message: str) -> None:
            self._send(status, {"error": {"code": "Base.1.0.GeneralError", "message": message}})

        def do_GET(self) -> None:  # noqa: N802 - stdlib name
            path = self.path.split("?", 1)[0]
            if path.rstrip("/") not in (ROOT, "") and not server.authorised(self.headers):
                self._error(401, "authentication required")
                return
            if path.rstrip("/") == sessions_path:
                with server.lock:
                    ids = list(server.sessions.values())
                self._send(200, _collection(sessions_path, "Sessions", "SessionCollection",
                                            [f"{sessions_path}/{i}" for i in ids]))
                return
            document = server.tree.resource(path, server.model.snapshot())
            if document is None:
                self._error(404, f"no resource at {path}")
            else:
                self._send(200, document)

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if self.path.rstrip("/") != sessions_path:
                self._error(405, "only session creation is supported")
                return
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                self._error(400, "body is not JSON")
                return
            created = server.login(body if isinstance(body, dict) else {})
            if created is None:
                self._error(401, "wrong user name or password")
                return
            token, session_id = created
            self._send(201, {"@odata.id": f"{sessions_path}/{session_id}", "Id": session_id,
                             "UserName": server.username},
                       {"X-Auth-Token": token, "Location": f"{sessions_path}/{session_id}"})

        def do_DELETE(self) -> None:  # noqa: N802
            if not server.authorised(self.headers):
                self._error(401, "authentication required")
                return
            session_id = self.path.rstrip("/").rsplit("/", 1)[-1]
            if self.path.startswith(sessions_path + "/") and server.logout(session_id):
                self._send(204)
            else:
                self._error(404, f"no session at {self.path}")

    return Handler
