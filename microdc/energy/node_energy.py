"""One node's telemetry per minute, as the ledger needs it: each accelerator's energy, the node's own
measurement, its model-server processes' GPU utilization and its model servers' counters.

The node's own measurement, best first:
- the PDU outlet channel mapped to the node (Node.power_meter + power_meter_channel): whole node;
- hwmon PSU input power (PMBus PSUs label it "pin", ACPI power meters are chip "power_meter"): whole node;
- RAPL package and DRAM domains: the CPUs and memory only, so all of it is overhead beside the GPUs.
"""

import datetime
import re
from collections import defaultdict
from dataclasses import dataclass, field

from microdc.facility.readings import meter_source_key
from microdc.nodes.models import Node
from microdc.telemetry.energy import energy_method
from microdc.telemetry.models import MODEL_SERVER_KEY_PREFIX, Rollup, Source

from .models import model_server_deployment_id

WHOLE_NODE = {"pdu-outlet", "psu-input"}
_PSU_NAME = re.compile(r"^pin\d*$", re.IGNORECASE)
_RAPL_NAME = re.compile(r"^(package-\d+|dram)$")
PROCESS_UNIT_PREFIX = "microdc-model-"


def _sensor_parts(source: Source) -> tuple[str, str, str]:
    parts = source.sensor.split("/", 2)
    return tuple(parts + [""] * (3 - len(parts)))


def _measures_power(source: Source) -> bool:
    values = source.last_values or {}
    return "energy_joules" in values or "power_watts" in values


def is_psu_input(source: Source) -> bool:
    kind, chip, name = _sensor_parts(source)
    return kind == "hwmon" and (_PSU_NAME.match(name) or chip.startswith("power_meter")) and _measures_power(source)


def is_rapl_cpu(source: Source) -> bool:
    kind, _, name = _sensor_parts(source)
    return kind == "rapl" and bool(_RAPL_NAME.match(name)) and _measures_power(source)


@dataclass
class Series:
    """Energy (J) and covered seconds per minute start."""

    joules: dict[datetime.datetime, float] = field(default_factory=lambda: defaultdict(float))
    coverage: dict[datetime.datetime, float] = field(default_factory=dict)


@dataclass
class NodeMinutes:
    node: Node
    gpus: dict[int, Series]  # accelerator id -> its energy
    measurement: str | None  # "pdu-outlet", "psu-input", "rapl" or None
    measured: Series
    power_integrated: bool  # some accelerator has no energy counter: its power was integrated
    # (accelerator uuid, deployment name) -> minute -> mean sm_utilization_ratio of its processes
    process_utilization: dict[tuple[str, str], dict[datetime.datetime, float]]
    # deployment id -> minute -> (covered seconds, counter increases)
    servers: dict[int, dict[datetime.datetime, tuple[float, dict[str, float]]]]
    accelerator_uuids: dict[int, str]
    minutes: set[datetime.datetime]


def _rollups(sources: list[Source], start, end):
    if not sources:
        return []
    return (Rollup.objects.filter(source__in=[s.pk for s in sources], resolution=Rollup.MINUTE,
                                  start__gte=start, start__lt=end)
            .values_list("source_id", "start", "coverage", "stats").iterator(chunk_size=2000))


def _energy(source: Source, stats: dict) -> float:
    _, metric, key = energy_method(source)
    return stats.get(metric, {}).get(key, 0.0)


def load(node: Node, start: datetime.datetime, end: datetime.datetime) -> NodeMinutes:
    """The node's minute data over [start, end)."""
    sources = list(Source.objects.filter(node=node, meter__isnull=True).select_related("accelerator"))
    gpus = [s for s in sources if s.accelerator_id is not None]
    psu = [s for s in sources if is_psu_input(s)]
    rapl = [s for s in sources if is_rapl_cpu(s)]
    processes = [s for s in sources if s.sensor.startswith("nvml-process/")]
    servers = {s.key: s for s in sources if s.key.startswith(MODEL_SERVER_KEY_PREFIX)}
    outlet = None
    if node.power_meter_id and node.power_meter_channel:
        outlet = Source.objects.filter(key=meter_source_key(node.power_meter_id, node.power_meter_channel)).first()
    if outlet is not None:
        measurement, measuring = "pdu-outlet", [outlet]
    elif psu:
        measurement, measuring = "psu-input", psu
    elif rapl:
        measurement, measuring = "rapl", rapl
    else:
        measurement, measuring = None, []

    by_pk = {s.pk: s for s in [*gpus, *measuring, *processes, *servers.values()]}
    gpu_series: dict[int, Series] = {s.accelerator_id: Series() for s in gpus
                                     if s.accelerator.retired_at is None}
    measured = Series()
    measured_minutes: dict[datetime.datetime, list[float]] = defaultdict(list)
    utilization: dict[tuple[str, str], dict] = defaultdict(dict)
    server_data: dict[int, dict] = defaultdict(dict)
    server_deployment = {s.pk: model_server_deployment_id(s.key) for s in servers.values()}
    measuring_pks = {s.pk for s in measuring}
    minutes: set[datetime.datetime] = set()
    for source_id, minute, coverage, stats in _rollups(list(by_pk.values()), start, end):
        source = by_pk[source_id]
        if source.accelerator_id is not None:
            series = gpu_series.setdefault(source.accelerator_id, Series())
            series.joules[minute] += _energy(source, stats)
            series.coverage[minute] = coverage
            minutes.add(minute)
        elif source_id in measuring_pks:
            measured.joules[minute] += _energy(source, stats)
            measured_minutes[minute].append(coverage)
            minutes.add(minute)
        elif source_id in server_deployment:
            increases = {name: stat["delta"] for name, stat in stats.items() if "delta" in stat}
            server_data[server_deployment[source_id]][minute] = (coverage, increases)
            minutes.add(minute)
        else:
            _, uuid, unit = _sensor_parts(source)
            stat = stats.get("sm_utilization_ratio")
            if unit.startswith(PROCESS_UNIT_PREFIX) and stat and stat.get("n"):
                utilization[(uuid, unit.removeprefix(PROCESS_UNIT_PREFIX))][minute] = stat["sum"] / stat["n"]
    # Several sources measure the node together (two PSUs): a minute is covered as far as all of them cover it.
    for minute, coverages in measured_minutes.items():
        measured.coverage[minute] = min(coverages) if len(coverages) == len(measuring) else 0.0
    return NodeMinutes(
        node=node, gpus=gpu_series, measurement=measurement, measured=measured,
        power_integrated=any(energy_method(s)[0] == "integral" for s in gpus),
        process_utilization=utilization, servers=server_data,
        accelerator_uuids={s.accelerator_id: s.accelerator.uuid or "" for s in gpus}, minutes=minutes)
