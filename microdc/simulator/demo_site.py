"""The demo's simulated site: 2 racks, 4 GPU nodes with 4 GPUs each, and the facility equipment.

Idempotent: running it again changes nothing that is already there. Everything it makes is marked simulated.
"""

import datetime
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction

from microdc.agent.collectors.simulated import GpuModel, simulated_uuid
from microdc.core.models import User
from microdc.core.roles import Role
from microdc.facility.models import CarbonIntensity
from microdc.nodes.models import Accelerator, FacilityMeter, Node, Rack, Site

SITE_SLUG = "demo"
# The same board the simulated agent collector reports, so its first push matches the inventory.
GPU = GpuModel()
SIM_SEED = 0
# (rack, hostname, lowest U, height U)
NODES = [
    ("A01", "gpu-a01-01", 10, 4),
    ("A01", "gpu-a01-02", 20, 4),
    ("A02", "gpu-a02-01", 10, 4),
    ("A02", "gpu-a02-02", 20, 4),
]
GPUS_PER_NODE = 4
# (name, kind, boundary, IT measurement point, protocol, rack)
METERS = [
    ("Utility feed", FacilityMeter.Kind.UTILITY_FEED, FacilityMeter.Boundary.FACILITY_INPUT, "", "modbus", None),
    ("UPS", FacilityMeter.Kind.UPS, FacilityMeter.Boundary.OTHER, "", "snmp", None),
    ("PDU A01", FacilityMeter.Kind.PDU, FacilityMeter.Boundary.IT_LOAD, "pdu_output", "redfish", "A01"),
    ("PDU A02", FacilityMeter.Kind.PDU, FacilityMeter.Boundary.IT_LOAD, "pdu_output", "redfish", "A02"),
    ("Cooling unit", FacilityMeter.Kind.COOLING_UNIT, FacilityMeter.Boundary.COOLING, "", "redfish", None),
]
DEMO_USERS = [("admin", Role.ADMIN), ("operator", Role.OPERATOR), ("viewer", Role.VIEWER)]


@dataclass
class SeedResult:
    created: list[str] = field(default_factory=list)
    credentials_file: Path | None = None
    passwords: dict[str, str] = field(default_factory=dict)


def _credentials_file() -> Path:
    return Path(settings.DATA_DIR) / "demo_credentials.json"


def _demo_passwords() -> dict[str, str]:
    """Demo users' passwords, generated once and kept 0600 in the data directory."""
    path = _credentials_file()
    if path.exists():
        return json.loads(path.read_text())
    passwords = {name: os.environ.get("MICRODC_DEMO_PASSWORD") or secrets.token_urlsafe(12)
                 for name, _ in DEMO_USERS}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(passwords, fh, indent=2)
    return passwords


@transaction.atomic
def seed_demo_site() -> SeedResult:
    result = SeedResult(credentials_file=_credentials_file())
    site, made = Site.objects.get_or_create(
        slug=SITE_SLUG, defaults={"name": "Demo site", "simulated": True,
                                  "description": "Simulated micro data center for the demo."}
    )
    if made:
        result.created.append(f"site {site.slug}")
    racks = {}
    for position, rack_name in enumerate(sorted({n[0] for n in NODES})):
        racks[rack_name], made = Rack.objects.get_or_create(
            site=site, name=rack_name, defaults={"height_u": 42, "position": position, "row": "A", "simulated": True}
        )
        if made:
            result.created.append(f"rack {rack_name}")
    for host_number, (rack_name, hostname, position_u, height_u) in enumerate(NODES, start=1):
        node, made = Node.objects.get_or_create(
            hostname=hostname,
            defaults={"rack": racks[rack_name], "position_u": position_u, "height_u": height_u,
                      "management_address": f"127.0.0.{10 + host_number}", "simulated": True},
        )
        if made:
            result.created.append(f"node {hostname}")
        for index in range(GPUS_PER_NODE):
            _, made = Accelerator.objects.get_or_create(
                node=node, index=index,
                defaults={"kind": Accelerator.Kind.GPU, "vendor": "nvidia", "model": GPU.name,
                          "uuid": simulated_uuid(SIM_SEED, hostname, index), "memory_bytes": GPU.memory_total_bytes,
                          "power_limit_watts": GPU.power_limit_watts, "simulated": True},
            )
            if made:
                result.created.append(f"accelerator {hostname}/gpu{index}")
    for name, kind, boundary, point, protocol, rack_name in METERS:
        _, made = FacilityMeter.objects.get_or_create(
            site=site, name=name,
            defaults={"kind": kind, "boundary": boundary, "it_measurement_point": point, "protocol": protocol,
                      "host": "127.0.0.1", "rack": racks.get(rack_name), "simulated": True, "enabled": False},
        )
        if made:
            result.created.append(f"meter {name}")
    _, made = CarbonIntensity.objects.get_or_create(
        site=site, valid_from=datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC),
        defaults={"grams_co2e_per_kwh": 380.0, "note": "simulated grid average"})
    if made:
        result.created.append("carbon intensity 380 g/kWh")
    passwords = _demo_passwords()
    for username, role in DEMO_USERS:
        if not User.objects.filter(username=username).exists():
            user = User(username=username, role=role)
            user.set_password(passwords[username])
            user.save()
            result.created.append(f"user {username} ({role})")
    result.passwords = {name: passwords[name] for name, _ in DEMO_USERS}
    return result
