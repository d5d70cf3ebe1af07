"""The demo's simulated site: 2 racks, 4 GPU nodes with 4 GPUs each, and the facility equipment.

Idempotent: running it again changes nothing that is already there. Everything it makes is marked simulated.
"""

import datetime
import json
import math
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from microdc.agent.collectors.simulated import GpuModel, simulated_uuid
from microdc.core.models import User
from microdc.core.roles import Role
from microdc.facility.models import CarbonIntensity
from microdc.nodes.models import Accelerator, FacilityMeter, Node, Rack, Site

from .demo_deployments import seed_demo_deployments

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
    ("Solar array", FacilityMeter.Kind.GENERATION, FacilityMeter.Boundary.FACILITY_INPUT, "", "modbus", None),
]
# The channel of each kind that is its boundary value, as the simulated peers report it (facility_demo sets
# the same from the running peers), so the backfilled history and the live readings are one series.
BOUNDARY_CHANNELS = {FacilityMeter.Kind.UPS: "output", FacilityMeter.Kind.PDU: "outlets"}
# What the simulated equipment may carry (microdc.power.capacity): sized so the demo runs with headroom.
CAPACITIES = {"UPS": {"rated_power_watts": 20000.0}, "PDU A01": {"rated_power_watts": 11000.0},
              "PDU A02": {"rated_power_watts": 11000.0}, "Cooling unit": {"rated_heat_removal_watts": 30000.0}}
CONTRACTED_FEED_WATTS = 40000.0
SOLAR_PEAK_WATTS = 6000.0  # the simulated roof array: covers part of the site's ~15 kW around noon
HISTORY_DAYS = 7  # how far back the demo's backfill (and its deployments) begin
# Embodied carbon for the simulated inventory. Illustrative demo values, not a published figure for any
# product: a real site enters its vendor's product carbon footprint.
NODE_EMBODIED_KGCO2E, GPU_EMBODIED_KGCO2E, EXPECTED_LIFE_YEARS = 1800.0, 160.0, 5.0
DEMO_USERS = [("admin", Role.ADMIN), ("operator", Role.OPERATOR), ("viewer", Role.VIEWER)]


def grid_intensity(ts: datetime.datetime) -> float:
    """Simulated grid carbon intensity (gCO2e/kWh) for the hour starting at `ts`: lowest around noon, when
    the grid's own solar is up, highest in the evening peak."""
    hours = ts.hour + ts.minute / 60
    midday = max(0.0, math.sin(math.pi * (hours - 6) / 12)) if 6 <= hours <= 18 else 0.0
    evening = math.exp(-(((hours - 19) / 2.5) ** 2))
    return round(420.0 - 190.0 * midday + 60.0 * evening, 1)


def history_start(now: datetime.datetime | None = None) -> datetime.datetime:
    """Where the demo's history begins: midnight UTC, HISTORY_DAYS before today."""
    today = (now or timezone.now()).astimezone(datetime.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - datetime.timedelta(days=HISTORY_DAYS)


def _seed_intensity(site: Site, now: datetime.datetime) -> int:
    """Hourly intensity from the history's start to a day ahead (entries already there are kept)."""
    start, end = history_start(now), now + datetime.timedelta(days=1)
    have = set(CarbonIntensity.objects.filter(site=site, valid_from__gte=start).values_list("valid_from", flat=True))
    hours = int((end - start).total_seconds() // 3600)
    missing = [start + datetime.timedelta(hours=h) for h in range(hours + 1)]
    rows = [CarbonIntensity(site=site, valid_from=ts, grams_co2e_per_kwh=grid_intensity(ts),
                            note="simulated hourly grid intensity") for ts in missing if ts not in have]
    CarbonIntensity.objects.bulk_create(rows)
    return len(rows)


def _seed_energy_inventory(racks: dict[str, Rack]) -> None:
    """Embodied carbon on the simulated hardware, and each node's PDU outlet (outlet n: the n-th node of its
    rack, as demo_power.node_outlet says), where not set already."""
    Node.objects.filter(simulated=True, embodied_kgco2e__isnull=True).update(
        embodied_kgco2e=NODE_EMBODIED_KGCO2E, expected_life_years=EXPECTED_LIFE_YEARS)
    Accelerator.objects.filter(simulated=True, embodied_kgco2e__isnull=True).update(
        embodied_kgco2e=GPU_EMBODIED_KGCO2E, expected_life_years=EXPECTED_LIFE_YEARS)
    for rack_name, rack in racks.items():
        pdu = FacilityMeter.objects.filter(site=rack.site, name=f"PDU {rack_name}").first()
        hosts = [n[1] for n in NODES if n[0] == rack_name]
        for outlet, hostname in enumerate(hosts, start=1):
            Node.objects.filter(hostname=hostname, power_meter__isnull=True).update(
                power_meter=pdu, power_meter_channel=f"outlet.{outlet}")


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
        slug=SITE_SLUG, defaults={"name": "Demo site", "simulated": True, "description": "Simulated micro data "
                                  "center for the demo.", "contracted_power_watts": CONTRACTED_FEED_WATTS,
                                  "pue_target": 1.5}
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
                      "boundary_channel": BOUNDARY_CHANNELS.get(kind, ""),
                      "host": "127.0.0.1", "rack": racks.get(rack_name), "simulated": True, "enabled": False,
                      **CAPACITIES.get(name, {})},
        )
        if made:
            result.created.append(f"meter {name}")
    _, made = CarbonIntensity.objects.get_or_create(
        site=site, valid_from=datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC),
        defaults={"grams_co2e_per_kwh": 380.0, "note": "simulated grid average"})
    if made:
        result.created.append("carbon intensity 380 g/kWh")
    now = timezone.now()
    if hours := _seed_intensity(site, now):
        result.created.append(f"{hours} hourly carbon intensities")
    _seed_energy_inventory(racks)
    result.created += seed_demo_deployments(history_start(now))
    passwords = _demo_passwords()
    for username, role in DEMO_USERS:
        if not User.objects.filter(username=username).exists():
            user = User(username=username, role=role)
            user.set_password(passwords[username])
            user.save()
            result.created.append(f"user {username} ({role})")
    result.passwords = {name: passwords[name] for name, _ in DEMO_USERS}
    return result
