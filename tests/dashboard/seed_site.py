"""Fill an appliance's database for the dashboard's end-to-end tests and benchmark, and print what it made.

Run in the environment of the appliance under test (MICRODC_DATA_DIR / DATABASE_URL):
    .venv/bin/python tests/dashboard/seed_site.py --hours 24 [--quiet-node gpu-a01-01 ...]

It seeds the demo site (2 racks, 4 nodes of 4 simulated GPUs, 5 simulated meters), issues every node an agent
token, and stores `--hours` of history through the real ingest service (GPU values from the agent's simulated
GPU model) plus meter readings through the telemetry store, then rolls everything up. A quiet node's history
stops ten minutes ago, so it starts "down" and a test can bring it up with one push.
It also seeds two deployments with usage-ledger rows (ledger_rows.py) for the energy pages.
Prints one JSON object: site, racks, nodes, tokens, passwords, each node's latest GPU power sum, deployments.
"""

import argparse
import datetime
import json
import os
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STEP_SECONDS = 60
RECENT_STEP_SECONDS = 10
RECENT_MINUTES = 15


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "microdc.settings")
    import django

    django.setup()


def sample_times(end: datetime.datetime, hours: float) -> list[datetime.datetime]:
    """Every minute over `hours`, then every 10 s over the last 15 minutes (what raw charts show)."""
    start = end - datetime.timedelta(hours=hours)
    recent = end - datetime.timedelta(minutes=RECENT_MINUTES)
    times, t = [], start
    while t < recent:
        times.append(t)
        t += datetime.timedelta(seconds=STEP_SECONDS)
    while t <= end:
        times.append(t)
        t += datetime.timedelta(seconds=RECENT_STEP_SECONDS)
    return times


def gpu_history(node, times) -> list[dict]:
    """Agent-shaped samples for the node's GPUs at `times`, from the simulated GPU physics."""
    from microdc.agent.collectors.simulated import GpuModel, SimulatedGpu
    from microdc.simulator.demo_site import SIM_SEED

    gpus = [SimulatedGpu(a.index, SIM_SEED, node.hostname, GpuModel()) for a in node.accelerators.order_by("index")]
    samples = []
    for ts in times:
        devices = [gpu.read(ts.timestamp()) for gpu in gpus]
        samples.append({"ts": ts.isoformat(), "devices": devices, "sensors": [
            {"source": "rapl", "chip": "intel-rapl:0", "name": "package-0", "simulated": True,
             "metrics": {"power_watts": 180.0 + 40.0 * devices[0]["metrics"]["utilization_ratio"]}}]})
    return samples


def ingest_history(node, times) -> float:
    """Push the history through ingest in batches; returns the node's latest GPU power sum."""
    from microdc.telemetry.ingest import ingest_batch

    samples = gpu_history(node, times)
    for start in range(0, len(samples), 1500):
        ingest_batch(node, {"batch_id": str(uuid.uuid4()), "node": node.hostname, "agent_version": "seed",
                            "samples": samples[start:start + 1500]}, now=times[-1] + datetime.timedelta(seconds=1))
    return sum(d["metrics"]["power_watts"] for d in samples[-1]["devices"])


def meter_history(site, times, it_power_by_rack) -> None:
    """Readings for the site's meters, consistent with the GPUs' power: PDUs carry their rack's IT load, the UPS
    and cooling add losses, the utility feed carries everything. Energy counters integrate the power."""
    from django.apps import apps
    from django.db import transaction

    from microdc.nodes.models import FacilityMeter
    from microdc.telemetry.store import Reading, sources_by_key, store

    # Boundary channels as the demo's simulated facility declares them (the PUE service reads these).
    FacilityMeter.objects.filter(site=site, kind="pdu").update(boundary_channel="outlets")
    FacilityMeter.objects.filter(site=site, kind="ups").update(boundary_channel="output")
    meters = list(FacilityMeter.objects.filter(site=site))
    channels = {"pdu": ["", "outlets", "sensor.inlet", "sensor.outlet"], "ups": ["input", "output"],
                "cooling_unit": [""], "utility_feed": [""]}
    wanted = {f"meter/{m.pk}/{c}": {"meter": m, "sensor": c, "simulated": m.simulated}
              for m in meters for c in channels.get(m.kind, [""])}
    with transaction.atomic():  # sources_by_key locks the rows it returns (PostgreSQL)
        sources = sources_by_key(wanted)
    energy: dict[str, float] = {key: 3.6e9 for key in wanted}
    readings = []
    previous = None
    for ts in times:
        it = {rack: power(ts) for rack, power in it_power_by_rack.items()}
        it_total = sum(it.values())
        ups_out = it_total * 1.02 + 150
        ups_in = ups_out * 1.05 + 250
        cooling = 0.28 * it_total + 400
        facility = ups_in + cooling + 300
        dt = (ts - previous).total_seconds() if previous else 0.0
        previous = ts
        for meter in meters:
            values: dict[str, dict[str, float]] = {}
            if meter.kind == "pdu":
                load = it.get(meter.rack_id, 0.0) + 900.0
                values = {"": {"power_watts": load * 1.015}, "outlets": {"power_watts": load},
                          "sensor.inlet": {"temperature_celsius": 23.5 + load / 4000},
                          "sensor.outlet": {"temperature_celsius": 31.0 + load / 900}}
            elif meter.kind == "ups":
                values = {"input": {"power_watts": ups_in}, "output": {"power_watts": ups_out}}
            elif meter.kind == "cooling_unit":
                values = {"": {"power_watts": cooling}}
            elif meter.kind == "utility_feed":
                values = {"": {"power_watts": facility}}
            for channel, quantities in values.items():
                key = f"meter/{meter.pk}/{channel}"
                if "power_watts" in quantities:
                    energy[key] += quantities["power_watts"] * dt
                    quantities["energy_joules"] = round(energy[key], 1)
                readings.append(Reading(sources[key], ts, quantities))
    with transaction.atomic():
        store(readings)
        # As if the poller had just read every meter: enabled, healthy, next poll far away (no poller runs here).
        FacilityMeter.objects.filter(site=site).update(enabled=True, poll_interval_seconds=300)
        try:
            meter_state = apps.get_model("facility", "MeterState")
        except LookupError:
            return
        for meter in meters:
            meter_state.objects.update_or_create(meter=meter, defaults={
                "last_attempt": times[-1], "last_success": times[-1], "last_error": "",
                "next_poll": times[-1] + datetime.timedelta(days=1)})


