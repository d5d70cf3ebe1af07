"""Benchmark: telemetry ingest against a raw bulk insert of the same rows, and /metrics rendering.

Prints, for SQLite and (when reachable) PostgreSQL:
  - ingest throughput in GPU samples per second through the real ingest service from the request bodies
    (JSON decoding, validation, device resolution, raw rows, latest values), and the fastest raw insert of the
    same Sample rows into the same database (COPY / executemany); the ratio is the figure (target: at least
    0.5, and at least 50,000 GPU samples/s on SQLite);
  - /metrics render time for 2,000 GPUs (250 nodes of 8) against prometheus-client rendering the same series
    from its own Gauge/Counter objects (ratio; target at most 1.5, and under 1 s).

Rerun:  .venv/bin/python benchmarks/telemetry_ingest.py            (both databases)
        .venv/bin/python benchmarks/telemetry_ingest.py --backend sqlite
"""

import json
import os
import statistics
import time
import uuid

from harness import backend_command, print_rerun, run_inner, setup_django

PG_BENCH_DB = "microdc_bench"

GPUS_PER_NODE = 8
SAMPLES_PER_BATCH = 60
BATCHES = 40
METRICS_GPUS = 2000
RENDER_ROUNDS = 15
ROUNDS = 5


def gpu_metrics(i: int, t: int) -> dict:
    return {"power_watts": 300.0 + (i * 7 + t) % 350, "energy_joules": 1.0e6 + t * 450.0 + i,
            "power_limit_watts": 700.0, "temperature_celsius": 40.0 + (t % 30), "memory_temperature_celsius": 50.0,
            "utilization_ratio": ((i + t) % 100) / 100, "memory_utilization_ratio": 0.4,
            "memory_used_bytes": 4.0e10, "memory_total_bytes": 8.5e10, "sm_clock_hertz": 1.98e9,
            "memory_clock_hertz": 2.6e9, "ecc_corrected_errors_total": 0, "ecc_uncorrected_errors_total": 0,
            "pcie_tx_bytes_per_second": 1.2e8, "pcie_rx_bytes_per_second": 3.4e8}


def make_batches(hostname: str, start) -> list[bytes]:
    import datetime

    bodies = []
    for b in range(BATCHES):
        samples = []
        for s in range(SAMPLES_PER_BATCH):
            t = b * SAMPLES_PER_BATCH + s
            ts = (start + datetime.timedelta(seconds=t)).isoformat()
            devices = [{"kind": "gpu", "index": i, "uuid": f"GPU-bench-{hostname}-{i}", "name": "NVIDIA H100",
                        "vendor": "nvidia", "simulated": True, "metrics": gpu_metrics(i, t),
                        "throttle_reasons": []}
                       for i in range(GPUS_PER_NODE)]
            samples.append({"ts": ts, "devices": devices, "sensors": []})
        bodies.append(json.dumps({"batch_id": str(uuid.uuid4()), "node": hostname, "samples": samples}).encode())
    return bodies


def setup_site(nodes: int):
    from microdc.nodes.models import Node, Rack, Site

    site, _ = Site.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    made = []
    for n in range(nodes):
        rack, _ = Rack.objects.get_or_create(site=site, name=f"R{n // 10}", defaults={"height_u": 42})
        node, _ = Node.objects.get_or_create(hostname=f"bench-{n}", defaults={
            "rack": rack, "position_u": 1 + (n % 10) * 4, "height_u": 4, "management_address": "127.0.0.1"})
        made.append(node)
    return made


def bench_ingest() -> dict:
    import datetime

    from django.db import connection, transaction
    from django.utils import timezone

    from microdc.telemetry.bulk import insert_samples
    from microdc.telemetry.ingest import ingest_batch
    from microdc.telemetry.models import Sample, Source
    from microdc.telemetry.wire import decode_batch

    node = setup_site(1)[0]
    base = timezone.now() - datetime.timedelta(days=3)
    ingest_batch(node, json.loads(make_batches(node.hostname, base - datetime.timedelta(days=1))[0]))  # warm-up
    sources = {s.accelerator.index: s for s in Source.objects.filter(node=node).select_related("accelerator")}
    gpu_samples = BATCHES * SAMPLES_PER_BATCH * GPUS_PER_NODE
    ingest_s, raw_s, orm_s, decode_s, check_s = [], [], [], [], []
    # Rounds interleave the three ways, each on batches of its own, so a busy moment of the machine does not
    # land on one of them alone; the medians are reported.
    for round_number in range(ROUNDS):
        start = base + datetime.timedelta(hours=round_number)
        bodies = make_batches(node.hostname, start)
        began = time.perf_counter()
        payloads = [json.loads(body) for body in bodies]
        decode_s.append(time.perf_counter() - began)
        began = time.perf_counter()
        checked_at = timezone.now()
        for body in bodies:  # what ingest's first step does alone: decode and check (nothing stored)
            decode_batch(body, checked_at)
        check_s.append(time.perf_counter() - began)
        began = time.perf_counter()
        for body in bodies:  # the request bodies, as the push view hands them over: decoding is part of ingest
            ingest_batch(node, body)
        ingest_s.append(time.perf_counter() - began)
        # The same rows, bulk-inserted the fastest way the database takes them (COPY / executemany), with no
        # parsing, validation or bookkeeping; and through the ORM's bulk_create for reference.
        rows_per_batch = [[(node.pk, None, datetime.datetime.fromisoformat(s["ts"]),
                            {str(sources[d["index"]].pk): d["metrics"] for d in s["devices"]})
                           for s in payload["samples"]] for payload in payloads]
        began = time.perf_counter()
        for rows in rows_per_batch:
            with transaction.atomic():
                insert_samples(rows)
        raw_s.append(time.perf_counter() - began)
        began = time.perf_counter()
        for rows in rows_per_batch:
            with transaction.atomic():
                Sample.objects.bulk_create([Sample(node_id=n, meter_id=m, ts=ts, values=v) for n, m, ts, v in rows],
                                           batch_size=2000)
        orm_s.append(time.perf_counter() - began)
    ingest, raw, orm = statistics.median(ingest_s), statistics.median(raw_s), statistics.median(orm_s)
    return {"database": connection.vendor, "gpu_samples": gpu_samples,
            "ingest_per_s": gpu_samples / ingest, "raw_per_s": gpu_samples / raw,
            "orm_per_s": gpu_samples / orm, "ratio": raw / ingest,
            "decode_us": statistics.median(decode_s) / gpu_samples * 1e6,
            "batch_ms": {"ingest": ingest / BATCHES * 1e3, "raw": raw / BATCHES * 1e3,
                         "decode_and_check": statistics.median(check_s) / BATCHES * 1e3}}


