"""Benchmark: the pilot table (energy.report.pilot_table) for 100 deployments over 30 days, from the ledger.

Builds a site with PUE meters (30 days of rollups, as benchmarks/pue_query.py does), 25 nodes of 4 GPUs, and
100 deployments holding one GPU each, with 30 days of hour rows in the usage ledger (each carrying a vLLM-size
latency histogram: 42 keys) and the minute rows of the hours in which the windows start and end (the minute
rows between them are never read, so they are left out to keep the build short), and the day rows the ledger
builds from the hour rows. Then times pilot_table("30d") and pilot_table("24h"), and one deployment's 30d
report with its latency quantiles, median of 5.

Rerun:  .venv/bin/python benchmarks/energy_pilot_table.py [--backend sqlite|postgresql|both]
"""

import datetime
import json
import statistics
import time

from harness import backend_command, print_rerun, run_inner, setup_django
from pue_query import build as build_site

PG_DB = "microdc_bench_energy"
DEPLOYMENTS = 100
GPUS_PER_NODE = 4
DAYS = 30
E2E = ["0p3", "0p5", "0p8", "1p0", "1p5", "2p0", "2p5", "5p0", "10p0", "15p0", "20p0", "30p0", "40p0", "50p0",
       "60p0", "120p0", "240p0", "480p0", "960p0", "1920p0", "inf"]
TTFT = ["0p001", "0p005", "0p01", "0p02", "0p04", "0p06", "0p08", "0p1", "0p25", "0p5", "0p75", "1p0", "2p5",
        "5p0", "7p5", "10p0", "inf"]


def latency(scale: float) -> dict:
    counts = {f"e2e_latency_le_{le}_total": scale * min(10.0, 1.0 + i) for i, le in enumerate(E2E)}
    counts |= {f"ttft_le_{le}_total": scale * min(10.0, 1.0 + i) for i, le in enumerate(TTFT)}
    return counts | {"e2e_latency_seconds_sum_total": 8.0 * scale, "e2e_latency_seconds_count_total": 10.0 * scale,
                     "ttft_seconds_sum_total": 0.9 * scale, "ttft_seconds_count_total": 10.0 * scale}


def figures(seconds: int) -> dict:
    scale = seconds / 60
    return {"gpu_joules": 12000.0 * scale, "gpu_idle_joules": 600.0 * scale, "node_joules": 15000.0 * scale,
            "operational_grams_at_pue1": 1.6 * scale, "operational_grams": 2.1 * scale,
            "facility_joules": 19500.0 * scale, "gpu_coverage": float(seconds), "node_coverage": float(seconds),
            "server_coverage": float(seconds), "requests": 10.0 * scale, "failed_requests": 0.1 * scale,
            "prompt_tokens": 4000.0 * scale, "generation_tokens": 2000.0 * scale, "latency": latency(scale),
            "rules": ["gpu:exclusive", "node:psu"]}


def build(now: datetime.datetime) -> int:
    from microdc.energy.hours import rebuild_days
    from microdc.energy.models import Reservation, UsageBucket
    from microdc.nodes.models import Accelerator, Node, Rack
    from microdc.provisioning.models import Deployment

    site_id, _ = build_site(now)
    rack = Rack.objects.create(site_id=site_id, name="R1", height_u=42)
    hour_of = lambda t: t.replace(minute=0, second=0, microsecond=0)  # noqa: E731
    end = now.replace(second=0, microsecond=0)
    first_hour, last_hour = hour_of(end - datetime.timedelta(days=DAYS)), hour_of(end)
    # Minute rows where the 30d and 24h windows start and end inside an hour.
    edges = [hour_of(end - datetime.timedelta(days=DAYS)), hour_of(end - datetime.timedelta(days=1)), last_hour]
    hour, minute = figures(3600), figures(60)
    rows = 0
    for n in range(DEPLOYMENTS // GPUS_PER_NODE):
        node = Node.objects.create(hostname=f"gpu-{n:02d}", management_address=f"10.0.1.{n + 1}", rack=rack,
                                   position_u=n + 1, embodied_kgco2e=1500.0, expected_life_years=5.0)
        for index in range(GPUS_PER_NODE):
            gpu = Accelerator.objects.create(node=node, vendor="nvidia", model="H100", index=index,
                                             uuid=f"GPU-{n:02d}-{index}", embodied_kgco2e=150.0,
                                             expected_life_years=5.0)
            deployment = Deployment.objects.create(name=f"model-{n:02d}-{index}", runtime="vllm", status="healthy")
            Reservation.objects.create(deployment=deployment, node=node, accelerator=gpu,
                                       start=first_hour - datetime.timedelta(hours=1))
            batch = []
            t = first_hour - datetime.timedelta(hours=1)
            while t <= last_hour:
                batch.append(UsageBucket(deployment=deployment, node=node, resolution=3600, start=t, **hour))
                t += datetime.timedelta(hours=1)
            batch += [UsageBucket(deployment=deployment, node=node, resolution=60,
                                  start=edge + datetime.timedelta(minutes=m), **minute)
                      for edge in edges for m in range(60)]
            UsageBucket.objects.bulk_create(batch, batch_size=2000)
            rows += len(batch)
        rebuild_days(node, first_hour - datetime.timedelta(hours=1), last_hour + datetime.timedelta(hours=1))
    return rows + UsageBucket.objects.filter(resolution=UsageBucket.DAY).count()


def inner() -> None:
    setup_django()
    from django.db import connection
    from django.utils import timezone

    from microdc.energy.models import Reservation
    from microdc.energy.report import deployment_energy, pilot_table

    now = timezone.now()
    rows = build(now)
    with connection.cursor() as cursor:  # fresh statistics, as autovacuum / ANALYZE would leave them
        cursor.execute("ANALYZE")
    timings = {}
    for window in ("30d", "24h"):
        runs = []
        for _ in range(5):
            began = time.perf_counter()
            table = pilot_table(window, now=now)
            runs.append(time.perf_counter() - began)
        first = table[0]
        timings[window] = {"ms": statistics.median(runs) * 1e3, "rows": len(table),
                           "joules_per_token_facility": first.joules_per_token["facility"],
                           "complete": first.complete, "reasons": first.reasons[:2]}
    # One deployment's own report over 30 days, latency quantiles included (the table leaves them out).
    deployment = Reservation.objects.first().deployment
    runs = []
    for _ in range(5):
        began = time.perf_counter()
        one = deployment_energy(deployment, "30d", now=now)
        runs.append(time.perf_counter() - began)
    single = {"ms": statistics.median(runs) * 1e3, "p95_latency": one.latency_seconds["p95"]}
    print(json.dumps({"ledger_rows": rows, "timings": timings, "single": single}))


def main() -> None:
    chosen = backend_command(__doc__, inner)
    if chosen is None:
        return
    for backend in chosen:
        result = run_inner(__file__, backend, PG_DB)
        line = "; ".join(f"pilot_table({w!r}) {t['ms']:.0f} ms for {t['rows']} deployments "
                         f"(J/token facility {t['joules_per_token_facility']}, "
                         f"complete={t['complete']} {t['reasons']})" for w, t in result["timings"].items())
        single = result["single"]
        print(f"[{backend}] {result['ledger_rows']:,} ledger rows: {line}  (target < 300 ms); one deployment's "
              f"30d report with latency quantiles {single['ms']:.0f} ms (p95 {single['p95_latency']} s)")
    print_rerun(__file__)


if __name__ == "__main__":
    main()
