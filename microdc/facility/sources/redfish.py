"""Redfish meters: rack and floor PDUs, cooling units (CDUs), chassis power and sensors, over HTTP(S).

Settings (JSON, no secrets):

``resource`` (required)
    Path of the entry resource, e.g. ``/redfish/v1/PowerEquipment/RackPDUs/1``,
    ``/redfish/v1/PowerEquipment/FloorPDUs/Row1``, ``/redfish/v1/ThermalEquipment/CDUs/1``,
    ``/redfish/v1/Chassis/1``, ``/redfish/v1/Chassis/1/Power`` (deprecated Power resource),
    ``/redfish/v1/Chassis/1/Sensors``. Everything below it is found by following ``@odata.id`` links.
``kind`` (default ``"auto"``)
    ``auto`` (from ``@odata.type``), ``pdu``, ``cdu``, ``chassis``, ``power``, ``environment``,
    ``sensors`` or ``sensor``. An explicit kind must match the resource's type.
``parts`` (default: all of the kind's parts)
    Which sub-resources to read, to keep polls cheap: pdu ``metrics, mains, branches, outlets``;
    cdu ``environment, primary, secondary, pumps, leak``; chassis ``environment, power, sensors``.
``scheme`` (default ``"https"``): ``https`` or ``http``. The port defaults to 443 / 80.
``verify_tls`` (default ``true``): check the service's certificate against the system CA store.
``auth`` (default ``"basic"``): ``basic`` (HTTP basic on every request), ``session`` (POST to
    the service's Sessions collection, use ``X-Auth-Token``, DELETE the session afterwards) or ``none``.

Secret: ``username`` and ``password`` (required unless ``auth`` is ``none``).

Readings and channels:

* PDU: ``""`` from ``Metrics`` (PDU total: power, apparent power, energy, temperature); ``outlets``
  (sum of every outlet's power and energy: the PDU output, for IT load metered at PDU outputs);
  ``mains.<id>``, ``branch.<id>``, ``outlet.<id>`` per circuit, with per-phase suffixes ``.L1-N``,
  ``.L1-L2``, ``.L1`` (currents), ``.N`` (neutral current).
* CDU: ``""`` from ``EnvironmentMetrics`` (the unit's own power, energy, temperature, humidity);
  ``primary.<id>`` / ``secondary.<id>`` flow and heat removed, ``.supply`` / ``.return`` / ``.delta``
  temperature and pressure; ``pump.<id>`` speed as ``load_ratio``; ``leak.<detector>`` as
  ``leak_detected`` (state from the detector).
* Chassis: ``""`` from ``EnvironmentMetrics`` (or the sum of power supply inputs, or the deprecated
  ``PowerControl[0].PowerConsumedWatts``); ``psu.<id>.input`` / ``.output``;
  ``power_control.<member>``; ``sensor.<id>`` for each sensor.

The reading's state is the resource's ``Status.Health`` (OK, Warning, Critical).
"""

from __future__ import annotations

import contextlib

from ._fields import Fields, secret_string
from ._http import HttpSession, check_status
from ._redfish_map import KINDS, PARTS, detect_kind, read_resource
from .base import MeterError, Reading, SettingsError, begin_read, check_readings

MAX_RESOURCES_PER_READ = 400