def bench_metrics() -> dict:
    from django.utils import timezone
    from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

    from microdc.api.exposition import render
    from microdc.api.metrics import registry
    from microdc.telemetry.ingest import ingest_batch

    nodes = setup_site(METRICS_GPUS // GPUS_PER_NODE)
    now = timezone.now()
    for node in nodes:
        devices = [{"kind": "gpu", "index": i, "uuid": f"GPU-m-{node.hostname}-{i}", "name": "NVIDIA H100",
                    "vendor": "nvidia", "metrics": gpu_metrics(i, 0)} for i in range(GPUS_PER_NODE)]
        ingest_batch(node, {"batch_id": str(uuid.uuid4()), "samples": [{"ts": now.isoformat(), "devices": devices}]})

    ours = registry()
    text = render(ours.collect())
    # The same series, held by prometheus-client's own metric objects.
    bare = CollectorRegistry()
    labels = ["site", "rack", "node", "gpu", "uuid", "model"]
    metrics = {}
    for node in nodes:
        for i in range(GPUS_PER_NODE):
            values = [node.rack.site.slug, node.rack.name, node.hostname, str(i), f"GPU-m-{node.hostname}-{i}",
                      "NVIDIA H100"]
            for name, value in gpu_metrics(i, 0).items():
                counter = name.endswith("_total") or name.endswith("_joules")
                key = f"microdc_gpu_{name.removesuffix('_total')}"
                if key not in metrics:
                    cls = Counter if counter else Gauge
                    metrics[key] = cls(key, name, labels, registry=bare)
                child = metrics[key].labels(*values)
                child.inc(value) if counter else child.set(value)
    os.environ["PROMETHEUS_DISABLE_CREATED_SERIES"] = "True"

    def timed(write):
        runs = []
        for _ in range(RENDER_ROUNDS):
            began = time.perf_counter()
            write()
            runs.append(time.perf_counter() - began)
        return statistics.median(runs)

    # Ours as /metrics serves it: the collectors' queries, then the appliance's text writer.
    ours_s, bare_s = timed(lambda: render(ours.collect())), timed(lambda: generate_latest(bare))
    return {"gpus": METRICS_GPUS, "series_lines": text.count(b"\n"), "ours_ms": ours_s * 1e3,
            "bare_ms": bare_s * 1e3, "ratio": ours_s / bare_s}


def inner() -> None:
    setup_django()
    print(json.dumps({"ingest": bench_ingest(), "metrics": bench_metrics()}))


def main() -> None:
    chosen = backend_command(__doc__, inner)
    if chosen is None:
        return
    print(f"telemetry ingest: median of {ROUNDS} rounds of {BATCHES} batches x {SAMPLES_PER_BATCH} samples x "
          f"{GPUS_PER_NODE} GPUs (15 metrics each); /metrics: {METRICS_GPUS} GPUs, median of {RENDER_ROUNDS} renders")
    for backend in chosen:
        result = run_inner(__file__, backend, PG_BENCH_DB)
        ingest, metrics = result["ingest"], result["metrics"]
        print(f"[{backend}] ingest {ingest['ingest_per_s']:,.0f} GPU samples/s; raw bulk insert "
              f"{ingest['raw_per_s']:,.0f} GPU samples/s (ORM bulk_create {ingest['orm_per_s']:,.0f}/s); "
              f"ingest/raw = {ingest['ratio']:.2f} (target >= 0.5, >= 50,000/s); ingest decodes the bodies "
              f"itself (msgspec): json.loads alone would take {ingest['decode_us']:.1f} us per GPU sample")
        per = ingest["batch_ms"]
        print(f"[{backend}] per batch of {SAMPLES_PER_BATCH * GPUS_PER_NODE} GPU samples: ingest "
              f"{per['ingest']:.1f} ms, "
              f"of which decoding and checking the body {per['decode_and_check']:.1f} ms; raw insert "
              f"{per['raw']:.1f} ms")
        print(f"[{backend}] /metrics for {metrics['gpus']} GPUs ({metrics['series_lines']} lines): "
              f"{metrics['ours_ms']:.1f} ms; prometheus-client alone {metrics['bare_ms']:.1f} ms; "
              f"ratio {metrics['ratio']:.2f} (target <= 1.5 and < 1000 ms)")
    print_rerun(__file__)


if __name__ == "__main__":
    main()
