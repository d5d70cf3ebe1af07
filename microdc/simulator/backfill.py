"""Backfill the demo's SIMULATED history (the last HISTORY_DAYS days), so its first screen shows complete
24 h and 30 d figures: the simulated GPUs through the real node ingest (`ingest_batch`), the meters through
the telemetry store as the meter poller stores them, each model server's metrics page through the real
scrape path (`read_page`, then `record` as a round of scrapes stores pages), then the standard rollups,
reservations and the energy ledger.

Idempotent: each reporter is filled only after its latest stored sample, so a second run adds nothing, and
a run after the demo was stopped for a while fills just the gap. The last day is sampled every minute
(idle minutes and latency show at minute resolution); older days every 5 minutes, which the rollups bridge
(MICRODC_TELEMETRY_MAX_GAP_SECONDS is 300) with the counters' exact increases.
"""

import datetime
import math
import time
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from microdc.agent.sample import collect_sample, new_batch
from microdc.energy import ledger
from microdc.energy.adapters import read_page
from microdc.energy.models import ModelServer
from microdc.energy.reservations import sync_reservations
from microdc.energy.scrape import Scraped, record
from microdc.energy.servers import sync_model_servers
from microdc.facility.readings import meter_source_key
from microdc.nodes.models import FacilityMeter, Node
from microdc.telemetry.ingest import ingest_batch
from microdc.telemetry.models import Sample
from microdc.telemetry.rollups import roll_up_dirty
from microdc.telemetry.store import Reading, sources_by_key, store

from .agents import simulated_collector
from .demo_deployments import DEPLOYMENTS
from .demo_power import node_outlet, rack_outlets
from .demo_site import SOLAR_PEAK_WATTS, history_start
from .facility.model import FacilityModel
from .facility_demo import counter_channels
from .model_server import metrics_page

RECENT = datetime.timedelta(days=1)
RECENT_STEP, OLDER_STEP = 60, 300
BATCH_SAMPLES = 1000


@dataclass
class BackfillResult:
    gpu_samples: int = 0
    meter_samples: int = 0
    pages: int = 0
    ledger_rows: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def sample_times(start: datetime.datetime, end: datetime.datetime) -> list[datetime.datetime]:
    """Minute-aligned instants after `start` up to `end`: every 5 minutes, every minute in the last day."""
    recent = end - RECENT
    times, t = [], _ceil(start + datetime.timedelta(seconds=1), OLDER_STEP if start < recent else RECENT_STEP)
    while t <= end:
        times.append(t)
        step = RECENT_STEP if t >= recent else OLDER_STEP
        t += datetime.timedelta(seconds=step)
    return times


def _ceil(ts: datetime.datetime, seconds: int) -> datetime.datetime:
    epoch = math.ceil(ts.timestamp() / seconds) * seconds
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC)


def _fast_forward(gpu, t: float) -> None:
    """Advance a simulated GPU's energy and temperatures to `t` in whole minutes. Exact, like its own
    2 s steps, because the demo's utilization is constant within each minute (inference_load slots);
    far cheaper over days."""
    if gpu._t is None:
        gpu.advance(t)
        return
    while gpu._t < t:
        end = min(t, (math.floor(gpu._t / 60) + 1) * 60)
        dt = end - gpu._t
        p = gpu.power_watts(gpu.utilization_at(gpu._t))
        gpu.energy_joules += p * dt
        t_ss, hbm_ss = gpu._steady(p)
        gpu.temperature_celsius = t_ss + (gpu.temperature_celsius - t_ss) * math.exp(-dt / gpu.tau_seconds)
        gpu.hbm_temperature_celsius = hbm_ss + (gpu.hbm_temperature_celsius - hbm_ss) * math.exp(
            -dt / gpu.hbm_tau_seconds)
        gpu._t = end


def _last_sample(**reporter) -> datetime.datetime | None:
    return Sample.objects.filter(**reporter).aggregate(last=Max("ts"))["last"]


def _backfill_node(node: Node, start: datetime.datetime, end: datetime.datetime, now) -> tuple[int, dict]:
    """Push the node's simulated history through ingest; returns (samples, {ts: GPU joules in the step})."""
    last = _last_sample(node=node, meter__isnull=True)
    begin = max(start, last) if last else start
    times = sample_times(begin, end)
    collector = simulated_collector(node)
    first = times[0].timestamp() - OLDER_STEP if times else 0
    for gpu in collector.gpus:
        gpu.advance(first)
    joules: dict[datetime.datetime, float] = {}
    batch = []
    for ts in times:
        before = sum(g.energy_joules for g in collector.gpus)
        for gpu in collector.gpus:
            _fast_forward(gpu, ts.timestamp())
        joules[ts] = sum(g.energy_joules for g in collector.gpus) - before
        sample, _ = collect_sample([collector], ts.timestamp())
        batch.append(sample)
        if len(batch) == BATCH_SAMPLES:
            ingest_batch(node, new_batch(node.hostname, batch), now=now)
            batch = []
    if batch:
        ingest_batch(node, new_batch(node.hostname, batch), now=now)
    return len(times), joules