def seed_job(site) -> int | None:
    """A deployment job with some Ansible output, when the provisioning app has jobs; returns its id."""
    from django.apps import apps

    try:
        job_model, event_model = apps.get_model("provisioning", "Job"), apps.get_model("provisioning", "JobEvent")
    except LookupError:
        return None
    job = job_model.objects.create(kind="deploy", status="running")
    lines = ["PLAY [Deploy model server] *****", "TASK [Gathering Facts] *****", "ok: [gpu-a01-02]",
             "TASK [microdc_model : Unpack the model artifact] *****", "changed: [gpu-a01-02]"]
    event_model.objects.bulk_create([event_model(job=job, counter=i, event="verbose", stdout=line)
                                     for i, line in enumerate(lines, start=1)])
    return job.pk


def add_job_events(job_id: int, lines: list[str], status: str | None) -> None:
    """Append output to a job as the worker would (no live message: the dashboard must find it itself)."""
    from django.apps import apps
    from django.db.models import Max

    job_model, event_model = apps.get_model("provisioning", "Job"), apps.get_model("provisioning", "JobEvent")
    job = job_model.objects.get(pk=job_id)
    last = event_model.objects.filter(job=job).aggregate(n=Max("counter"))["n"] or 0
    event_model.objects.bulk_create([event_model(job=job, counter=last + i, event="runner_on_ok", stdout=line)
                                     for i, line in enumerate(lines, start=1)])
    if status:
        job_model.objects.filter(pk=job_id).update(status=status)


def seed_deployments(now) -> dict[str, int]:
    """Two simulated deployments with a day of usage-ledger rows (tests/dashboard/ledger_rows.py)."""
    from microdc.nodes.models import Node
    from tests.dashboard.ledger_rows import seed_ledger

    made = seed_ledger(Node.objects.get(hostname="gpu-a01-02"), Node.objects.get(hostname="gpu-a02-02"), now)
    return {name: deployment.pk for name, deployment in made.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--job", type=int, help="append --line output to this job and exit")
    parser.add_argument("--line", action="append", default=[])
    parser.add_argument("--status")
    parser.add_argument("--quiet-node", action="append", dest="quiet_nodes", help="default: gpu-a01-01")
    parser.add_argument("--password", default=os.environ.get("MICRODC_DEMO_PASSWORD", "dashboard-e2e-pw-1"))
    args = parser.parse_args()
    os.environ["MICRODC_DEMO_PASSWORD"] = args.password
    setup_django()
    if args.job:
        add_job_events(args.job, args.line, args.status)
        return

    from django.utils import timezone

    from microdc.core import audit
    from microdc.nodes.agent_tokens import issue_agent_token
    from microdc.nodes.models import Node, Rack, Site
    from microdc.simulator.demo_site import SITE_SLUG, seed_demo_site
    from microdc.telemetry.models import Sample
    from microdc.telemetry.rollups import roll_up_dirty

    result = seed_demo_site()
    site = Site.objects.get(slug=SITE_SLUG)
    now = timezone.now()
    times = sample_times(now - datetime.timedelta(seconds=2), args.hours)
    quiet_times = [t for t in times if t <= now - datetime.timedelta(minutes=10)]
    quiet_nodes = args.quiet_nodes or ["gpu-a01-01"]
    tokens, power, nodes = {}, {}, {}
    rack_power: dict[int, dict[datetime.datetime, float]] = {}
    for node in Node.objects.filter(rack__site=site).select_related("rack").order_by("hostname"):
        tokens[node.hostname] = issue_agent_token(node)
        audit.record(actor=None, source="system", action="action", instance=node,
                     changes={"agent_token_hash": {"old": audit.MASK, "new": audit.MASK}})
        node_times = quiet_times if node.hostname in quiet_nodes else times
        power[node.hostname] = ingest_history(node, node_times)
        nodes[node.hostname] = node.pk
        series = rack_power.setdefault(node.rack_id, {})
        for ts, values in Sample.objects.filter(node=node).values_list("ts", "values"):
            series[ts] = series.get(ts, 0.0) + sum(v.get("power_watts", 0.0) for k, v in values.items()
                                                   if "utilization_ratio" in v)

    # Rack IT load at each sample time: the sum of its GPUs (the quiet node adds nothing once it stops).
    meter_history(site, times, {rack_id: (lambda ts, series=series: series.get(ts, 0.0))
                                for rack_id, series in rack_power.items()})
    while roll_up_dirty(limit=5000):
        pass
    job = seed_job(site)
    deployments = seed_deployments(now)
    print(json.dumps({
        "job": job, "deployments": deployments,
        "site": site.pk, "site_slug": site.slug,
        "racks": {r.name: r.pk for r in Rack.objects.filter(site=site)},
        "nodes": nodes, "tokens": tokens, "passwords": result.passwords, "gpu_power": power,
        "quiet_nodes": quiet_nodes,
    }))


if __name__ == "__main__":
    main()