class RedfishSource:
    protocol = "redfish"

    def validate_settings(self, settings: dict, secret: dict) -> dict:
        fields = Fields(settings)
        resource = fields.string("resource", max_length=500)
        if not resource.startswith("/redfish/v1/") or "?" in resource or "#" in resource:
            example = "/redfish/v1/PowerEquipment/RackPDUs/1"
            raise SettingsError("resource", f"must be a path below /redfish/v1/, e.g. {example}")
        kind = fields.choice("kind", ("auto", *KINDS), "auto")
        all_parts = tuple(dict.fromkeys(part for parts in PARTS.values() for part in parts))
        allowed = PARTS[kind] if kind != "auto" else all_parts
        parts = fields.strings("parts", allowed, list(allowed))
        if not parts:
            raise SettingsError("parts", "must name at least one part")
        normalised = {
            "resource": resource.rstrip("/"),
            "kind": kind,
            "parts": parts,
            "scheme": fields.choice("scheme", ("https", "http"), "https"),
            "verify_tls": fields.boolean("verify_tls", True),
            "auth": fields.choice("auth", ("basic", "session", "none"), "basic"),
        }
        fields.done()
        if normalised["auth"] != "none":
            secret_string(secret or {}, "username", required=True)
            secret_string(secret or {}, "password", required=True)
        return normalised

    def read(self, host: str, port: int | None, settings: dict, secret: dict, timeout: float) -> list[Reading]:
        deadline, settings = begin_read(self, settings, secret, timeout)
        secret = secret or {}
        port = port or (443 if settings["scheme"] == "https" else 80)
        basic = (secret["username"], secret["password"]) if settings["auth"] == "basic" else None
        with HttpSession(
            settings["scheme"], host, port, verify_tls=settings["verify_tls"], deadline=deadline, auth=basic,
            headers={"Accept": "application/json", "OData-Version": "4.0"},
        ) as http:
            session_uri = _login(http, secret) if settings["auth"] == "session" else None
            try:
                readings = _read_tree(http, settings)
            finally:
                if session_uri:
                    _logout(http, session_uri)
        if not readings:
            raise MeterError(f"no readings found at {settings['resource']} (parts: {', '.join(settings['parts'])})")
        return check_readings(readings)


def _read_tree(http: HttpSession, settings: dict) -> list[Reading]:
    fetched = 0

    def fetch(path: str) -> dict:
        nonlocal fetched
        if not path.startswith("/redfish/v1/"):
            # Never follow a link off the service: credentials travel with every request.
            raise MeterError(f"the service links to {path!r}, outside /redfish/v1/; not following it")
        fetched += 1
        if fetched > MAX_RESOURCES_PER_READ:
            limit = MAX_RESOURCES_PER_READ
            raise MeterError(f"more than {limit} resources below {settings['resource']}; narrow it with parts")
        document = http.get_json(path)
        if not isinstance(document, dict):
            raise MeterError(f"{http.base_url}{path} is JSON but not a Redfish resource (an object)")
        # Name channels after the link we followed: services do copy-paste @odata.id and Id values
        # (the DMTF CDU mockup's SecondaryHeatLoad sensor claims to be PrimaryHeatLoad).
        document["@odata.id"] = path
        return document

    entry = fetch(settings["resource"])
    kind = detect_kind(entry, settings["resource"])
    if settings["kind"] not in ("auto", kind) and not (settings["kind"] == "sensors" and kind == "sensor"):
        raise MeterError(f"{settings['resource']} is a {entry.get('@odata.type')}, not a {settings['kind']} resource")
    parts = tuple(part for part in settings["parts"] if part in PARTS[kind])
    return read_resource(fetch, entry, kind, parts)


def _login(http: HttpSession, secret: dict) -> str:
    """Create a Redfish session; the token goes on every later request. Returns the session's URI."""
    sessions_path = "/redfish/v1/SessionService/Sessions"
    root = http.request("GET", "/redfish/v1/")
    if root.status == 200:
        links = (root.json() or {}).get("Links") or {}
        sessions_path = _path((links.get("Sessions") or {}).get("@odata.id") or sessions_path)
    response = http.request(
        "POST", sessions_path, json_body={"UserName": secret["username"], "Password": secret["password"]}
    )
    check_status(response)
    token = response.headers.get("X-Auth-Token")
    if not token:
        raise MeterError(f"session login at {response.url} returned no X-Auth-Token header (try auth basic)")
    http.client.headers["X-Auth-Token"] = token
    return _path(response.headers.get("Location") or "")


def _path(uri: str) -> str:
    """The path of a URI the service gave, which may be absolute (https://bmc/redfish/v1/...)."""
    return "/" + uri.split("/", 3)[-1] if uri.startswith(("http://", "https://")) else uri


def _logout(http: HttpSession, session_uri: str) -> None:
    """Delete the session so sessions do not pile up on the BMC (they are a scarce resource there)."""
    if http.deadline.left() <= 0:
        return  # out of time: the service expires the session itself
    with contextlib.suppress(MeterError):
        http.request("DELETE", session_uri)