def _backfill_meters(start, end, node_joules: dict[str, dict], racks) -> int:
    """The facility model driven by the nodes' backfilled power, stored per meter channel like the poller."""
    meters = {m.name: m for m in FacilityMeter.objects.filter(simulated=True)}
    last = min((_last_sample(meter=m) or start for m in meters.values()), default=start)
    times = sample_times(max(start, last), end)
    if not times:
        return 0
    model = FacilityModel(racks=tuple(racks), solar_peak_watts=SOLAR_PEAK_WATTS, clock=lambda: 0.0)
    energy = dict(model._energy)
    channels = counter_channels(racks)
    power_channels = {("UPS", "output"): "ups_output"}
    wanted = {}
    for meter, channel in [*channels.values(), *power_channels]:
        if meter in meters:
            wanted[meter_source_key(meters[meter].pk, channel)] = {"meter": meters[meter], "sensor": channel,
                                                                  "simulated": True}
    readings = []
    previous = times[0] - datetime.timedelta(seconds=OLDER_STEP)
    with transaction.atomic():
        sources = sources_by_key(wanted)
        for name, (meter, channel) in channels.items():  # continue what is stored: counters never go back
            source = sources.get(meter_source_key(meters[meter].pk, channel)) if meter in meters else None
            if source is not None and "energy_joules" in source.last_values:
                energy[name] = source.last_values["energy_joules"]
        for ts in times:
            dt = (ts - previous).total_seconds()
            gpu_watts = {host: by_ts.get(ts, 0.0) / dt for host, by_ts in node_joules.items()}
            outlets = rack_outlets(gpu_watts)
            model.it_power_fn = lambda _t, o=outlets: o
            powers = model.powers(ts.timestamp() - dt / 2)  # the step's middle: the midpoint rule
            counter_powers = model._counter_powers(powers)
            values: dict[str, dict[str, float]] = {}
            for name, watts in counter_powers.items():
                energy[name] += watts * dt
                if name in channels:
                    meter, channel = channels[name]
                    values.setdefault((meter, channel), {}).update(power_watts=watts, energy_joules=energy[name])
            for rack in racks:
                outlet_sum = sum(powers.rack_outlets[rack])
                outlet_energy = sum(energy[f"outlet.{rack}.{n}"] for n in range(1, 5))
                values[(f"PDU {rack}", "outlets")] = {"power_watts": outlet_sum, "energy_joules": outlet_energy}
                wanted_key = meter_source_key(meters[f"PDU {rack}"].pk, "outlets")
                if wanted_key not in sources:
                    sources |= sources_by_key({wanted_key: {"meter": meters[f"PDU {rack}"], "sensor": "outlets",
                                                            "simulated": True}})
            values[("UPS", "output")] = {"power_watts": counter_powers["ups_output"]}
            for (meter, channel), quantities in values.items():
                if meter in meters:
                    readings.append(Reading(sources[meter_source_key(meters[meter].pk, channel)], ts, quantities))
            previous = ts
        store(readings)
    return len(times)


def _backfill_pages(start, end) -> int:
    """Each demo deployment's server page at every instant, as if the server started at the history's start."""
    sync_model_servers()
    loads = {spec.name: (spec, spec.load()) for spec in DEPLOYMENTS}
    pages = 0
    for server in ModelServer.objects.filter(active=True).select_related("deployment", "node", "source"):
        spec, load = loads.get(server.deployment.name, (None, None))
        if spec is None:
            continue
        last = _last_sample(node=server.node, meter__isnull=True,
                            values__has_key=str(server.source_id)) if server.source_id else None
        begin = max(start, last) if last else start
        times = sample_times(begin, end)
        for i in range(0, len(times), BATCH_SAMPLES):
            record({server.pk: server}, [
                Scraped(server.pk, ts, read_page(server.runtime, metrics_page(load, spec.model, ts.timestamp(),
                                                                              begin.timestamp())), "", 0.0)
                for ts in times[i:i + BATCH_SAMPLES]])
        pages += len(times)
    return pages


def backfill_demo(now: datetime.datetime | None = None) -> BackfillResult:
    now = now or timezone.now()
    start, end = history_start(now), now.replace(second=0, microsecond=0)
    result = BackfillResult()
    clock = time.perf_counter()
    sync_reservations(now=start)
    node_joules = {}
    nodes = Node.objects.filter(simulated=True).exclude(status=Node.Status.DECOMMISSIONED)
    for node in nodes:
        samples, node_joules[node.hostname] = _backfill_node(node, start, end, now)
        result.gpu_samples += samples
    result.seconds["gpus"] = time.perf_counter() - clock
    clock = time.perf_counter()
    racks = sorted({node_outlet(host)[0] for host in node_joules})
    result.meter_samples = _backfill_meters(start, end, node_joules, racks) if racks else 0
    result.seconds["meters"] = time.perf_counter() - clock
    clock = time.perf_counter()
    result.pages = _backfill_pages(start, end)
    result.seconds["pages"] = time.perf_counter() - clock
    clock = time.perf_counter()
    while roll_up_dirty(limit=1000, now=now):
        pass
    result.seconds["rollups"] = time.perf_counter() - clock
    clock = time.perf_counter()
    result.ledger_rows = ledger.update(now=now)
    result.seconds["ledger"] = time.perf_counter() - clock
    return result

